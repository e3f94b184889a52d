"""The web API edge: answers the routes sentry-cli calls (core/webapi/), keeps what a
listener must remember between calls (chunk store, releases, assembled files), and puts
every record on disk before answering: for an assemble that put a file together, the upload
record first, then the request's own record. Storage failures (chunk store or snapshot)
answer 503 with ``Retry-After`` as the rest of the listener does. Web API requests are
always answered here, never sent on in forward mode.

An assembled file is held whole (its record keeps it in base64): it is never bigger than
``listen --max-upload`` (checked from the chunk files' sizes before any is read), hashed a
piece at a time, and put together in a worker thread within the listener's decode budget,
one file at a time. A file is remembered as assembled only once its upload record is on
disk; while one request puts a file together, another asking for the same file waits for
it (then answers from what it left)."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import logging
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from aiohttp import web

from sentry_mirror.core import encoding, ingest, record
from sentry_mirror.core.summary import Facts
from sentry_mirror.core.webapi import assemble, auth, chunks, releases, routes, uploads
from sentry_mirror.errors import BodyTooLarge, DecodeError, MirrorError, SnapshotError, UnsupportedEncoding
from sentry_mirror.io import decoding
from sentry_mirror.io.chunks import DIRECTORY, ChunkStore
from sentry_mirror.io.recorder import Recorder

log = logging.getLogger(__name__)

#: Puts a record on disk and answers: the server's own ``_store(incoming, response, entry, close=)``.
Store = Callable[..., Awaitable[web.Response]]


#: Bytes held at once to put together and record a file of N bytes: the file, its base64 text, its JSON line.
UPLOAD_COST = 4
#: Bodies bigger than this are parsed and recorded in a worker thread.
INLINE_BODY = 64 * 1024
_Key = tuple[Any, ...]


class WebApi:
    """What one listener remembers of the web API calls it answered."""

    def __init__(
        self, directory: Path, repos: tuple[str, ...] = (), max_upload: int = chunks.DEFAULT_MAX_UPLOAD
    ) -> None:
        self.store = ChunkStore(Path(directory) / DIRECTORY)
        self.releases: dict[tuple[str, str], dict[str, Any]] = {}
        self.assembled: dict[_Key, dict[str, Any]] = {}
        self.assembling: dict[_Key, asyncio.Future[None]] = {}  # files being put together now
        self.dif_ids = itertools.count(1)
        self.repos = list(repos)
        self.max_upload = max_upload
        self.lock = asyncio.Lock()  # the release state is changed by one request at a time
        self.dropped_said = False  # the log said once that old releases are let go

    def repositories(self) -> list[str]:
        """The configured repositories and those named by commits set so far."""
        names = dict.fromkeys(self.repos)
        for release in self.releases.values():
            for named in (*release.get("refs", ()), *release.get("commits", ())):
                if isinstance(named.get("repository"), str):
                    names.setdefault(named["repository"])
        return list(names)


@dataclass(frozen=True)
class Pending:
    """A file found whole and right whose upload record is still to be written."""

    assembly: assemble.Assembly
    key: _Key
    reply: dict[str, Any]
    size: int


@dataclass
class Handled:
    """What a web API handler decided: the answer, and what the record gets besides."""

    answer: routes.ApiAnswer
    items: list[dict[str, Any]] = field(default_factory=list)
    omitted: str | None = None  # the body is not kept (its chunks are in the store)
    body_size: int | None = None
    files: list[Pending] = field(default_factory=list)
    claimed: dict[_Key, asyncio.Future[None]] = field(default_factory=dict)  # released once answered
    note: str | None = None  # said after the record's title
    release: str | None = None  # a release named in the body (a new release)
    body: bytes = b""  # the body decoded (else as received)
    encoding: str | None = None
    decoded: bool = False


def _now() -> str:
    return record.format_time(datetime.now(UTC))


def _response(answer: routes.ApiAnswer) -> ingest.Response:
    headers = (("Content-Type", "application/json"), *answer.headers) if answer.body is not None else answer.headers
    body = orjson.dumps(answer.body) if answer.body is not None else b""
    return ingest.Response(answer.status, tuple(headers), body)


def _detail(answer: routes.ApiAnswer) -> str | None:
    if answer.status < 400:
        return None
    body = answer.body if isinstance(answer.body, dict) else {}
    return str(body.get("detail") or body.get("error") or body)


def _unavailable(what: str, exc: Exception) -> routes.ApiAnswer:
    log.warning("%s: %s", what, exc)
    detail = f"the mirror could not {what}: {exc}"
    return routes.ApiAnswer(503, {"detail": detail}, (("Retry-After", str(ingest.answers.RETRY_AFTER)),))


async def answer(
    api: WebApi,
    recorder: Recorder,
    incoming: ingest.Request,
    *,
    max_body: int,
    wire_size: int,
    truncated: bool,
    remote: str | None,
    store: Store,
    budget: decoding.DecodeBudget,
    announce: Callable[[dict[str, Any]], None] = lambda entry: None,
) -> web.Response:
    """Answer one web API request (its headers already redacted) and record it: the upload
    records of files it put together first, then its own; the answer once both are on disk."""
    name, params, methods = routes.route(incoming.path)
    bounds = chunks.limits(max_body, api.max_upload)
    if truncated:
        handled = Handled(routes.ApiAnswer(413, {"detail": f"request body over {max_body} bytes"}), body=incoming.body)
    else:
        handled = await _decoded(api, incoming, name, params, methods, bounds, max_body)
    try:
        received_at = datetime.now(UTC)
        build = functools.partial(_entry, incoming, handled, name, params, received_at, remote, wire_size, truncated)
        # a big body (and so a big answer: an assemble answer lists names from its body) in a worker
        response, entry = await asyncio.to_thread(build) if len(incoming.body) > INLINE_BODY else build()
        try:
            await _write_uploads(api, recorder, handled, entry, params, received_at, budget, announce)
        except SnapshotError as exc:
            return await _refused(incoming, handled, entry, build, store, _unavailable("store this upload", exc))
        except (OSError, MirrorError) as exc:  # a chunk could not be read
            return await _refused(incoming, handled, entry, build, store, _unavailable("read the chunks", exc))
        return await store(incoming, response, entry, close=False)
    finally:
        _release(api, handled.claimed)


async def _refused(
    incoming: ingest.Request, handled: Handled, entry: dict[str, Any], build: Callable[[], Any], store: Store,
    answer: routes.ApiAnswer,
) -> web.Response:  # fmt: skip
    """The 503 for a request whose files could not all be recorded: its record says the 503
    sent, under the id the upload records written before it name."""
    handled.answer, made = answer, entry["id"]
    response, entry = build()
    entry["id"] = made
    return await store(incoming, response, entry, close=True)


def _entry(
    incoming: ingest.Request, handled: Handled, name: str, params: Any, received_at: datetime,
    remote: str | None, wire_size: int, truncated: bool,
) -> tuple[ingest.Response, dict[str, Any]]:  # fmt: skip
    """The answer to send and the request's own record."""
    response = _response(handled.answer)
    release = params.get("version") or handled.release
    outcome = ingest.Outcome(
        response,
        name,
        b"" if handled.omitted else handled.body,
        handled.decoded,
        encoding=handled.encoding,
        items=tuple(handled.items),
        facts=Facts(title=routes.title(name, incoming.method, release, handled.note), release=release),
        error=_detail(handled.answer),
    )
    entry = record.build(
        incoming, outcome, received_at=received_at, remote_addr=remote, wire_size=wire_size, truncated=truncated
    )
    entry["auth"] = auth.credentials(incoming.headers)
    entry["api"] = {"org": params.get("org"), "project": params.get("project"), "release": release}
    if handled.omitted:
        entry["body_omitted"] = handled.omitted
        entry["body_size"] = handled.body_size
    return response, entry


