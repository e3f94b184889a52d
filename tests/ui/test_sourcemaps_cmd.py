"""``sentry-mirror sourcemaps check`` through the CLI: the JSON's shape, --fail-on's exit
codes, the HTML page, and captured text shown literally."""

from __future__ import annotations

import sys
import uuid
from dataclasses import fields
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from sentry_mirror.core.sourcemaps import OUTCOMES, FrameResult
from sentry_mirror.core.sourcemaps.resolve import Original
from sentry_mirror.errors import ExitCode
from sentry_mirror.ui.cli import cli
from tests.factories import (
    EVENT_ID,
    make_artifact_bundle,
    make_event_record,
    make_js_event,
    make_upload,
    write_snapshot,
)
from tests.jsbuild import Builds

ENV = {"COLUMNS": "200", "NO_COLOR": "1"}
PATH = "/srv/app/dist/app.min.js"
DEBUG_ID = str(uuid.UUID(int=1))


def _write(path: Path, records: list[dict[str, Any]]) -> str:
    return str(write_snapshot(path, records))


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["sourcemaps", "check", *args], env=ENV)


@pytest.fixture
def capture(tmp_path: Path, js_builds: Builds) -> str:
    """A build uploaded with debug ids, one event that resolves and one whose file is missing."""
    built = js_builds.main
    files = {
        "~" + PATH: ("minified_source", built.minified, {"debug-id": DEBUG_ID, "sourcemap": "app.min.js.map"}),
        "~" + PATH + ".map": ("source_map", built.map, {"debug-id": DEBUG_ID}),
    }
    upload = make_upload(make_artifact_bundle(files), release="web@1")
    good = make_js_event(PATH, built.positions, debug_id=DEBUG_ID, release="web@1")
    missing = make_js_event("/srv/app/dist/[red]x.js", [(1, 2)], release="web@1", event_id="b" * 32)
    return _write(tmp_path / "a.jsonl.zst", [upload, make_event_record(good), make_event_record(missing)])


def test_json_shape(capture: str, js_builds: Builds) -> None:
    result = run(capture, "--json")
    assert result.exit_code == 0, result.output
    data = orjson.loads(result.output)
    assert data["schema"] == 1 and (data["events"], data["js_events"]) == (2, 2)
    totals = data["totals"]
    assert list(totals["outcomes"]) == list(OUTCOMES) == list(totals["in_app_outcomes"])
    frames = len(js_builds.main.positions)
    assert (totals["frames"], totals["resolved"], totals["outcomes"]["file_missing"]) == (frames + 1, frames, 1)
    assert totals["in_app_resolved_share"] == frames / (frames + 1)
    row = data["event_rows"][0]
    assert set(row) == {"event_id", "record_id", "release", "dist", "platform", "outcomes", "in_app_outcomes", "frames"}
    top = row["frames"][-1]
    assert top["outcome"] == "resolved" and top["via"] == "debug_id"
    assert set(top) == {f.name for f in fields(FrameResult)} and set(top["original"]) == {
        f.name for f in fields(Original)
    }
    assert top["original"]["file"].endswith("app/util.js") and top["original"]["function"] == "parseConfig"
    (example,) = data["examples"]
    assert (example["outcome"], example["count"], example["fix"]) == ("file_missing", 1, OUTCOMES["file_missing"][1])
    assert [(b["release"], b["files"], b["debug_ids"]) for b in data["bundles"]] == [("web@1", 2, 2)]
    assert data["releases_uploaded"] == ["web@1"] and data["native"]["images"] == 0


def test_fail_on_unresolved(capture: str) -> None:
    assert run(capture, "--json").exit_code == ExitCode.OK
    failed = run(capture, "--json", "--fail-on", "unresolved")
    assert failed.exit_code == ExitCode.CHECK_FAILED
    assert "1 in-app JavaScript frame(s) do not resolve" in failed.stderr


