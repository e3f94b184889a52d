"""Run the examples against a real listener and refresh the sample snapshots in snapshots/.

    python examples/refresh_samples.py            # all of them
    python examples/refresh_samples.py node       # some: python, node, browser

For each example, starts `sentry-mirror listen --port 0` into a temporary directory, runs
the example with SENTRY_DSN set to it, stops the listener, and copies its snapshot to
``snapshots/sample-<example>.jsonl.zst``. The samples are small and committed: the docs
and the tests read them. The node and browser examples need node, ``npm ci --prefix
tests/conformance/js`` and (browser) Debian's chromium.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = {
    "python": [sys.executable, str(ROOT / "examples" / "python_shop.py")],
    "node": ["node", str(ROOT / "examples" / "node_shop.js")],
    "browser": [sys.executable, str(ROOT / "examples" / "browser" / "run.py")],
}
#: Not passed to the examples: a proxy would take their traffic away from the listener,
#: and NODE_OPTIONS could change what the Node SDK does.
_UNWANTED_ENV = re.compile(r"^(SENTRY_.*|NODE_OPTIONS|https?_proxy|all_proxy|no_proxy)$", re.IGNORECASE)


def example_env(dsn: str) -> dict[str, str]:
    """The environment an example runs in: this one, less proxies, with SENTRY_DSN."""
    return {**{k: v for k, v in os.environ.items() if not _UNWANTED_ENV.match(k)}, "SENTRY_DSN": dsn}


def capture(commands: list[list[str]], target: Path) -> Path:
    """Run ``commands`` in turn against one fresh listener; its snapshot becomes ``target``."""
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
            for command in commands:
                subprocess.run(command, check=True, timeout=120, env=example_env(dsn), cwd=ROOT)
        finally:
            listener.send_signal(signal.SIGTERM)
            listener.wait(timeout=30)
        [snapshot] = Path(tmp).glob("*.jsonl.zst")
        shutil.copyfile(snapshot, target)
        return target


def refresh(name: str, command: list[str]) -> Path:
    return capture([command], ROOT / "snapshots" / f"sample-{name}.jsonl.zst")


if __name__ == "__main__":
    names = sys.argv[1:] or list(EXAMPLES)
    unknown = sorted(set(names) - set(EXAMPLES))
    if unknown:
        raise SystemExit(f"unknown example(s): {', '.join(unknown)}; choose from {', '.join(EXAMPLES)}")
    for example in names:
        target = refresh(example, EXAMPLES[example])
        print(f"{target.relative_to(ROOT)}  {target.stat().st_size:,} bytes")
