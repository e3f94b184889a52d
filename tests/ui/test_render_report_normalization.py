"""The ``normalization`` section for people: ``report --section normalization`` in every
format (terminal at 80 columns, Markdown, HTML, JSON) over real SDK samples and events built
to be trimmed, corrected and rejected; captured paths and reasons shown literally."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from rich.console import Console

from sentry_mirror.core.report import build_report
from sentry_mirror.io.snapshot import iter_records
from sentry_mirror.ui.cli import cli
from sentry_mirror.ui.render_report_normalization import normalization
from sentry_mirror.ui.render_report_terminal import terminal
from tests.factories import EVENT_ID, SNAPSHOTS, make_envelope, make_event, make_record, make_request, write_snapshot
from tests.helpers import require_relay

JUST_BEFORE = "2026-11-23T09:59:59Z"
TRACE = {"trace": {"trace_id": "4c79f60c11214eb38604f4ae0781bfb2", "span_id": "fa90fdead5f74053"}}
ENV = {"COLUMNS": "80", "NO_COLOR": "1"}


@pytest.fixture(autouse=True)
def _relay() -> None:
    require_relay()


def record_of(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    body = make_envelope({"event_id": EVENT_ID}, [({"type": kind}, payload)])
    return make_record(make_request(body=body))


def records() -> list[dict[str, Any]]:
    """The python sample, an event Relay trims and corrects, a transaction it rejects."""
    sample = [r.data for r in iter_records([SNAPSHOTS / "sample-python.jsonl.zst"])]
    built = make_event(timestamp=JUST_BEFORE, message="m" * 20_000, level="loud", foo=1)
    built["[bold]odd[/bold]"] = 1
    refused = {"transaction": "/", "contexts": TRACE, "timestamp": 1795424399.0}
    return [*sample, record_of("event", built), record_of("transaction", refused)]


def run(path: Path, *args: str) -> str:
    result = CliRunner().invoke(cli, ["report", str(path), "--section", "normalization", *args], env=ENV)
    assert 0 == result.exit_code, result.output
    return result.stdout


def test_terminal_at_80_columns(tmp_path: Path) -> None:
    text = run(write_snapshot(tmp_path / "s.jsonl.zst", records()))
    assert "13. What Sentry would change (Relay's normaliser)" in text
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "sentry.python event" in text and "(no SDK) transaction" in text
    assert "logentry.formatted   11808 chars (11.8 KB)" in text
    assert re.search(r"level +invalid_data: invalid +replaced +1\n +level\b", text)  # the reason wraps
    assert "invalid_attribute" in text
    assert "invalid transaction even…d for transaction events" in text  # cut in the middle to fit
    assert "[bold]o" in text  # a captured key, shown literally (cut in the middle)
    assert "@creditcard:filter" in text and "tags.server_name" in text
    assert "would be rejected  1" in text


def test_markdown_html_and_json(tmp_path: Path) -> None:
    path = write_snapshot(tmp_path / "s.jsonl.zst", records())
    markdown = run(path, "--format", "markdown")
    assert "## 13. What Sentry would change (Relay's normaliser)" in markdown
    assert "| (no SDK) event | logentry.formatted | 11808 chars (11.8 KB) | 1 |" in markdown
    assert (
        "| (no SDK) transaction | invalid transaction event: start\\_timestamp hard-required for transaction events | 1 |"
        in markdown
    )
    html = run(path, "--format", "html")
    assert 'id="normalization"' in html and "hard-required" in html
    data = orjson.loads(run(path, "--format", "json"))
    assert ["normalization"] == data["sections"]
    section = data["normalization"]
    assert (1, 0) == (section["rejected"], section["failures"])
    rows = {row["item_type"]: row for row in section["rows"]}
    assert ("level", "invalid_data", "invalid level", "replaced") in {
        (e["path"], e["error"], e["reason"], e["action"]) for e in rows["event"]["invalid"]
    }


def test_the_document_names_truncated_tables_and_what_is_not_modelled() -> None:
    data = build_report(records(), ["normalization"]).to_json()["normalization"]
    data["rows"][0]["truncated"] = ["defaulted"]
    section = normalization(data)
    assert section.notes[0].endswith("more than the first paths met in defaulted, not listed")
    assert any("inbound filters" in note for note in section.notes)
    assert ("would be rejected", "1") in section.facts


def test_not_asked_for_and_absent(tmp_path: Path) -> None:
    path = write_snapshot(tmp_path / "s.jsonl.zst", records())
    plain = CliRunner().invoke(cli, ["report", str(path), "--format", "json"], env=ENV)
    assert "normalization" not in orjson.loads(plain.stdout)["sections"]
    none = write_snapshot(tmp_path / "none.jsonl.zst", [make_record()])
    result = CliRunner().invoke(cli, ["report", str(none), "--section", "normalization", "--format", "json"], env=ENV)
    assert 0 == result.exit_code and [] == orjson.loads(result.stdout)["sections"]
    assert "no section normalization: no event, transaction or feedback read" in result.stderr


def test_without_sentry_relay(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sentry_mirror.core.pii.relay_available", lambda: False)
    path = write_snapshot(tmp_path / "s.jsonl.zst", records())
    result = CliRunner().invoke(cli, ["report", str(path), "--section", "normalization"], env=ENV)
    assert 3 == result.exit_code and "pip install sentry-relay" in result.output


def drawn(data: dict[str, Any], width: int = 80) -> str:
    out = io.StringIO()
    terminal(Console(file=out, width=width, no_color=True, highlight=False), [normalization(data)])
    return out.getvalue()


def test_a_long_reason_wraps_before_the_sdk_and_path_are_cut() -> None:
    sent = make_event(timestamp=JUST_BEFORE, user={"ip_address": "nope"}, level="loud")
    data = build_report([record_of("event", sent)], ["normalization"]).to_json()["normalization"]
    row = data["rows"][0]
    row["sdk"] = "sentry.javascript.react-native"
    path = "exception.values[].stacktrace.frames[].vars.some_long_name"
    row["invalid"].append({"path": path, "error": "invalid_data", "reason": "input contains invalid characters",
                           "action": "dropped", "count": 3})  # fmt: skip
    text = drawn(data)
    table = text.split("Invalid values")[1].split("\n\n")[0]
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "sentry.ja" in table and "exception" in table  # not cut to a dozen cells
    words = table.split()
    assert {"invalid_data:", "expected", "an", "ip", "address", "input", "contains", "characters"} <= set(
        words
    )  # every word kept


def test_rejections_and_failures_are_told_apart() -> None:
    data = build_report(records(), ["normalization"]).to_json()["normalization"]
    data["rows"][0]["failures"] = {"Panic: relay panicked": 2}
    tables = {table.title: table for table in normalization(data).tables}
    rejected = tables["Would be rejected (Relay refuses to store them)"].rows
    assert 1 == len(rejected) and str(rejected[0][1]).startswith("invalid transaction event")
    assert [("sentry.python event", "Panic: relay panicked", 2)] == list(
        tables["Failures (Relay could not be asked)"].rows
    )
