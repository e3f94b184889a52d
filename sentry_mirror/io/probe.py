"""``sentry-mirror probe`` and ``sentry-mirror run`` as a coroutine: a listener on a free
port, the user's command run against it, and the listener stopped once the command has
ended and its SDK has flushed.

:func:`probe` starts :func:`~sentry_mirror.io.listener.listen` in a task, runs the command
in a process group of its own (:mod:`sentry_mirror.io.probe_process`) with ``SENTRY_DSN``
pointing at it (stdin, stdout and stderr inherited; stdout may be sent to stderr instead),
waits for it to end (``timeout``: then SIGTERM to its group, and SIGKILL
:data:`~sentry_mirror.io.probe_process.KILL_AFTER` seconds later), then waits until no
request is in flight and none arrived for ``settle`` seconds, at most :func:`settle_limit`
seconds (then its group is killed: a process it left behind kept sending), stops what is
left running in its group, and stops the listener. SIGINT, SIGTERM and SIGHUP to the probe go on to the command's group (a second
one kills it); the probe then stops without settling, as after a Ctrl-C that ended the
command. What the records say is for the caller (:mod:`sentry_mirror.ui.commands.probe`,
:mod:`sentry_mirror.ui.commands.run`) to read from the files written.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sentry_mirror.errors import MirrorError
from sentry_mirror.io import probe_process
from sentry_mirror.io.listener import ListenOptions, Ready, Stopped, listen
from sentry_mirror.io.probe_process import Signals
from sentry_mirror.io.server import OnRecord

#: Seconds between two looks at the listener while settling.
POLL = 0.05
#: The key of the DSN handed to the command (the listener accepts any key unless told otherwise).
KEY = "mirror"
#: The least time settling may take at most, in seconds (see :func:`settle_limit`).
SETTLE_LIMIT = 30.0
#: Seconds, after the settle limit killed the command's group, for what it had in flight to
#: land; then at least as long again to see whether a sender outside the group still sends.
ESCAPE_GRACE = 0.5
#: The longest look for a sender outside the group, in seconds (see :func:`escape_watch`).
ESCAPE_WATCH = 5.0
#: An exit code that says the command was interrupted (128 + SIGINT, as shells say it).
INTERRUPTED_CODES = (130, -signal.SIGINT)


def settle_limit(settle: float) -> float:
    """The longest wait for requests after the command ended: max(30 s, 10 x ``settle``)."""
    return max(SETTLE_LIMIT, 10 * settle)


def escape_watch(settle: float) -> float:
    """How long to look for a sender outside the group once it was killed: the settle time
    (requests came at shorter intervals than that, or settling would have ended), at least
    :data:`ESCAPE_GRACE` and at most :data:`ESCAPE_WATCH` seconds (a sender slower than
    that, with a longer settle time, is not seen)."""
    return max(ESCAPE_GRACE, min(settle, ESCAPE_WATCH))


@dataclass(frozen=True)
class ProbeOptions:
    command: tuple[str, ...]
    listen: ListenOptions = field(default_factory=lambda: ListenOptions(port=0))
    project: str = "1"
    settle: float = 1.0  # seconds without a request, after the command ended, before stopping
    timeout: float | None = None  # seconds the command may run; None: as long as it takes
    stdout_to_stderr: bool = False  # the command's stdout goes to stderr (the probe's stdout is for its JSON)


@dataclass(frozen=True)
class Probed:
    """What became of the command and the listener."""

    command: tuple[str, ...]
    dsn: str
    exit_code: int | None  # the command's; negative: ended by that signal; None: never started
    stopped: Stopped  # the listener's records and files
    scripted: int = 0  # records of requests given a scripted answer
    timed_out: bool = False  # the timeout ended the command
    interrupted: bool = False  # a signal reached the probe, or Ctrl-C ended the command
    settle_cut: float | None = None  # seconds after the command's end that requests still came, when the limit cut them
    escaped: bool = False  # requests still came once the limit killed the command's group: a sender outside it
    left_behind: bool = False  # processes of the command's group still ran once it settled: stopped then
    signalled: int | None = None  # the first signal (SIGINT, SIGTERM, SIGHUP) that reached the probe


class _Activity:
    """The listener's records as written: counted, and when the last one came (``on_record``)."""

    def __init__(self, then: OnRecord | None) -> None:
        self.then = then
        self.scripted = 0
        self.last = asyncio.get_running_loop().time()

    def __call__(self, entry: dict[str, Any], upstream: dict[str, Any] | None = None) -> None:
        self.last = asyncio.get_running_loop().time()
        if entry.get("scripted") is not None:
            self.scripted += 1
        if self.then is not None:
            self.then(entry, upstream)


def dsn_of(ready: Ready, project: str) -> str:
    """The DSN the command gets: this listener's address, any key, the project asked for."""
    host = f"[{ready.host}]" if ":" in ready.host else ready.host
    return f"http://{KEY}@{host}:{ready.port}/{project}"


