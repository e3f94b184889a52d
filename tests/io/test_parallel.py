"""Reading a capture by windows (io/parallel.py, io/frames.py): the windows read one after
another give exactly the records and warnings of ``iter_records``, whatever the files, the
writers, the damage and the cut points; the pool keeps that order, forwards warnings and
progress, and fails cleanly (a worker's death, Ctrl-C)."""

from __future__ import annotations

import itertools
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentry_mirror.core import checks, record
from sentry_mirror.core.record import dumps
from sentry_mirror.errors import EnvelopeError, MirrorError, SnapshotError
from sentry_mirror.io import parallel
from sentry_mirror.io.frames import frame_index
from sentry_mirror.io.parallel import Feedback, Window, map_windows, plan, read_window
from sentry_mirror.io.snapshot import SnapshotWriter, expand, iter_records
from tests.factories import T0, sample_records

ROOT = Path(__file__).resolve().parents[2]
BASE = sample_records("python") + sample_records("node")


def records(count: int, writer: str = "a", start: float = 0.0, step: float = 0.05) -> list[dict[str, Any]]:
    out = []
    for n in range(count):
        data = dict(BASE[n % len(BASE)])
        data["id"] = f"{writer}{n:031d}"[:32]
        data["received_at"] = record.format_time(T0 + timedelta(seconds=start + n * step))
        out.append(data)
    return out


def write(path: Path, items: list[dict[str, Any]], frame_size: int = 8 << 10, group: int = 3) -> Path:
    with path.open("wb") as fo:
        writer = SnapshotWriter(fo, frame_size=frame_size)
        for at in range(0, len(items), group):
            writer.write(items[at : at + group])
        writer.close()
    return path


def name(writer: str, n: int = 0) -> str:
    return f"2026-11-23T10-0{n}-00Z-host-{writer}.jsonl.zst"


def sequential(paths: list[Path]) -> tuple[list[str], list[str]]:
    warnings: list[str] = []
    ids = [r.data["id"] for r in iter_records(expand(paths), on_warning=warnings.append, answers=True)]
    return ids, warnings


def windowed(paths: list[Path], jobs: int = 2) -> tuple[list[str], list[str], list[Window]]:
    """The windows read one after another in this process."""
    windows, _ = plan(expand(paths), jobs, answers=True)
    warnings: list[str] = []
    feedback = Feedback(warnings.append, lambda _: None, join=True)
    ids = [r.data["id"] for window in windows for r in read_window(window, feedback)]
    feedback.flush()
    return ids, warnings, windows


def ids_of(window: Window, feedback: Feedback) -> list[str]:
    """A work function: the ids of a window's records."""
    return [r.data["id"] for r in read_window(window, feedback)]


def pooled(paths: list[Path], jobs: int = 2) -> tuple[list[str], list[str], list[str], int]:
    warnings: list[str] = []
    notes: list[str] = []
    read = [0]

    def progress(n: int) -> None:
        read[0] += n

    parts = map_windows(
        expand(paths),
        jobs,
        ids_of,
        answers=True,
        on_warning=warnings.append,
        on_progress=progress,
        on_note=notes.append,
    )
    return list(itertools.chain.from_iterable(parts)), warnings, notes, read[0]


@pytest.fixture(autouse=True)
def small_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "MIN_WINDOW", 1)


def test_one_file_many_frames(tmp_path: Path) -> None:
    path = write(tmp_path / name("a"), records(80))
    ids, warnings, windows = windowed([path])
    assert len(windows) > 2 and (ids, warnings) == sequential([path])
    got, got_warnings, notes, read = pooled([path])
    assert (got, got_warnings, notes) == (ids, warnings, [])
    assert read == path.stat().st_size


def test_many_files_of_one_writer(tmp_path: Path) -> None:
    paths = [write(tmp_path / name("a", n), records(30, start=n * 10, writer=f"a{n}")) for n in range(3)]
    ids, warnings, windows = windowed(paths)
    assert len(windows) > 2 and len(ids) == 90 and (ids, warnings) == sequential(paths)
    assert pooled(paths)[0] == ids


