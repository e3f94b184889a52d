"""Asking a candidate's own API whether it stored what it accepted (``replay --verify-stored``).

What the answers mean, and what is asked about, is :mod:`sentry_mirror.core.replay.stored`;
this module makes the calls:

- Sentry and GlitchTip: ``GET /api/0/projects/{org}/{slug}/events/{event_id}/`` per event
  (200: stored; 404: not, or not yet);
- Bugsink: its canonical API, ``/api/canonical/0/``: the project's issues
  (``issues/?project=ID``), then the events of each issue that changed (``events/?issue=ID``),
  newest first; it has no lookup by the SDK's event id.

Servers store asynchronously, so what is not found is asked about again, with growing pauses,
until the wait ends (:func:`verify`). :func:`detect` tells the APIs apart with a few cheap
GETs. The token comes from :data:`TOKEN_ENV` only and goes in ``Authorization: Bearer``; no
message shows it. Requests go through the HTTP/1.1 client replay uses
(:class:`sentry_mirror.io.http1.Client`: certificates verified, no redirects followed),
:data:`CONCURRENCY` at a time.
"""

from __future__ import annotations

import asyncio
import os
import re
import ssl
from collections.abc import Mapping
from urllib.parse import quote, urlsplit

import orjson

from sentry_mirror.core.replay.stored import API_NAMES, StoredCheck, event_ids, event_verdict, page
from sentry_mirror.core.text import visible
from sentry_mirror.errors import MirrorError
from sentry_mirror.io.http1 import Client

TOKEN_ENV = "SENTRY_MIRROR_API_TOKEN"
#: API requests in flight at most.
CONCURRENCY = 8
API_TIMEOUT = 15.0
#: Bytes of an API answer kept (a page of 250 Bugsink events is about 100 kB).
KEEP_BYTES = 32 << 20
#: Pages read of one listing at most (a cursor that never ends).
MAX_PAGES = 10_000
#: The pause between two rounds of questions: doubling from the first to the last.
FIRST_PAUSE, LAST_PAUSE = 0.5, 5.0
_TRANSPORT_ERRORS = (TimeoutError, OSError, ValueError)


def api_token(environ: Mapping[str, str] = os.environ) -> str:
    """The API token, from :data:`TOKEN_ENV` only (an option's value would show in ``ps`` and
    shell histories)."""
    token = environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise MirrorError(
            f"--verify-stored and --uploads ask the candidate's API, with a token: set {TOKEN_ENV} "
            "(docs/replay.md says how to make one for Sentry, GlitchTip and Bugsink)"
        )
    if not token.isprintable():
        raise MirrorError(f"{TOKEN_ENV} holds a line break or a control character")
    return token


class ApiClient:
    """GETs on one API (``url``: its origin and any path prefix), with the token."""

    def __init__(
        self, url: str, token: str, timeout: float = API_TIMEOUT, ssl_context: ssl.SSLContext | None = None
    ) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise MirrorError(f"--api-url {url!r}: expected http(s)://HOST[:PORT][/PREFIX]")
        if parts.username is not None or parts.query or parts.fragment:
            raise MirrorError("--api-url: no credentials, query or fragment (the token comes from the environment)")
        try:
            port = parts.port
        except ValueError as exc:
            raise MirrorError(f"--api-url {url!r}: {exc}") from None
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        self.client = Client(parts.scheme, host, port, timeout=timeout, keep_bytes=KEEP_BYTES, ssl_context=ssl_context)
        self.url = self.client.origin + parts.path.rstrip("/")
        self._token = token
        self._ssl = ssl_context
        self._others: dict[str, Client] = {}
        self._limit = asyncio.Semaphore(CONCURRENCY)
        self.requests = 0

    async def get(self, path: str, *, auth: bool = True) -> tuple[int, dict[str, str], bytes]:
        """(status, headers by lower-case name, body) of ``GET path``; transport errors raise."""
        return await self.request("GET", path, auth=auth)

    async def request(
        self, method: str, target: str, body: bytes = b"", content_type: str | None = None, *, auth: bool = True
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, headers by lower-case name, body) of one request; transport errors raise.
        ``target``: a path under the API's URL, or an absolute URL (``replay --uploads``: the
        chunk-upload URL the API names, on another origin with a client of its own)."""
        headers = [("Accept", "application/json"), ("User-Agent", "sentry-mirror")]
        if content_type is not None:
            headers.append(("Content-Type", content_type))
        if auth:
            headers.append(("Authorization", f"Bearer {self._token}"))
        client = self.client
        url = self.url + target if target.startswith("/") else target
        if not target.startswith("/") and not (url + "/").startswith(client.origin + "/"):
            client = self._client_for(url)
        async with self._limit:
            self.requests += 1
            answer = await client.request(method, url, headers, body)
        return answer.status, {k.lower(): v for k, v in answer.headers}, answer.body

    def _client_for(self, url: str) -> Client:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.username is not None:
            raise ValueError(f"{visible(url)[:200]!r} is not an http(s) URL this client follows")
        if parts.scheme == "http" and self.url.startswith("https:"):  # the token would leave TLS
            raise ValueError(
                f"{visible(url)[:200]!r} is plain http while the API is https: the token is not sent there"
            )
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        origin = f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port is not None else "")
        if origin not in self._others:
            self._others[origin] = Client(
                parts.scheme,
                host,
                parts.port,
                timeout=self.client.timeout,
                keep_bytes=KEEP_BYTES,
                ssl_context=self._ssl,
            )
        return self._others[origin]

    def shown(self, detail: str) -> str:
        """An answer's words, to show: the token masked (:func:`masked`)."""
        return masked(detail, self._token)

    def refused(self, status: int, body: bytes) -> MirrorError:
        """The error for a 401 or 403: the API's own words, never the token."""
        detail = _refusal(body, self._token)
        return MirrorError(
            f"the API at {self.url} refused the token in {TOKEN_ENV} ({status}{': ' + detail if detail else ''}); "
            "it needs to read events (docs/replay.md says how to make one)"
        )

    def close(self) -> None:
        """Drop the connections and the limit (each event loop needs its own)."""
        self.client.close()
        for other in self._others.values():
            other.close()
        self._others.clear()
        self._limit = asyncio.Semaphore(CONCURRENCY)


