"""The web API sentry-cli uses, over real HTTP on a real listener: chunk uploads into the
chunk store, assemble calls before and after their chunks, the upload records, storage
failures, and the token never reaching the disk."""

from __future__ import annotations

import asyncio
import gzip
import hashlib
import itertools
import logging
import os
import stat
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
import zstandard

from sentry_mirror.core import ingest, record
from tests.factories import make_artifact_bundle

TOKEN = "sntrys_eyJpYXQiOjE3MDAwMDAwMDB9_very-secret-token-value"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
ORG = "/api/0/organizations/acme"
BOUNDARY = "------------------------mirrortestboundary"


def multipart(parts: list[tuple[str, str, bytes]]) -> bytes:
    """A multipart/form-data body as curl (sentry-cli) writes it: (field, filename, data)."""
    out = b""
    for field, filename, data in parts:
        out += (
            (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
                "Content-Type: application/octet-stream\r\n\r\n"
            ).encode()
            + data
            + b"\r\n"
        )
    return out + f"--{BOUNDARY}--\r\n".encode()


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


async def call(
    session: aiohttp.ClientSession, method: str, url: str, body: bytes | None = None, **headers: str
) -> tuple[int, Any]:
    async with session.request(method, url, data=body, headers={**AUTH, **headers}) as response:
        data = await response.read()
        return response.status, orjson.loads(data) if data else None


async def upload_chunks(
    session: aiohttp.ClientSession, url: str, parts: list[tuple[str, str, bytes]]
) -> tuple[int, Any]:
    content_type = f"multipart/form-data; boundary={BOUNDARY}"
    return await call(session, "POST", f"{url}{ORG}/chunk-upload/", multipart(parts), **{"Content-Type": content_type})


def snapshot_bytes(directory: Path) -> bytes:
    """Every snapshot file's bytes, decompressed (all frames)."""
    out = b""
    for path in sorted(directory.glob("*.zst")):
        with path.open("rb") as fo, zstandard.ZstdDecompressor().stream_reader(fo, read_across_frames=True) as reader:
            out += reader.read()
    return out


async def test_options_promise_no_more_than_the_body_cap(start_mirror: Any) -> None:
    mirror = await start_mirror(ingest.Config(max_body=1024 * 1024))
    async with aiohttp.ClientSession() as session:
        status, options = await call(session, "GET", f"{mirror.url}{ORG}/chunk-upload/")
    assert 200 == status
    assert options["maxRequestSize"] <= 1024 * 1024 and options["chunkSize"] <= options["maxRequestSize"]
    assert options["chunkSize"] & (options["chunkSize"] - 1) == 0  # a power of two
    assert ("sha1", ["gzip"]) == (options["hashAlgorithm"], options["compression"])
    assert {"artifact_bundles", "debug_files", "proguard"} <= set(options["accept"])
    [entry] = [r.data for r in mirror.records()]
    assert ("api_chunk_upload", {"org": "acme", "project": None, "release": None}) == (entry["endpoint"], entry["api"])
    assert entry["project_id"] is None


async def test_no_token_gets_sentrys_401(mirror: Any) -> None:
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{mirror.url}{ORG}/chunk-upload/") as response:
            assert 401 == response.status
            assert {"detail": "Authentication credentials were not provided."} == await response.json()
    [entry] = [r.data for r in mirror.records()]
    assert entry["auth"] is None and entry["error"]


async def test_chunks_are_stored_once_each_and_gzip_parts_unpacked(mirror: Any) -> None:
    plain, packed = b"first chunk " * 100, b"second chunk " * 100
    parts = [("file", sha1(plain), plain), ("file_gzip", sha1(packed), gzip.compress(packed))]
    async with aiohttp.ClientSession() as session:
        assert 200 == (await upload_chunks(session, mirror.url, parts))[0]
        assert 200 == (await upload_chunks(session, mirror.url, parts[:1]))[0]  # a duplicate
    first, again = [r.data for r in mirror.records()]
    assert ("", "chunks", len(plain) + len(packed)) == (first["body"], first["body_omitted"], first["body_size"])
    assert [(sha1(plain), False, True), (sha1(packed), True, True)] == [
        (i["headers"]["checksum"], i["headers"]["compressed"], i["headers"]["new"]) for i in first["summary"]["items"]
    ]
    assert [False] == [i["headers"]["new"] for i in again["summary"]["items"]]
    store = mirror.directory / "chunks"
    assert plain == (store / sha1(plain)[:2] / sha1(plain)).read_bytes()
    assert packed == (store / sha1(packed)[:2] / sha1(packed)).read_bytes()
    for path in [store, *store.rglob("*")]:
        assert (0o700 if path.is_dir() else 0o600) == stat.S_IMODE(path.stat().st_mode)


