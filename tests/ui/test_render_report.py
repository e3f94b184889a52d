"""The report's terminal tables at 80 columns: long paths and titles cut in the middle (the
full values in the other formats), rows with no SDK or project labelled."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.cells import cell_len
from rich.console import Console

from sentry_mirror.core import report
from sentry_mirror.io.snapshot import iter_records
from sentry_mirror.ui import render_report, render_report_terminal
from sentry_mirror.ui.cli import cli
from sentry_mirror.ui.render_report import Section, Table

ROOT = Path(__file__).resolve().parents[2]
LONG = "exception.values[].stacktrace.frames[]." + "x" * 80 + ".the_end"


def printed(sections: list[Section], width: int = 80) -> str:
    console = Console(width=width, record=True, color_system=None)
    render_report_terminal.terminal(console, sections)
    return console.export_text()


def test_wide_columns_are_cut_in_the_middle_to_fit_the_terminal() -> None:
    table = Table("t", ("path", "items", "example"), [(LONG, "100.0%", "x" * 100)], frozenset({1}), frozenset({0, 2}))
    text = printed([Section("fields", "Fields", tables=[table])])
    lines = text.splitlines()
    assert all(cell_len(line) <= 80 for line in lines)
    (row,) = [line for line in lines if "100.0%" in line]
    assert row.startswith("exception.") and "…" in row and ".the_end" in row
    assert "x" * 80 + ".the\\_end" in render_report.markdown([Section("fields", "Fields", tables=[table])])  # in full
    assert LONG in printed([Section("fields", "Fields", tables=[table])], width=400)


def test_rows_with_no_sdk_or_project_are_labelled_on_the_terminal_only() -> None:
    report = {
        "sections": ["server"],
        "server": {
            "endpoints": {}, "methods": {}, "item_types": {}, "encodings": {}, "auth_forms": {},
            "content_types": {}, "headers": {}, "sdks": {"-": 2, "sentry.python 2.75.0": 1},
            "requests_per_day": None, "bytes_per_day": None, "decoded_bytes_per_day": None,
        },
    }  # fmt: skip
    sections = render_report.document(report)
    text = printed(sections)
    assert "(no SDK)" in text and "sentry.python 2.75.0" in text
    assert "| - | 2 |" in render_report.markdown(sections)
    counts = render_report._counts("By project", "project", {"-": 1, "42": 2})
    assert [["(no project)", "1"], ["42", "2"]] == render_report_terminal._cut(counts, 80)[0]


def test_the_report_fits_80_columns() -> None:
    result = CliRunner().invoke(
        cli, ["report", str(ROOT / "snapshots" / "sample-python.jsonl.zst")], env={"COLUMNS": "80", "NO_COLOR": "1"}
    )
    assert 0 == result.exit_code, result.output
    assert all(cell_len(line) <= 80 for line in result.output.splitlines())
    assert "…" in result.output


def _at(width: int, args: list[str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    monkeypatch.chdir(ROOT)  # short paths: the title line names them
    result = CliRunner().invoke(cli, args, env={"COLUMNS": str(width), "NO_COLOR": "1"})
    assert 0 == result.exit_code, result.output
    return result.output.splitlines()


def _rows(lines: list[str]) -> int:
    """The lines of the tables' bodies (under a heading's rule, up to the blank line)."""
    count, body = 0, False
    for line in lines:
        if line and set(line.strip()) == {"─"} and not line.startswith(" "):
            body = True
        elif not line.strip():
            body = False
        elif body:
            count += 1
    return count


SAMPLES = ["snapshots/sample-python.jsonl.zst", "snapshots/sample-node.jsonl.zst"]


@pytest.mark.parametrize(
    "args", [["report", "--section", "pii", SAMPLES[0]], ["diff", *SAMPLES]], ids=["report-pii", "diff"]
)
def test_personal_data_and_diff_tables_fit_80_columns_without_wrapping(
    args: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    narrow, roomy = _at(80, args, monkeypatch), _at(200, args, monkeypatch)
    assert all(cell_len(line) <= 80 for line in narrow), max(narrow, key=cell_len)
    assert _rows(roomy) == _rows(narrow) > 0  # every row on one line: cut in the middle, not wrapped
    assert any(cell_len(line) > 80 for line in roomy)  # there was something to cut


def test_an_item_type_with_no_sdk_is_labelled_in_the_fields_section_on_the_terminal_only() -> None:
    records = [r.data for r in iter_records([ROOT / "snapshots" / "sample-python.jsonl.zst"])]
    data = report.build_report(records, ["fields"]).to_json()
    entry = next(entry for entry in data["fields"]["types"] if entry["paths"])
    entry["sdk"] = "-"
    sections = render_report.document(data)
    text = printed(sections, width=200)
    assert f"{entry['item_type']} from (no SDK) ({entry['items']} item(s))" in text
    assert " from - (" not in text
    assert f"from - ({entry['items']} item(s))" in render_report.markdown(sections)  # as the JSON has it