def test_several_writers_interleaved_with_ties(tmp_path: Path) -> None:
    paths = [
        write(tmp_path / name("a"), records(70, "a", step=0.05)),
        write(tmp_path / name("b"), records(50, "b", start=0.01, step=0.07)),
        write(tmp_path / name("c"), records(40, "c", step=0.1)),  # received at the same times as some of a's
        write(tmp_path / name("a", 1), records(20, "d", start=10)),  # a's next file
    ]
    ids, warnings, windows = windowed(paths)
    assert len(windows) > 2 and all(w.timed for w in windows[1:])
    assert (ids, warnings) == sequential(paths)
    got, _, notes, _ = pooled(paths)
    assert got == ids and notes == []


def test_a_writer_out_of_time_order_is_read_by_one_process_from_there(tmp_path: Path) -> None:
    late = records(60, "a")
    late[40:45] = [{**data, "received_at": record.format_time(T0)} for data in late[40:45]]  # a clock step back
    paths = [write(tmp_path / name("a"), late), write(tmp_path / name("b"), records(60, "b", start=0.02))]
    got, warnings, notes, _ = pooled(paths)
    assert (got, warnings) == sequential(paths)
    assert notes == [parallel.NOTE_UNORDERED]


def unchecked(path: Path, items: list[dict[str, Any]], per_frame: int = 7) -> Path:
    """A file as sentry-mirror wrote them before the checks: no header, no checksums, no marks."""
    compressor = zstandard.ZstdCompressor(write_checksum=False)
    lines = [dumps(data) for data in items]
    path.write_bytes(
        b"".join(compressor.compress(b"".join(lines[at : at + per_frame])) for at in range(0, len(lines), per_frame))
    )
    return path


def test_files_without_the_checks_header(tmp_path: Path) -> None:
    old = unchecked(tmp_path / name("a"), records(50))
    headerless = tmp_path / name("b")
    headerless.write_bytes(write(tmp_path / "x.bin", records(50, "b")).read_bytes()[len(checks.HEADER) :])
    for paths in ([old], [headerless], [old, headerless]):
        ids, warnings, windows = windowed(paths)
        assert len(windows) > 1 and len(ids) > 0 and (ids, warnings) == sequential(paths), paths
        assert pooled(paths)[:2] == (ids, warnings)


