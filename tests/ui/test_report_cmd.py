"""`sentry-mirror report` and `sentry-mirror diff` through the CLI, on the committed sample."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from sentry_mirror.io.snapshot import SnapshotWriter
from sentry_mirror.ui.cli import cli
from tests.factories import make_envelope, make_event, make_record, make_request
from tests.helpers import require_relay

ENV = {"COLUMNS": "200", "NO_COLOR": "1"}
SAMPLE = str(Path(__file__).resolve().parent.parent.parent / "snapshots" / "sample-python.jsonl.zst")


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env=ENV)


def report_json(*args: str) -> dict[str, Any]:
    result = run("report", SAMPLE, "--format", "json", *args)
    assert 0 == result.exit_code, result.output
    return orjson.loads(result.output)


def test_json_on_the_sample() -> None:
    data = report_json()
    assert ("sentry-mirror-report", 1) == (data["schema"], data["version"])
    traffic = data["traffic"]
    assert (13, 13, 13, 0) == (traffic["requests"], traffic["items"], traffic["accepted"], traffic["refused"])
    assert {"event": 9, "check_in": 1, "log": 1, "session": 1, "transaction": 1} == traffic["items_by_type"]
    assert {"sentry.python 2.75.0": 13} == traffic["by_sdk"] and {"br": 13} == traffic["encodings"]
    assert [
        ("KeyError: 7", 2),
        ("PaymentDeclined: card ending 0000 declined for 2500 cents", 2),
        ("payment provider slow: 2300 ms for order 1001", 2),
        ("ZeroDivisionError: float division by zero", 1),
        ("RuntimeError: checkout failed for basket 3", 1),
    ] == [(g["title"], g["count"]) for g in data["issues"]["top"][:5]]
    assert (6, 9) == (data["issues"]["groups"], data["issues"]["events"])
    assert [("POST /checkout", "http.server", 1)] == [
        (t["name"], t["op"], t["count"]) for t in data["performance"]["by_transaction"]
    ]
    assert [{"monitor": "nightly-report", "count": 1, "statuses": {"ok": 1}}] == data["health"]["check_ins"]
    assert {"email": 12, "ip": 13, "credit_card": 2} == data["pii"]["kinds"]
    assert {"shop@1.4.2": 10} == data["sourcemaps"]["releases"]
    assert {"envelope": 13} == data["server"]["endpoints"]


def test_sections_and_group_command_agree() -> None:
    data = report_json("--section", "issues", "--top", "2")
    assert ["issues"] == data["sections"] and 2 == len(data["issues"]["top"])
    result = run("group", SAMPLE, "--json", "--limit", "2")
    assert [orjson.loads(line)["hash"] for line in result.output.splitlines()] == [
        g["hash"] for g in data["issues"]["top"]
    ]


def test_terminal() -> None:
    result = run("report", SAMPLE, "--section", "traffic", "--section", "pii")
    assert 0 == result.exit_code, result.output
    lines = [line.rstrip() for line in result.output.splitlines()]
    assert lines[0] == f"sentry-mirror report: {SAMPLE}"
    assert lines[2].startswith("1. Traffic ─")
    assert "requests            13" in lines
    assert "event             9   3.0 KB   3.8 KB   4.2 KB     1 MiB            0" in lines
    assert "check_in          1    647 B    647 B    647 B   100 KiB            0" in lines
    assert any(line.startswith("7. Personal data ─") for line in lines)
    assert "kept by Sentry's default scrubbing  email 12, ip 13" in lines
    assert any("credit_card" in line and "vars.card" in line and "@creditcard:filter" in line for line in lines)
    assert "Field coverage" not in result.output


def test_markdown_and_output_file(tmp_path: Path) -> None:
    result = run(
        "report", SAMPLE, "--format", "markdown", "--section", "traffic", "--section", "fields", "--max-paths", "3"
    )
    assert 0 == result.exit_code, result.output
    text = result.output
    assert text.startswith(f"# sentry-mirror report: {SAMPLE}\n\n## 1. Traffic\n\n- requests: 13\n")
    assert "| event | 9 |" in text and "| item type | count |\n|---|---:|" in text
    assert "## 2. Field coverage" in text and "more path(s)" in text
    target = tmp_path / "report.md"
    result = run("report", SAMPLE, "--format", "markdown", "-o", str(target))
    assert 0 == result.exit_code and f"written to {target}" in result.output
    assert target.read_text().count("\n## ") == 9
    terminal = tmp_path / "report.txt"
    assert 0 == run("report", SAMPLE, "-o", str(terminal)).exit_code
    assert "9. What a server must support" in terminal.read_text() and "\x1b[" not in terminal.read_text()


def test_html_is_self_contained(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    assert 0 == run("report", SAMPLE, "--format", "html", "-o", str(target)).exit_code
    page = target.read_text()
    assert page.startswith("<!doctype html>") and "<svg" in page and page.count("<section ") == 9
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "") and "<script" not in page
    assert "<link" not in page


def test_diff_of_a_snapshot_with_itself() -> None:
    result = run("diff", SAMPLE, SAMPLE, "--fail-on", "any", "--fail-on", "new-fields")
    assert (0, "no differences\n") == (result.exit_code, result.output)
    result = run("diff", SAMPLE, SAMPLE, "--format", "json")
    assert True is orjson.loads(result.output)["empty"]
    result = run("diff", SAMPLE, SAMPLE, "--format", "markdown")
    assert result.output.endswith("no differences\n")


def _write(path: Path, *events: dict[str, Any]) -> str:
    records = []
    for event in events:
        request = make_request(
            path="/api/1/envelope/", body=make_envelope({}, [({"type": "event"}, event)]), query="sentry_key=k"
        )
        records.append(make_record(request, received_at=datetime(2026, 11, 23, tzinfo=UTC), remote_addr="127.0.0.1:1"))
    with path.open("wb") as fo:
        writer = SnapshotWriter(fo)
        writer.write(records)
        writer.finish_frame()
    return str(path)


@pytest.fixture
def captures(tmp_path: Path) -> tuple[str, str]:
    a = _write(tmp_path / "a.jsonl.zst", make_event())
    b = _write(tmp_path / "b.jsonl.zst", make_event(user={"email": "jane@example.com"}))
    return a, b


def test_diff_against_no_snapshot_is_an_error_not_a_pass(captures: tuple[str, str], tmp_path: Path) -> None:
    """A typo in a glob must not let a CI gate pass: a side with no file at all exits 3."""
    a, _ = captures
    for missing in (str(tmp_path / "nothing-*.jsonl.zst"), str(tmp_path / "empty")):
        (tmp_path / "empty").mkdir(exist_ok=True)
        result = run("diff", a, missing, "--fail-on", "new-pii")
        assert 3 == result.exit_code, result.output
        assert f"no snapshot files in {missing}" in result.output


def test_diff_fail_on(captures: tuple[str, str]) -> None:
    a, b = captures
    result = run("diff", a, b)
    assert 0 == result.exit_code, result.output
    assert "New personal data" in result.output and "user.email" in result.output
    result = run("diff", a, b, "--fail-on", "new-pii", "--fail-on", "lost-fields")
    assert 1 == result.exit_code
    assert "check failed: --fail-on: new-pii: 1" in result.output
    result = run("diff", a, b, "--fail-on", "lost-fields", "--fail-on", "new-groups")
    assert 0 == result.exit_code
    result = run("diff", b, a, "--fail-on", "lost-fields")
    assert 1 == result.exit_code and "lost-fields: 2" in result.output
    data = orjson.loads(run("diff", a, b, "--format", "json").output)
    assert [("user", None, 1.0), ("user.email", None, 1.0)] == [
        (f["path"], f["a"], f["b"]) for f in data["fields"]["new"]
    ]
    assert 2 == run("diff", a, b, "--fail-on", "nonsense").exit_code


def test_missing_snapshot() -> None:
    result = run("report", "/nonexistent/x.jsonl.zst")
    assert 3 == result.exit_code and "no such snapshot file or directory" in result.output


def test_relay_engine_needs_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sentry_mirror.core.pii.relay_available", lambda: False)
    result = run("report", SAMPLE, "--pii-engine", "relay")
    assert 3 == result.exit_code and "pip install sentry-relay" in result.output


def test_relay_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    require_relay()
    data = report_json("--section", "pii", "--pii-engine", "relay")["pii"]
    assert "relay" == data["engine"] and [] == data["disagreements"]
    # the sample's declined card 4111111111110000 fails Luhn: only Relay filters it
    assert {("exception.values[].stacktrace.frames[].vars.card", "@creditcard:filter")} <= {
        (r["path"], r["rule"]) for r in data["relay_only"]
    }


def test_report_takes_the_record_filters() -> None:
    assert 13 == report_json("--section", "traffic")["traffic"]["requests"]
    only = report_json("--section", "traffic", "--item-type", "transaction")["traffic"]
    assert (1, {"transaction": 1}) == (only["requests"], only["items_by_type"])


def test_diff_applies_the_record_filters_to_both_sides(captures: tuple[str, str]) -> None:
    a, b = captures
    assert 1 == run("diff", a, b, "--fail-on", "new-pii").exit_code
    result = run("diff", a, b, "--fail-on", "new-pii", "--until", "2026-01-01T00:00:00Z")
    assert (0, "no differences\n") == (result.exit_code, result.output)
