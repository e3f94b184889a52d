"""``sentry-mirror run -- node ...`` end to end: a real process of the CLI running apps with
the real @sentry/node, its DSN from ``SENTRY_DSN`` as ``run`` sets it.

- ``examples/node_shop.js`` (errors, messages, a trace, a check-in, a session, logs): exit 0,
  and the summary (and ``--json``) lists what it sent, per item type, with the errors' titles.
- An app whose error is uncaught: @sentry/node captures it, flushes and exits 1; ``run``
  exits 1 too, the error listed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sentry_mirror.errors import ExitCode
from sentry_mirror.io.snapshot import iter_records
from tests.conformance.clients import JS_DIR, need_node

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

#: An app with @sentry/node (loaded from the conformance tests' node_modules) whose error
#: nobody catches: the SDK's onUncaughtException integration sends it and exits 1.
UNCAUGHT = """
"use strict";
const { createRequire } = require("node:module");
const Sentry = createRequire(process.argv[2])("@sentry/node");
Sentry.init({ tracesSampleRate: 0 });
setTimeout(() => {
  throw new TypeError("cart is undefined");
}, 10);
"""


def run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``sentry-mirror run --dir tmp_path/snapshots --settle 0.5 --timeout 60s ARGS``, to its end."""
    command = [sys.executable, "-m", "sentry_mirror", "run", "--dir", str(tmp_path / "snapshots"), "--settle", "0.5"]
    return subprocess.run(
        [*command, "--timeout", "60s", *args], capture_output=True, text=True, timeout=120, cwd=tmp_path
    )


def test_run_node_app_lists_what_sentry_node_sent(tmp_path: Path) -> None:
    node = need_node("@sentry/node")
    done = run(tmp_path, "--", node, str(EXAMPLES / "node_shop.js"))
    assert done.returncode == ExitCode.OK, done.stderr
    lines = done.stderr.splitlines()
    assert f"{node} exited 0: 13 envelopes" in lines, done.stderr
    (per_sdk,) = [line for line in lines if line.startswith("  sentry.javascript.node ")]
    counts, items = per_sdk.split(": ")
    assert counts.endswith("  13 envelopes")
    first, *rest = items.split("+")  # most first; the ones sent once in the order they came
    assert (first, sorted(rest)) == ("9×event", ["check_in", "log", "session", "span"])
    assert "  9 error events:" in lines
    assert "    BasketNotFound: basket 7 not found" in lines
    assert "    TypeError: Reduce of empty array with no initial value" in lines
    assert len(list(iter_records([tmp_path / "snapshots"]))) == 13


def test_run_json_node_app(tmp_path: Path) -> None:
    node = need_node("@sentry/node")
    done = run(tmp_path, "--json", "--", node, str(EXAMPLES / "node_shop.js"))
    assert done.returncode == ExitCode.OK, done.stderr
    data = json.loads(done.stdout)
    (sdk,) = data["sdks"]
    assert sdk["sdk"] == "sentry.javascript.node"
    assert sdk["items"] == {"event": 9, "check_in": 1, "session": 1, "span": 1, "log": 1}
    titles = {entry["title"]: entry["count"] for entry in data["event_titles"]}
    assert titles["PaymentDeclined: amount 250000 over the limit"] == 1
    assert titles["Error: checkout failed for basket 3"] == 1
    assert (data["exit_code"], data["events"], data["requests"]) == (0, 9, 13)


def test_an_uncaught_node_error_is_sent_and_its_exit_code_passes_through(tmp_path: Path) -> None:
    node = need_node("@sentry/node")
    app = tmp_path / "uncaught.js"
    app.write_text(UNCAUGHT)
    done = run(tmp_path, "--", node, str(app), str(JS_DIR / "package.json"))
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert f"{node} exited 1: 1 envelope" in lines, done.stderr
    assert "    TypeError: cart is undefined" in lines, done.stderr
