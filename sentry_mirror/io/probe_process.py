"""The command of ``sentry-mirror probe`` as a process group: started in a group of its own
(with the terminal's foreground while it runs, when the probe has it), and signalled as a
group, so that what it started (a shell's children, a test runner's workers, a forked
sender) gets the probe's signals, its timeout and its end too.

:class:`Signals` catches SIGINT, SIGTERM and SIGHUP for the probe and passes each on to the
command's group once (a second one kills the group). Ctrl-C in the terminal reaches the
command's group alone (it has the terminal's foreground): the probe learns of it from the
command's end (SIGINT, or exit 130).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from sentry_mirror.errors import MirrorError

#: Seconds between the SIGTERM of a timed-out command and its SIGKILL.
KILL_AFTER = 5.0
#: The signals the probe passes on to the command (and that stop it without settling).
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
#: Hosts no HTTP proxy must stand between the command and the listener.
LOCAL_HOSTS = "127.0.0.1,localhost"
#: Seconds between two looks at whether Ctrl-Z stopped the command.
STOP_POLL = 0.2


def signal_group(pid: int, signum: int) -> None:
    """``signum`` to the process group ``pid`` leads (nothing when it has gone)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signum)


class Signals:
    """SIGINT, SIGTERM and SIGHUP to the probe: remembered, and passed on to the command's
    group (at once when the command starts, if one came before); a second one kills it.
    Installed before the listener starts, and again once it is ready (the listener's own
    handlers, which would stop it at once, are replaced)."""

    def __init__(self) -> None:
        self.received: list[int] = []
        self.pid: int | None = None
        self._installed: list[int] = []

    def install(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in FORWARDED:
            try:
                loop.add_signal_handler(signum, self._received, signum)
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread, or Windows
                continue
            if signum not in self._installed:
                self._installed.append(signum)

    def remove(self) -> None:
        loop = asyncio.get_running_loop()
        for signum in self._installed:
            loop.remove_signal_handler(signum)
        self._installed.clear()

    def started(self, pid: int) -> None:
        """The command's group leader: what came before is passed on now."""
        self.pid = pid
        if self.received:
            self._forward(self.received[-1])

    def _received(self, signum: int) -> None:
        self.received.append(signum)
        if self.pid is not None:
            self._forward(signum)

    def _forward(self, signum: int) -> None:
        assert self.pid is not None
        signal_group(self.pid, signal.SIGKILL if len(self.received) > 1 else signum)


def environment(dsn: str) -> dict[str, str]:
    """The probe's environment with ``SENTRY_DSN``, and the listener's host kept out of
    reach of any HTTP proxy (``NO_PROXY``, ``no_proxy``: appended to)."""
    env = {**os.environ, "SENTRY_DSN": dsn}
    for name in ("NO_PROXY", "no_proxy"):
        env[name] = f"{env[name]},{LOCAL_HOSTS}" if env.get(name) else LOCAL_HOSTS
    return env


async def start(command: tuple[str, ...], dsn: str, stdout_to_stderr: bool) -> asyncio.subprocess.Process:
    """The command, started with ``SENTRY_DSN`` in a process group of its own;
    :class:`MirrorError` when it cannot be."""
    stderr = _stderr()
    stdout = (2 if stderr is None else stderr) if stdout_to_stderr else None
    try:
        return await asyncio.create_subprocess_exec(
            *command, env=environment(dsn), stdout=stdout, stderr=stderr, process_group=0
        )
    except OSError as exc:
        raise MirrorError(f"cannot run {command[0]}: {_why(command[0], exc)}") from None


def _why(program: str, error: OSError) -> str:
    """Why ``program`` could not be started, in words that point at the cause."""
    exists = os.sep in program and os.path.exists(program)
    if isinstance(error, FileNotFoundError):
        return "its interpreter (the #! line) was not found" if exists else "no such command (or file)"
    if isinstance(error, PermissionError):
        return "it is a directory" if os.path.isdir(program) else "permission denied (is it executable?)"
    if error.errno == errno.ENOEXEC:
        return "not a program this system runs (a script needs a #! line)"
    return str(error.strerror or error)


def _stderr() -> int | None:
    """The command's stderr: the probe's (None: fd 2 as it is), or /dev/null when the probe
    has none (fd 2 was closed: whatever the listener opened may hold that number by now)."""
    if sys.stderr is None:
        return asyncio.subprocess.DEVNULL
    try:
        return sys.stderr.fileno()
    except (OSError, ValueError):  # not a file (a test's capture): fd 2 as it is
        return None


def left_in_group(pgid: int) -> bool:
    """Whether a process (not a zombie) of the group ``pgid`` still runs: ``killpg(pgid, 0)``,
    then the states of its members (an orphan's zombie lingers where nothing reaps it, as
    under a container's bare init; Linux signals a zombie, macOS answers EPERM for a group of
    zombies), read from /proc or else from ``ps``; True when neither answers."""
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # a group of zombies only (macOS), or another user's: the states tell
    states = _proc_states(pgid)
    if states is None:
        states = _ps_states(pgid)
    if states is None:
        return True
    return any(state[:1] not in ("Z", "X") for state in states)


def _proc_states(pgid: int) -> list[str] | None:
    """The states of the group's members as /proc gives them (None: no /proc)."""
    proc = Path("/proc")
    if not proc.is_dir():
        return None
    states = []
    for entry in proc.iterdir():
        try:
            state, _, group = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:3]
            if int(group) == pgid:
                states.append(state)
        except (OSError, ValueError, IndexError):  # not a process, or gone meanwhile
            continue
    return states


