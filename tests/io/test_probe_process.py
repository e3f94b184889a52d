"""io/probe_process.py: who is left in a command's group (zombies are not), and Ctrl-Z
followed where there is no ``os.waitid`` (macOS before Python 3.13)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from sentry_mirror.io import probe_process

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="process groups")


@pytest.fixture
def zombie_group() -> Iterator[int]:
    """A process group whose leader has ended and been reaped and whose one other member
    has exited but is not reaped (its parent, this process, has not waited for it): a
    group of zombies only. Yields its id."""
    leader = subprocess.Popen(["sleep", "60"], process_group=0)
    member = subprocess.Popen(["true"], process_group=leader.pid)
    try:
        os.waitid(os.P_PID, member.pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped: a zombie
        leader.kill()
        leader.wait()
        yield leader.pid
    finally:
        leader.kill()
        leader.wait()
        member.wait()


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="needs /proc")
def test_a_group_of_zombies_is_not_left_running(zombie_group: int) -> None:
    os.killpg(zombie_group, 0)  # the group is still there (Linux signals zombies)
    assert probe_process._proc_states(zombie_group) == ["Z"]
    assert not probe_process.left_in_group(zombie_group)
    started = time.monotonic()
    assert not asyncio.run(probe_process.end_group(zombie_group))
    assert time.monotonic() - started < 0.5


def test_without_proc_ps_tells_a_group_of_zombies(zombie_group: int, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe_process, "_proc_states", lambda pgid: None)
    assert probe_process._ps_states(zombie_group) == ["Z"]
    assert not probe_process.left_in_group(zombie_group)


def test_macos_eperm_for_a_group_of_zombies_is_read_from_ps(zombie_group: int, monkeypatch: pytest.MonkeyPatch) -> None:
    def refused(pgid: int, signum: int) -> None:
        raise PermissionError(1, "Operation not permitted")  # what macOS answers for zombies only

    monkeypatch.setattr(os, "killpg", refused)
    monkeypatch.setattr(probe_process, "_proc_states", lambda pgid: None)
    assert not probe_process.left_in_group(zombie_group)


def test_a_running_member_is_left_running_and_with_nothing_to_tell_it_is_assumed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    leader = subprocess.Popen(["sleep", "60"], process_group=0)
    try:
        assert probe_process.left_in_group(leader.pid)
        monkeypatch.setattr(probe_process, "_proc_states", lambda pgid: None)
        assert probe_process.left_in_group(leader.pid)  # from ps
        monkeypatch.setattr(probe_process, "_ps_states", lambda pgid: None)
        assert probe_process.left_in_group(leader.pid)  # nothing tells: it may run
    finally:
        leader.kill()
        leader.wait()
    assert not probe_process.left_in_group(leader.pid)  # gone


async def test_without_waitid_a_stop_is_read_from_ps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "waitid")
    process = await asyncio.create_subprocess_exec("sleep", "60")
    try:
        assert await probe_process._stopped(process.pid) is False
        os.kill(process.pid, signal.SIGSTOP)
        assert await _eventually(process.pid, True)
        os.kill(process.pid, signal.SIGCONT)
        assert await _eventually(process.pid, False)
    finally:
        process.kill()
        await process.wait()
    assert await probe_process._stopped(process.pid) is None  # gone


async def test_without_waitid_following_stops_ends_quietly_with_the_command(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(os, "waitid")
    process = await asyncio.create_subprocess_exec("sleep", "60")
    following = asyncio.create_task(probe_process.follow_stops(process.pid))
    await asyncio.sleep(probe_process.STOP_POLL * 2)
    assert not following.done()  # still following
    process.kill()
    await process.wait()
    assert await asyncio.wait_for(following, 5) is None  # no AttributeError, no traceback


async def _eventually(pid: int, stopped: bool) -> bool:
    for _ in range(50):
        if await probe_process._stopped(pid) is stopped:
            return True
        await asyncio.sleep(0.02)
    return False