async def _write_uploads(
    api: WebApi, recorder: Recorder, handled: Handled, entry: dict[str, Any], params: Any,
    received_at: datetime, budget: decoding.DecodeBudget, announce: Callable[[dict[str, Any]], None],
) -> None:  # fmt: skip
    """The upload record of each file put together, one at a time within the budget; a file
    is remembered as assembled once its record is on disk."""
    if not handled.files:
        return
    sent = orjson.dumps(handled.answer.body)  # the upload records hold the whole answer the request got
    for pending in handled.files:
        async with budget.hold(UPLOAD_COST * pending.size):
            upload = await asyncio.to_thread(_upload_record, api, pending, entry, params, sent, received_at)
            await recorder.write(upload)
            api.assembled[pending.key] = pending.reply
            announce(upload)  # the live line
            del upload  # the file's record is let go within its share of the budget


def _upload_record(
    api: WebApi, pending: Pending, entry: dict[str, Any], params: Any, sent: bytes, received_at: datetime
) -> dict[str, Any]:
    """The upload record of ``pending``, its file put together (in a worker thread)."""
    data = api.store.assemble(pending.assembly.chunks)
    if hashlib.sha1(data).hexdigest() != pending.assembly.checksum:
        raise MirrorError("the chunks changed while the file was put together")
    return uploads.build(
        data, pending.assembly, request=entry, org=params.get("org"), project=params.get("project"),
        answer=sent, received_at=received_at,
    )  # fmt: skip


