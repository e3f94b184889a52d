"""The listener over real HTTP on 127.0.0.1: framing, CORS, persistence before the answer."""

from __future__ import annotations

import asyncio
import gzip
import os
import stat
import threading
import time
import uuid
from typing import Any

import aiohttp
import orjson
import zstandard

from sentry_mirror.core import ingest
from sentry_mirror.core.checks import HEADER
from sentry_mirror.core.encoding import zstd_frame_end
from sentry_mirror.io.snapshot import iter_records

KEY_QUERY = "sentry_key=0123456789abcdef0123456789abcdef&sentry_version=7"


def envelope_body(event_id: str | None = None, message: str = "hello") -> tuple[str, bytes]:
    event_id = event_id or uuid.uuid4().hex
    event = orjson.dumps({"event_id": event_id, "message": message, "level": "error"})
    header = orjson.dumps({"event_id": event_id, "sdk": {"name": "sentry.test", "version": "1.0"}})
    return event_id, header + b"\n" + orjson.dumps({"type": "event", "length": len(event)}) + b"\n" + event + b"\n"


async def post(session: aiohttp.ClientSession, url: str, body: Any, **headers: str) -> tuple[int, dict[str, str], bytes]:
    async with session.post(url, data=body, headers=headers) as response:
        return response.status, dict(response.headers), await response.read()


async def test_a_200_means_the_record_is_already_in_the_file(mirror: Any) -> None:
    """Right after the answer, with the listener still running, the record reads back from disk."""
    event_id, body = envelope_body()
    async with aiohttp.ClientSession() as session:
        status, _, answer = await post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", body)
    assert (200, {"id": event_id}) == (status, orjson.loads(answer))
    assert [event_id] == [r.event_id for r in iter_records([mirror.directory])]


async def test_expect_100_continue_is_answered_before_the_body(mirror: Any) -> None:
    """curl (sentry-cli) sends ``Expect: 100-continue`` before a big body and waits for the
    interim answer: it comes at once, then the body is recorded and answered as usual."""
    event_id, body = envelope_body()
    reader, writer = await asyncio.open_connection("127.0.0.1", mirror.port)
    try:
        writer.write(
            f"POST /api/1/envelope/?{KEY_QUERY} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Length: {len(body)}\r\nExpect: 100-continue\r\n\r\n".encode()
        )
        await writer.drain()
        interim = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert interim.startswith(b"HTTP/1.1 100 Continue")
        writer.write(body)
        await writer.drain()
        final = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    finally:
        writer.close()
    assert final.startswith(b"HTTP/1.1 200")
    assert [event_id] == [r.event_id for r in mirror.records()]


async def test_chunked_body_without_content_length(mirror: Any) -> None:
    """@sentry/node streams gzip'd bodies with Transfer-Encoding: chunked and no Content-Length."""
    event_id, body = envelope_body()
    compressed = gzip.compress(body)

    async def chunks() -> Any:
        for i in range(0, len(compressed), 7):
            yield compressed[i : i + 7]

    async with aiohttp.ClientSession() as session:
        status, _, _ = await post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", chunks(), **{"Content-Encoding": "gzip"})
    [record] = mirror.records()
    assert 200 == status
    assert body == record.body
    assert "chunked" == dict((k.lower(), v) for k, v in record.data["headers"])["transfer-encoding"]
    assert len(compressed) == record.data["wire_size"]


async def test_cors_on_every_answer_and_preflight(mirror: Any) -> None:
    """The browser SDK drops answers without Access-Control-Allow-Origin: success, errors, 404."""
    _, body = envelope_body()
    async with aiohttp.ClientSession() as session:
        ok = await post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", body)
        bad = await post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", b"not an envelope")
        missing = await post(session, f"{mirror.url}/nowhere", b"x")
        async with session.options(
            f"{mirror.url}/api/1/envelope/",
            headers={"Origin": "http://app.test", "Access-Control-Request-Method": "POST"},
        ) as preflight:
            preflight_headers = dict(preflight.headers)
            assert 200 == preflight.status
    assert [200, 400, 404] == [ok[0], bad[0], missing[0]]
    for _, headers, _ in (ok, bad, missing):
        assert "*" == headers["Access-Control-Allow-Origin"]
        assert "x-sentry-error, x-sentry-rate-limits, retry-after" == headers["Access-Control-Expose-Headers"]
    assert "POST" == preflight_headers["Access-Control-Allow-Methods"]
    assert "3600" == preflight_headers["Access-Control-Max-Age"]
    assert "x-sentry-auth" in preflight_headers["Access-Control-Allow-Headers"]
    assert {"invalid event envelope"} <= {orjson.loads(bad[2])["detail"]}
    # everything was captured, the junk and the stray path included
    assert ["envelope", "envelope", "unknown", "envelope"] == [r.data["endpoint"] for r in mirror.records()]


