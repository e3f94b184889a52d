from sentry_mirror.ui.cli import main

main()