async def _decoded(
    api: WebApi, incoming: ingest.Request, name: str, params: Any, methods: frozenset[str], bounds: chunks.Limits,
    max_body: int,
) -> Handled:  # fmt: skip
    """The body with its Content-Encoding undone (in a worker), then :func:`_checked`."""
    try:
        encoded = encoding.normalize_encoding(incoming.header("content-encoding"))
        if encoded is None:
            body = incoming.body
        else:
            body = await asyncio.to_thread(encoding.decode, encoded, incoming.body, max_size=max_body)
    except (UnsupportedEncoding, BodyTooLarge, DecodeError) as exc:
        return Handled(routes.ApiAnswer(400, {"detail": f"failed to read request body: {exc}"}), body=incoming.body)
    handled = await _checked(api, incoming, body, name, params, methods, bounds)
    handled.body, handled.encoding, handled.decoded = body, encoded, True
    return handled


async def _checked(
    api: WebApi, incoming: ingest.Request, body: bytes, name: str, params: Any, methods: frozenset[str],
    bounds: chunks.Limits,
) -> Handled:  # fmt: skip
    """The answer after the checks every route shares: known path, method, credentials."""
    if name == "api_unknown":
        return Handled(routes.ApiAnswer(404, {"detail": f"sentry-mirror does not answer {incoming.path[:200]}"}))
    if incoming.method not in methods:
        allow = (("Allow", ", ".join(sorted(methods))),)
        return Handled(routes.ApiAnswer(405, {"detail": f'Method "{incoming.method[:32]}" not allowed.'}, allow))
    if name == "api_index":  # Sentry answers it to anyone: what it knows of the token, if any
        return Handled(routes.ApiAnswer(200, auth.index(incoming.headers)))
    if auth.credentials(incoming.headers) is None:
        return Handled(routes.ApiAnswer(401, {"detail": auth.NOT_AUTHENTICATED}))
    try:
        return await _dispatch(api, incoming, body, name, params, bounds)
    except (OSError, MirrorError) as exc:  # the chunk store could not be written or read
        return Handled(_unavailable("store or read the chunks", exc))


async def _dispatch(
    api: WebApi, incoming: ingest.Request, body: bytes, name: str, params: Any, bounds: chunks.Limits
) -> Handled:
    method, org = incoming.method, params["org"]
    if name == "api_chunk_upload":
        if method == "GET":
            return Handled(routes.ApiAnswer(200, chunks.options(org, bounds)))
        return await _upload_chunks(api, incoming, body, bounds)
    if name in ("api_artifact_assemble", "api_dif_assemble"):
        return await _assemble(api, body, org, params.get("project"), bounds, artifact=name == "api_artifact_assemble")
    async with api.lock:
        if len(body) > INLINE_BODY:
            reply = await asyncio.to_thread(_release_route, api, name, method, params, body)
        else:
            reply = _release_route(api, name, method, params, body)
    made = reply.body.get("version") if name == "api_releases" and isinstance(reply.body, dict) else None
    return Handled(reply, release=made if isinstance(made, str) else None)


async def _upload_chunks(api: WebApi, incoming: ingest.Request, body: bytes, bounds: chunks.Limits) -> Handled:
    try:
        found = await asyncio.to_thread(chunks.parse, incoming.header("content-type") or "", body, bounds)
    except chunks.ChunkError as exc:
        return Handled(routes.ApiAnswer(exc.status, {"error": exc.detail}))
    items = [chunks.item(c, await asyncio.to_thread(api.store.put, c.checksum, c.data)) for c in found]
    fresh = sum(1 for item in items if item["headers"]["new"])
    note = f"{len(items)} chunk{'s' if len(items) != 1 else ''}, {fresh} new"
    return Handled(routes.ApiAnswer(200), items, "chunks", sum(len(c.data) for c in found), note=note)


def _check(api: WebApi, assembly: assemble.Assembly, max_size: int) -> tuple[dict[str, Any], int | None]:
    """(one file's answer, its size when it can be put together): chunks missing, too big
    (from the chunk files' sizes, before any is read), or not hashing to its checksum (then
    chunks spoiled on disk are removed and asked for again). In a worker thread."""
    sizes = api.store.sizes(assembly.chunks)
    missing = assemble.missing(assembly, sizes)
    if missing:
        return assemble.answer("not_found", missing), None
    size = assemble.size(assembly, sizes)
    if size > max_size:
        return assemble.answer("error", (), assemble.TOO_LARGE), None
    try:
        if api.store.sha1(assembly.chunks) == assembly.checksum:
            return assemble.answer("ok"), size
        spoiled = api.store.drop_bad(assembly.chunks)
        if not spoiled and api.store.sha1(assembly.chunks) == assembly.checksum:
            return assemble.answer("ok"), size  # another request had a spoiled chunk sent again meanwhile
    except FileNotFoundError:  # another request removed a spoiled chunk meanwhile: ask for it
        spoiled = assemble.missing(assembly, api.store.sizes(assembly.chunks)) or list(dict.fromkeys(assembly.chunks))
    if spoiled:
        return assemble.answer("not_found", spoiled), None
    return assemble.answer("error", (), assemble.CHECKSUM_MISMATCH), None


