"""The part of Sentry's web API that sentry-cli uses for releases, source maps and debug
files (``/api/0/organizations/...``, ``/api/0/projects/...``), answered as Sentry answers."""
