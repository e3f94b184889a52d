"""One module per command; :mod:`sentry_mirror.ui.cli` adds them to the root group."""