async def test_a_chunk_that_does_not_hash_to_its_name_refuses_the_request(mirror: Any) -> None:
    good, bad = b"good", b"bad"
    parts = [("file", sha1(good), good), ("file", sha1(b"something else"), bad)]
    async with aiohttp.ClientSession() as session:
        status, answer = await upload_chunks(session, mirror.url, parts)
    assert (400, {"error": "Checksum mismatch"}) == (status, answer)
    [entry] = [r.data for r in mirror.records()]
    assert "body_omitted" not in entry and multipart(parts) == record.decode_bytes(entry["body"], entry["body_base64"])
    assert not (mirror.directory / "chunks").exists()  # nothing of a refused request is kept


async def test_assemble_before_the_chunks_lists_them_then_puts_the_bundle_together(mirror: Any) -> None:
    bundle = make_artifact_bundle(
        {"~/app.min.js": ("minified_source", b"x()", {"debug-id": "2b5fa5a9-d0e0-5155-8ad5-5b10c1b2a326"})},
        org="acme", release="1.0.0",
    )  # fmt: skip
    pieces = [bundle[:100], bundle[100:]]
    request = {"checksum": sha1(bundle), "chunks": [sha1(p) for p in pieces], "projects": ["web"], "version": "1.0.0"}
    url = f"{mirror.url}{ORG}/artifactbundle/assemble/"
    async with aiohttp.ClientSession() as session:
        before = await call(session, "POST", url, orjson.dumps(request))
        await upload_chunks(session, mirror.url, [("file", sha1(p), p) for p in pieces])
        after = await call(session, "POST", url, orjson.dumps(request))
        again = await call(session, "POST", url, orjson.dumps(request))
    assert (200, "not_found", request["chunks"]) == (before[0], before[1]["state"], before[1]["missingChunks"])
    assert [(200, "ok"), (200, "ok")] == [(after[0], after[1]["state"]), (again[0], again[1]["state"])]
    records = [r.data for r in mirror.records()]
    endpoints = [r["endpoint"] for r in records]
    assert [
        "api_artifact_assemble",
        "api_chunk_upload",
        "upload",
        "api_artifact_assemble",
        "api_artifact_assemble",
    ] == endpoints
    upload, assembled = records[2], records[3]
    assert bundle == record.decode_bytes(upload["body"], upload["body_base64"])
    assert (len(bundle), len(bundle), True) == (upload["body_size"], upload["wire_size"], upload["body_decoded"])
    assert {
        "kind": "artifact_bundle", "request_id": assembled["id"], "org": "acme", "project": None,
        "projects": ["web"], "release": "1.0.0", "dist": None, "checksum": sha1(bundle),
        "chunks": request["chunks"], "name": None, "debug_id": None,
    } == upload["upload"]  # fmt: skip
    assert [["content-type", "application/zip"]] == upload["headers"]
    assert "1.0.0" == upload["summary"]["release"]
    [item] = upload["summary"]["items"]
    assert ("minified_source", "~/app.min.js", "2b5fa5a9-d0e0-5155-8ad5-5b10c1b2a326") == (
        item["type"], item["headers"]["url"], item["headers"]["debug_id"]
    )  # fmt: skip
    assert orjson.loads(upload["response"]["body"]) == after[1]


