"""io/probe.py: a real listener, a real command (the venv's Python and sentry-python), settling."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from sentry_mirror.core.script import Script, scenario
from sentry_mirror.errors import MirrorError
from sentry_mirror.io import probe as probe_module
from sentry_mirror.io import probe_process
from sentry_mirror.io.listener import ListenOptions, Ready
from sentry_mirror.io.probe import ProbeOptions, probe
from sentry_mirror.io.server import Timeouts
from sentry_mirror.io.snapshot import iter_records
from tests.helpers import gone_soon

APPS = Path(__file__).resolve().parents[1] / "e2e" / "probe_apps"


def options(directory: Path, *command: str, settle: float = 0.2, timeout: float | None = 60.0) -> ProbeOptions:
    return ProbeOptions(
        command=command,
        listen=ListenOptions(host="127.0.0.1", port=0, directory=directory),
        settle=settle,
        timeout=timeout,
    )


def python(code: str) -> tuple[str, ...]:
    return (sys.executable, "-c", textwrap.dedent(code))


async def test_the_command_sends_to_the_listener_through_sentry_dsn(tmp_path: Path) -> None:
    seen: list[tuple[str, int]] = []

    def ready(dsn: str, info: Ready) -> None:
        seen.append((dsn, info.port))

    probed = await probe(options(tmp_path, sys.executable, str(APPS / "hello.py")), on_ready=ready)
    assert probed.exit_code == 0
    assert not probed.timed_out and not probed.interrupted
    assert seen == [(f"http://mirror@127.0.0.1:{seen[0][1]}/1", seen[0][1])]
    assert probed.dsn == seen[0][0]
    assert probed.stopped.records == 1
    assert probed.scripted == 0
    (record,) = iter_records([tmp_path])
    assert record.data["endpoint"] == "envelope"
    assert record.data["project_id"] == "1"
    assert b"hello from the probe" in record.body


async def test_the_project_asked_for_is_in_the_dsn(tmp_path: Path) -> None:
    probed = await probe(
        ProbeOptions(
            (sys.executable, str(APPS / "hello.py")),
            ListenOptions(port=0, directory=tmp_path),
            project="42",
            settle=0.1,
        )
    )
    assert probed.dsn.endswith("/42")
    assert [r.data["project_id"] for r in iter_records([tmp_path])] == ["42"]


async def test_the_command_exit_code_is_kept(tmp_path: Path) -> None:
    probed = await probe(options(tmp_path, sys.executable, str(APPS / "hello.py"), "3"))
    assert probed.exit_code == 3
    assert probed.stopped.records == 1


async def test_a_command_that_cannot_start_is_an_error_and_the_listener_stops(tmp_path: Path) -> None:
    with pytest.raises(MirrorError, match="no-such-command-here: no such command"):
        await probe(options(tmp_path, "no-such-command-here"))
    not_executable = tmp_path / "app.sh"
    not_executable.write_text("#!/bin/sh\n")
    with pytest.raises(MirrorError, match="permission denied"):
        await probe(options(tmp_path, str(not_executable)))
    assert [t for t in asyncio.all_tasks() if t is not asyncio.current_task()] == []


async def test_no_command_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(MirrorError, match="no command"):
        await probe(options(tmp_path))


async def test_a_listener_that_cannot_start_raises_its_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(MirrorError):
        await probe(options(blocker / "below", sys.executable, "-c", "pass"))


async def test_the_timeout_ends_the_command(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    probed = await probe(options(tmp_path, *python("import time; time.sleep(60)"), timeout=0.5))
    assert probed.timed_out
    assert probed.exit_code == -signal.SIGTERM
    assert loop.time() - started < 10


async def test_a_command_deaf_to_sigterm_is_killed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(probe_process, "KILL_AFTER", 0.5)
    code = """
        import signal, sys, time
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        print("ready", flush=True)
        time.sleep(60)
    """
    probed = await probe(options(tmp_path, *python(code), timeout=1.5))
    assert probed.timed_out
    assert probed.exit_code == -signal.SIGKILL


#: Sends one envelope to SENTRY_DSN ``delay`` seconds after it starts, its body ``pause``
#: seconds after its head (saying so on stdout once the head is sent).
LATE_SENDER = """
    import os, socket, sys, time
    from urllib.parse import urlsplit
    delay, pause = float(sys.argv[1]), float(sys.argv[2])
    time.sleep(delay)
    dsn = urlsplit(os.environ["SENTRY_DSN"])
    body = b'{}\\n{"type":"event"}\\n{"message":"late"}\\n'
    head = (
        f"POST /api/1/envelope/?sentry_key=mirror&sentry_version=7 HTTP/1.1\\r\\n"
        f"Host: {dsn.netloc}\\r\\nContent-Length: {len(body)}\\r\\n\\r\\n"
    )
    with socket.create_connection((dsn.hostname, dsn.port)) as conn:
        conn.sendall(head.encode())
        print("head sent", flush=True)
        time.sleep(pause)
        conn.sendall(body)
        conn.recv(4096)
