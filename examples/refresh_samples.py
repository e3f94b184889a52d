"""Run the examples against a real listener and refresh the sample snapshots in snapshots/.

    python examples/refresh_samples.py

Starts `sentry-mirror listen --port 0` into a temporary directory, runs each example
with SENTRY_DSN set to it, stops the listener, and copies its snapshot to
``snapshots/sample-<example>.jsonl.zst``. The samples are small and committed: the
docs and the tests read them.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = {"python": [sys.executable, str(ROOT / "examples" / "python_shop.py")]}


def refresh(name: str, command: list[str]) -> Path:
    with tempfile.TemporaryDirectory() as tmp:
        listener = subprocess.Popen(
            [sys.executable, "-m", "sentry_mirror", "listen", "--port", "0", "--dir", tmp, "--quiet"],
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        try:
            assert listener.stdout is not None
            dsn = listener.stdout.readline().split()[1]
            subprocess.run(command, check=True, timeout=120, env={**os.environ, "SENTRY_DSN": dsn})
        finally:
            listener.send_signal(signal.SIGTERM)
            listener.wait(timeout=30)
        [snapshot] = Path(tmp).glob("*.jsonl.zst")
        target = ROOT / "snapshots" / f"sample-{name}.jsonl.zst"
        shutil.copyfile(snapshot, target)
        return target


if __name__ == "__main__":
    for example, command in EXAMPLES.items():
        print(refresh(example, command))
