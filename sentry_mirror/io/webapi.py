"""The web API edge: answers the routes sentry-cli calls (core/webapi/), keeps what a
listener must remember between calls (chunk store, releases, assembled files), and puts
every record on disk before answering: for an assemble that put a file together, the upload
record first, then the request's own record. Storage failures (chunk store or snapshot)
answer 503 with ``Retry-After`` as the rest of the listener does. Web API requests are
always answered here, never sent on in forward mode."""

from __future__ import annotations

import asyncio
import hashlib
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
from sentry_mirror.io.chunks import DIRECTORY, ChunkStore
from sentry_mirror.io.recorder import Recorder

log = logging.getLogger(__name__)

#: Puts a record on disk and answers: the server's own ``_store(incoming, response, entry, close=)``.
Store = Callable[..., Awaitable[web.Response]]


class WebApi:
    """What one listener remembers of the web API calls it answered."""

    def __init__(self, directory: Path, repos: tuple[str, ...] = ()) -> None:
        self.store = ChunkStore(Path(directory) / DIRECTORY)
        self.releases: dict[tuple[str, str], dict[str, Any]] = {}
        self.assembled: dict[tuple[Any, ...], dict[str, Any]] = {}
        self.repos = list(repos)

    def repositories(self) -> list[str]:
        """The configured repositories and those named by commits set so far."""
        names = dict.fromkeys(self.repos)
        for release in self.releases.values():
            for named in (*release.get("refs", ()), *release.get("commits", ())):
                if isinstance(named.get("repository"), str):
                    names.setdefault(named["repository"])
        return list(names)


@dataclass
class Handled:
    """What a web API handler decided: the answer, and what the record gets besides."""

    answer: routes.ApiAnswer
    items: list[dict[str, Any]] = field(default_factory=list)
    omitted: str | None = None  # the body is not kept (its chunks are in the store)
    body_size: int | None = None
    files: list[tuple[assemble.Assembly, bytes, dict[str, Any]]] = field(default_factory=list)
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
    announce: Callable[[dict[str, Any]], None] = lambda entry: None,
) -> web.Response:
    """Answer one web API request (its headers already redacted) and record it: the upload
    records of files it put together first, then its own; the answer once both are on disk."""
    name, params, methods = routes.route(incoming.path)
    if truncated:
        handled = Handled(routes.ApiAnswer(413, {"detail": f"request body over {max_body} bytes"}), body=incoming.body)
    else:
        handled = await _decoded(api, incoming, name, params, methods, max_body)
    received_at = datetime.now(UTC)
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
    try:
        for assembly, data, reply in handled.files:
            upload = uploads.build(
                data, assembly, request=entry, org=params.get("org"), project=params.get("project"),
                answer=orjson.dumps(reply), received_at=received_at,
            )  # fmt: skip
            await recorder.write(upload)
            announce(upload)  # the live line
    except SnapshotError as exc:
        unavailable = ingest.unavailable(f"the mirror could not store this upload: {exc}")
        return await store(incoming, unavailable, entry, close=True)
    return await store(incoming, response, entry, close=False)


async def _decoded(
    api: WebApi, incoming: ingest.Request, name: str, params: Any, methods: frozenset[str], max_body: int
) -> Handled:
    """The body with its Content-Encoding undone, then :func:`_checked`."""
    try:
        encoded = encoding.normalize_encoding(incoming.header("content-encoding"))
        body = encoding.decode(encoded, incoming.body, max_size=max_body)
    except (UnsupportedEncoding, BodyTooLarge, DecodeError) as exc:
        return Handled(routes.ApiAnswer(400, {"detail": f"failed to read request body: {exc}"}), body=incoming.body)
    handled = await _checked(api, incoming, body, name, params, methods, max_body)
    handled.body, handled.encoding, handled.decoded = body, encoded, True
    return handled


async def _checked(
    api: WebApi, incoming: ingest.Request, body: bytes, name: str, params: Any, methods: frozenset[str], max_body: int
) -> Handled:
    """The answer after the checks every route shares: known path, method, credentials."""
    if name == "api_unknown":
        return Handled(routes.ApiAnswer(404, {"detail": f"sentry-mirror does not answer {incoming.path[:200]}"}))
    if incoming.method not in methods:
        allow = (("Allow", ", ".join(sorted(methods))),)
        return Handled(routes.ApiAnswer(405, {"detail": f'Method "{incoming.method[:32]}" not allowed.'}, allow))
    if auth.credentials(incoming.headers) is None:
        return Handled(routes.ApiAnswer(401, {"detail": auth.NOT_AUTHENTICATED}))
    try:
        return await _dispatch(api, incoming, body, name, params, max_body)
    except (OSError, MirrorError) as exc:  # the chunk store could not be written or read
        log.warning("the chunk store failed: %s", exc)
        detail = f"the mirror could not store the chunks: {exc}"
        return Handled(routes.ApiAnswer(503, {"detail": detail}, (("Retry-After", str(ingest.answers.RETRY_AFTER)),)))