def test_damage_in_the_middle_and_a_cut_tail(tmp_path: Path) -> None:
    path = write(tmp_path / name("a"), records(80))
    data = bytearray(path.read_bytes())
    units = frame_index(path).units
    middle = units[len(units) // 2][0] + 40
    data[middle : middle + 8] = b"\xff" * 8
    damaged = tmp_path / name("b")
    damaged.write_bytes(bytes(data))
    cut = tmp_path / name("c")
    cut.write_bytes(path.read_bytes()[: units[-2][0] + 25])
    header_cut = tmp_path / name("d")
    header_cut.write_bytes(path.read_bytes()[: units[3][0] + 2])
    for paths in ([damaged], [cut], [header_cut], [damaged, cut]):
        ids, warnings, _ = windowed(paths)
        expected = sequential(paths)
        assert expected[1], paths  # the damage is named
        assert (ids, warnings) == expected, paths
        assert pooled(paths)[:2] == expected


def test_an_empty_file_and_a_header_only_file(tmp_path: Path) -> None:
    empty = tmp_path / name("a")
    empty.write_bytes(b"")
    header = tmp_path / name("b")
    header.write_bytes(checks.HEADER)
    full = write(tmp_path / name("c"), records(30))
    for paths in ([empty], [header], [empty, full, header]):
        assert windowed(paths)[:2] == sequential(paths)
        assert pooled(paths)[:2] == sequential(paths)


def test_a_file_being_written_reads_to_its_end(tmp_path: Path) -> None:
    path = tmp_path / name("a")
    with path.open("wb") as fo:
        writer = SnapshotWriter(fo, frame_size=64 << 10)
        items = records(40)
        for at in range(0, len(items), 2):
            writer.write(items[at : at + 2])  # the last frame is never finished
    assert frame_index(path).tail  # the open frame: one last unit
    assert windowed([path])[:2] == sequential([path])


WRITERS = st.lists(
    st.tuples(st.integers(0, 40), st.integers(1, 5), st.sampled_from([1 << 10, 3 << 10, 64 << 10])),
    min_size=1,
    max_size=3,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(WRITERS, st.integers(1, 4), st.integers(0, 3), st.randoms(use_true_random=False))
def test_windows_read_in_order_are_iter_records(
    tmp_path_factory: pytest.TempPathFactory, writers: list[tuple[int, int, int]], jobs: int, files: int, rng: Any
) -> None:
    folder = tmp_path_factory.mktemp("capture")
    paths = []
    for number, (count, group, frame_size) in enumerate(writers):
        items = records(count, writer=f"w{number}", start=rng.random(), step=rng.choice([0.0, 0.01, 0.3]))
        cuts = sorted(rng.randint(0, count) for _ in range(files))
        for part, (start, end) in enumerate(itertools.pairwise([0, *cuts, count])):
            paths.append(write(folder / name(f"w{number}", part), items[start:end], frame_size, group))
    parallel.MIN_WINDOW = rng.choice([1, 2000, 50_000])
    ids, warnings, _ = windowed(paths, jobs + 1)
    assert (ids, warnings) == sequential(paths)


def crashing(window: Window, feedback: Feedback) -> int:
    if window.index == 1:
        os._exit(9)
    return window.index


def failing(window: Window, feedback: Feedback) -> int:
    feedback.warn(f"window {window.index}")
    if window.index == 2:
        raise MirrorError("a snapshot that cannot be read")
    return window.index


def envelope_failing(window: Window, feedback: Feedback) -> int:
    if window.index == 1:
        raise EnvelopeError("unexpected end of file", offset=3)
    return window.index


def test_an_error_keeps_its_class_text_and_exit_code(tmp_path: Path) -> None:
    path = write(tmp_path / name("a"), records(60))
    with pytest.raises(EnvelopeError) as raised:
        list(map_windows(expand([path]), 2, envelope_failing))
    assert str(raised.value) == "invalid event envelope: unexpected end of file at byte 3"
    assert raised.value.exit_code == 3


def test_a_worker_that_dies_is_an_error_not_a_hang(tmp_path: Path) -> None:
    path = write(tmp_path / name("a"), records(60))
    with pytest.raises(MirrorError, match="ended unexpectedly"):
        list(map_windows(expand([path]), 2, crashing))


def test_an_error_in_a_window_comes_after_the_warnings_before_it(tmp_path: Path) -> None:
    path = write(tmp_path / name("a"), records(60))
    warnings: list[str] = []
    got = []
    with pytest.raises(MirrorError, match="cannot be read"):
        got.extend(map_windows(expand([path]), 2, failing, on_warning=warnings.append))
    assert got == [0, 1] and warnings == ["window 0", "window 1", "window 2"]


def sleeping(window: Window, feedback: Feedback) -> int:
    if window.index:
        time.sleep(60)
    return window.index


def test_ctrl_c_stops_the_workers_without_a_traceback(tmp_path: Path) -> None:
    path = write(tmp_path / name("a"), records(60))
    script = textwrap.dedent(f"""
        import sys
        if __name__ == "__main__":
            from sentry_mirror.io import parallel
            from sentry_mirror.io.snapshot import expand
            from tests.io.test_parallel import sleeping
            parallel.MIN_WINDOW = 1
            try:
                for _ in parallel.map_windows(expand([{str(path)!r}]), 2, sleeping):
                    print("ready", flush=True)  # the pool is up, a worker is asleep in window 1
            except KeyboardInterrupt:
                sys.exit(130)
        """)
    process = subprocess.Popen(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, as a terminal's job: Ctrl-C reaches them all
    )
    assert process.stdout is not None and process.stdout.readline() == b"ready\n"
    started = time.monotonic()
    os.killpg(process.pid, signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 130 and time.monotonic() - started < 15
    assert b"Traceback" not in err, err.decode()
    assert not alive(process.pid), "a worker was left behind"


def alive(group: int, wait: float = 10.0) -> list[str]:
    """The processes of ``group`` still running (not zombies) after up to ``wait`` seconds."""
    deadline = time.monotonic() + wait
    while True:
        listing = subprocess.run(["ps", "-o", "stat=,args=", "-g", str(group)], capture_output=True, text=True)
        running = [line for line in listing.stdout.splitlines() if line.strip() and not line.lstrip().startswith("Z")]
        if not running or time.monotonic() > deadline:
            return running
        time.sleep(0.2)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, 2**32), st.integers(1, 3), st.booleans())
def test_clock_steps_anywhere_give_what_one_process_gives(tmp_path_factory: pytest.TempPathFactory, seed: int,
                                                          steps: int, swaps: bool) -> None:  # fmt: skip
    """Writers whose records step back in time at random places (two records swapped: found
    in a window or at a join; or a step seconds back: found when planning too): the rest is
    read by one process, and the records and warnings are those of one process."""
    rng = random.Random(seed)
    folder = tmp_path_factory.mktemp("steps")
    paths = []
    for number in range(3):
        items = records(rng.randint(10, 40), writer=f"w{number}", start=rng.random(), step=0.05)
        for _ in range(steps):
            at = rng.randrange(len(items) - 1)
            if swaps:
                first, second = items[at]["received_at"], items[at + 1]["received_at"]
                items[at], items[at + 1] = {**items[at], "received_at": second}, {**items[at + 1], "received_at": first}
            else:
                items[at] = {**items[at], "received_at": record.format_time(T0 + timedelta(seconds=rng.random() * 3))}
        paths.append(write(folder / name(f"w{number}"), items, frame_size=1 << 10, group=2))
    got, warnings, notes, _ = pooled(paths)
    assert (got, warnings) == sequential(paths)
    assert notes in ([], [parallel.NOTE_UNORDERED])


def test_a_file_that_cannot_be_opened_is_the_error_iter_records_gives(tmp_path: Path) -> None:
    write(tmp_path / name("a"), records(80))
    write(tmp_path / name("b"), records(40, "b"))
    (tmp_path / name("c")).symlink_to(tmp_path / "gone")  # dangling (a file rotated away)
    with pytest.raises(SnapshotError) as one:
        sequential([tmp_path])
    with pytest.raises(SnapshotError) as several:
        pooled([tmp_path])  # the planning meets it first
    assert (
        str(several.value)
        == str(one.value)
        == f"cannot read snapshot {tmp_path / name('c')}: No such file or directory"
    )


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.integers(5, 60),
    st.sampled_from([1 << 10, 3 << 10]),
    st.lists(st.tuples(st.floats(0, 1), st.integers(1, 200), st.booleans()), min_size=1, max_size=3),
)
def test_bytes_lost_anywhere_give_the_records_of_one_process(
    tmp_path_factory: pytest.TempPathFactory, count: int, frame_size: int, losses: list[tuple[float, int, bool]]
) -> None:
    """Bytes deleted (a copy glitch) or a file cut short move every frame after them: the
    frame walk must not cut a window inside the next, intact frame."""
    folder = tmp_path_factory.mktemp("capture")
    path = write(folder / name("a"), records(count), frame_size, group=2)
    data = bytearray(path.read_bytes())
    for where, size, truncate in losses:
        at = int(where * (len(data) - 1))
        del data[at : len(data) if truncate else at + size]
    path.write_bytes(bytes(data))
    expected = sequential([path])[0]
    for smallest in (1, 500, 1500, 4000):
        parallel.MIN_WINDOW = smallest
        assert windowed([path])[0] == expected, smallest


def test_damage_going_on_across_a_cut_is_one_warning(tmp_path: Path) -> None:
    path = write(tmp_path / name("a"), records(80))
    cut = plan(expand([path]), 2)[0][1].parts[0][0].start
    units = frame_index(path).units
    data = bytearray(path.read_bytes())
    for start, end in units:
        if cut in (start, end):  # the frames either side of the first window cut
            data[start + 20 : start + 28] = b"\xff" * 8  # in its first block: no record of it is kept
    path.write_bytes(bytes(data))
    ids, warnings = sequential([path])
    assert len(warnings) == 1, warnings
    assert windowed([path])[:2] == (ids, warnings)
    assert pooled([path])[:2] == (ids, warnings)