def test_filters_choose_events_and_uploads_are_always_read(capture: str) -> None:
    result = run(capture, "--json", "--event-id", "b" * 32, "--fail-on", "unresolved")
    assert result.exit_code == ExitCode.CHECK_FAILED
    data = orjson.loads(result.stdout)
    assert data["events"] == 1 and data["totals"]["outcomes"]["file_missing"] == 1 and len(data["bundles"]) == 1
    only_good = run(capture, "--json", "--event-id", EVENT_ID, "--fail-on", "unresolved")
    assert only_good.exit_code == ExitCode.OK, only_good.output
    assert orjson.loads(only_good.stdout)["events"] == 1


def test_html_page_is_written(capture: str, tmp_path: Path) -> None:
    page = tmp_path / "check.html"
    result = run(capture, "--html", str(page))
    assert result.exit_code == 0, result.output
    html = page.read_text()
    assert "<!doctype html>" in html and "file_missing" in html and "/srv/app/dist/[red]x.js" in html
    assert "<script" not in html


def test_terminal_shows_captured_text_literally(tmp_path: Path, js_builds: Builds) -> None:
    hostile = "/srv/[bold red]x\x1b[31m.js"
    event = make_js_event(hostile, [(1, 2)], release="web@1")
    result = run(_write(tmp_path / "h.jsonl.zst", [make_event_record(event)]))
    assert result.exit_code == 0, result.output
    assert "[bold red]" in result.stdout and "\x1b" not in result.stdout
    assert "no_upload_for_release" in result.stdout and "sentry-cli sourcemaps upload --release" in result.stdout


def test_no_events_is_an_empty_answer(tmp_path: Path) -> None:
    result = run(_write(tmp_path / "e.jsonl.zst", []), "--json")
    assert result.exit_code == 0 and orjson.loads(result.stdout)["totals"]["frames"] == 0


def test_every_outcome_is_documented_with_its_fix() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "sourcemaps.md").read_text()
    for name in OUTCOMES:
        assert f"| `{name}` |" in doc, name


def test_without_symbolic_the_error_names_the_install_command(capture: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "symbolic.sourcemapcache", None)  # import fails as when not installed
    result = run(capture, "--json")
    assert result.exit_code == ExitCode.ERROR
    assert "pip install symbolic" in result.stderr and not result.stdout


def test_a_damaged_bundle_is_a_warning_not_the_end_of_the_run(tmp_path: Path, js_builds: Builds) -> None:
    data = bytearray(make_artifact_bundle({"~" + PATH: ("minified_source", js_builds.main.minified, {})}))
    data[data.index(b"PK\x01\x02") + 6] = 0xFF  # a zip version zipfile refuses with NotImplementedError
    event = make_js_event(PATH, js_builds.main.positions, release="web@1")
    snapshot = _write(tmp_path / "d.jsonl.zst", [make_upload(bytes(data), release="web@1"), make_event_record(event)])
    result = run(snapshot, "--json")
    assert result.exit_code == ExitCode.OK, result.output
    assert "artifact bundle skipped: not a zip archive" in result.stderr
    assert orjson.loads(result.stdout)["totals"]["outcomes"]["no_upload_for_release"] == len(js_builds.main.positions)


def test_fail_on_counts_frames_the_sdk_did_not_mark(tmp_path: Path) -> None:
    event = make_js_event(PATH, [(1, 2)], release="web@1")
    del event["exception"]["values"][0]["stacktrace"]["frames"][0]["in_app"]
    failed = run(_write(tmp_path / "n.jsonl.zst", [make_event_record(event)]), "--fail-on", "unresolved")
    assert failed.exit_code == ExitCode.CHECK_FAILED, failed.output


def test_an_existing_html_file_is_refused_before_reading(tmp_path: Path) -> None:
    page = tmp_path / "check.html"
    page.write_text("keep me")
    result = run(str(tmp_path / "absent.jsonl.zst"), "--html", str(page))
    assert result.exit_code == ExitCode.ERROR
    assert "already exists" in result.stderr and page.read_text() == "keep me"