#: The longest piece of a token a refusal may show (a shorter one tells nothing).
_TOKEN_PIECE = 5
_DETAIL_CHARS = 200


def _refusal(body: bytes, token: str) -> str:
    """What a 401 or 403 says, to show: only a JSON ``detail`` string, cut and with control
    characters escaped; the token in it (any case) masked, and nothing at all when a piece of
    it is still there (an API may echo the token cut, or changed)."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return ""
    detail = value.get("detail") if isinstance(value, dict) else None
    if not isinstance(detail, str):
        return ""
    return masked(detail, token)


def masked(detail: str, token: str) -> str:
    """``detail`` (an API's words) to show: cut, control characters escaped, the token in it
    (any case) masked, and nothing at all when a piece of it is still there."""
    detail = re.sub(re.escape(token), "***", detail, flags=re.IGNORECASE)
    folded, secret = detail.casefold(), token.casefold()
    size = min(len(secret), _TOKEN_PIECE + 1)
    if any(secret[at : at + size] in folded for at in range(len(secret) - size + 1)):
        return "its answer quotes the token: not shown"
    return visible(detail[:_DETAIL_CHARS])


def _json_keys(body: bytes) -> set[str]:
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return set()
    return set(value) if isinstance(value, dict) else set()


def _reason(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


async def detect(api: ApiClient) -> str:
    """Which API serves ``api``: Bugsink's canonical API root answers (200, or 401 asking for
    a Bearer token); GlitchTip's ``/api/settings/`` names GlitchTip's settings; Sentry's
    ``/api/0/`` answers a version (and refuses a wrong token). MirrorError when none does."""
    seen: list[str] = []
    try:
        status, headers, body = await api.get("/api/canonical/0/")
        if (status == 200 and {"events", "issues"} <= _json_keys(body)) or (
            status == 401 and headers.get("www-authenticate", "").lower().startswith("bearer")
        ):
            return "bugsink"
        seen.append(f"/api/canonical/0/ {status}")
        status, _, body = await api.get("/api/settings/", auth=False)
        if status == 200 and _json_keys(body) & {"iPaidForGlitchTip", "billingEnabled"}:
            return "glitchtip"
        seen.append(f"/api/settings/ {status}")
        status, _, body = await api.get("/api/0/")
        if status == 200 and "version" in _json_keys(body):
            return "sentry"
        if status in (401, 403):  # Sentry's API root answers anyone, but not a wrong token
            raise api.refused(status, body)
        seen.append(f"/api/0/ {status}")
    except _TRANSPORT_ERRORS as exc:
        raise MirrorError(f"could not reach the API at {api.url}: {_reason(exc)}") from None
    raise MirrorError(
        f"could not tell which server's API is at {api.url} ({', '.join(seen)}): choose one with --api-kind"
    )


async def check_access(api: ApiClient, kind: str, project: str, org_slug: tuple[str, str] | None) -> None:
    """Before anything is sent: the token works and the project is there (a 404 about an
    event then means the event, not the project)."""
    if kind == "bugsink":
        path, name = f"/api/canonical/0/projects/{quote(project, safe='')}/", f"project {project}"
    else:
        if org_slug is None:
            raise MirrorError(f"--verify-stored with {API_NAMES[kind]}'s API needs --api-project ORG/SLUG")
        path, name = _project_path(org_slug), "/".join(org_slug)
    try:
        status, _, body = await api.get(path)
    except _TRANSPORT_ERRORS as exc:
        raise MirrorError(f"could not reach the API at {api.url}: {_reason(exc)}") from None
    where = f"{API_NAMES[kind]}'s API at {api.url}"
    if status in (401, 403):
        raise api.refused(status, body)
    if status == 404:
        raise MirrorError(f"{where} has no {name} (or the token cannot see it)")
    if status != 200:
        raise MirrorError(f"{where} answered {status} about {name}")
    found = _project_id(body)
    if found != project:  # every event would be looked for in another project, and "not stored"
        said = f"is project {visible(found)[:40]}" if found is not None else "does not say its id"
        raise MirrorError(f"{where}: {name} {said}, not the DSN's project {project}")


def _project_id(body: bytes) -> str | None:
    """The ``id`` of a project's JSON (a string in Sentry's API, a number in others')."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    found = value.get("id") if isinstance(value, dict) else None
    return str(found) if isinstance(found, (str, int)) and not isinstance(found, bool) else None


