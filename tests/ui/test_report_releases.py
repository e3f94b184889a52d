"""`sentry-mirror report` over a snapshot sentry-cli talked to (web API and upload records
beside events, written with the real SnapshotWriter): the ``releases`` section on the terminal
(80 columns, captured data shown literally), in JSON, Markdown and HTML; no section without
upload or web API records."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from rich.cells import cell_len

from sentry_mirror.core.report import js_frames
from sentry_mirror.ui.cli import cli
from sentry_mirror.ui.render_report_releases import names
from tests.core.report.test_releases import bundle_upload, deploy, event_record, new_release, put_release, row
from tests.factories import make_upload, write_snapshot

NARROW = {"COLUMNS": "80", "NO_COLOR": "1"}
#: A release whose name holds Rich markup and a control character (captured data is never markup).
HOSTILE = "[bold]x[/bold]\x1b[31m"


def write(path: Path, records: list[dict[str, Any]]) -> str:
    return str(write_snapshot(path, records))


@pytest.fixture
def released(tmp_path: Path) -> str:
    """sentry-cli's release 1.0 (new, set-commits, upload, finalize, deploy) with its events;
    2.0 created, never finalized; a hostile release with events and no upload; a debug file."""
    refs = [{"repository": "acme/web", "commit": "a" * 40, "previousCommit": None}]
    records = [
        new_release("1.0"),
        put_release("1.0", {"refs": refs}),
        bundle_upload("1.0", dist="7"),
        put_release("1.0", {"projects": ["web"], "dateReleased": "2026-12-03T10:00:00Z"}),
        deploy("1.0", name="deploy 1", url="https://example.com/deploys/1"),
        event_record("1.0", environment="production", minutes=1),
        event_record("1.0", environment="production", minutes=2),
        event_record(HOSTILE, minutes=3),
        event_record(None, minutes=4),
        new_release("2.0"),
        make_upload(b"MZ\x90\x00", kind="debug_file", name="app.pdb", debug_id="ABCD-1"),
    ]
    return write(tmp_path / "released.jsonl.zst", records)


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env=NARROW)


def report_json(*args: str) -> dict[str, Any]:
    result = run("report", *args, "--format", "json")
    assert 0 == result.exit_code, result.output
    return dict(orjson.loads(result.stdout))


def test_json(released: str) -> None:
    data = report_json(released)
    assert "releases" == data["sections"][-1]
    section = data["releases"]
    assert "1 release has events but no upload; 1 JS event has no release" == section["answer"]
    assert [("1.0", 2, 1, "2026-12-03T10:00:00Z"), (HOSTILE, 1, 0, None), ("2.0", 0, 1, None)] == [
        (r["version"], r["events"], r["created"], r["finalized"]) for r in section["releases"]
    ]
    bundles, mismatches = section["bundles"], section["mismatches"]
    assert (1, 1, {"minified_source": 1, "source_map": 1}) == (
        bundles["count"],
        bundles["debug_ids"],
        bundles["files_by_type"],
    )
    assert ["2.0"] == mismatches["not_finalized"]["versions"] and ["acme/web"] == section["releases"][0]["repositories"]
    assert {"count": 1, "versions": [HOSTILE]} == section["mismatches"]["events_no_upload"]
    assert ["app.pdb"] == [f["name"] for f in section["debug_files"]["files"]]
    # the events carry no JavaScript frames: nothing to resolve, no share (not 0%)
    assert {"resolved": 0, "total": 0, "share": None, "unchecked": 0} == section["frames"]
    only = report_json(released, "--section", "releases")
    assert ["releases"] == only["sections"] and only["releases"] == section


def test_terminal(released: str) -> None:
    result = run("report", released, "--section", "releases")
    assert 0 == result.exit_code, result.output
    out = result.stdout
    assert "11. Releases and uploads" in out
    assert "1 release has events but no upload; 1 JS event has no" in out  # the answer, folded at 80
    for title in ("Releases", "Seen in events", "Commits (set-commits)", "Deploys", "Artifact bundles by release",
                  "Debug files", "Web API requests", "Mismatches"):  # fmt: skip
        assert f"\n{title}\n" in out
    assert "a" * 40 in out and "deploy 1" in out and "app.pdb" in out and "abcd-1" in out
    assert "2026-12-03T10:00" in out and "POST api_releases" in out
    assert HOSTILE.replace("\x1b", "\\x1b") in out and "\x1b" not in out  # literal, never markup or escapes
    releases_table = out.split("\nReleases\n")[1].split("\nSeen in events\n")[0]
    assert "resolved" not in releases_table  # no JavaScript frame to resolve: no column for it
    assert all(cell_len(line) <= 80 for line in out.splitlines())


def test_markdown_and_html(released: str) -> None:
    markdown = run("report", released, "--section", "releases", "--format", "markdown")
    assert 0 == markdown.exit_code and "## 11. Releases and uploads" in markdown.stdout
    assert "- answer: 1 release has events but no upload; 1 JS event has no release" in markdown.stdout
    html = run("report", released, "--format", "html")
    assert 0 == html.exit_code and '<section id="releases"><h2>11. Releases and uploads</h2>' in html.stdout
    assert "<b>x</b>" not in html.stdout and "[bold]x[/bold]" in html.stdout


def test_no_section_without_upload_or_api_records(tmp_path: Path) -> None:
    events = write(tmp_path / "events.jsonl.zst", [event_record("1.0"), event_record("2.0")])
    assert "releases" not in report_json(events)["sections"]
    result = run("report", events, "--section", "releases", "--format", "json")
    assert 0 == result.exit_code and [] == orjson.loads(result.stdout)["sections"]
    assert "no section releases: no upload or web API records read" in result.stderr


def test_names() -> None:
    assert "-" == names([]) and "a, b" == names(["a", "b"])
    assert "a, b, c, d, e and 2 more" == names(list("abcdefg"))
    assert "a and 9 more" == names(["a"], 10)


def test_events_read_before_any_upload_past_the_buffer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """JavaScript events read before sentry-cli's first record wait for it in a bounded
    buffer; those past it are not checked, and the report says how many."""
    monkeypatch.setattr(js_frames, "MAX_PENDING", 1)
    records = [event_record("1.0"), event_record("1.0"), event_record("1.0"), bundle_upload("1.0")]
    snapshot = write(tmp_path / "late.jsonl.zst", records)
    data = report_json(snapshot, "--section", "releases")["releases"]
    assert (3, 2) == (row(data, "1.0")["js_events"], data["frames"]["unchecked"])
    result = run("report", snapshot, "--section", "releases", "--format", "markdown")
    assert "2 JavaScript events read before any upload or web API record were not checked" in result.stdout