def _parse(body: bytes, artifact: bool, max_chunks: int) -> list[assemble.Assembly]:
    return [assemble.parse_artifact(body, max_chunks)] if artifact else assemble.parse_difs(body, max_chunks)


async def _claim(api: WebApi, keys: list[_Key]) -> dict[_Key, asyncio.Future[None]]:
    """Mark ``keys`` as being put together by this request, once no other request is at
    any of them (waiting holds no claim, so two requests never wait for each other)."""
    while busy := [api.assembling[k] for k in keys if k in api.assembling]:
        await asyncio.wait(busy)
    loop = asyncio.get_running_loop()
    claimed = {k: loop.create_future() for k in dict.fromkeys(keys) if k not in api.assembled}
    api.assembling.update(claimed)
    return claimed


def _release(api: WebApi, claimed: dict[_Key, asyncio.Future[None]]) -> None:
    for key, future in claimed.items():
        if api.assembling.get(key) is future:
            del api.assembling[key]
        if not future.done():
            future.set_result(None)


async def _assemble(
    api: WebApi, body: bytes, org: str, project: str | None, bounds: chunks.Limits, *, artifact: bool
) -> Handled:
    try:
        wanted = await asyncio.to_thread(_parse, body, artifact, bounds.max_chunks)
    except assemble.AssembleError as exc:
        return Handled(routes.ApiAnswer(400, {"error": exc.detail}))
    keys = {a.checksum: a.key(org, project) for a in wanted}
    claimed = await _claim(api, list(keys.values()))
    try:
        fresh = [a for a in wanted if keys[a.checksum] not in api.assembled]
        checked = await asyncio.to_thread(lambda: {a.checksum: _check(api, a, bounds.max_file_size) for a in fresh})
    except BaseException:
        _release(api, claimed)
        raise
    replies, files = {}, []
    for a in wanted:
        if a.checksum not in checked:
            replies[a.checksum] = api.assembled[keys[a.checksum]]
            continue
        reply, size = checked[a.checksum]
        if size is not None and a.kind == "debug_file":
            reply = assemble.dif_answer(a, size, next(api.dif_ids), _now())
        if size is not None:
            files.append(Pending(a, keys[a.checksum], reply, size))
        replies[a.checksum] = reply
    states = Counter(r["state"] for r in replies.values())
    note = ", ".join(f"{n} {s}" if n > 1 else s for s, n in states.items())
    reply_body = replies[wanted[0].checksum] if artifact else replies
    handled = Handled(routes.ApiAnswer(200, reply_body), files=files, claimed=claimed, note=note)
    handled.release = wanted[0].version if artifact else None
    return handled


def _release_route(api: WebApi, name: str, method: str, params: Any, body: bytes) -> routes.ApiAnswer:
    org, version, known = params["org"], params.get("version"), api.releases
    if name == "api_repos":
        return routes.ApiAnswer(200, releases.repositories(api.repositories(), _now()))
    if name == "api_releases":
        if method == "GET":
            listed = [releases.public(r) for (o, _), r in reversed(known.items()) if o == org]
            return routes.ApiAnswer(200, listed[: releases.PAGE])
        reply, change = releases.create(org, params.get("project"), body, known, _now())
    elif version is None or (org, version) not in known:
        return releases.not_found()
    elif name == "api_release":
        if method == "GET":
            return routes.ApiAnswer(200, releases.public(known[org, version]))
        if method == "DELETE":
            del known[org, version]
            return routes.ApiAnswer(204)
        reply, change = releases.update(org, version, body, known)
    elif name == "api_release_commits":
        return routes.ApiAnswer(200, list(known[org, version].get("commits", []))[: releases.PAGE])
    elif name == "api_previous_with_commits":
        return releases.previous_with_commits(org, version, known)
    elif method == "GET":  # api_deploys
        return routes.ApiAnswer(200, list(known[org, version].get("deploys", []))[::-1][: releases.PAGE])
    else:
        reply, change = releases.deploy(org, version, body, known, _now())
    if change is not None and change.release is not None:
        known[change.org, change.version] = change.release
        if releases.trim(known) and not api.dropped_said:
            api.dropped_said = True
            log.warning("more than %d releases: the oldest are let go (said once)", releases.MAX_RELEASES)
    return reply
