"""``sentry-mirror export`` of a forward-mode capture: the answer records go with their
requests, so that ``replay --undelivered`` on the export sends only what was undelivered."""

from __future__ import annotations

from pathlib import Path

import orjson
from click.testing import CliRunner

from sentry_mirror.io.snapshot import iter_records
from sentry_mirror.ui.cli import cli
from tests.ui.test_replay_undelivered import ENV, capture


def planned(snapshot: Path) -> set[str]:
    """The event ids ``replay --undelivered --dry-run`` would send from ``snapshot``."""
    dsn = "http://" + "0" * 32 + "@127.0.0.1:9/5"
    result = CliRunner().invoke(
        cli, ["replay", str(snapshot), "--undelivered", "--to", dsn, "--dry-run", "--json"], env=ENV
    )
    assert 0 == result.exit_code, result.output
    return {orjson.loads(line)["event_id"] for line in result.stdout.splitlines() if line.startswith("{")}


def test_an_export_keeps_the_answers_so_delivered_requests_stay_delivered(tmp_path: Path) -> None:
    source, undelivered = capture(tmp_path)
    out = tmp_path / "out" / "export.jsonl.zst"
    out.parent.mkdir()
    result = CliRunner().invoke(cli, ["export", str(source), "-o", str(out)], env=ENV)
    assert 0 == result.exit_code, result.output
    assert f"7 request(s) and 6 answer record(s) written to {out}" in result.output
    assert undelivered == planned(out) == planned(source)
    every = [r.data for r in iter_records([out], answers=True)]
    assert [r.data for r in iter_records([source], answers=True)] == every


def test_a_filtered_export_keeps_the_answers_to_the_requests_it_keeps(tmp_path: Path) -> None:
    source, undelivered = capture(tmp_path)
    out = tmp_path / "out" / "export.jsonl.zst"
    out.parent.mkdir()
    until = "2026-11-23T10:00:04Z"  # the first five requests (one a second); answers of the fifth come later
    result = CliRunner().invoke(cli, ["export", str(source), "--until", until, "-o", str(out)], env=ENV)
    assert 0 == result.exit_code, result.output
    kept = [r.data for r in iter_records([out], answers=True)]
    requests = {d["id"] for d in kept if d.get("kind") != "answer"}
    assert 5 == len(requests)
    assert {d["request_id"] for d in kept if d.get("kind") == "answer"} <= requests
    assert undelivered - {"f" * 32} == planned(out)
