"""`sentry-mirror verify`: 0 on a whole capture, 1 on damage, named with its file and bytes."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.cells import cell_len

from sentry_mirror.io.snapshot import SnapshotWriter, iter_records
from sentry_mirror.ui.cli import cli
from tests.factories import make_answer

ENV = {"COLUMNS": "200", "NO_COLOR": "1"}
REPO = Path(__file__).resolve().parents[2]
SAMPLES = sorted((REPO / "snapshots").glob("sample-*.jsonl.zst"))
RECORDS = [r.data for r in iter_records([REPO / "snapshots" / "sample-python.jsonl.zst"])]
FUZZ_EXAMPLES = int(os.environ.get("SENTRY_MIRROR_FUZZ_EXAMPLES", "40"))


def snapshot(*, finish: bool = True) -> bytes:
    out = io.BytesIO()
    writer = SnapshotWriter(out, frame_size=6000 if finish else 1 << 20)  # open: one frame, never finished
    for at in range(0, len(RECORDS), 2):
        writer.write(RECORDS[at : at + 2])
    if finish:
        writer.close()
    return out.getvalue()


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["verify", *args], env=ENV)


def json_lines(output: str) -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in output.splitlines()]


def test_a_whole_capture_passes(tmp_path: Path) -> None:
    (tmp_path / "2026-11-23T10-00-00Z-h-1.jsonl.zst").write_bytes(snapshot())
    (tmp_path / "2026-11-23T10-00-00Z-h-2.jsonl.zst").write_bytes(snapshot(finish=False))  # a listener still writing
    result = run(str(tmp_path))
    assert 0 == result.exit_code, result.output
    assert f"2 file(s), {2 * len(RECORDS)} record(s): every check passed" in result.output
    assert "last frame open" in result.output
    lines = json_lines(run(str(tmp_path), "--json").output)
    assert [True, True] == [line["checked"] for line in lines[:2]]
    assert {
        "summary": True, "ok": True, "files": 2, "damaged_files": 0, "records": 2 * len(RECORDS), "answers": 0
    } == lines[-1]  # fmt: skip


def test_answer_records_are_counted(tmp_path: Path) -> None:
    out = io.BytesIO()
    writer = SnapshotWriter(out)
    writer.write([data for request in RECORDS[:3] for data in (request, make_answer(request))])
    writer.close()
    (tmp_path / "2026-11-23T10-00-00Z-h-1.jsonl.zst").write_bytes(out.getvalue())
    result = run(str(tmp_path))
    assert 0 == result.exit_code, result.output
    assert "1 file(s), 6 record(s) (3 answer records): every check passed" in result.output
    assert (6, 3) == tuple(json_lines(run(str(tmp_path), "--json").output)[-1][k] for k in ("records", "answers"))


def test_damage_is_named_with_file_and_bytes_and_exits_1(tmp_path: Path) -> None:
    data = bytearray(snapshot())
    data[len(data) // 2] ^= 0x20
    path = tmp_path / "damaged.jsonl.zst"
    path.write_bytes(bytes(data))
    result = run(str(path))
    assert 1 == result.exit_code
    assert f"damage: {path}: skipped " in result.output and "damaged bytes at offsets " in result.output
    assert "1 of 1 file(s) damaged" in result.output
    [line, summary] = json_lines(run(str(path), "--json").output)
    assert ("damaged", False) == (line["status"], summary["ok"])
    [damage] = line["damage"]
    assert damage["start"] <= len(data) // 2 < damage["end"]


def test_a_file_cut_inside_a_write_fails(tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl.zst"
    path.write_bytes(snapshot(finish=False)[:-7])
    result = run(str(path))
    assert 1 == result.exit_code
    assert "cut short" in result.output


def test_older_snapshots_pass_with_the_checks_they_have() -> None:
    """The committed samples predate group checks: their frames' zstd checksums still pass."""
    result = run(*map(str, SAMPLES))
    assert 0 == result.exit_code, result.output
    assert "frames only" in result.output
    assert [False] * len(SAMPLES) == [
        line["checked"] for line in json_lines(run(*map(str, SAMPLES), "--json").output)[:-1]
    ]


def test_a_missing_snapshot_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    result = run("/nonexistent/x.jsonl.zst")
    assert 3 == result.exit_code
    assert "no such snapshot file or directory" in result.output
    empty = run(str(tmp_path))
    assert (3, f"Error: no snapshot files in {tmp_path}: nothing to verify\n") == (empty.exit_code, empty.output)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.booleans(),
    st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)), min_size=1, max_size=2),
    st.floats(0, 1),
)
def test_verify_and_inspect_on_damaged_captures(
    tmp_path: Path, finish: bool, flips: list[tuple[float, int]], cut: float
) -> None:
    """Flipped bits and cuts: verify and inspect never print a traceback, and when verify
    passes, inspect gives exactly the records written (or a prefix of them, for a cut
    between groups, which leaves no trace). SENTRY_MIRROR_FUZZ_EXAMPLES for longer runs."""
    data = bytearray(snapshot(finish=finish))
    for where, bit in flips:
        data[int(where * len(data))] ^= 1 << bit
    path = tmp_path / "fuzz.jsonl.zst"
    path.write_bytes(bytes(data[: max(1, int(cut * len(data)))] if cut < 0.3 else data))
    verified = run(str(path))
    assert verified.exception is None or isinstance(verified.exception, SystemExit), verified.exception
    assert verified.exit_code in (0, 1)
    inspected = CliRunner().invoke(cli, ["inspect", "--json", str(path)], env=ENV)
    assert inspected.exception is None or isinstance(inspected.exception, SystemExit), inspected.exception
    assert inspected.exit_code == 0
    ids = [orjson.loads(line)["id"] for line in inspected.stdout.splitlines()]
    assert all(i in [r["id"] for r in RECORDS] for i in ids)
    if verified.exit_code == 0:
        assert ids == [r["id"] for r in RECORDS][: len(ids)]


def test_the_table_fits_80_columns(tmp_path: Path) -> None:
    """A long path is cut in the middle, on one line, its file name's end still showing;
    --json has it whole."""
    path = tmp_path / ("capture-of-the-" + "long" * 20 + "-listener-7.jsonl.zst")
    path.write_bytes(snapshot())
    result = CliRunner().invoke(cli, ["verify", str(path)], env={**ENV, "COLUMNS": "80"})
    assert 0 == result.exit_code, result.output
    lines = result.output.splitlines()
    assert max(cell_len(line) for line in lines) <= 80
    [row] = [line for line in lines if "…" in line]
    assert (
        row.split()[0].endswith("ner-7.jsonl.zst") and row.split()[0].startswith(str(tmp_path)[:10]) and "full" in row
    )
    assert str(path) == json_lines(run(str(path), "--json").output)[0]["file"]
