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
import pytest
import zstandard

from sentry_mirror.core import ingest, record
from sentry_mirror.core.checks import HEADER
from sentry_mirror.core.encoding import zstd_frame_end
from sentry_mirror.io.recorder import Recorder
from sentry_mirror.io.server import Running, Timeouts, create_app, serve
from sentry_mirror.io.snapshot import iter_records
from tests.factories import make_envelope

KEY_QUERY = "sentry_key=0123456789abcdef0123456789abcdef&sentry_version=7"


def envelope_body(event_id: str | None = None, message: str = "hello") -> tuple[str, bytes]:
    """The event id (a fresh one unless given) and an envelope of an error event with that id."""
    event_id = event_id or uuid.uuid4().hex
    event = {"event_id": event_id, "message": message, "level": "error"}
    headers = {"event_id": event_id, "sdk": {"name": "sentry.test", "version": "1.0"}}
    return event_id, make_envelope(headers, [({"type": "event"}, event)])


async def post(
    session: aiohttp.ClientSession, url: str, body: Any, **headers: str
) -> tuple[int, dict[str, str], bytes]:
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
    _event_id, body = envelope_body()
    compressed = gzip.compress(body)

    async def chunks() -> Any:
        for i in range(0, len(compressed), 7):
            yield compressed[i : i + 7]

    async with aiohttp.ClientSession() as session:
        status, _, _ = await post(
            session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", chunks(), **{"Content-Encoding": "gzip"}
        )
    [record] = mirror.records()
    assert 200 == status
    assert body == record.body
    assert "chunked" == {k.lower(): v for k, v in record.data["headers"]}["transfer-encoding"]
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
        results = await asyncio.gather(
            *(post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", b) for _, b in bodies)
        )
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


def _full_disk(mirror: Any) -> None:
    """The snapshot's descriptor now says ENOSPC to every write (and cannot be truncated)."""
    full = os.open("/dev/full", os.O_WRONLY)
    try:
        os.dup2(full, mirror.recorder._fd)
    finally:
        os.close(full)


async def test_a_full_disk_answers_503_with_retry_after_and_writing_resumes(
    start_mirror: Any, monkeypatch: Any
) -> None:
    """A full disk: the SDK gets 503 with Retry-After (never a 200 for unwritten data), the
    listener goes on, and once writing works again (a new file) requests get 200."""
    monkeypatch.setattr("sentry_mirror.io.recorder.RETRY_INTERVAL", 0.2)
    mirror = await start_mirror()
    _full_disk(mirror)
    async with aiohttp.ClientSession() as session:
        first = await post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", envelope_body()[1])
        second = await post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", envelope_body()[1])
        await asyncio.sleep(0.3)
        event_id, body = envelope_body()
        third = await post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", body)
    assert [503, 503, 200] == [first[0], second[0], third[0]]
    assert "could not store this request" in orjson.loads(first[2])["detail"]
    assert "No space left on device" in orjson.loads(first[2])["detail"]
    assert {"2"} == {first[1]["Retry-After"], second[1]["Retry-After"]}
    [record] = mirror.records()  # the 503s are not on disk: only what was answered 200
    assert (event_id, 200) == (record.event_id, record.status)
    # the file (empty: /dev/full took the writes) was removed, so there is nothing to warn about
    assert [] == record.data["notes"]
    assert 1 == len(mirror.recorder.paths)
    assert (2, 1) == (mirror.recorder.refused, mirror.recorder.outages)


async def test_a_lone_surrogate_in_a_store_body_is_recorded_and_the_listener_goes_on(mirror: Any) -> None:
    """Issue 12, defect 1: 40 bytes with an escaped lone surrogate stopped the listener."""
    async with aiohttp.ClientSession() as session:
        posted = await post(
            session,
            f"{mirror.url}/api/1/store/?{KEY_QUERY}",
            b'{"message":"\\ud800"}',
            **{"Content-Type": "application/json"},
        )
        async with session.get(
            f"{mirror.url}/api/1/store/?{KEY_QUERY}", params={"sentry_data": '{"message":"a\\ud800"}'}
        ) as got:
            got_status = got.status
        after = await post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", envelope_body()[1])
    assert [200, 200, 200] == [posted[0], got_status, after[0]]
    records = mirror.records()
    assert [200, 200, 200] == [r.status for r in records]
    assert "\ufffd" == records[0].data["summary"]["title"]
    assert any('"\\ud800"' in note for note in records[0].data["notes"])  # the exact value, escaped
    assert mirror.recorder.unavailable is None


async def test_a_record_that_cannot_be_built_is_a_500_with_the_reason_in_the_record(
    mirror: Any, monkeypatch: Any
) -> None:
    """A bug while building a record: that request gets 500, its record says why, the next is fine."""
    real_build = record.build

    def build(incoming: ingest.Request, outcome: ingest.Outcome, **kwargs: Any) -> dict[str, Any]:
        if b"boom" in incoming.body and outcome.response.status != 500:
            raise RuntimeError("boom in build")
        return real_build(incoming, outcome, **kwargs)

    monkeypatch.setattr(record, "build", build)
    async with aiohttp.ClientSession() as session:
        failed = await post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", envelope_body(message="boom")[1])
        fine = await post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", envelope_body()[1])
    assert [500, 200] == [failed[0], fine[0]]
    assert "RuntimeError: boom in build" in orjson.loads(failed[2])["detail"]
    first, second = mirror.records()
    assert (500, 200) == (first.status, second.status)
    assert "boom in build" in first.data["error"]
    assert b"boom" in first.body  # the full record of the 500: the body as received


@pytest.mark.parametrize("fsync", [False, True], ids=["on the loop", "in a thread (fsync)"])
async def test_a_record_that_cannot_be_serialised_fails_only_its_request(
    start_mirror: Any, monkeypatch: Any, fsync: bool
) -> None:
    """A record the recorder cannot turn into a line fails alone (500, recorded minimally),
    not its whole group, and not the recorder."""
    import sentry_mirror.io.recorder as recorder_module

    mirror = await start_mirror(fsync=fsync)

    real_dumps = recorder_module.dumps

    def dumps(entry: dict[str, Any]) -> bytes:
        if "boom" in entry.get("body", "") and entry["response"]["status"] != 500:
            raise ValueError("boom in dumps")
        return real_dumps(entry)

    monkeypatch.setattr(recorder_module, "dumps", dumps)
    bodies = [envelope_body(message="boom" if i == 3 else "fine") for i in range(8)]
    async with aiohttp.ClientSession() as session:
        results = await asyncio.gather(
            *(post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", b) for _, b in bodies)
        )
    assert [500 if i == 3 else 200 for i in range(8)] == [status for status, _, _ in results]
    records = mirror.records()
    assert 8 == len(records)
    [failed] = [r for r in records if r.status == 500]
    assert "boom in dumps" in failed.data["notes"][-1]
    assert {e for i, (e, _) in enumerate(bodies) if i != 3} == {r.event_id for r in records if r.status == 200}
    assert mirror.recorder.unavailable is None


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
    item = {"type": "attachment", "length": len(blob), "filename": "core.bin"}
    body = make_envelope({"event_id": event_id}, [(item, blob)], trailing_newline=False)
    async with aiohttp.ClientSession() as session:
        status, _, answer = await post(
            session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", gzip.compress(body, 1), **{"Content-Encoding": "gzip"}
        )
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
            status, _, answer = await post(
                session,
                f"{mirror.url}/api/1/minidump/?{KEY_QUERY}",
                bomb,
                **{"Content-Type": "application/octet-stream"},
            )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 200 == status and 36 == len(answer)  # a hyphenated event id
    assert peak < 50_000_000


async def test_a_header_json_cannot_store_is_still_recorded_and_the_listener_goes_on(mirror: Any) -> None:
    """Item headers nested too deep for JSON output: the request is recorded and answered;
    the summary keeps the header cut 32 levels deep (core/bounds.py)."""
    deep = b'{"type":"event","x":' + b"[" * 400 + b"]" * 400 + b"}"
    body = b'{"event_id":"' + b"a" * 32 + b'"}\n' + deep + b"\n{}"
    async with aiohttp.ClientSession() as session:
        first = await post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", body)
        second = await post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", envelope_body()[1])
    assert [200, 200] == [first[0], second[0]]
    records = mirror.records()
    assert body == records[0].body
    assert {"event_id": "a" * 32} == records[0].data["summary"]["envelope_header"]
    assert "item header values were cut" in records[0].data["notes"][-1]
    assert mirror.recorder.unavailable is None


async def test_a_long_store_get_reaches_the_handler(mirror: Any) -> None:
    """A 20 KB request line (GET /store/?sentry_data=…) is answered and recorded, not cut by aiohttp."""
    data = orjson.dumps({"message": "x" * 20_000}).decode()
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{mirror.url}/api/1/store/", params={"sentry_data": data, "sentry_key": "k"}) as response,
    ):
        assert (200, "image/gif") == (response.status, response.content_type)
    [record] = mirror.records()
    assert "store" == record.data["endpoint"]


@pytest.fixture
async def timed_mirror(tmp_path: Any) -> Any:
    """A factory: a real mirror with the given :class:`Timeouts` (stopped after the test)."""
    started: list[tuple[Running, Recorder]] = []

    async def start(**timeouts: float) -> tuple[Running, Recorder]:
        recorder = Recorder(tmp_path / f"snapshots-{len(started)}")
        await recorder.start()
        running = await serve(create_app(recorder, timeouts=Timeouts(**timeouts)), "127.0.0.1", 0)
        started.append((running, recorder))
        return running, recorder

    yield start
    for running, recorder in started:
        await running.stop(0)
        await recorder.close()


async def test_idle_and_trickling_connections_are_closed_and_do_not_delay_others(timed_mirror: Any) -> None:
    """Slowloris: 200 connections that send nothing or a header line now and then. A normal
    request still gets its 200 at once, and all 200 are closed after the header timeout."""
    running, recorder = await timed_mirror(header=0.5)
    connections = [await asyncio.open_connection("127.0.0.1", running.port) for _ in range(200)]
    for _, writer in connections[100:]:
        writer.write(b"POST /api/1/envelope/ HTTP/1.1\r\nHost: x\r\n")

    async def trickle() -> None:
        for i in range(20):
            for _, writer in connections[100:]:
                if not writer.is_closing():
                    writer.write(f"X-Slow-{i}: 1\r\n".encode())
            await asyncio.sleep(0.1)

    trickling = asyncio.create_task(trickle())
    event_id, body = envelope_body()
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        status, _, _ = await post(session, f"http://127.0.0.1:{running.port}/api/1/envelope/?{KEY_QUERY}", body)
    assert 200 == status
    assert time.monotonic() - started < 1.0

    async def closed_by_server(reader: asyncio.StreamReader) -> bool:
        try:
            return b"" == await asyncio.wait_for(reader.read(), 3)
        except ConnectionResetError:
            return True

    results = await asyncio.gather(*(closed_by_server(reader) for reader, _ in connections))
    trickling.cancel()
    for _, writer in connections:
        writer.close()
    assert all(results)
    assert [event_id] == [r.event_id for r in iter_records([recorder.directory])]


async def test_a_body_that_stops_arriving_gets_408_and_is_recorded(timed_mirror: Any) -> None:
    running, recorder = await timed_mirror(body=0.3)
    reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
    writer.write(
        f"POST /api/1/envelope/?{KEY_QUERY} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n".encode()
        + b"0123456789"
    )
    answer = await asyncio.wait_for(reader.read(), 3)  # answered, then closed
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    [record] = iter_records([recorder.directory])
    assert (408, b"0123456789", True) == (record.status, record.body, record.data["body_truncated"])
    assert "request timeout" in record.data["error"]


async def test_a_body_that_never_starts_gets_408_after_the_body_timeout(timed_mirror: Any) -> None:
    """No byte of the body after the head: the body timeout runs from the head, not from a first piece."""
    running, recorder = await timed_mirror(body=0.3)
    reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
    writer.write(f"POST /api/1/envelope/?{KEY_QUERY} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n".encode())
    answer = await asyncio.wait_for(reader.read(), 3)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 408 ")
    [record] = iter_records([recorder.directory])
    assert (408, b"", True) == (record.status, record.body, record.data["body_truncated"])


async def test_a_slow_but_steady_body_is_not_cut(timed_mirror: Any) -> None:
    """The body timeout is a pause between pieces, not a total: a slow upload that keeps going finishes."""
    running, recorder = await timed_mirror(body=0.3)
    event_id, body = envelope_body()
    reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
    writer.write(
        f"POST /api/1/envelope/?{KEY_QUERY} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    )
    step = len(body) // 6 + 1
    for i in range(0, len(body), step):  # 6 pieces, 0.15 s apart: 0.75 s in all
        writer.write(body[i : i + step])
        await asyncio.sleep(0.15)
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 3)
    writer.close()
    assert head.startswith(b"HTTP/1.1 200 ")
    assert [event_id] == [r.event_id for r in iter_records([recorder.directory])]


async def test_stopping_finishes_an_upload_in_flight_and_answers_one_that_never_ends(timed_mirror: Any) -> None:
    """Stop: no new connections; an upload that completes within the grace period gets its
    200; one still incomplete at its end gets 503 with Retry-After; both are recorded."""
    running, recorder = await timed_mirror(grace=0.5)
    event_id, body = envelope_body()
    head = f"POST /api/1/envelope/?{KEY_QUERY} HTTP/1.1\r\nHost: x\r\nContent-Length: {len(body)}\r\n\r\n".encode()
    finishing = await asyncio.open_connection("127.0.0.1", running.port)
    stuck = await asyncio.open_connection("127.0.0.1", running.port)
    for _, writer in (finishing, stuck):
        writer.write(head + body[:10])
        await writer.drain()
    await asyncio.sleep(0.05)
    stopping = asyncio.create_task(running.stop())
    await asyncio.sleep(0.2)
    with pytest.raises(OSError):  # no new connections
        await asyncio.open_connection("127.0.0.1", running.port)
    finishing[1].write(body[10:])
    answers = await asyncio.gather(*(asyncio.wait_for(reader.read(), 3) for reader, _ in (finishing, stuck)))
    await asyncio.wait_for(stopping, 3)
    assert answers[0].startswith(b"HTTP/1.1 200 ")
    assert answers[1].startswith(b"HTTP/1.1 503 ") and b"\r\nRetry-After: 2\r\n" in answers[1]
    records = list(iter_records([recorder.directory]))
    assert {200: event_id, 503: None} == {r.status: r.event_id for r in records}


async def test_a_failure_anywhere_in_a_request_is_a_500_recorded_with_its_request_line(
    mirror: Any, monkeypatch: Any
) -> None:
    """Outside parsing and recording too (here: reading the body fails): 500 for that request,
    a record with the reason, and the listener goes on."""
    import sentry_mirror.io.body as body_module

    real_read_body = body_module.read_body

    async def read_body(request: Any, *args: Any) -> Any:
        if request.headers.get("X-Fail") == "yes":
            raise RuntimeError("boom while reading")
        return await real_read_body(request, *args)

    monkeypatch.setattr(body_module, "read_body", read_body)
    async with aiohttp.ClientSession() as session:
        failed = await post(
            session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", envelope_body()[1], **{"X-Fail": "yes"}
        )
        fine = await post(session, f"{mirror.url}/api/1/envelope/?{KEY_QUERY}", envelope_body()[1])
    assert [500, 200] == [failed[0], fine[0]]
    first, second = mirror.records()
    assert (500, 200) == (first.status, second.status)
    assert "RuntimeError: boom while reading" in first.data["error"]
    assert ("POST", "/api/1/envelope/", KEY_QUERY) == (first.data["method"], first.data["path"], first.data["query"])
    assert ["X-Fail", "yes"] in first.data["headers"]
