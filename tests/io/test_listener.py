"""`sentry-mirror listen` as a real process: clean stop on SIGTERM/SIGINT, and kill -9 under load."""

from __future__ import annotations

import asyncio
import os
import resource
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import aiohttp
import pytest

from sentry_mirror.io.listener import ListenOptions, Ready, listen
from sentry_mirror.io.snapshot import iter_records
from tests.factories import make_envelope

QUERY = "sentry_key=mirror&sentry_version=7"


def start_listener(directory: Path, *extra: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "sentry_mirror", "listen", "--port", "0", "--dir", str(directory), "--quiet", *extra],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    assert first.strip().startswith("DSN"), first
    dsn = first.split()[1]
    port = dsn.rsplit(":", 1)[1].split("/")[0]
    return process, f"http://127.0.0.1:{port}"


def envelope() -> tuple[str, bytes]:
    """A fresh event id and an envelope (no trailing newline) of a 2 kB event with that id."""
    event_id = uuid.uuid4().hex
    event = {"event_id": event_id, "message": "load", "extra": {"pad": "x" * 2000}}
    return event_id, make_envelope({"event_id": event_id}, [({"type": "event"}, event)], trailing_newline=False)


async def hammer(url: str, seconds: float, acknowledged: list[str], *, concurrency: int = 16) -> None:
    """Post envelopes until ``seconds`` pass or the server goes away; remember what got 200."""
    deadline = asyncio.get_running_loop().time() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        while asyncio.get_running_loop().time() < deadline:
            event_id, body = envelope()
            try:
                async with session.post(f"{url}/api/1/envelope/?{QUERY}", data=body) as response:
                    await response.read()
                    if response.status == 200:
                        acknowledged.append(event_id)
            except (TimeoutError, aiohttp.ClientError, ConnectionError):
                return

    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))


async def test_kill_9_under_load_loses_no_acknowledged_request(tmp_path: Path) -> None:
    """Every request that got a 200 is in the file after the listener is killed with SIGKILL."""
    process, url = start_listener(tmp_path)
    acknowledged: list[str] = []
    load = asyncio.create_task(hammer(url, 10.0, acknowledged))
    while len(acknowledged) < 200 and not load.done():
        await asyncio.sleep(0.02)
    process.send_signal(signal.SIGKILL)
    await load
    assert -signal.SIGKILL == process.wait(timeout=10)
    warnings: list[str] = []
    recorded = {r.event_id for r in iter_records([tmp_path], on_warning=warnings.append)}
    assert len(acknowledged) >= 200
    assert set(acknowledged) <= recorded
    assert all("the file ends in the middle of a write" in w for w in warnings), warnings


async def test_sigterm_finishes_in_flight_requests_and_closes_cleanly(tmp_path: Path) -> None:
    """SIGTERM while requests are in flight: they are answered and written; exit code 0; no damage."""
    process, url = start_listener(tmp_path)
    acknowledged: list[str] = []
    load = asyncio.create_task(hammer(url, 10.0, acknowledged, concurrency=8))
    while len(acknowledged) < 50 and not load.done():
        await asyncio.sleep(0.02)
    process.send_signal(signal.SIGTERM)
    await load
    assert 0 == process.wait(timeout=30)
    assert process.stdout is not None
    assert "stopped:" in process.stdout.read()
    warnings: list[str] = []
    recorded = [r.event_id for r in iter_records([tmp_path], on_warning=warnings.append)]
    assert [] == warnings
    assert set(acknowledged) <= set(recorded)
    assert len(recorded) == len(set(recorded))


def test_sigint_stops_it_like_ctrl_c_and_leaves_no_empty_file(tmp_path: Path) -> None:
    """Ctrl-C exits 0; a listener that received nothing leaves no empty snapshot behind."""
    process, _ = start_listener(tmp_path)
    process.send_signal(signal.SIGINT)
    assert 0 == process.wait(timeout=30)
    assert process.stdout is not None
    assert "stopped: 0 requests in 0 file(s)" in process.stdout.read()
    assert [] == os.listdir(tmp_path)