"""


def leaves_behind(delay: float, pause: float, *, head_first: bool = False) -> tuple[str, ...]:
    """A command that ends at once (``head_first``: once the head is sent), leaving behind a
    process that sends later (as an SDK's background worker may)."""
    start = f"""
        import subprocess, sys
        sender = [sys.executable, "-c", {textwrap.dedent(LATE_SENDER)!r}, "{delay}", "{pause}"]
        child = subprocess.Popen(sender, stdout=subprocess.PIPE if {head_first} else subprocess.DEVNULL)
        if {head_first}:
            child.stdout.readline()
    """
    return python(start)


async def test_requests_after_the_command_ended_are_waited_for_within_the_settle_time(tmp_path: Path) -> None:
    probed = await probe(options(tmp_path, *leaves_behind(delay=0.5, pause=0.0), settle=3.0))
    assert probed.exit_code == 0
    assert probed.stopped.records == 1


async def test_a_request_in_flight_is_waited_for_past_the_settle_time(tmp_path: Path) -> None:
    """The body comes 2 s after the head, well past the 0.5 s settle time (and the listener's
    grace period): it is still recorded whole, and answered."""
    command = leaves_behind(delay=0.0, pause=2.0, head_first=True)
    listening = ListenOptions(port=0, directory=tmp_path, timeouts=Timeouts(grace=0.1))
    probed = await probe(ProbeOptions(command, listening, settle=0.5))
    assert probed.stopped.records == 1
    (record,) = iter_records([tmp_path])
    assert record.status == 200


async def test_nothing_is_waited_for_when_nothing_comes(tmp_path: Path) -> None:
    loop = asyncio.get_running_loop()
    started = loop.time()
    probed = await probe(options(tmp_path, *python("pass"), settle=0.3))
    assert probed.stopped.records == 0
    assert loop.time() - started < 5


async def test_scripted_answers_are_counted(tmp_path: Path) -> None:
    script = Script(scenario("outage:30s"))
    listening = ListenOptions(port=0, directory=tmp_path, script=script)
    probed = await probe(ProbeOptions((sys.executable, str(APPS / "hello.py")), listening, settle=0.2))
    records = list(iter_records([tmp_path]))  # the event, and the client reports of its loss
    assert probed.scripted == len(records) == probed.stopped.records >= 1
    assert b"hello from the probe" in records[0].body
    assert {record.status for record in records} == {503}
    assert {record.data["scripted"]["rule"] for record in records} == {"outage:30s"}


#: Writes its pid into the file ``argv[1]``, then sends an envelope to SENTRY_DSN every 0.1 s, for ever.
LOOPING_SENDER = (APPS / "looping_sender.py").read_text()


def starts_and_ends(child: str, pid_file: Path, *, then: str = "") -> tuple[str, ...]:
    """A command that starts ``child`` (Python code given ``pid_file``), waits until it
    wrote its pid, then runs ``then`` (default: it ends at once, leaving the child behind)."""
    start = f"""
        import os, subprocess, sys, time
        subprocess.Popen([sys.executable, "-c", {textwrap.dedent(child)!r}, {str(pid_file)!r}])
        while not os.path.exists({str(pid_file)!r}) or not open({str(pid_file)!r}).read():
            time.sleep(0.05)
        {then}
    """
    return python(start)


def kill_left(pid_file: Path) -> None:
    """In a test's finally: the process whose pid is in ``pid_file``, if still there."""
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        os.kill(int(pid_file.read_text()), signal.SIGKILL)


async def test_settling_is_bounded_and_kills_a_sender_left_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(probe_module, "SETTLE_LIMIT", 2.0)
    pid_file = tmp_path / "sender.pid"
    loop = asyncio.get_running_loop()
    started = loop.time()
    try:
        probed = await probe(options(tmp_path, *starts_and_ends(LOOPING_SENDER, pid_file), settle=1.0))
        assert loop.time() - started < 60
        assert probed.exit_code == 0
        assert probed.settle_cut is not None and probed.settle_cut >= 10.0  # 10 x settle
        assert probed.stopped.records >= 3
        assert gone_soon(int(pid_file.read_text()))
    finally:
        kill_left(pid_file)


def test_the_settle_limit_is_30_s_or_ten_times_the_settle_time() -> None:
    assert probe_module.settle_limit(1.0) == 30.0
    assert probe_module.settle_limit(5.0) == 50.0


#: Writes its pid into the file ``argv[1]``, then sleeps.
SLEEPER = """
    import os, sys, time
    open(sys.argv[1], "w").write(str(os.getpid()))
    time.sleep(120)
"""


async def test_the_timeout_ends_what_the_command_started_too(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    try:
        command = starts_and_ends(SLEEPER, pid_file, then="time.sleep(120)")
        probed = await probe(options(tmp_path, *command, timeout=2.0))
        assert probed.timed_out
        assert gone_soon(int(pid_file.read_text()))
    finally:
        kill_left(pid_file)


async def test_a_request_in_flight_is_waited_for_even_with_no_settle_time(tmp_path: Path) -> None:
    command = leaves_behind(delay=0.0, pause=1.0, head_first=True)
    listening = ListenOptions(port=0, directory=tmp_path, timeouts=Timeouts(grace=0.1))
    probed = await probe(ProbeOptions(command, listening, settle=0.0))
    assert probed.stopped.records == 1
    (record,) = iter_records([tmp_path])
    assert record.status == 200


async def test_no_proxy_keeps_the_listener_out_of_reach_of_an_http_proxy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("NO_PROXY", "example.org")
    monkeypatch.delenv("no_proxy", raising=False)
    probed = await probe(options(tmp_path, sys.executable, str(APPS / "hello.py")))
    assert probed.stopped.records == 1
    assert probe_process.environment("dsn")["NO_PROXY"] == "example.org,127.0.0.1,localhost"
    assert probe_process.environment("dsn")["no_proxy"] == "127.0.0.1,localhost"


async def test_a_signal_before_the_command_started_is_passed_on_when_it_starts() -> None:
    signals = probe_process.Signals()
    signals._received(signal.SIGTERM)  # as the loop's handler calls it
    process = await asyncio.create_subprocess_exec(*python("import time; time.sleep(60)"), process_group=0)
    try:
        signals.started(process.pid)
        assert await asyncio.wait_for(process.wait(), 30) == -signal.SIGTERM
    finally:
        probe_process.signal_group(process.pid, signal.SIGKILL)
        await process.wait()


async def test_what_the_command_left_running_in_its_group_is_stopped_once_settled(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    try:
        probed = await probe(options(tmp_path, *starts_and_ends(SLEEPER, pid_file)))
        assert (probed.exit_code, probed.left_behind, probed.settle_cut) == (0, True, None)
        assert gone_soon(int(pid_file.read_text()))
    finally:
        kill_left(pid_file)


async def test_nothing_left_behind_is_nothing_to_stop(tmp_path: Path) -> None:
    probed = await probe(options(tmp_path, sys.executable, str(APPS / "hello.py")))
    assert (probed.exit_code, probed.left_behind) == (0, False)


async def test_a_sender_outside_the_group_is_said_to_have_escaped_the_settle_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(probe_module, "SETTLE_LIMIT", 1.0)
    pid_file = tmp_path / "sender.pid"
    escaping = "import os, runpy, sys\nos.setsid()\nrunpy.run_path(" + repr(str(APPS / "looping_sender.py"))
    escaping += ", run_name='__main__')\n"
    try:
        probed = await probe(options(tmp_path, *starts_and_ends(escaping, pid_file), settle=0.3))
        assert probed.settle_cut is not None
        assert probed.escaped  # the group was killed, yet requests kept coming
    finally:
        kill_left(pid_file)


async def test_a_sender_inside_the_group_killed_at_the_settle_limit_has_not_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(probe_module, "SETTLE_LIMIT", 1.0)
    pid_file = tmp_path / "sender.pid"
    try:
        probed = await probe(options(tmp_path, *starts_and_ends(LOOPING_SENDER, pid_file), settle=0.3))
        assert probed.settle_cut is not None
        assert not probed.escaped
    finally:
        kill_left(pid_file)


#: Leaves a watchman in the command's group, calls setsid(), then sends every second; once
#: the watchman has gone (the group was killed at the settle limit) its next send comes
#: 1.2 s later: a sender outside the group slower than the half-second look of old.
SLOW_ESCAPING_SENDER = """
    import os, select, subprocess, sys, time, urllib.request
    from urllib.parse import urlsplit
    read, write = os.pipe()
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"], stdout=write)
    os.close(write)
    os.setsid()
    open(sys.argv[1], "w").write(str(os.getpid()))
    dsn = urlsplit(os.environ["SENTRY_DSN"])
    url = f"http://{dsn.hostname}:{dsn.port}/api/1/envelope/?sentry_key=mirror&sentry_version=7"
    watching = True
    while True:
        try:
            urllib.request.urlopen(urllib.request.Request(url, data=b'{}\\n{"type":"event"}\\n{}'), timeout=30).read()
        except OSError:
            pass
        if watching and select.select([read], [], [], 1.0)[0] and not os.read(read, 1):
            watching = False  # the watchman was killed with the group
            time.sleep(1.2)
        elif not watching:
            time.sleep(1.0)
"""


async def test_a_sender_outside_the_group_slower_than_half_a_second_is_seen_to_have_escaped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(probe_module, "settle_limit", lambda settle: 3.0)
    pid_file = tmp_path / "sender.pid"
    try:
        probed = await probe(options(tmp_path, *starts_and_ends(SLOW_ESCAPING_SENDER, pid_file), settle=1.5))
        assert probed.settle_cut is not None
        assert probed.escaped  # looked at for the settle time (1.5 s), not half a second
    finally:
        kill_left(pid_file)


def test_the_look_for_an_escaped_sender_is_the_settle_time_bounded() -> None:
    assert probe_module.escape_watch(0.1) == probe_module.ESCAPE_GRACE
    assert probe_module.escape_watch(1.5) == 1.5
    assert probe_module.escape_watch(60.0) == probe_module.ESCAPE_WATCH
