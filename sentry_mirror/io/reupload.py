"""``replay --uploads``: the files sentry-cli uploaded (upload records) sent again to a
candidate through its own chunk protocol, the requests sentry-cli makes.

The decisions are pure (:mod:`sentry_mirror.core.replay.uploads`): the options, the chunks,
the request bodies, what each answer means. :class:`Uploader` makes the calls on the
candidate's API (:class:`sentry_mirror.io.stored_api.ApiClient`: the token from the
environment, in ``Authorization: Bearer``, never shown), one upload after the other, the
chunks of one upload ``concurrency`` requests at a time (the candidate's own figure, at most
:data:`~sentry_mirror.io.stored_api.CONCURRENCY`). A 502, 503, 504, 507 or 524 answer or a
transport error is tried again after each of :data:`RETRY_PAUSES` (sentry-cli retries the
same statuses), then the upload fails; assembling is polled every :data:`POLL_INTERVAL`
seconds until the wait ends.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import orjson

from sentry_mirror.core.record import decode_bytes
from sentry_mirror.core.replay.uploads import (
    ACCEPT,
    ACCEPTED,
    FAILED,
    NOT_FOUND,
    AssembleState,
    Chunked,
    ChunkOptions,
    UploadResult,
    assemble_call,
    assemble_state,
    batches,
    destination,
    first_outcome,
    multipart,
    poll_outcome,
    split,
)
from sentry_mirror.core.text import visible
from sentry_mirror.io.stored_api import CONCURRENCY, ApiClient

#: Statuses sentry-cli tries again (``RETRY_STATUS_CODES`` in its ``src/api/mod.rs``).
RETRY_STATUSES = frozenset({502, 503, 504, 507, 524})
#: The pauses before each new try of a failed request: bounded, then the upload fails.
RETRY_PAUSES = (0.5, 1.0, 2.0)
#: Seconds between two assemble calls while the candidate assembles (sentry-cli's).
POLL_INTERVAL = 1.0
#: The most chunks one file is cut into: a candidate naming a tiny ``chunkSize`` would
#: otherwise cost a SHA-1 and ~45 bytes of assemble call per byte (Sentry's own options
#: give 8 MiB chunks: 256 for its largest file).
MAX_CHUNKS = 100_000
_TRANSPORT_ERRORS = (TimeoutError, OSError, ValueError)


class _Failed(Exception):
    """The upload failed: why, in a sentence."""


class Uploader:
    """Sends upload records to the candidate behind ``api``: to organization ``org`` and
    project ``project`` when given, else where they were uploaded; polls assembling for
    ``wait`` seconds at most (or the candidate's ``maxWait``, when shorter)."""

    def __init__(
        self,
        api: ApiClient,
        org: str | None = None,
        project: str | None = None,
        wait: float = 60.0,
        *,
        poll_interval: float = POLL_INTERVAL,
        retry_pauses: Sequence[float] = RETRY_PAUSES,
    ) -> None:
        self.api, self.org, self.project, self.wait = api, org, project, wait
        self.poll_interval, self.retry_pauses = poll_interval, tuple(retry_pauses)
        self._options: dict[str, ChunkOptions] = {}

    async def upload(self, data: Mapping[str, Any]) -> UploadResult:
        """Send one upload record; what happened to it (a failure says why, never raises)."""
        recorded = data.get("upload")
        upload: Mapping[str, Any] = recorded if isinstance(recorded, dict) else {}
        kind = str(upload.get("kind"))
        result = UploadResult(
            str(data.get("id")),
            kind,
            upload.get("name") or upload.get("release"),
            str(upload.get("checksum") or ""),
            size if isinstance(size := data.get("body_size"), int) else 0,
        )
        try:
            await self._upload(data, upload, result)
        except _Failed as exc:
            result.outcome, result.detail = FAILED, str(exc)
        return result

    async def _upload(self, data: Mapping[str, Any], upload: Mapping[str, Any], result: UploadResult) -> None:
        if data.get("body_truncated") or data.get("body_omitted") or data.get("body_encoded"):
            raise _Failed("the snapshot does not hold its file whole")
        try:
            body = decode_bytes(str(data.get("body") or ""), bool(data.get("body_base64")))
        except ValueError:
            raise _Failed("its file cannot be decoded: the record is damaged") from None
        if upload.get("checksum") and upload["checksum"] != hashlib.sha1(body, usedforsecurity=False).hexdigest():
            raise _Failed("its file's SHA-1 is not the checksum recorded: the record is damaged")
        try:
            where = destination(upload, self.org, self.project)
        except ValueError as exc:
            raise _Failed(str(exc)) from None
        result.org, result.projects, result.size = where.org, where.projects, len(body)
        options = await self._chunk_options(where.org, result)
        accepted = ACCEPT.get(result.kind)
        if accepted and options.accept is not None and accepted not in options.accept:
            listed = ", ".join(sorted(options.accept)) or "nothing"
            raise _Failed(f"the candidate does not accept {accepted} (its chunk-upload options accept {listed})")
        if options.max_file_size and len(body) > options.max_file_size:
            raise _Failed(f"{len(body)} bytes, over the candidate's maxFileSize ({options.max_file_size})")
        if -(-len(body) // options.chunk_size) > MAX_CHUNKS:
            raise _Failed(
                f"chunkSize {options.chunk_size} would cut {len(body)} bytes into more than {MAX_CHUNKS} chunks"
            )
        chunked = split(body, options.chunk_size)
        result.checksum, result.chunks = chunked.checksum, len(chunked.chunks)
        try:
            path, call = assemble_call(upload, chunked, where)
        except ValueError as exc:
            raise _Failed(str(exc)) from None
        answer = await self._assemble(path, call, chunked, result)
        outcome = first_outcome(answer)
        if outcome is not None:
            result.outcome, result.detail = outcome, answer.detail
            return
        if answer.state == NOT_FOUND:
            await self._send_chunks(options, chunked.pieces(body, answer.missing), result)
        wait = min(self.wait, options.max_wait) if options.max_wait else self.wait
        await self._poll(path, call, chunked, answer, wait, result)

    async def _chunk_options(self, org: str, result: UploadResult) -> ChunkOptions:
        """The candidate's chunk-upload options for ``org`` (asked once)."""
        if org not in self._options:
            status, body = await self._call("GET", f"/api/0/organizations/{quote(org, safe='')}/chunk-upload/", result)
            if status != 200:
                raise _Failed(f"chunk-upload options: answered {status}{self._detail(body)}")
            try:
                self._options[org] = ChunkOptions.parse(orjson.loads(body))
            except (orjson.JSONDecodeError, ValueError) as exc:
                raise _Failed(f"chunk-upload options cannot be used: {visible(str(exc))[:200]}") from None
        return self._options[org]

    async def _assemble(self, path: str, call: bytes, chunked: Chunked, result: UploadResult) -> AssembleState:
        status, body = await self._call("POST", path, result, call, "application/json")
        if status != 200:
            raise _Failed(f"assemble: answered {status}{self._detail(body)}")
        try:
            answer = assemble_state(result.kind, chunked.checksum, orjson.loads(body))
        except (orjson.JSONDecodeError, ValueError) as exc:
            raise _Failed(f"assemble: an answer sentry-cli could not read: {visible(str(exc))[:200]}") from None
        result.state = answer.state
        return answer

    async def _send_chunks(self, options: ChunkOptions, chunks: list[tuple[str, bytes]], result: UploadResult) -> None:
        """The chunks the candidate lacks, batched as sentry-cli batches them, to its chunk URL."""
        url = options.url
        if "://" not in url:  # relative: under the API, as sentry-cli resolves it
            url = "/api/0/" + url.lstrip("/").removeprefix("api/0/")
        limit = asyncio.Semaphore(max(1, min(options.concurrency, CONCURRENCY)))

        async def send(batch: list[tuple[str, bytes]]) -> None:
            content_type, body = multipart(batch, options.gzip, secrets.token_hex(16))
            async with limit:
                status, answer = await self._call("POST", url, result, body, content_type)
            if not 200 <= status < 300:
                raise _Failed(f"chunk upload: answered {status}{self._detail(answer)}")
            result.chunks_sent += len(batch)

        tasks = [
            asyncio.ensure_future(send(batch))
            for batch in batches(chunks, options.max_request_size, options.chunks_per_request)
        ]
        try:
            await asyncio.gather(*tasks)
        finally:
            for task in tasks:
                task.cancel()

    async def _poll(
        self, path: str, call: bytes, chunked: Chunked, before: AssembleState, wait: float, result: UploadResult
    ) -> None:
        """Assemble again until the candidate says ``ok`` or ``error``, at most ``wait`` seconds."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + wait
        while True:
            answer = await self._assemble(path, call, chunked, result)
            decided = poll_outcome(before, answer)
            if decided is not None:
                result.outcome, result.detail = decided
                return
            before = answer
            if loop.time() + self.poll_interval > deadline:
                waited = loop.time() - started
                result.outcome, result.detail = (
                    ACCEPTED,
                    f"still {answer.state} after {waited:.1f} s (--upload-wait {wait:g})",
                )
                return
            await asyncio.sleep(self.poll_interval)

    async def _call(
        self, method: str, target: str, result: UploadResult, body: bytes = b"", content_type: str | None = None
    ) -> tuple[int, bytes]:
        """(status, body) of one request, tried again on a transport error or a status in
        :data:`RETRY_STATUSES` after each of the retry pauses."""
        for pause in (*self.retry_pauses, None):
            result.requests += 1
            try:
                status, _, answer = await self.api.request(method, target, body, content_type)
            except _TRANSPORT_ERRORS as exc:
                if pause is None:
                    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
                    raise _Failed(f"{method} {visible(target)[:200]}: {self.api.shown(reason)}") from None
            else:
                if status not in RETRY_STATUSES or pause is None:
                    return status, answer
            await asyncio.sleep(pause)
        raise AssertionError("unreachable")  # pragma: no cover

    def _detail(self, body: bytes) -> str:
        """``: <what the answer says>`` (its JSON ``detail``, ``error`` or ``message``, or its
        first line), the token masked; empty when it says nothing."""
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            value = None
        said = None
        if isinstance(value, dict):
            said = next((v for k in ("detail", "error", "message") if isinstance(v := value.get(k), str)), None)
        if said is None:
            lines = body.decode("utf-8", "replace").strip().splitlines()
            said = lines[0] if lines else ""
        shown = self.api.shown(said)
        return f": {shown}" if shown else ""
