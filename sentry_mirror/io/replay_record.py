"""``replay --undelivered``, the I/O around the pure selection
(:mod:`sentry_mirror.core.replay.undelivered`): finding the undelivered requests in the
snapshots (and the answers earlier runs recorded), and a replay that records every answer
the target gives as an answer record, into a new snapshot file of its own, so the next run
does not send that request again.

Answers are handed to a :class:`~sentry_mirror.io.recorder.Recorder` as they come and are
all written before the replay returns, Ctrl-C included. A crash between an answer and its
write leaves that request undelivered: the next run sends it again (at least once).

The first Ctrl-C (SIGINT, in the main thread) stops sending: the requests in flight get
their answers (or the client's timeout), which are recorded, so none of them is sent again
by the next run although the target took it. A second Ctrl-C abandons them (they stay
undelivered, and are sent again).
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sentry_mirror.core.replay.plan import Pacing, Plan
from sentry_mirror.core.replay.results import Result
from sentry_mirror.core.replay.undelivered import Undelivered, answer_record, find
from sentry_mirror.errors import SnapshotError
from sentry_mirror.io.recorder import Recorder
from sentry_mirror.io.replay import replay
from sentry_mirror.io.snapshot import SUFFIX, expand, iter_records

log = logging.getLogger(__name__)

#: What names the snapshot files of ``replay --undelivered`` (after the time, before the host).
KIND = "replay"


def record_directory(snapshots: Iterable[str]) -> Path:
    """Where the answers go by default: the directory of the first snapshot named (itself
    when it is a directory; ``snapshots`` when none is named)."""
    first = Path(next(iter(snapshots), "snapshots"))
    return first if first.is_dir() else first.parent


def answer_files(directory: Path) -> list[Path]:
    """The snapshot files ``replay --undelivered`` wrote into ``directory``."""
    return sorted(directory.glob(f"*Z-{KIND}-*{SUFFIX}")) if directory.is_dir() else []


def find_undelivered(snapshots: tuple[str, ...], record_dir: Path) -> Undelivered:
    """The undelivered requests of ``snapshots``, the answers recorded in ``record_dir`` by
    earlier runs read along (they may not be among the snapshots named). Quiet: the reading
    of the requests that follows warns about damaged records."""
    files = expand([*expand(snapshots or ("snapshots",)), *answer_files(record_dir)])
    return find(record.data for record in iter_records(files, answers=True))


@dataclass
class Recording:
    """Where the answers go, the target they name (``to``, no key), and what was written."""

    directory: Path
    to: str
    recorded: int = 0
    unrecorded: int = 0  # answers that could not be written (storage failed): sent again next run
    paths: list[Path] = field(default_factory=list)
    interrupted: bool = False  # a first Ctrl-C stopped the sending


async def replay_recorded(
    plan: Plan,
    pacing: Pacing,
    recording: Recording,
    *,
    on_result: Callable[[Result], None],
    on_interrupt: Callable[[], None] = lambda: None,
    **options: Any,
) -> None:
    """:func:`~sentry_mirror.io.replay.replay` (``options`` passed on), with every answer
    recorded; a request the target's rate limits partly hold back waits whole for the next
    run. The answers given are written before it returns, or ends by Ctrl-C: the first
    stops the sending and lets the requests in flight finish (``on_interrupt`` hears of it;
    ``recording.interrupted``), a second one cancels it."""
    recorder = Recorder(recording.directory, kind=KIND)
    await recorder.start()
    writes: set[asyncio.Task[None]] = set()

    async def write(data: dict[str, Any]) -> None:
        try:
            await recorder.write(data)
        except SnapshotError as exc:
            recording.unrecorded += 1
            log.warning("an answer could not be recorded (its request will be sent again): %s", exc)
        else:
            recording.recorded += 1

    def recorded(result: Result) -> None:
        on_result(result)
        data = answer_record(result, recording.to, datetime.now(UTC))
        if data is not None:
            task = asyncio.ensure_future(write(data))
            writes.add(task)
            task.add_done_callback(writes.discard)

    stop = asyncio.Event()

    def interrupted() -> None:
        recording.interrupted = True
        stop.set()
        on_interrupt()

    try:
        with _first_interrupt(interrupted):
            await replay(plan, pacing, hold_whole=True, on_result=recorded, stop=stop, **options)
    finally:
        while unwritten := [task for task in writes if not task.done()]:
            await asyncio.gather(*unwritten)
        await recorder.close()
        recording.paths = list(recorder.paths)


@contextmanager
def _first_interrupt(handle: Callable[[], None]) -> Iterator[None]:
    """Within: the first SIGINT calls ``handle`` (on the loop) instead of interrupting, and
    puts back the handler that was there before (``asyncio.run``'s, which cancels the main
    task), for the next one. Only in the main thread (elsewhere signals are not ours)."""
    loop = asyncio.get_running_loop()
    before = signal.getsignal(signal.SIGINT)
    if before is None:  # a handler not set from Python
        before = signal.default_int_handler

    def first() -> None:
        loop.remove_signal_handler(signal.SIGINT)
        signal.signal(signal.SIGINT, before)
        handle()

    try:
        loop.add_signal_handler(signal.SIGINT, first)
    except (ValueError, RuntimeError, NotImplementedError):  # not the main thread, or no signals here
        yield
        return
    try:
        yield
    finally:
        if loop.remove_signal_handler(signal.SIGINT):
            signal.signal(signal.SIGINT, before)