async def _dispatch(
    api: WebApi, incoming: ingest.Request, body: bytes, name: str, params: Any, max_body: int
) -> Handled:
    org, method = params["org"], incoming.method
    if name == "api_chunk_upload":
        if method == "GET":
            return Handled(routes.ApiAnswer(200, chunks.options(org, max_body)))
        return await _upload_chunks(api, incoming, body, max_body)
    if name == "api_artifact_assemble":
        return await _assemble(api, body, org, None, artifact=True)
    if name == "api_dif_assemble":
        return await _assemble(api, body, org, params["project"], artifact=False)
    reply = _release_route(api, name, method, params, body)
    made = reply.body.get("version") if name == "api_releases" and isinstance(reply.body, dict) else None
    return Handled(reply, release=made if isinstance(made, str) else None)


async def _upload_chunks(api: WebApi, incoming: ingest.Request, body: bytes, max_body: int) -> Handled:
    try:
        found = await asyncio.to_thread(chunks.parse, incoming.header("content-type") or "", body, max_body)
    except chunks.ChunkError as exc:
        return Handled(routes.ApiAnswer(exc.status, {"error": exc.detail}))
    items = [chunks.item(c, await asyncio.to_thread(api.store.put, c.checksum, c.data)) for c in found]
    fresh = sum(1 for item in items if item["headers"]["new"])
    note = f"{len(items)} chunk{'s' if len(items) != 1 else ''}, {fresh} new"
    return Handled(routes.ApiAnswer(200), items, "chunks", sum(len(c.data) for c in found), note=note)


def _put_together(api: WebApi, assembly: assemble.Assembly) -> bytes | str:
    """The file, or why it cannot be made (Sentry's detail)."""
    data = api.store.assemble(assembly.chunks)
    if hashlib.sha1(data).hexdigest() != assembly.checksum:
        return assemble.CHECKSUM_MISMATCH
    return data


async def _one(
    api: WebApi, assembly: assemble.Assembly, org: str, project: str | None, files: list[Any]
) -> dict[str, Any]:
    """One file's assemble answer; a file put together joins ``files`` (its upload record)."""
    key = assembly.key(org, project)
    if key in api.assembled:
        return api.assembled[key]
    missing = assemble.missing(assembly, api.store.has)
    if missing:
        return assemble.answer("not_found", missing)
    data = await asyncio.to_thread(_put_together, api, assembly)
    if isinstance(data, str):
        return assemble.answer("error", (), data)
    if assembly.kind == "debug_file":
        reply = assemble.dif_answer(assembly, len(data), len(api.assembled) + 1, _now())
    else:
        reply = assemble.answer("ok")
    api.assembled[key] = reply
    files.append((assembly, data, reply))
    return reply


async def _assemble(api: WebApi, body: bytes, org: str, project: str | None, *, artifact: bool) -> Handled:
    try:
        wanted = [assemble.parse_artifact(body)] if artifact else assemble.parse_difs(body)
    except assemble.AssembleError as exc:
        return Handled(routes.ApiAnswer(400, {"error": exc.detail}))
    files: list[Any] = []
    replies = {a.checksum: await _one(api, a, org, project, files) for a in wanted}
    reply = replies[wanted[0].checksum] if artifact else replies
    states = [r["state"] for r in replies.values()]
    handled = Handled(
        routes.ApiAnswer(200, reply), note=", ".join(f"{n} {s}" if n > 1 else s for s, n in Counter(states).items())
    )
    handled.release = wanted[0].version if artifact else None
    # the upload records hold the whole answer the assemble request got
    handled.files = [(a, data, reply) for a, data, _ in files]
    return handled


def _release_route(api: WebApi, name: str, method: str, params: Any, body: bytes) -> routes.ApiAnswer:
    org, version, known = params["org"], params.get("version"), api.releases
    if name == "api_repos":
        return routes.ApiAnswer(200, releases.repositories(api.repositories(), _now()))
    if name == "api_releases":
        if method == "GET":
            listed = [releases.public(r) for (o, _), r in known.items() if o == org]
            return routes.ApiAnswer(200, listed[::-1])
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
        return routes.ApiAnswer(200, list(known[org, version].get("commits", [])))
    elif name == "api_previous_with_commits":
        return releases.previous_with_commits(org, version, known)
    elif method == "GET":  # api_deploys
        return routes.ApiAnswer(200, list(known[org, version].get("deploys", []))[::-1])
    else:
        reply, change = releases.deploy(org, version, body, known, _now())
    if change is not None and change.release is not None:
        known[change.org, change.version] = change.release
    return reply
