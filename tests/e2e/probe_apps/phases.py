"""tests/conformance/failure_app.py (errors and transactions in three phases, with the real
sentry-python) with its DSN from ``SENTRY_DSN``, as ``probe`` runs it.

    python phases.py <wait seconds> <report.json>
"""

from __future__ import annotations

import os
import runpy
import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[2] / "conformance" / "failure_app.py"

sys.argv = [str(APP), os.environ["SENTRY_DSN"], *sys.argv[1:]]
runpy.run_path(str(APP), run_name="__main__")
