"""`sentry-mirror report` over a snapshot of forward mode (requests and their answer
records, written with the real SnapshotWriter): the ``upstream`` section on the terminal (80
columns, captured data shown literally), in JSON, Markdown and HTML; no section without answers."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from rich.cells import cell_len

from sentry_mirror.ui.cli import cli
from sentry_mirror.ui.render_report_upstream import labels
from tests.factories import T0, make_answer, sample_records, write_snapshot

NARROW = {"COLUMNS": "80", "NO_COLOR": "1"}
CANDIDATE = "http://candidate.local:8000/3"
#: A candidate whose ``to`` holds Rich markup and a control character (captured data is never markup).
HOSTILE = "http://[bold]x[/bold]\x1b[31m.example/9"


def write(path: Path, records: list[dict[str, Any]]) -> str:
    return str(write_snapshot(path, records))


@pytest.fixture
def forwarded(tmp_path: Path) -> str:
    """The sample's requests, each followed by the upstream's answer (3: a 429 with rate
    limits, 5: a timeout) and two candidates' (one answers 500 to 2 and 7)."""
    records: list[dict[str, Any]] = []
    for n, request in enumerate(sample_records("python")):
        status = {3: 429, 5: None}.get(n, 200)
        limits = [("X-Sentry-Rate-Limits", "60:transaction:organization"), ("Retry-After", "60")]
        answered = T0 + timedelta(seconds=n)
        records += [
            {**request, "received_at": make_answer(request, answered_at=answered)["received_at"]},
            make_answer(request, status=status, headers=limits if status == 429 else [], answered_at=answered,
                        latency_ms=float(n + 1), error=None if status else "timeout", returned=status is not None),
            make_answer(request, target="candidate", to=CANDIDATE, status=500 if n in (2, 7) else 200,
                        answered_at=answered, returned=False),
            make_answer(request, target="candidate", to=HOSTILE, answered_at=answered, returned=False),
        ]  # fmt: skip
    return write(tmp_path / "forward.jsonl.zst", records)


def run(*args: str, env: dict[str, str] = NARROW) -> Any:
    return CliRunner().invoke(cli, list(args), env=env)


def upstream_json(*args: str) -> dict[str, Any]:
    result = run("report", *args, "--format", "json")
    assert 0 == result.exit_code, result.output
    return dict(orjson.loads(result.stdout))


def test_json(forwarded: str) -> None:
    data = upstream_json(forwarded)
    assert "upstream" == data["sections"][-1] and 13 == data["traffic"]["requests"]  # answers are no requests
    section = data["upstream"]
    assert 39 == section["answers"] and ["upstream", "candidate", "candidate"] == [
        t["target"] for t in section["targets"]
    ]
    up = section["targets"][0]
    assert {"200": 11, "429": 1, "no answer": 1} == up["by_status"] and 1 == up["rate_limited"]
    assert {"transaction": {"answers": 1, "max_s": 60}} == up["rate_limits"]
    assert (1, 1) == (section["requests"]["not_delivered"], section["requests"]["still_undelivered"])
    assert (13, 4) == (section["disagreements"]["compared"], section["disagreements"]["requests"])
    only = upstream_json(forwarded, "--section", "upstream")
    assert ["upstream"] == only["sections"] and only["upstream"] == section


def test_terminal_fits_80_columns_and_shows_captured_data_literally(forwarded: str) -> None:
    result = run("report", forwarded, "--section", "upstream")
    assert 0 == result.exit_code, result.output
    out = result.stdout
    assert all(cell_len(line) <= 80 for line in out.splitlines()), out
    for expected in ("10. Upstream and candidates", "not delivered upstream     1", "Rate limits seen",
                     "X-Sentry-Rate-Limits transaction", "By endpoint and item types", "Disagreements (the first 4)",
                     "candidate 1", "candidate 2", "1 request(s) are not delivered upstream"):  # fmt: skip
        assert expected in out, expected
    assert "\x1b" not in out
    wide = run("report", forwarded, "--section", "upstream", env={"COLUMNS": "200", "NO_COLOR": "1"}).stdout
    assert "http://[bold]x[/bold]\\x1b[31m.example/9" in wide and "\x1b" not in wide


def test_markdown_and_html_carry_the_section(forwarded: str, tmp_path: Path) -> None:
    markdown = run("report", forwarded, "--section", "upstream", "--format", "markdown").stdout
    assert "## 10. Upstream and candidates" in markdown and "### Latency per target" in markdown
    assert "\x1b" not in markdown
    page = tmp_path / "report.html"
    assert 0 == run("report", forwarded, "--format", "html", "-o", str(page)).exit_code
    html = page.read_text()
    assert '<section id="upstream"><h2>10. Upstream and candidates</h2>' in html
    assert "[bold]x[/bold]" in html and "\x1b" not in html


def test_filters_apply_to_answers_by_endpoint_item_type_and_time(forwarded: str) -> None:
    events = upstream_json(forwarded, "--item-type", "event")["upstream"]
    assert 27 == events["answers"] and {"event"} == {row["items"] for row in events["by_endpoint"]}
    late = upstream_json(forwarded, "--since", "2026-11-23T10:00:10Z")["upstream"]
    assert 9 == late["answers"] and 3 == late["requests"]["answered"]
    others = upstream_json(forwarded, "--sdk", "sentry.python", "--status", "200", "--limit", "2")
    assert 2 == others["traffic"]["requests"] and 0 < others["upstream"]["answers"]  # these leave answers alone
    assert "upstream" not in upstream_json(forwarded, "--endpoint", "store")["sections"]


def test_no_section_without_answer_records(tmp_path: Path) -> None:
    plain = write(tmp_path / "plain.jsonl.zst", sample_records("python"))
    data = upstream_json(plain)
    assert "upstream" not in data["sections"] and "upstream" not in data
    result = run("report", plain, "--section", "upstream", "--section", "traffic")
    assert 0 == result.exit_code and "10. Upstream" not in result.stdout and "1. Traffic" in result.stdout
    assert "warning: no section upstream: no answer records read" in result.stderr


def test_targets_get_short_names_in_their_order() -> None:
    targets = [{"target": "upstream", "to": "a"}, {"target": "candidate", "to": "b"},
               {"target": "candidate", "to": "c"}, {"target": "(other)", "to": ""}]  # fmt: skip
    assert ["upstream", "candidate 1", "candidate 2", "(other)"] == list(labels(targets).values())
    two = labels([{"target": "upstream", "to": "a"}, {"target": "upstream", "to": "b"}])
    assert {("upstream", "a"): "upstream 1", ("upstream", "b"): "upstream 2"} == two
