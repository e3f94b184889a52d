"""``sentry-mirror probe`` as a coroutine: a listener on a free port, the user's command run
against it, and the listener stopped once the command has ended and its SDK has flushed.

:func:`probe` starts :func:`~sentry_mirror.io.listener.listen` in a task, runs the command
with ``SENTRY_DSN`` pointing at it (stdin, stdout and stderr inherited; stdout may be sent to
stderr instead), waits for it to end (``timeout``: then SIGTERM, and SIGKILL
:data:`KILL_AFTER` seconds later), then waits until no request is in flight and none arrived
for ``settle`` seconds, and stops the listener. SIGINT and SIGTERM to the probe go on to the
command (a second one kills it); the probe then stops without settling. What the records say
is for the caller (:mod:`sentry_mirror.ui.commands.probe`) to read from the files written.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from sentry_mirror.errors import MirrorError
from sentry_mirror.io.listener import ListenOptions, Ready, Stopped, listen
from sentry_mirror.io.server import OnRecord

#: Seconds between the SIGTERM of a timed-out command and its SIGKILL.
KILL_AFTER = 5.0
#: Seconds between two looks at the listener while settling.
POLL = 0.05
#: The key of the DSN handed to the command (the listener accepts any key unless told otherwise).
KEY = "mirror"


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
    exit_code: int  # the command's; negative: ended by that signal (as :mod:`subprocess` says)
    stopped: Stopped  # the listener's records and files
    scripted: int = 0  # records of requests given a scripted answer
    timed_out: bool = False  # the timeout ended the command
    interrupted: bool = False  # SIGINT or SIGTERM reached the probe


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
    signals = _Signals()
    stop = asyncio.Event()
    ready: asyncio.Future[Ready] = asyncio.get_running_loop().create_future()
    listener = asyncio.create_task(listen(options.listen, on_ready=ready.set_result, on_record=activity, stop=stop))
    try:
        await asyncio.wait((ready, listener), return_when=asyncio.FIRST_COMPLETED)
        if not ready.done():  # the listener failed to start: its error
            return await _never(listener)
        signals.install()  # after the listener's own (stop at once): the probe's replace them
        dsn = dsn_of(ready.result(), options.project)
        if on_ready is not None:
            on_ready(dsn, ready.result())
        code, timed_out = await _run_command(options, dsn, signals)
        await _settle(activity, ready.result().in_flight, options.settle, signals)
    finally:
        stop.set()
        stopped = await listener
        signals.remove()
    return Probed(options.command, dsn, code, stopped, activity.scripted, timed_out, bool(signals.received))


async def _never(listener: asyncio.Task[Stopped]) -> Probed:
    await listener  # raises the listener's error
    raise MirrorError("the listener stopped before it was ready")


class _Signals:
    """SIGINT and SIGTERM to the probe: passed on to the command while it runs (a second
    one kills it), and remembered (the probe then stops without settling).

    A SIGINT from Ctrl-C reached the command already (the terminal sends it to the whole
    foreground process group): it is not sent twice."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.process: asyncio.subprocess.Process | None = None
        self._installed: list[int] = []

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(signum, self._received, signum)
                self._installed.append(signum)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
                pass

    def remove(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in self._installed:
            loop.remove_signal_handler(signum)
        self._installed.clear()

    def _received(self, signum: int) -> None:
        self.received.append(signum)
        process = self.process
        if process is None or process.returncode is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            if len(self.received) > 1:
                process.kill()
            elif not (signum == signal.SIGINT and _terminal_sent_it()):
                process.send_signal(signum)


async def _run_command(options: ProbeOptions, dsn: str, signals: _Signals) -> tuple[int, bool]:
    """Start the command and wait for it: (exit code, whether the timeout ended it)."""
    process = await _start(options.command, dsn, options.stdout_to_stderr)
    signals.process = process
    try:
        async with asyncio.timeout(options.timeout):
            await process.wait()
    except TimeoutError:
        await _terminate(process)
        assert process.returncode is not None
        return process.returncode, True
    assert process.returncode is not None
    return process.returncode, False


async def _start(command: tuple[str, ...], dsn: str, stdout_to_stderr: bool) -> asyncio.subprocess.Process:
    """The command, started with ``SENTRY_DSN``; :class:`MirrorError` when it cannot be."""
    environment = {**os.environ, "SENTRY_DSN": dsn}
    stdout = sys.stderr.fileno() if stdout_to_stderr else None
    try:
        return await asyncio.create_subprocess_exec(*command, env=environment, stdout=stdout)
    except FileNotFoundError:
        raise MirrorError(f"cannot run {command[0]}: no such command (or file)") from None
    except PermissionError:
        raise MirrorError(f"cannot run {command[0]}: permission denied (is it executable?)") from None
    except OSError as exc:
        raise MirrorError(f"cannot run {command[0]}: {exc.strerror or exc}") from None


async def _terminate(process: asyncio.subprocess.Process) -> None:
    """SIGTERM, and SIGKILL if it is still there :data:`KILL_AFTER` seconds later."""
    with contextlib.suppress(ProcessLookupError):
        process.terminate()
    try:
        await asyncio.wait_for(process.wait(), KILL_AFTER)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


def _terminal_sent_it() -> bool:
    """Whether a SIGINT may be Ctrl-C in the terminal: the probe is in its terminal's
    foreground process group, so the command (in the same group) got it too, and must not
    get it twice."""
    try:
        terminal = os.open("/dev/tty", os.O_RDONLY | os.O_NOCTTY)
    except OSError:  # no controlling terminal: the signal was sent to the probe alone
        return False
    try:
        return os.tcgetpgrp(terminal) == os.getpgrp()
    except OSError:
        return False
    finally:
        os.close(terminal)


async def _settle(activity: _Activity, in_flight: Callable[[], int] | None, settle: float, signals: _Signals) -> None:
    """Wait until no request is in flight and none was recorded for ``settle`` seconds
    (counted from the command's end at the earliest): the SDK's last sends, flushed or
    retried by what the command left behind, are in. Not after a signal: then at once."""
    loop = asyncio.get_running_loop()
    quiet_since = loop.time()
    while not signals.received:
        now = loop.time()
        if in_flight is not None and in_flight():
            quiet_since = now
        quiet_since = max(quiet_since, activity.last)
        if now - quiet_since >= settle:
            return
        await asyncio.sleep(min(POLL, settle - (now - quiet_since)))
