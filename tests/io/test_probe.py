"""io/probe.py: a real listener, a real command (the venv's Python and sentry-python), settling."""

from __future__ import annotations

import asyncio
import signal
import sys
import textwrap
from pathlib import Path

import pytest

from sentry_mirror.core.script import Script, scenario
from sentry_mirror.errors import MirrorError
from sentry_mirror.io import probe as probe_module
from sentry_mirror.io.listener import ListenOptions, Ready
from sentry_mirror.io.probe import ProbeOptions, probe
from sentry_mirror.io.server import Timeouts
from sentry_mirror.io.snapshot import iter_records

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
    monkeypatch.setattr(probe_module, "KILL_AFTER", 0.5)
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
