"""``sentry-mirror probe`` end to end: a real process of the CLI running apps with the real
sentry-python against a rate limit; the exit code and the JSON verdicts checked.

- ``probe_apps/phases.py`` (an error and a transaction; 0.5 s later the same, inside the
  limit; 3 s later the same, past it) under ``rate-limit-transactions:2s``: sentry-python
  holds transactions back for the window, sends errors meanwhile and resumes, so the probe
  passes (exit 0; ``backoff``, ``scope``, ``resume`` pass).
- ``probe_apps/rude_transport.py`` (a transport that posts every envelope, whatever the
  answers) under the same scenario: transactions keep coming inside the window, so the
  probe fails (exit 1, ``backoff`` fail).
- Any language: the conformance tests' @sentry/node app (tests/conformance/js/failure_node_app.js)
  under the same scenario, its DSN passed on by a shell: the probe passes.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from sentry_mirror.errors import ExitCode
from sentry_mirror.io.snapshot import iter_records
from tests.conformance.clients import JS_DIR, need_node

APPS = Path(__file__).with_name("probe_apps")


def probe(tmp_path: Path, *command: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """``probe --scenario rate-limit-transactions:2s --json -- COMMAND``, and its JSON."""
    done = subprocess.run(
        [
            sys.executable, "-m", "sentry_mirror", "probe", "--scenario", "rate-limit-transactions:2s",
            "--dir", str(tmp_path / "snapshots"), "--json", "--timeout", "60s", "--", *command,
        ],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    return done, json.loads(done.stdout)


def verdicts(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The one SDK's verdicts by check id."""
    (sdk,) = data["sdks"]
    assert sdk["sdk"] == "sentry.python"
    return {verdict["check"]: verdict for verdict in sdk["verdicts"]}


def test_sentry_python_backs_off_for_transactions_and_the_probe_passes(tmp_path: Path) -> None:
    report = tmp_path / "app.json"
    done, data = probe(tmp_path, sys.executable, str(APPS / "phases.py"), "3", str(report))
    assert done.returncode == ExitCode.OK, done.stderr
    checks = verdicts(data)
    assert checks["backoff"]["status"] == "pass", checks["backoff"]
    assert checks["scope"]["status"] == "pass", checks["scope"]
    assert checks["resume"]["status"] == "pass", checks["resume"]
    assert checks["client_reports"]["status"] == "pass", checks["client_reports"]
    (sdk,) = data["sdks"]
    assert {"reason": "ratelimit_backoff", "category": "transaction", "quantity": 1} in sdk["client_reports"]
    assert data["exit_code"] == 0
    assert data["scripted"] >= 1  # the second phase's transaction at least
    # what the app sent: every error arrived, the transaction of the limited phase never did
    first, inside, after = json.loads(report.read_text())["phases"]
    arrived = {r.event_id for r in iter_records([tmp_path / "snapshots"])}
    assert {first["error"], inside["error"], after["error"], after["transaction"]} <= arrived
    assert inside["transaction"] not in arrived


def test_a_transport_that_ignores_rate_limits_fails_the_probe(tmp_path: Path) -> None:
    done, data = probe(tmp_path, sys.executable, str(APPS / "rude_transport.py"))
    assert done.returncode == ExitCode.CHECK_FAILED, done.stderr
    assert "a verdict failed" in done.stderr
    assert "backoff" in done.stderr.splitlines()[-1]
    checks = verdicts(data)
    assert checks["backoff"]["status"] == "fail", checks["backoff"]
    assert data["exit_code"] == 0
    assert data["scripted"] >= 3  # every transaction in the window got its 429


def test_sentry_node_backs_off_for_transactions_and_the_probe_passes(tmp_path: Path) -> None:
    """Any language: the conformance tests' @sentry/node app, its DSN passed on by a shell."""
    node = need_node("@sentry/node")
    app = JS_DIR / "failure_node_app.js"
    report = tmp_path / "app.json"
    done, data = probe(tmp_path, "sh", "-c", '"$0" "$1" "$SENTRY_DSN" 3 "$2"', node, str(app), str(report))
    assert done.returncode == ExitCode.OK, done.stderr
    (sdk,) = data["sdks"]
    assert sdk["sdk"] == "sentry.javascript.node"
    checks = {verdict["check"]: verdict for verdict in sdk["verdicts"]}
    assert checks["backoff"]["status"] == "pass", checks["backoff"]
    assert checks["resume"]["status"] == "pass", checks["resume"]
    phases = json.loads(report.read_text())["phases"]
    arrived = {r.event_id for r in iter_records([tmp_path / "snapshots"])}
    assert {phase["error"] for phase in phases} <= arrived
    assert phases[2]["transaction"] in arrived
