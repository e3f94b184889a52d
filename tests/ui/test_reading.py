"""Reading snapshots for a command: the filters applied, unusable records counted, warnings on stderr."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentry_mirror.core.malformed import Malformed
from sentry_mirror.core.query import Query
from sentry_mirror.errors import MirrorError, SnapshotError
from sentry_mirror.io.parallel import Feedback, Window
from sentry_mirror.io.snapshot import SnapshotWriter
from sentry_mirror.ui.reading import reading, reading_windows, warn, window_records
from tests.factories import make_answer, sample_records

SAMPLE = str(Path(__file__).resolve().parent.parent.parent / "snapshots" / "sample-python.jsonl.zst")


def test_every_record_without_a_query() -> None:
    with reading((SAMPLE,)) as records:
        assert 13 == len(list(records))
    with reading((SAMPLE,), query=Query()) as records:
        assert 13 == len(list(records))


def test_the_query_is_applied_where_records_are_read() -> None:
    with reading((SAMPLE,), Malformed(where="test"), Query(item_types=frozenset({"transaction"}))) as records:
        assert [["transaction"]] == [[item["type"] for item in r["summary"]["items"]] for r in records]
    with reading((SAMPLE,), query=Query(limit=2)) as records:
        assert 2 == len(list(records))


def test_a_missing_snapshot_is_an_error() -> None:
    with pytest.raises(SnapshotError, match="no such snapshot file or directory"), reading(("/nonexistent/x",)):
        pass


def test_no_snapshot_file_at_all_warns_or_is_an_error_when_required(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An empty directory or a glob matching nothing reads no record: said on stderr, and an
    error where an empty read would pass a check (diff)."""
    for where in (str(tmp_path), str(tmp_path / "*.jsonl.zst")):
        with reading((where,)) as records:
            assert [] == list(records)
        assert f"warning: no snapshot files in {where}\n" == capsys.readouterr().err
        with pytest.raises(MirrorError, match="no snapshot files in"), reading((where,), required=True):
            pass


def test_a_truncated_snapshot_warns_on_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = Path(SAMPLE).read_bytes()
    cut = tmp_path / "cut.jsonl.zst"
    cut.write_bytes(data[: len(data) - 40])
    with reading((str(cut),)) as records:
        list(records)
    captured = capsys.readouterr()
    assert "" == captured.out and captured.err.startswith("warning: ")


def test_warn_shows_captured_text_literally(capsys: pytest.CaptureFixture[str]) -> None:
    warn("a [bold]name[/bold] with \x1b[31m escapes")
    assert "warning: a [bold]name[/bold] with \\x1b[31m escapes\n" == capsys.readouterr().err


def test_answer_records_are_read_only_when_asked_for(tmp_path: Path) -> None:
    request = sample_records()[0]
    path = tmp_path / "forward.jsonl.zst"
    with path.open("wb") as fo:
        writer = SnapshotWriter(fo)
        writer.write([request, make_answer(request)])
        writer.finish_frame()
    with reading((str(path),)) as records:
        assert [request["id"]] == [r["id"] for r in records]
    with reading((str(path),), query=Query(item_types=frozenset({"event"})), answers=True) as records:
        assert [None, "answer"] == [r.get("kind") for r in records]


def test_a_record_an_aggregator_fails_on_is_counted_once(capsys: pytest.CaptureFixture[str]) -> None:
    malformed = Malformed(where="test")
    with reading((SAMPLE,), malformed) as records:
        first = next(iter(records))
        malformed.failed(first, ValueError("boom"))
    assert 1 == malformed.count and 1 == capsys.readouterr().err.count("boom")


def test_windows_give_what_reading_gives(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """reading_windows + window_records (several processes) against reading: the same records,
    filtered alike, the unusable ones counted alike, each window's result in order."""
    from sentry_mirror.io import parallel
    from tests.ui.test_jobs_commands import write

    monkeypatch.setattr(parallel, "MIN_WINDOW", 1)
    records = sample_records() * 6
    for n, data in enumerate(records):
        data = records[n] = {**data, "id": f"{n:032x}"}
    records[5] = {**records[5], "summary": 5}  # unusable: skipped where read
    path = str(write(tmp_path / "capture.jsonl.zst", records, frame_size=2 << 10))
    wanted = Query(item_types=frozenset({"event"}))
    malformed = Malformed(where="test")
    with reading((path,), malformed, wanted) as found:
        expected = [data["id"] for data in found]
    with reading_windows((path,), 2, counted_ids, wanted) as partials:
        parts = list(partials)
    assert len(parts) > 2 and expected == [i for ids, _ in parts for i in ids]
    assert malformed.count == sum(count for _, count in parts) == 1


def counted_ids(window: Window, feedback: Feedback) -> tuple[list[str], int]:
    malformed = Malformed(where="test")
    ids = [data["id"] for data in window_records(window, feedback, malformed, Query(item_types=frozenset({"event"})))]
    return ids, malformed.count
