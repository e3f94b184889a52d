"""The smallest app ``probe`` runs: the real sentry-python, its DSN from ``SENTRY_DSN``.

    python hello.py [EXIT CODE]

Sends one message event, flushes, and exits with EXIT CODE (default 0).
"""

from __future__ import annotations

import sys

import sentry_sdk

sentry_sdk.init(traces_sample_rate=0)  # the DSN: SENTRY_DSN, as probe sets it
sentry_sdk.capture_message("hello from the probe")
sentry_sdk.flush(timeout=5)
sys.exit(int(sys.argv[1]) if len(sys.argv) > 1 else 0)