def _ps_states(pgid: int) -> list[str] | None:
    """The states of the group's members as ``ps -A -o pgid=,stat=`` gives them (None: no ps)."""
    try:
        listed = subprocess.run(
            ["ps", "-A", "-o", "pgid=,stat="], capture_output=True, text=True, timeout=5, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    states = []
    for line in listed.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0] == str(pgid):
            states.append(fields[1])
    return states


async def end_group(pgid: int) -> bool:
    """Stop what is left running in the group ``pgid`` (its leader has ended): SIGTERM, and
    SIGKILL if something is still there :data:`KILL_AFTER` seconds later. Whether anything was."""
    if not left_in_group(pgid):
        return False
    signal_group(pgid, signal.SIGTERM)
    deadline = asyncio.get_running_loop().time() + KILL_AFTER
    while left_in_group(pgid):
        if asyncio.get_running_loop().time() >= deadline:
            signal_group(pgid, signal.SIGKILL)
            break
        await asyncio.sleep(STOP_POLL / 4)
    return True


async def terminate(process: asyncio.subprocess.Process) -> None:
    """SIGTERM to the command's group, and SIGKILL if its leader is still there
    :data:`KILL_AFTER` seconds later."""
    signal_group(process.pid, signal.SIGTERM)
    try:
        await asyncio.wait_for(process.wait(), KILL_AFTER)
    except TimeoutError:
        signal_group(process.pid, signal.SIGKILL)
        await process.wait()


def _terminal() -> int | None:
    """The probe's stdin when it is a terminal whose foreground group is the probe's."""
    try:
        if os.isatty(0) and os.tcgetpgrp(0) == os.getpgrp():
            return 0
    except OSError:
        pass
    return None


@contextlib.contextmanager
def foreground(pid: int) -> Iterator[bool]:
    """Give the terminal's foreground to the group ``pid`` leads while the block runs (when
    the probe has it: yields whether it did), and take it back after."""
    terminal = _terminal()
    if terminal is None:
        yield False
        return
    _set_foreground(terminal, pid)
    signal_group(pid, signal.SIGCONT)  # one that read the terminal before it had it was stopped
    try:
        yield True
    finally:
        _set_foreground(terminal, os.getpgrp())


def _set_foreground(terminal: int, group: int) -> None:
    """``tcsetpgrp``, with SIGTTOU ignored (the probe may be in the background by now)."""
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        with contextlib.suppress(OSError):
            os.tcsetpgrp(terminal, group)
    finally:
        signal.signal(signal.SIGTTOU, previous)


async def follow_stops(pid: int) -> None:
    """While the command has the terminal: when Ctrl-Z stops it, the probe takes the terminal
    back and stops too, so the shell gets its prompt; on ``fg`` the probe goes on here and
    gives the command the terminal and a SIGCONT. (A probe with no job-control shell above
    it cannot be stopped: the command is then simply resumed.) Runs until cancelled, or
    until it cannot tell any more (the command has gone)."""
    while True:
        await asyncio.sleep(STOP_POLL)
        stopped = await _stopped(pid)
        if stopped is None:
            return
        if not stopped:
            continue
        _set_foreground(0, os.getpgrp())
        with contextlib.suppress(OSError):
            os.killpg(os.getpgrp(), signal.SIGTSTP)  # the probe's job stops here; `fg` resumes it
        _set_foreground(0, pid)
        signal_group(pid, signal.SIGCONT)


async def _stopped(pid: int) -> bool | None:
    """Whether the child ``pid`` is stopped (None: it has gone, or nothing can tell): a look
    with ``os.waitid`` (WNOWAIT: asyncio reaps it as always), or where there is none (macOS
    before Python 3.13) its state as ``ps`` gives it."""
    if hasattr(os, "waitid"):
        try:
            seen = os.waitid(os.P_PID, pid, os.WSTOPPED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return None
        return seen is not None and seen.si_code == os.CLD_STOPPED
    try:
        ps = await asyncio.create_subprocess_exec(
            "ps", "-o", "stat=", "-p", str(pid), stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL
        )
        state = (await ps.communicate())[0].decode(errors="replace").strip()
    except OSError:
        return None
    return state.startswith("T") if state else None