async def test_group_commit_writes_concurrent_requests_together(mirror: Any) -> None:
    """Requests arriving together share one write; each still got its 200 only once written."""
    bodies = [envelope_body() for _ in range(64)]
    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(*(post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", b) for _, b in bodies))
    assert {200} == {status for status, _, _ in results}
    assert 64 == mirror.recorder.records
    assert mirror.recorder.groups < 64
    assert {e for e, _ in bodies} == {r.event_id for r in mirror.records()}


async def test_snapshot_files_are_owner_only(mirror: Any) -> None:
    _, body = envelope_body()
    async with aiohttp.ClientSession() as session:
        await post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", body)
    assert 0o600 == stat.S_IMODE(os.stat(mirror.recorder.path).st_mode)
    assert 0o700 == stat.S_IMODE(os.stat(mirror.directory).st_mode)


async def test_rotation_by_size(start_mirror: Any) -> None:
    """--rotate-size: a new file once the current one passes the size; nothing lost across files."""
    mirror = await start_mirror(rotate_size=200)
    sent = []
    async with aiohttp.ClientSession() as session:
        for _ in range(5):
            event_id, body = envelope_body()
            sent.append(event_id)
            await post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", body)
    assert 5 == len(mirror.recorder.paths)
    assert sorted(p.name for p in mirror.recorder.paths) == [p.name for p in mirror.recorder.paths]
    assert sent == [r.event_id for r in mirror.records()]


async def test_rotation_by_time(start_mirror: Any) -> None:
    mirror = await start_mirror(rotate_every=0.05)
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            await post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", envelope_body()[1])
            time.sleep(0.06)
    assert 2 == len(mirror.recorder.paths)
    assert 2 == len(mirror.records())


async def test_a_body_over_the_wire_limit_gets_413_and_is_captured_in_part(start_mirror: Any) -> None:
    mirror = await start_mirror(ingest.Config(max_body=100_000))
    async with aiohttp.ClientSession() as session:
        status, _, answer = await post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", b"x" * 300_000)
    [record] = mirror.records()
    assert 413 == status
    assert answer.startswith(b"length limit exceeded")
    assert (True, False) == (record.data["body_truncated"], record.data["body_decoded"])
    assert record.data["wire_size"] > 100_000
    assert 0 < len(record.body) <= 100_000


async def test_write_failure_answers_503_and_stops_the_recorder(mirror: Any) -> None:
    """A full disk: the SDK gets 503 (so it keeps its data), never a 200 for unwritten data."""
    full = os.open("/dev/full", os.O_WRONLY)
    try:
        os.dup2(full, mirror.recorder._fd)  # the snapshot's descriptor now says ENOSPC
    finally:
        os.close(full)
    async with aiohttp.ClientSession() as session:
        first = await post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", envelope_body()[1])
        second = await post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", envelope_body()[1])
    assert [503, 503] == [first[0], second[0]]
    assert "could not store this request" in orjson.loads(first[2])["detail"]
    assert mirror.recorder.failed.is_set()


async def test_a_quiet_listener_leaves_a_complete_zstd_file(start_mirror: Any, monkeypatch: Any) -> None:
    """After FRAME_IDLE without requests the open frame is finished: `zstd -t` passes while it runs."""
    monkeypatch.setattr("sentry_mirror.io.recorder.FRAME_IDLE", 0.05)
    mirror = await start_mirror()
    async with aiohttp.ClientSession() as session:
        await post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", envelope_body()[1])
    data = mirror.recorder.path.read_bytes().removeprefix(HEADER)  # the checks header: a skippable frame
    assert zstd_frame_end(data) is None  # just answered: the frame is still open
    await asyncio.sleep(0.3)
    data = mirror.recorder.path.read_bytes().removeprefix(HEADER)
    assert len(data) == zstd_frame_end(data)
    assert 1 == len(zstandard.ZstdDecompressor().decompressobj().decompress(data).splitlines())


async def test_fsync_mode_answers_only_after_fsync(start_mirror: Any, monkeypatch: Any) -> None:
    """--fsync: a request is answered only once the fsync of its group has returned."""
    gate = threading.Event()
    real_fsync = os.fsync

    def gated_fsync(fd: int) -> None:
        if threading.current_thread() is not threading.main_thread():  # the snapshot file's, in the worker
            gate.wait(10)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", gated_fsync)
    mirror = await start_mirror(fsync=True)
    event_id, body = envelope_body()
    async with aiohttp.ClientSession() as session:
        answer = asyncio.create_task(post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", body))
        await asyncio.sleep(0.3)
        assert not answer.done()  # written, not yet synced: not acknowledged
        gate.set()
        status, _, _ = await answer
    assert 200 == status
    assert [event_id] == [r.event_id for r in mirror.records()]


async def test_a_big_attachment_is_recorded_byte_exact(mirror: Any) -> None:
    """A 3 MB binary attachment (compressed off the event loop) comes back byte for byte."""
    event_id = uuid.uuid4().hex
    blob = os.urandom(3_000_000)
    header = orjson.dumps({"event_id": event_id})
    item = orjson.dumps({"type": "attachment", "length": len(blob), "filename": "core.bin"})
    body = header + b"\n" + item + b"\n" + blob
    async with aiohttp.ClientSession() as session:
        status, _, answer = await post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", gzip.compress(body, 1), **{"Content-Encoding": "gzip"})
    assert (200, {"id": event_id}) == (status, orjson.loads(answer))
    [record] = mirror.records()
    assert body == record.body
    assert record.data["body_base64"] is True


async def test_an_xz_minidump_bomb_is_checked_without_unpacking_it(mirror: Any) -> None:
    """Only the dump's magic is unpacked from a compression container: a 300 MB xz bomb costs nothing."""
    import lzma
    import tracemalloc

    bomb = lzma.compress(b"MDMP" + bytes(300_000_000), preset=1)
    tracemalloc.start()
    try:
        async with aiohttp.ClientSession() as session:
            status, _, answer = await post(session, f"{mirror.url}/api/1/minidump/?{KEY_QUERY}", bomb, **{"Content-Type": "application/octet-stream"})
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 200 == status and 36 == len(answer)  # a hyphenated event id
    assert peak < 50_000_000


async def test_a_header_json_cannot_store_is_still_recorded_and_the_listener_goes_on(mirror: Any) -> None:
    """Item headers nested too deep for JSON output: the request is recorded (reduced summary) and answered."""
    deep = b'{"type":"event","x":' + b"[" * 400 + b"]" * 400 + b"}"
    body = b'{"event_id":"' + b"a" * 32 + b'"}\n' + deep + b"\n{}"
    async with aiohttp.ClientSession() as session:
        first = await post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", body)
        second = await post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", envelope_body()[1])
    assert [200, 200] == [first[0], second[0]]
    records = mirror.records()
    assert body == records[0].body
    assert None is records[0].data["summary"]["envelope_header"]
    assert "could not be stored as JSON" in records[0].data["notes"][-1]
    assert not mirror.recorder.failed.is_set()


async def test_a_long_store_get_reaches_the_handler(mirror: Any) -> None:
    """A 20 KB request line (GET /store/?sentry_data=…) is answered and recorded, not cut by aiohttp."""
    data = orjson.dumps({"message": "x" * 20_000}).decode()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{mirror.url}/api/1/store/", params={"sentry_data": data, "sentry_key": "k"}) as response:
            assert (200, "image/gif") == (response.status, response.content_type)
    [record] = mirror.records()
    assert "store" == record.data["endpoint"]