async def probe(
    options: ProbeOptions,
    *,
    on_ready: Callable[[str, Ready], None] | None = None,
    on_record: OnRecord | None = None,
) -> Probed:
    """Run ``options.command`` against a listener of ``options.listen``; see the module doc.

    Raises :class:`MirrorError` (the listener stopped first) when the command cannot be started."""
    if not options.command:
        raise MirrorError("no command to run: give it after --")
    activity = _Activity(on_record)
    signals = Signals()
    signals.install()  # before the listener: a signal while it starts is not lost
    stop = asyncio.Event()
    ready: asyncio.Future[Ready] = asyncio.get_running_loop().create_future()
    listener = asyncio.create_task(listen(options.listen, on_ready=ready.set_result, on_record=activity, stop=stop))
    run = _Run()
    try:
        await asyncio.wait((ready, listener), return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():  # the listener failed to start: its error
            return await _never(listener)
        signals.install()  # over the listener's own (stop at once)
        dsn = dsn_of(ready.result(), options.project)
        if on_ready is not None:
            on_ready(dsn, ready.result())
        if not (signals.received or stop.is_set()):
            await _run_command(options, dsn, signals, run)
            if not (signals.received or run.interrupted):
                await _settle(activity, ready.result().in_flight, options.settle, signals, run)
    finally:
        stop.set()
        stopped = await listener
        signals.remove()
    interrupted = bool(signals.received) or run.interrupted or run.code is None
    return Probed(
        options.command,
        dsn,
        run.code,
        stopped,
        activity.scripted,
        run.timed_out,
        interrupted,
        run.settle_cut,
        run.escaped,
        run.left_behind,
        signals.received[0] if signals.received else None,
    )


async def _never(listener: asyncio.Task[Stopped]) -> Probed:
    await listener  # raises the listener's error
    raise MirrorError("the listener stopped before it was ready")


@dataclass
class _Run:
    """The command's run, as it goes."""

    code: int | None = None
    timed_out: bool = False
    interrupted: bool = False  # Ctrl-C in the terminal it had ended it
    settle_cut: float | None = None
    escaped: bool = False
    left_behind: bool = False


async def _run_command(options: ProbeOptions, dsn: str, signals: Signals, run: _Run) -> None:
    """Start the command and wait for it (in the terminal's foreground, when the probe has it)."""
    process = await probe_process.start(options.command, dsn, options.stdout_to_stderr)
    signals.started(process.pid)
    with probe_process.foreground(process.pid) as in_terminal:
        stops = asyncio.create_task(probe_process.follow_stops(process.pid)) if in_terminal else None
        try:
            async with asyncio.timeout(options.timeout):
                await process.wait()
        except TimeoutError:
            run.timed_out = True
            await probe_process.terminate(process)
        finally:
            if stops is not None:
                stops.cancel()
    assert process.returncode is not None
    run.code = process.returncode
    run.interrupted = in_terminal and not run.timed_out and run.code in INTERRUPTED_CODES
    if run.interrupted or signals.received:
        probe_process.signal_group(process.pid, signal.SIGKILL)  # what it left behind: ended with it


async def _settle(
    activity: _Activity, in_flight: Callable[[], int] | None, settle: float, signals: Signals, run: _Run
) -> None:
    """Wait until no request is in flight and none was recorded for ``settle`` seconds
    (counted from the command's end at the earliest): the SDK's last sends, flushed or
    retried by what the command left behind, are in. Not after a signal: then at once.
    What is left running in the command's group then is stopped (``run.left_behind``).
    At most :func:`settle_limit` seconds: then the command's group is killed and the time
    kept (``run.settle_cut``); requests that still come after that are from a process
    outside the group (one that called setsid()), which is not stopped (``run.escaped``)."""
    loop = asyncio.get_running_loop()
    ended = quiet_since = loop.time()
    limit = settle_limit(settle)
    while not signals.received:
        now = loop.time()
        if now - ended >= limit:
            run.settle_cut = now - ended
            if signals.pid is not None:
                probe_process.signal_group(signals.pid, signal.SIGKILL)
            await asyncio.sleep(ESCAPE_GRACE)  # what the group had in flight lands
            killed = loop.time()
            await asyncio.sleep(escape_watch(settle))
            run.escaped = activity.last > killed
            return
        if in_flight is not None and in_flight():
            await asyncio.sleep(POLL)  # a request being handled: not quiet, whatever ``settle`` is
            quiet_since = loop.time()
            continue
        quiet_since = max(quiet_since, activity.last)
        if now - quiet_since >= settle:
            if signals.pid is not None:
                run.left_behind = await probe_process.end_group(signals.pid)
            return
        await asyncio.sleep(min(POLL, settle - (now - quiet_since)))