async def test_a_file_whose_chunks_do_not_make_its_checksum_is_an_error(mirror: Any) -> None:
    data = b"a debug file"
    request = {sha1(b"another file"): {"name": "app.debug", "chunks": [sha1(data)]}}
    async with aiohttp.ClientSession() as session:
        await upload_chunks(session, mirror.url, [("file", sha1(data), data)])
        status, answer = await call(
            session, "POST", f"{mirror.url}/api/0/projects/acme/web/files/difs/assemble/", orjson.dumps(request)
        )
    assert 200 == status
    assert {"state": "error", "missingChunks": [], "detail": "Reported checksum mismatch"} == answer[
        sha1(b"another file")
    ]
    assert "upload" not in [r.data["endpoint"] for r in mirror.records()]


async def test_a_debug_file_gets_its_dif_and_an_upload_record(mirror: Any) -> None:
    data = b"\x7fELF" + os.urandom(300)
    debug_id = "5f70c280-e772-ba56-5ca5-b7f878042c33"
    request = {sha1(data): {"name": "app", "debug_id": debug_id, "chunks": [sha1(data)]}}
    async with aiohttp.ClientSession() as session:
        await upload_chunks(session, mirror.url, [("file_gzip", sha1(data), gzip.compress(data))])
        _, answer = await call(
            session, "POST", f"{mirror.url}/api/0/projects/acme/web/files/difs/assemble/", orjson.dumps(request)
        )
    assert ("ok", debug_id, "app", sha1(data)) == (
        answer[sha1(data)]["state"], answer[sha1(data)]["dif"]["debugId"], answer[sha1(data)]["dif"]["objectName"],
        answer[sha1(data)]["dif"]["sha1"],
    )  # fmt: skip
    upload = next(r.data for r in mirror.records() if r.data["endpoint"] == "upload")
    assert data == record.decode_bytes(upload["body"], upload["body_base64"])
    assert ("debug_file", "web", ["web"], "app", debug_id) == tuple(
        upload["upload"][k] for k in ("kind", "project", "projects", "name", "debug_id")
    )
    assert [
        {
            "type": "debug_file",
            "size": len(data),
            "headers": {"type": "debug_file", "name": "app", "debug_id": debug_id},
        }
    ] == upload["summary"]["items"]


async def test_a_chunk_store_that_cannot_be_written_answers_503(mirror: Any) -> None:
    (mirror.directory / "chunks").write_bytes(b"not a directory")
    async with aiohttp.ClientSession() as session:
        async with session.post(
            f"{mirror.url}{ORG}/chunk-upload/", data=multipart([("file", sha1(b"x"), b"x")]),
            headers={**AUTH, "Content-Type": f"multipart/form-data; boundary={BOUNDARY}"},
        ) as response:  # fmt: skip
            assert 503 == response.status and response.headers["Retry-After"]
    [entry] = [r.data for r in mirror.records()]
    assert 503 == entry["response"]["status"] and "could not store" in entry["error"]


async def test_a_snapshot_that_cannot_be_written_answers_503(mirror: Any) -> None:
    full = os.open("/dev/full", os.O_WRONLY)
    try:
        os.dup2(full, mirror.recorder._fd)
    finally:
        os.close(full)
    async with aiohttp.ClientSession() as session:
        async with session.get(f"{mirror.url}{ORG}/releases/", headers=AUTH) as response:
            assert 503 == response.status and response.headers["Retry-After"]


