"""``replay --uploads``'s exchange (sentry_mirror.io.reupload) against a small chunk-upload
server on 127.0.0.1 (aiohttp) that answers as Sentry's endpoints do, with the edge cases
turned on one at a time: chunks missing, gzip, a state ``error``, failing requests tried
again (a bounded number of times), a candidate that never says ``ok``. The real Bugsink is
in tests/ui/test_replay_uploads.py."""

from __future__ import annotations

import gzip
import hashlib
import os
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
from aiohttp import web

from sentry_mirror.core.replay.uploads import ACCEPTED, ALREADY_THERE, FAILED, UPLOADED
from sentry_mirror.io.reupload import Uploader
from sentry_mirror.io.stored_api import ApiClient
from tests.factories import make_artifact_bundle, make_upload

TOKEN = "c0ffee" * 7


@dataclass
class ChunkServer:
    """Sentry's chunk-upload and assemble endpoints, in memory."""

    options: dict[str, Any] = field(default_factory=dict)
    chunks: dict[str, bytes] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)
    assemble_states: list[str] = field(default_factory=list)  # answered in turn once the chunks are there
    fail_first: int = 0  # requests answered 503 first
    parts: list[tuple[str, str]] = field(default_factory=list)  # (field name, file name) of every chunk part
    assemble_calls: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.paths.append(f"{request.method} {request.path}")
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"detail": f"Invalid token {request.headers.get('Authorization')}"}, status=401)
        if self.fail_first:
            self.fail_first -= 1
            return web.json_response({"detail": "try later"}, status=503)
        if request.path.endswith("/chunk-upload/") and request.method == "GET":
            return web.json_response(
                {
                    "url": f"{self.url}{request.path}",
                    "chunkSize": 8,
                    "chunksPerRequest": 2,
                    "maxRequestSize": 64,
                    "concurrency": 2,
                    "hashAlgorithm": "sha1",
                    "compression": [],
                    "accept": ["artifact_bundles", "debug_files"],
                    **self.options,
                }
            )
        if request.path.endswith("/chunk-upload/"):
            return await self._chunks(request)
        return self._assemble(request.path, await request.json())

    async def _chunks(self, request: web.Request) -> web.StreamResponse:
        form = await request.post()
        for name, part in form.items():
            assert isinstance(part, web.FileField)
            data = part.file.read()
            data = gzip.decompress(data) if name == "file_gzip" else data
            self.parts.append((name, part.filename))
            if hashlib.sha1(data).hexdigest() != part.filename:
                return web.json_response({"error": "checksum mismatch"}, status=400)
            self.chunks[part.filename] = data
        return web.Response()

    def _assemble(self, path: str, call: dict[str, Any]) -> web.StreamResponse:
        self.assemble_calls.append(call)
        if path.endswith("/artifactbundle/assemble/"):
            return web.json_response(self._state(call["checksum"], call["chunks"]))
        return web.json_response({checksum: self._state(checksum, c["chunks"]) for checksum, c in call.items()})

    def _state(self, checksum: str, chunks: list[str]) -> dict[str, Any]:
        if checksum in self.files:
            return {"state": "ok", "missingChunks": []}
        missing = [c for c in chunks if c not in self.chunks]
        if missing:
            return {"state": "not_found", "missingChunks": missing}
        state = self.assemble_states.pop(0) if self.assemble_states else "ok"
        if state == "ok":
            self.files[checksum] = b"".join(self.chunks[c] for c in chunks)
        return {"state": state, "missingChunks": [], "detail": "bad bundle" if state == "error" else None}


@asynccontextmanager
async def serving(server: ChunkServer) -> AsyncIterator[ApiClient]:
    runner = web.AppRunner(web.Application(middlewares=[]), handle_signals=False)
    runner.app.router.add_route("*", "/{tail:.*}", server.handle)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    server.port = runner.addresses[0][1]
    api = ApiClient(server.url, TOKEN)
    try:
        yield api
    finally:
        api.close()
        await runner.cleanup()


def uploader(api: ApiClient, **options: Any) -> Uploader:
    return Uploader(api, poll_interval=0.01, retry_pauses=(0.01, 0.01), **options)