async def test_rotation_is_announced_with_the_new_file(tmp_path: Path) -> None:
    """With --rotate-size, every new file is printed as an 'into' line, and nothing is lost."""
    process, url = start_listener(tmp_path, "--rotate-size", "1")
    acknowledged: list[str] = []
    async with aiohttp.ClientSession() as session:
        for _ in range(3):
            event_id, body = envelope()
            async with session.post(f"{url}/api/1/envelope/?{QUERY}", data=body) as response:
                assert 200 == response.status
                acknowledged.append(event_id)
    process.send_signal(signal.SIGTERM)
    assert 0 == process.wait(timeout=30)
    assert process.stdout is not None
    into = [line.split()[1] for line in process.stdout.read().splitlines() if line.strip().startswith("into")]
    files = sorted(os.listdir(tmp_path))
    assert 3 == len(files)
    assert files == [Path(p).name for p in into]  # the banner names the first, rotations the rest
    assert acknowledged == [r.event_id for r in iter_records([tmp_path])]


async def test_a_write_failure_does_not_stop_the_listener(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A full disk: the request gets 503 with Retry-After, the listener goes on, writes again
    once it can (a new file), and stops cleanly, counting the refused requests."""
    monkeypatch.setattr("sentry_mirror.io.recorder.RETRY_INTERVAL", 0.2)
    ready: list[Ready] = []
    stop = asyncio.Event()
    task = asyncio.create_task(listen(ListenOptions(port=0, directory=tmp_path), on_ready=ready.append, stop=stop))
    while not ready:
        await asyncio.sleep(0.01)
    full = os.open("/dev/full", os.O_WRONLY)
    try:
        os.dup2(full, ready[0].recorder._fd)
    finally:
        os.close(full)
    url = f"http://127.0.0.1:{ready[0].port}/api/1/envelope/?{QUERY}"
    async with aiohttp.ClientSession() as session:
        async with session.post(url, data=envelope()[1]) as response:
            assert (503, "2") == (response.status, response.headers["Retry-After"])
        await asyncio.sleep(0.3)
        event_id, body = envelope()
        async with session.post(url, data=body) as response:
            assert 200 == response.status
    assert not task.done()
    stop.set()
    stopped = await asyncio.wait_for(task, 30)
    assert (1, 1, 1) == (stopped.records, stopped.refused, stopped.outages)
    assert [event_id] == [r.event_id for r in iter_records([tmp_path])]


async def test_sigterm_with_an_upload_in_progress_answers_it_within_the_grace_period(tmp_path: Path) -> None:
    """SIGTERM while a body is still arriving: the listener stops accepting, waits up to
    --grace, answers the unfinished upload 503 with Retry-After, records it, and exits 0
    (it used to drop it without an answer after 30 s)."""
    process, url = start_listener(tmp_path, "--grace", "1s")
    port = int(url.rsplit(":", 1)[1])
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(
        f"POST /api/1/envelope/?{QUERY} HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n".encode() + b"x" * 100
    )
    await writer.drain()
    await asyncio.sleep(0.2)
    started = time.monotonic()
    process.send_signal(signal.SIGTERM)
    answer = await asyncio.wait_for(reader.read(), 10)
    writer.close()
    assert 0 == await asyncio.to_thread(process.wait, 10)
    assert time.monotonic() - started < 4
    assert answer.startswith(b"HTTP/1.1 503 ") and b"\r\nRetry-After: 2\r\n" in answer
    [record] = iter_records([tmp_path])
    assert (503, 100, True) == (record.status, len(record.body), record.data["body_truncated"])


def _limit_descriptors() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (64, 64))


async def test_out_of_descriptors_logs_one_line_per_interval_and_service_resumes(tmp_path: Path) -> None:
    """A listener limited to 64 descriptors gets 150 connections: accepts fail, which is
    one log line (with a count) per 5 s instead of a traceback per failed accept; once the
    connections close, a normal request gets its 200 again."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sentry_mirror",
            "listen",
            "--port",
            "0",
            "--dir",
            str(tmp_path),
            "--quiet",
            "--header-timeout",
            "60s",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_limit_descriptors,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline().split()[1].rsplit(":", 1)[1].split("/")[0])
        held = [await asyncio.open_connection("127.0.0.1", port) for _ in range(150)]
        await asyncio.sleep(3.5)  # accepts fail and are retried every second
        for _, writer in held:
            writer.close()
        event_id, body = envelope()
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            async with session.post(f"http://127.0.0.1:{port}/api/1/envelope/?{QUERY}", data=body) as response:
                assert 200 == response.status
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.to_thread(process.communicate, timeout=30)
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert 1 <= len([line for line in lines if "cannot accept connections" in line]) <= 2, stderr
    assert "Traceback" not in stderr
    assert event_id in {r.event_id for r in iter_records([tmp_path])}