async def test_the_token_never_reaches_the_disk_or_the_log(mirror: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with aiohttp.ClientSession() as session:
        await call(
            session, "POST", f"{mirror.url}{ORG}/releases/", orjson.dumps({"version": "1.0", "projects": ["web"]})
        )
        await call(session, "GET", f"{mirror.url}{ORG}/no-such-route/")
        await call(
            session, "POST", f"{mirror.url}{ORG}/chunk-upload/", b"garbage", **{"Content-Type": "multipart/form-data"}
        )
        other = await session.get(f"{mirror.url}{ORG}/repos/", headers={"Authorization": "Bearer another-token"})
        other.release()
    await mirror.recorder.close()
    written = snapshot_bytes(mirror.directory)
    assert written and TOKEN.encode() not in written and b"another-token" not in written
    assert TOKEN not in caplog.text
    entries = [orjson.loads(line) for line in written.splitlines()]
    redacted = "redacted:" + hashlib.sha256(TOKEN.encode()).hexdigest()[:12]
    assert {"form": "bearer", "token": redacted} == entries[0]["auth"]
    assert ["Authorization", f"Bearer {redacted}"] in entries[0]["headers"]
    assert entries[-1]["auth"]["token"] != redacted  # two tokens are told apart
    assert [201, 404, 400, 200] == [e["response"]["status"] for e in entries]
    assert ["api_releases", "api_unknown", "api_chunk_upload", "api_repos"] == [e["endpoint"] for e in entries]


async def test_releases_commits_and_deploys_are_remembered(start_mirror: Any) -> None:
    mirror = await start_mirror(repos=("acme/web",))
    release = f"{mirror.url}{ORG}/releases/1.0/"
    async with aiohttp.ClientSession() as session:
        assert 404 == (await call(session, "GET", release))[0]
        assert (
            201
            == (
                await call(
                    session,
                    "POST",
                    f"{mirror.url}{ORG}/releases/",
                    orjson.dumps({"version": "1.0", "projects": ["web"]}),
                )
            )[0]
        )
        assert (
            208
            == (
                await call(
                    session,
                    "POST",
                    f"{mirror.url}{ORG}/releases/",
                    orjson.dumps({"version": "1.0", "projects": ["web"]}),
                )
            )[0]
        )
        refs = {"refs": [{"repository": "acme/web", "commit": "abc123"}]}
        _, updated = await call(session, "PUT", release, orjson.dumps(refs))
        _, deploy = await call(session, "POST", f"{release}deploys/", orjson.dumps({"environment": "production"}))
        _, repos = await call(session, "GET", f"{mirror.url}{ORG}/repos/")
        _, got = await call(session, "GET", release)
    assert (1, {"id": "abc123", "repository": "acme/web"}) == (updated["commitCount"], updated["lastCommit"])
    assert "production" == deploy["environment"] and 1 == got["deployCount"]
    assert ["acme/web"] == [r["name"] for r in repos]
    titles = [r.data["summary"]["title"] for r in mirror.records()]
    assert "new release 1.0" == titles[1] and "new deploy 1.0" == titles[4]


async def test_forward_mode_answers_the_web_api_here_and_sends_nothing_on(stubs: Any, forwarder: Any) -> None:
    upstream = await stubs(body=b'{"from": "upstream"}')
    mirror = await forwarder(upstream=upstream.dsn())
    async with aiohttp.ClientSession() as session:
        status, options = await call(session, "GET", f"{mirror.url}{ORG}/chunk-upload/")
    assert 200 == status and "chunkSize" in options
    assert [] == upstream.received
    await mirror.stop()
    [request], answers = mirror.records()
    assert ("api_chunk_upload", None, []) == (request["endpoint"], request.get("forwarded_to"), answers)


async def test_the_live_line_sees_the_upload_before_the_assemble_call(tmp_path: Path) -> None:
    from sentry_mirror.io.recorder import Recorder
    from sentry_mirror.io.server import create_app, serve
    from sentry_mirror.ui.render import line_segments

    seen: list[dict[str, Any]] = []
    recorder = Recorder(tmp_path)
    await recorder.start()
    running = await serve(create_app(recorder, on_record=lambda entry, _: seen.append(entry)), "127.0.0.1", 0)
    data = b"a mapping file"
    request = {sha1(data): {"name": "/proguard/05df37df-c557-5eb4-af6b-42c022e7cdf5.txt", "chunks": [sha1(data)]}}
    url = f"http://127.0.0.1:{running.port}"
    try:
        async with aiohttp.ClientSession() as session:
            await upload_chunks(session, url, [("file", sha1(data), data)])
            await call(session, "POST", f"{url}/api/0/projects/acme/web/files/difs/assemble/", orjson.dumps(request))
    finally:
        await running.stop()
        await recorder.close()
    assert ["api_chunk_upload", "upload", "api_dif_assemble"] == [e["endpoint"] for e in seen]
    line = "".join(piece for piece, _ in line_segments(seen[1], local_time=False))
    assert "upload" in line and "debug_file" in line and "upload:" not in line
    assert "debug file /proguard/05df37df-c557-5eb4-af6b-42c022e7cdf5.txt" in line


async def test_a_bug_is_a_500_recorded_without_the_token(mirror: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken(*args: Any) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr("sentry_mirror.io.webapi._dispatch", broken)
    async with aiohttp.ClientSession() as session:
        assert 500 == (await call(session, "GET", f"{mirror.url}{ORG}/repos/"))[0]
    [entry] = [r.data for r in mirror.records()]
    assert 500 == entry["response"]["status"] and "a bug" in entry["error"]
    assert TOKEN not in orjson.dumps(entry).decode()


async def test_a_body_over_the_cap_is_a_413_recorded_as_its_endpoint(start_mirror: Any) -> None:
    mirror = await start_mirror(ingest.Config(max_body=1024))
    async with aiohttp.ClientSession() as session:
        status, answer = await call(session, "POST", f"{mirror.url}{ORG}/releases/", b"x" * 5000)
    assert 413 == status and "1024" in answer["detail"]
    [entry] = [r.data for r in mirror.records()]
    assert ("api_releases", True) == (entry["endpoint"], entry["body_truncated"])


async def start_api(tmp_path: Path, max_body: int = 1 << 20, max_upload: int = 1 << 20) -> tuple[Any, Any, str]:
    """A listener with its own body and upload limits: (running server, recorder, url)."""
    from sentry_mirror.io.recorder import Recorder
    from sentry_mirror.io.server import create_app, serve

    recorder = Recorder(tmp_path / "snapshots")
    await recorder.start()
    running = await serve(create_app(recorder, ingest.Config(max_body=max_body), max_upload=max_upload), "127.0.0.1", 0)
    return running, recorder, f"http://127.0.0.1:{running.port}"


def records_of(recorder: Any) -> list[dict[str, Any]]:
    from sentry_mirror.io.snapshot import iter_records

    return [r.data for r in iter_records([recorder.directory])]


async def test_a_file_over_the_upload_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    running, recorder, url = await start_api(tmp_path, max_body=64 * 1024 + 2048, max_upload=5000)
    data = os.urandom(2000)  # chunks of 2 KiB: a file of 5000 bytes is 3 chunks at most
    difs = f"{url}/api/0/projects/acme/web/files/difs/assemble/"
    try:
        async with aiohttp.ClientSession() as session:
            _, options = await call(session, "GET", f"{url}{ORG}/chunk-upload/")
            await upload_chunks(session, url, [("file", sha1(data), data)])
            thrice = {sha1(data * 3): {"name": "app", "chunks": [sha1(data)] * 3}}
            _, too_big = await call(session, "POST", difs, orjson.dumps(thrice))
            many = {"checksum": sha1(data), "chunks": [sha1(data)] * 300, "projects": ["web"]}
            status, too_many = await call(session, "POST", f"{url}{ORG}/artifactbundle/assemble/", orjson.dumps(many))
    finally:
        await running.stop()
        await recorder.close()
    assert (5000, 2048) == (options["maxFileSize"], options["chunkSize"])
    assert {"state": "error", "missingChunks": [], "detail": "File exceeds maximum size"} == too_big[sha1(data * 3)]
    assert 400 == status and "more than a file of the maximum size has" in too_many["error"]
    assert "upload" not in [r["endpoint"] for r in records_of(recorder)]


async def test_gzip_chunks_are_unpacked_no_further_than_the_chunk_size(tmp_path: Path) -> None:
    running, recorder, url = await start_api(tmp_path, max_body=1 << 20)
    try:
        async with aiohttp.ClientSession() as session:
            _, options = await call(session, "GET", f"{url}{ORG}/chunk-upload/")
            big = bytes(options["chunkSize"] + 1)
            packed = await upload_chunks(session, url, [("file_gzip", sha1(big), gzip.compress(big))] * 3)
            plain = await upload_chunks(session, url, [("file", sha1(big), big)])
            parts = [(str(n).encode() * options["chunkSize"]) for n in range(3)]
            summed = await upload_chunks(session, url, [("file_gzip", sha1(p), gzip.compress(p)) for p in parts])
    finally:
        await running.stop()
        await recorder.close()
    assert [(400, {"error": "Chunk size too large"})] * 2 == [packed, plain]
    assert (400, {"error": "Request too large"}) == summed
    assert not (recorder.directory / "chunks").exists()


async def test_an_upload_refused_by_the_snapshot_is_assembled_again_once_it_recovers(tmp_path: Path) -> None:
    running, recorder, url = await start_api(tmp_path)
    data = os.urandom(300)
    request = {sha1(data): {"name": "app", "chunks": [sha1(data)]}}
    difs = f"{url}/api/0/projects/acme/web/files/difs/assemble/"
    try:
        async with aiohttp.ClientSession() as session:
            await upload_chunks(session, url, [("file", sha1(data), data)])
            full = os.open("/dev/full", os.O_WRONLY)
            os.dup2(full, recorder._fd)  # the disk is full: the recorder gives this file up
            os.close(full)
            refused = (await call(session, "POST", difs, orjson.dumps(request)))[0]
            await asyncio.sleep(1.2)  # the recorder tries the disk again (a new file) after a second
            status, answer = await call(session, "POST", difs, orjson.dumps(request))
    finally:
        await running.stop()
        await recorder.close()
    assert 503 == refused and (200, "ok") == (status, answer[sha1(data)]["state"])
    uploads = [r for r in records_of(recorder) if r["endpoint"] == "upload"]
    assert 1 == len(uploads) and data == record.decode_bytes(uploads[0]["body"], uploads[0]["body_base64"])


def send(url: str, method: str = "GET", body: bytes | None = None) -> tuple[int, bytes]:
    """One request from a thread of its own (so a blocked event loop shows in its time)."""
    with urllib.request.urlopen(urllib.request.Request(url, body, AUTH, method=method), timeout=60) as response:
        return response.status, response.read()


async def test_a_big_assemble_call_does_not_hold_up_other_requests(tmp_path: Path) -> None:
    running, recorder, url = await start_api(tmp_path, max_body=128 << 20, max_upload=256 << 20)
    names = iter(hashlib.sha1(n.to_bytes(4, "big")).hexdigest() for n in itertools.count())
    request = {next(names): {"name": "f", "chunks": [next(names) for _ in range(30)]} for _ in range(10_000)}
    difs = f"{url}/api/0/projects/acme/web/files/difs/assemble/"
    loop, waits = asyncio.get_running_loop(), []
    try:
        big = asyncio.ensure_future(asyncio.to_thread(send, difs, "POST", orjson.dumps(request)))  # 300,000 names
        while not big.done():
            began = loop.time()
            assert 200 == (await asyncio.to_thread(send, f"{url}{ORG}/releases/"))[0]
            waits.append(loop.time() - began)
            await asyncio.sleep(0.02)
        status, answer = await big
    finally:
        await running.stop()
        await recorder.close()
    assert 200 == status and {"not_found"} == {a["state"] for a in orjson.loads(answer).values()}
    assert len(waits) > 3 and max(waits) < 1.0, waits


async def test_identical_assemble_calls_at_once_make_one_upload_record(tmp_path: Path) -> None:
    running, recorder, url = await start_api(tmp_path)
    files = [os.urandom(2000), os.urandom(2000)]
    difs = f"{url}/api/0/projects/acme/web/files/difs/assemble/"
    try:
        async with aiohttp.ClientSession() as session:
            await upload_chunks(session, url, [("file", sha1(d), d) for d in files])
            calls = [orjson.dumps({sha1(d): {"name": "app", "chunks": [sha1(d)]}}) for d in files for _ in range(4)]
            answers = await asyncio.gather(*(call(session, "POST", difs, c) for c in calls))
    finally:
        await running.stop()
        await recorder.close()
    uploads = [r for r in records_of(recorder) if r["endpoint"] == "upload"]
    assert sorted(sha1(d) for d in files) == sorted(u["upload"]["checksum"] for u in uploads)
    ids = {a[sha1(d)]["dif"]["id"] for (_, a), d in zip(answers, [f for f in files for _ in range(4)], strict=True)}
    assert 2 == len(ids)  # one id a file, each file its own


async def test_a_chunk_spoiled_on_disk_is_asked_for_again(mirror: Any) -> None:
    data = os.urandom(500)
    request = {sha1(data): {"name": "app", "chunks": [sha1(data)]}}
    difs = f"{mirror.url}/api/0/projects/acme/web/files/difs/assemble/"
    async with aiohttp.ClientSession() as session:
        await upload_chunks(session, mirror.url, [("file", sha1(data), data)])
        (mirror.directory / "chunks" / sha1(data)[:2] / sha1(data)).write_bytes(b"spoiled")
        _, again = await call(session, "POST", difs, orjson.dumps(request))
        await upload_chunks(session, mirror.url, [("file", sha1(data), data)])
        _, then = await call(session, "POST", difs, orjson.dumps(request))
    assert ("not_found", [sha1(data)]) == (again[sha1(data)]["state"], again[sha1(data)]["missingChunks"])
    assert "ok" == then[sha1(data)]["state"]


async def test_the_index_answers_what_sentry_cli_info_reads(mirror: Any) -> None:
    async with aiohttp.ClientSession() as session:
        status, index = await call(session, "GET", f"{mirror.url}/api/0/")
        async with session.get(f"{mirror.url}/api/0/") as response:  # no token: Sentry answers it too
            anonymous = (response.status, await response.json())
    assert 200 == status and {"scopes": ["org:ci"]} == index["auth"] and index["user"] is None
    assert (200, {"version": "0", "auth": None, "user": None}) == anonymous
    assert ["api_index"] * 2 == [r.data["endpoint"] for r in mirror.records()]


async def test_a_chunk_that_cannot_be_read_leaves_no_file_of_the_call_assembled(mirror: Any) -> None:
    first, second = os.urandom(400), os.urandom(400)
    request = {sha1(d): {"name": f"app{n}", "chunks": [sha1(d)]} for n, d in enumerate((first, second))}
    difs = f"{mirror.url}/api/0/projects/acme/web/files/difs/assemble/"
    unreadable = mirror.directory / "chunks" / sha1(second)[:2] / sha1(second)
    async with aiohttp.ClientSession() as session:
        await upload_chunks(session, mirror.url, [("file", sha1(d), d) for d in (first, second)])
        unreadable.unlink()
        unreadable.mkdir()  # there, but not a file that can be read
        refused = (await call(session, "POST", difs, orjson.dumps(request)))[0]
        unreadable.rmdir()
        await upload_chunks(session, mirror.url, [("file", sha1(second), second)])
        status, answer = await call(session, "POST", difs, orjson.dumps(request))
    assert 503 == refused and (200, {"ok"}) == (status, {a["state"] for a in answer.values()})
    assert (
        503 == next(r.data for r in mirror.records() if r.data["endpoint"] == "api_dif_assemble")["response"]["status"]
    )
    uploads = [r.data for r in mirror.records() if r.data["endpoint"] == "upload"]
    assert sorted([sha1(first), sha1(second)]) == sorted(u["upload"]["checksum"] for u in uploads)


def test_a_chunk_another_assemble_removes_meanwhile_is_asked_for_not_a_503(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two assembles of one file share its chunks: when the other one removes a spoiled chunk
    while this one hashes, this one asks for the chunk again (not_found), as a client retries."""
    import hashlib

    import orjson

    from sentry_mirror.core.webapi import assemble
    from sentry_mirror.io import webapi
    from sentry_mirror.io.chunks import ChunkStore

    api = webapi.WebApi(tmp_path)
    data = [b"first chunk", b"second chunk"]
    names = [hashlib.sha1(d).hexdigest() for d in data]
    for name, chunk in zip(names, data, strict=True):
        api.store.put(name, chunk)
    body = orjson.dumps({"checksum": hashlib.sha1(b"".join(data)).hexdigest(), "chunks": names, "projects": ["web"]})
    real = ChunkStore.sha1

    def removed_meanwhile(store: ChunkStore, chunks: Any) -> str:
        store.path(names[1]).unlink()  # the other request's drop_bad
        return real(store, chunks)

    monkeypatch.setattr(ChunkStore, "sha1", removed_meanwhile)
    answer, size = webapi._check(api, assemble.parse_artifact(body, 10), 1 << 20)
    assert (None, "not_found", [names[1]]) == (size, answer["state"], answer["missingChunks"])