BODY = make_artifact_bundle({"~/app.min.js": ("minified_source", b"x" * 100, {"debug-id": "d" * 32})}, org="acme")
#: BODY's 8-byte chunks that differ (one repeats: a chunk that repeats is sent once)
DISTINCT = {hashlib.sha1(BODY[i : i + 8]).hexdigest() for i in range(0, len(BODY), 8)}


async def test_missing_chunks_are_sent_then_the_bundle_is_assembled() -> None:
    server = ChunkServer()
    async with serving(server) as api:
        result = await uploader(api).upload(make_upload(BODY, release="1.0", projects=["web"]))
    assert (UPLOADED, None) == (result.outcome, result.detail), result
    assert BODY == server.files[hashlib.sha1(BODY).hexdigest()]
    assert -(-len(BODY) // 8) == result.chunks > len(DISTINCT)
    assert len(DISTINCT) == len(server.chunks) == result.chunks_sent
    first = server.assemble_calls[0]
    assert {"checksum", "chunks", "projects", "version"} == set(first) and ["web"] == first["projects"]
    assert "GET /api/0/organizations/acme/chunk-upload/" == server.paths[0]
    assert "POST /api/0/organizations/acme/artifactbundle/assemble/" == server.paths[1]  # the assemble call first
    assert {"file"} == {name for name, _ in server.parts}


async def test_only_the_chunks_the_candidate_lacks_are_sent_and_a_known_file_is_not_sent() -> None:
    server = ChunkServer()
    async with serving(server) as api:
        server.chunks[hashlib.sha1(BODY[:8]).hexdigest()] = BODY[:8]
        result = await uploader(api).upload(make_upload(BODY))
        assert UPLOADED == result.outcome and len(DISTINCT) - 1 == result.chunks_sent
        again = await uploader(api).upload(make_upload(BODY))
    assert (ALREADY_THERE, 0) == (again.outcome, again.chunks_sent)


async def test_gzip_when_the_candidate_lists_it() -> None:
    server = ChunkServer(options={"compression": ["gzip"]})
    async with serving(server) as api:
        result = await uploader(api).upload(make_upload(BODY))
    assert UPLOADED == result.outcome
    assert {"file_gzip"} == {name for name, _ in server.parts}


async def test_a_state_error_fails_with_the_candidates_detail() -> None:
    server = ChunkServer(assemble_states=["error"])
    async with serving(server) as api:
        result = await uploader(api).upload(make_upload(BODY))
    assert (FAILED, "bad bundle", "error") == (result.outcome, result.detail, result.state)


async def test_a_candidate_that_never_says_ok_is_left_after_the_wait() -> None:
    server = ChunkServer(assemble_states=["assembling"] * 1000)
    async with serving(server) as api:
        result = await uploader(api, wait=0.1).upload(make_upload(BODY))
    assert ACCEPTED == result.outcome and re.fullmatch(
        r"still assembling after 0\.\d s \(--upload-wait 0\.1\)", result.detail or ""
    )
    assert 3 <= len(server.assemble_calls) < 30


async def test_created_then_not_found_is_accepted_as_bugsink_answers() -> None:
    server = ChunkServer(assemble_states=["created"])
    async with serving(server) as api:
        up = uploader(api)
        original = server._state

        def dropped(checksum: str, chunks: list[str]) -> dict[str, Any]:
            answer = original(checksum, chunks)
            if answer["state"] == "created":
                server.chunks.clear()  # assembled, chunks deleted
            return answer

        server._state = dropped  # type: ignore[method-assign]
        result = await up.upload(make_upload(BODY))
    assert (ACCEPTED, "answered created, then not_found when asked again") == (result.outcome, result.detail)


async def test_failing_requests_are_tried_again_a_bounded_number_of_times() -> None:
    server = ChunkServer(fail_first=2)
    async with serving(server) as api:
        result = await uploader(api).upload(make_upload(BODY))
    assert UPLOADED == result.outcome  # two 503s, then the third try
    server = ChunkServer(fail_first=100)
    async with serving(server) as api:
        result = await uploader(api).upload(make_upload(BODY))
    assert (FAILED, "chunk-upload options: answered 503: try later") == (result.outcome, result.detail)
    assert 3 == len(server.paths) == result.requests  # one try and two more


async def test_a_refused_token_is_never_shown() -> None:
    server = ChunkServer()
    async with serving(server) as api:
        api._token = "wrong-" + TOKEN
        result = await uploader(api).upload(make_upload(BODY))
    assert FAILED == result.outcome and "401" in (result.detail or "")
    assert TOKEN not in orjson.dumps(result.to_dict()).decode()


async def test_a_debug_file_goes_to_its_project_and_org_and_project_are_mapped() -> None:
    server = ChunkServer()
    native = b"\x7fELF" + bytes(range(60))
    async with serving(server) as api:
        result = await uploader(api, org="other", project="mapped").upload(
            make_upload(native, kind="debug_file", name="libapp.so", debug_id="0" * 32)
        )
    assert UPLOADED == result.outcome, result
    assert "POST /api/0/projects/other/mapped/files/difs/assemble/" == server.paths[1]
    checksum = hashlib.sha1(native).hexdigest()
    assert {"name": "libapp.so", "debug_id": "0" * 32} == {
        k: v for k, v in server.assemble_calls[0][checksum].items() if k != "chunks"
    }
    assert native == server.files[checksum]


async def test_what_the_candidate_does_not_accept_is_not_sent() -> None:
    server = ChunkServer(options={"accept": ["debug_files"]})
    async with serving(server) as api:
        result = await uploader(api).upload(make_upload(BODY))
    assert FAILED == result.outcome and "does not accept artifact_bundles" in (result.detail or "")
    assert ["GET /api/0/organizations/acme/chunk-upload/"] == server.paths


async def test_a_damaged_record_is_not_sent() -> None:
    server = ChunkServer()
    async with serving(server) as api:
        record = make_upload(BODY)
        record["upload"]["checksum"] = "0" * 40
        result = await uploader(api).upload(record)
    assert FAILED == result.outcome and "damaged" in (result.detail or "") and [] == server.paths


async def test_a_relative_chunk_url_is_under_the_api_as_sentry_cli_resolves_it() -> None:
    server = ChunkServer(options={"url": "api/0/organizations/acme/chunk-upload/"})
    async with serving(server) as api:
        result = await uploader(api).upload(make_upload(BODY))
    assert UPLOADED == result.outcome
    assert "POST /api/0/organizations/acme/chunk-upload/" in server.paths


async def test_a_record_whose_file_cannot_be_decoded_is_not_sent() -> None:
    server = ChunkServer()
    async with serving(server) as api:
        record = {**make_upload(BODY), "body": "not base64!", "body_base64": True, "body_size": "x"}
        result = await uploader(api).upload(record)
    assert FAILED == result.outcome and "cannot be decoded" in (result.detail or "") and [] == server.paths


async def test_a_tiny_chunk_size_is_refused_before_anything_is_cut() -> None:
    """A candidate naming ``chunkSize: 1``: a file of more bytes than MAX_CHUNKS is not cut
    into a chunk per byte; the upload fails with the reason, no chunk sent."""
    from sentry_mirror.io.reupload import MAX_CHUNKS

    server = ChunkServer(options={"chunkSize": 1})
    body = make_artifact_bundle({"~/big.js": ("minified_source", os.urandom(MAX_CHUNKS), {})})  # incompressible
    async with serving(server) as api:
        result = await uploader(api).upload(make_upload(body))
    assert FAILED == result.outcome and f"more than {MAX_CHUNKS} chunks" in (result.detail or "")
    assert [] == server.parts


def test_the_token_never_leaves_https_for_a_plain_http_chunk_url() -> None:
    """An https API whose chunk-upload options name an http URL: refused, the token is not sent."""
    api = ApiClient("https://127.0.0.1:9", TOKEN)
    try:
        with pytest.raises(ValueError, match="plain http while the API is https"):
            api._client_for("http://127.0.0.1:9/api/0/organizations/acme/chunk-upload/")
    finally:
        api.close()
