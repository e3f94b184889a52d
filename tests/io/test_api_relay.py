"""The web API across workers (io/api_relay.py): one listener answers, another relays to it
the web API requests it receives, exactly as received; unreachable, a recorded 503."""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from sentry_mirror.errors import MirrorError
from sentry_mirror.io import api_relay
from sentry_mirror.io.api_relay import SharedApi
from sentry_mirror.io.listener import ListenOptions, Ready, Worker, listen
from sentry_mirror.io.snapshot import iter_records
from tests.io.test_webapi import AUTH, ORG, TOKEN, call


def tcp() -> socket.socket:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    return sock


async def started(directory: Path, worker: Worker, stop: asyncio.Event) -> tuple[asyncio.Task[Any], str]:
    ready: asyncio.Future[Ready] = asyncio.get_running_loop().create_future()
    task = asyncio.create_task(
        listen(ListenOptions(directory=directory), on_ready=ready.set_result, stop=stop, worker=worker)
    )
    info = await asyncio.wait_for(ready, 10)
    return task, f"http://127.0.0.1:{info.port}"


def records(directory: Path) -> list[dict[str, Any]]:
    return [r.data for r in iter_records([directory])]


@pytest.fixture
async def pair(tmp_path: Path) -> AsyncIterator[tuple[str, str, Path, Path]]:
    """(the answering listener's url, the relaying one's, their directories)."""
    path = str(tmp_path / "api.sock")
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(path)
    unix.listen()
    stop = asyncio.Event()
    first, url = await started(tmp_path / "a", Worker(tcp(), "mark", SharedApi(path, unix)), stop)
    second, other = await started(tmp_path / "b", Worker(tcp(), "mark", SharedApi(path)), stop)
    yield url, other, tmp_path / "a", tmp_path / "b"
    stop.set()
    await asyncio.gather(first, second)
    unix.close()


async def test_a_relayed_request_is_answered_and_recorded_by_the_one_that_answers(
    pair: tuple[str, str, Path, Path],
) -> None:
    url, other, answers, relays = pair
    async with aiohttp.ClientSession() as session:
        made = await call(session, "POST", f"{other}{ORG}/releases/", orjson.dumps({"version": "2.0"}))
        here = await call(session, "GET", f"{url}{ORG}/releases/2.0/")
        there = await call(session, "GET", f"{other}{ORG}/releases/2.0/")
        async with session.get(f"{other}{ORG}/releases/9.9/", headers=AUTH) as response:
            missing = (response.status, response.headers["Content-Type"], await response.read())
    assert 201 == made[0] and 200 == here[0] and here == there
    assert (404, "application/json") == missing[:2] and b"detail" in missing[2]
    kept = records(answers)
    assert ["api_releases", "api_release", "api_release", "api_release"] == [r["endpoint"] for r in kept]
    assert [201, 200, 200, 404] == [r["response"]["status"] for r in kept]
    assert all(r["remote_addr"].startswith("127.0.0.1:") for r in kept)
    assert TOKEN.encode() not in orjson.dumps(kept), "the token is redacted, as one listener does"
    assert not relays.exists() or [] == records(relays)


async def test_no_one_to_answer_is_a_recorded_503_with_retry_after(tmp_path: Path) -> None:
    stop = asyncio.Event()
    worker = Worker(tcp(), "mark", SharedApi(str(tmp_path / "gone.sock")))
    task, url = await started(tmp_path / "s", worker, stop)
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(f"{url}{ORG}/releases/", headers=AUTH) as response:
                status, retry = response.status, response.headers.get("Retry-After")
                body = await response.read()
    finally:
        stop.set()
        await task
    assert 503 == status and retry
    assert b"web API cannot be reached now" in body
    [kept] = records(tmp_path / "s")
    assert ("api_releases", 503) == (kept["endpoint"], kept["response"]["status"])
    assert "cannot be reached" in kept["error"]


@pytest.mark.skipif(not hasattr(socket, "SO_PEERCRED"), reason="Linux: the peer's uid")
async def test_a_peer_of_another_user_is_not_answered(
    pair: tuple[str, str, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The abstract socket has no file permissions: a peer that is not this user gets nothing."""
    _, other, answers, _ = pair
    uid = os.getuid()
    monkeypatch.setattr(api_relay.os, "getuid", lambda: uid + 1)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{other}{ORG}/releases/", headers=AUTH) as response:
            status = response.status
    assert 503 == status
    assert not answers.exists() or [] == records(answers)


def test_the_web_api_socket_is_abstract_or_short_and_private(tmp_path: Path) -> None:
    if sys.platform == "linux":
        sock, address = api_relay.api_socket(abstract=True)
        sock.close()
        assert address.startswith("\0sentry-mirror-") and len(address) > 40  # a name no one guesses
    sock, address = api_relay.api_socket(abstract=False)
    try:
        directory = Path(address).parent
        assert len(address) < 100 and directory.stat().st_mode & 0o777 == 0o700
    finally:
        sock.close()
        api_relay.remove_socket(address)
    assert not directory.exists()


def test_a_web_api_socket_that_cannot_be_made_is_a_clear_error_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    long = tmp_path / ("t" * 120)
    monkeypatch.setattr(api_relay.tempfile, "mkdtemp", lambda **_: str(long.mkdir() or long))
    with pytest.raises(MirrorError, match="cannot make the workers' web API socket"):
        api_relay.api_socket(abstract=False)
    assert not long.exists()
