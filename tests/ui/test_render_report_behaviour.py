"""The ``behaviour`` section for people: on a console by itself (``probe``), and in
`sentry-mirror report` over a snapshot holding scripted answers (terminal, JSON, Markdown,
HTML); captured text (SDK and rule names) shown literally, never as markup."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from rich.console import Console

from sentry_mirror.core import report
from sentry_mirror.ui.cli import cli
from sentry_mirror.ui.render_report_behaviour import behaviour, render
from tests.factories import make_client_report, make_scripted, make_sdk_record, write_snapshot

LIMIT = [("X-Sentry-Rate-Limits", "2:transaction:organization:quota_exceeded"), ("Retry-After", "2")]
#: An SDK and a rule whose names hold Rich markup and a control character.
HOSTILE_SDK = ("[red]evil[on blue]\x1b[31m", "1.0")
HOSTILE_RULE = "[link=https://x.example]rule[/link]\x07"


def python_limited(
    *, ignoring: bool = False, sdk: tuple[str, str] = ("sentry.python", "2.75.0")
) -> list[dict[str, Any]]:
    """sentry-python under a 2 s transaction limit (or an SDK sending a transaction at 1 s anyway)."""
    held = make_sdk_record(("transaction",), at=1.0, event_id="c" * 32, sdk=sdk)
    return [
        make_sdk_record(("event",), at=0.0, event_id="a" * 32, sdk=sdk),
        make_sdk_record(("transaction",), at=0.1, event_id="b" * 32, status=429, headers=LIMIT, sdk=sdk,
                        scripted=make_scripted(HOSTILE_RULE if sdk == HOSTILE_SDK else "rate-limit-transactions")),
        make_sdk_record(("event",), at=0.3, event_id="d" * 32, sdk=sdk),
        *([held] if ignoring else []),
        make_sdk_record((make_client_report(("ratelimit_backoff", "transaction", 1)),), at=0.4, sdk=sdk),
        make_sdk_record(("transaction",), at=2.9, event_id="e" * 32, sdk=sdk),
    ]  # fmt: skip


def section(records: list[dict[str, Any]]) -> dict[str, Any]:
    return report.build_report(records, ["behaviour"]).to_json()["behaviour"]


def rendered(data: dict[str, Any]) -> str:
    out = io.StringIO()
    render(Console(file=out, width=100, no_color=True), data)
    return out.getvalue()


def test_render_passing() -> None:
    text = rendered(section(python_limited()))
    assert "sentry.python 2.75.0" in text and "5 request(s), 1 answered by a script" in text
    assert "backoff" in text and "held back 2 s" in text
    assert "client reports: ratelimit_backoff transaction 1" in text
    assert "scripted answers: 429 1 (rules: rate-limit-transactions 1)" in text
    assert "no verdict failed" in text and "FAIL" not in text
    assert "https://develop.sentry.dev/sdk/expected-features/rate-limiting/" in text


def test_render_failing() -> None:
    text = rendered(section(python_limited(ignoring=True)))
    assert "FAIL" in text and "1 verdict(s) failed" in text


def test_render_without_the_section() -> None:
    assert "no request a scripted rule answered" in rendered({})


def test_captured_names_are_literal() -> None:
    text = rendered(section(python_limited(sdk=HOSTILE_SDK)))
    assert "[red]evil[on blue]" in text
    assert "(rules: [link=https://x.example]rule[/link]" in text
    assert "\x1b" not in text and "\x07" not in text
    doc = behaviour(section(python_limited(sdk=HOSTILE_SDK)))
    assert any("[red]evil[on blue]" in str(row[0]) for row in doc.tables[0].rows)


def test_report_command_in_every_format(tmp_path: Path) -> None:
    path = str(write_snapshot(tmp_path / "probe.jsonl.zst", python_limited()))
    runner = CliRunner()
    env = {"COLUMNS": "100", "NO_COLOR": "1"}
    terminal = runner.invoke(cli, ["report", path, "--section", "behaviour"], env=env)
    assert terminal.exit_code == 0, terminal.output
    assert "12. SDK behaviour" in terminal.stdout and "Verdicts" in terminal.stdout
    data = orjson.loads(runner.invoke(cli, ["report", path, "--format", "json"], env=env).stdout)
    assert "behaviour" in data["sections"]
    assert [v["status"] for v in data["behaviour"]["sdks"][0]["verdicts"]][:3] == ["pass", "pass", "pass"]
    markdown = runner.invoke(cli, ["report", path, "--format", "markdown", "--section", "behaviour"], env=env).stdout
    assert "## 12. SDK behaviour" in markdown and "| sentry.python 2.75.0 | backoff | pass |" in markdown
    html = runner.invoke(cli, ["report", path, "--format", "html", "--section", "behaviour"], env=env).stdout
    assert 'id="behaviour"' in html


def test_absent_without_scripted_answers(tmp_path: Path) -> None:
    plain = [make_sdk_record(("event",), at=0.0)]
    path = str(write_snapshot(tmp_path / "plain.jsonl.zst", plain))
    result = CliRunner().invoke(cli, ["report", path, "--section", "behaviour", "--format", "json"])
    assert result.exit_code == 0
    assert orjson.loads(result.stdout)["sections"] == []
    assert "no section behaviour: no request a scripted rule answered" in result.stderr


def test_one_sdk_on_two_dsns_is_labelled_by_project_and_key() -> None:
    records = python_limited()
    for record in records[:3]:
        record["project_id"], record["auth"] = "2", {**(record.get("auth") or {}), "public_key": "b" * 32}
    text = rendered(section(records))
    assert "sentry.python 2.75.0 (project 2, key bbbbbbbb)" in text
    assert "judge one process at a time" in text


def test_the_other_row_and_the_section_notes_are_shown() -> None:
    records = [make_sdk_record(("event",), at=0.01 * i, sdk=(f"sdk{i}", "1")) for i in range(51)]
    records.append(make_sdk_record(at=1.0, scripted=make_scripted("slow"), sdk=("sdk0", "1")))
    text = rendered(section(records))
    assert "(other)" in text and "1 SDK(s) past the first 50, mixed: not judged" in text


@pytest.mark.parametrize("delay", [True, float("inf"), float("nan"), "5", -1])
def test_a_scripted_label_shows_no_odd_delay(delay: Any) -> None:
    from sentry_mirror.ui.render import scripted_label

    record = make_sdk_record(scripted=make_scripted("slow"))
    record["scripted"]["delay_ms"] = delay
    assert scripted_label(record) == "scripted: rule slow"


def test_alone_the_section_has_no_number_and_its_addresses_stay_whole() -> None:
    """``probe`` prints the section alone, often into a CI log 80 columns wide: no section
    number, and the spec addresses on one line each for copying."""
    out = io.StringIO()
    render(Console(file=out, width=80, no_color=True), section(python_limited()))
    text = out.getvalue()
    assert "SDK behaviour" in text and "12." not in text
    address = "https://develop.sentry.dev/sdk/telemetry/client-reports/#network-failure-recording"
    assert any(address in line for line in text.splitlines())