def _project_path(org_slug: tuple[str, str]) -> str:
    return f"/api/0/projects/{quote(org_slug[0], safe='')}/{quote(org_slug[1], safe='')}/"


async def verify(check: StoredCheck, api: ApiClient, org_slug: tuple[str, str] | None, wait: float) -> None:
    """Ask about every event ``check`` holds, again (pausing :data:`FIRST_PAUSE` to
    :data:`LAST_PAUSE`) until all are found or ``wait`` seconds have passed; then
    :meth:`StoredCheck.finish`. A 401 or 403 raises MirrorError."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    deadline, pause = start + wait, FIRST_PAUSE
    bugsink = _Bugsink(api) if check.kind == "bugsink" else None
    while check.pending:
        if bugsink is not None:
            await bugsink.round(check)
        else:
            assert org_slug is not None
            await _sentry_round(api, check, org_slug)
        now = loop.time()
        if not check.pending or now >= deadline:
            break
        await asyncio.sleep(min(pause, deadline - now))
        pause = min(pause * 2, LAST_PAUSE)
    check.waited = max(0.0, loop.time() - start)
    check.asked = api.requests
    check.finish()


async def _sentry_round(api: ApiClient, check: StoredCheck, org_slug: tuple[str, str]) -> None:
    """One question per event still pending, :data:`CONCURRENCY` at a time."""
    events = _project_path(org_slug) + "events/"

    async def ask(event_id: str) -> None:
        try:
            status, _, body = await api.get(f"{events}{event_id}/")
        except _TRANSPORT_ERRORS as exc:
            check.failed(event_id, _reason(exc))
            return
        verdict = event_verdict(status, body)
        if verdict == "found":
            check.found(event_id)
        elif verdict == "missing":
            check.missing(event_id)
        elif verdict == "denied":
            raise api.refused(status, body)
        else:
            check.failed(event_id, verdict)

    await asyncio.gather(*(ask(event_id) for ids in check.questions().values() for event_id in ids))


class _NotFound(Exception):
    """The API answered 404 to a listing."""


class _Bugsink:
    """Bugsink's canonical API: which event ids a project stored. Issues whose stored-event
    count has not changed since the last round are not listed again; an issue's events come
    newest first, so its listing stops at the first page holding an event seen before."""

    def __init__(self, api: ApiClient) -> None:
        self.api = api
        self.counts: dict[str, object] = {}  # issue id -> its stored_event_count when last listed
        self.found: dict[str, set[str]] = {}  # project id -> event ids seen

    async def round(self, check: StoredCheck) -> None:
        for project, ids in check.questions().items():
            try:
                found = await self._stored(project)
            except _NotFound:
                for event_id in ids:
                    check.unanswerable(event_id, f"Bugsink's API has no project {project}")
            except _TRANSPORT_ERRORS as exc:
                for event_id in ids:
                    check.failed(event_id, _reason(exc))
            else:
                for event_id in ids:
                    (check.found if event_id in found else check.missing)(event_id)

    async def _stored(self, project: str) -> set[str]:
        found = self.found.setdefault(project, set())
        changed: dict[str, object] = {}
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            issues, cursor = await self._page(f"/api/canonical/0/issues/?project={quote(project, safe='')}", cursor)
            for issue in issues:
                key, count = str(issue.get("id")), issue.get("stored_event_count")
                if count is None or self.counts.get(key) != count:
                    changed[key] = count
            if cursor is None:
                break
        listed = await asyncio.gather(*(self._events(issue_id, found) for issue_id in changed))
        for ids in listed:
            found |= ids
        self.counts.update(changed)
        return found

    async def _events(self, issue_id: str, found: set[str]) -> set[str]:
        """The event ids of one issue, down to the first page holding one seen before (added
        to ``found`` only once the listing is complete, so that it holds whole listings)."""
        listed: set[str] = set()
        cursor: str | None = None
        for _ in range(MAX_PAGES):
            try:
                events, cursor = await self._page(f"/api/canonical/0/events/?issue={quote(issue_id, safe='')}", cursor)
            except _NotFound:
                return listed  # the issue was deleted meanwhile
            ids = event_ids(events)
            listed |= ids
            if cursor is None or ids & found:
                break
        return listed

    async def _page(self, path: str, cursor: str | None) -> tuple[list[dict[str, object]], str | None]:
        status, _, body = await self.api.get(path + (f"&cursor={quote(cursor, safe='')}" if cursor else ""))
        if status in (401, 403):
            raise self.api.refused(status, body)
        if status == 404:
            raise _NotFound
        if status != 200:
            raise ValueError(f"the API answered {status}")
        return page(body)
