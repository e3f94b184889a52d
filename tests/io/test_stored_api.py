"""Asking a candidate's API what it stored (sentry_mirror.io.stored_api), against real aiohttp
servers on 127.0.0.1 that answer as Sentry's, GlitchTip's and Bugsink's APIs do (the real
Bugsink is in tests/ui/test_stored.py)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import orjson
import pytest
from aiohttp import web

from sentry_mirror.core.replay.results import Result
from sentry_mirror.core.replay.stored import StoredCheck
from sentry_mirror.errors import MirrorError
from sentry_mirror.io.stored_api import TOKEN_ENV, ApiClient, api_token, check_access, detect, verify
from tests.factories import make_result

TOKEN = "f" * 40
ORG_SLUG = ("acme", "backend")


@dataclass
class Candidate:
    """A candidate server answering 200 to every envelope (with the event's id), keeping the
    events ``keeps`` says, and offering a Sentry-shaped events API with ``TOKEN``."""

    keeps: Callable[[str], bool] = lambda _: False
    project_status: int = 200
    project: dict[str, object] = field(default_factory=lambda: {"id": "1", "slug": "backend"})
    event_status: int | None = None  # answers every event lookup with this status
    found_after: int = 0  # lookups of an event answered 404 before it shows
    root: dict[str, object] = field(default_factory=lambda: {"version": "0", "user": None, "auth": None})
    received: list[str] = field(default_factory=list)
    kept: set[str] = field(default_factory=set)
    asked: list[str] = field(default_factory=list)
    authorizations: set[str] = field(default_factory=set)
    url: str = ""

    def dsn(self, project: int = 1) -> str:
        return self.url.replace("http://", "http://" + "k" * 32 + "@") + f"/{project}"

    async def handle(self, request: web.Request) -> web.Response:
        path = request.path
        if request.method == "POST" and path.endswith("/envelope/"):
            header = orjson.loads((await request.read()).split(b"\n", 1)[0])
            event_id = header.get("event_id")
            self.received.append(event_id)
            if event_id and self.keeps(event_id):
                self.kept.add(event_id)
            return web.json_response({"id": event_id})
        self.authorizations.add(request.headers.get("Authorization", ""))
        if request.headers.get("Authorization") != f"Bearer {TOKEN}" and path != "/api/settings/":
            return web.json_response({"detail": "Invalid token"}, status=401)
        if path == "/api/0/":
            return web.json_response(self.root)
        if path == "/api/0/projects/acme/backend/":
            return web.json_response(self.project, status=self.project_status)
        prefix = "/api/0/projects/acme/backend/events/"
        if path.startswith(prefix):
            event_id = path[len(prefix) :].strip("/")
            self.asked.append(event_id)
            if self.event_status is not None:
                return web.json_response({"detail": "no"}, status=self.event_status)
            if event_id in self.kept and self.asked.count(event_id) > self.found_after:
                return web.json_response({"eventID": event_id, "id": event_id})
            return web.json_response({"detail": "Event not found"}, status=404)
        return web.json_response({"detail": "not found"}, status=404)


@asynccontextmanager
async def serving(handler: Callable[[web.Request], object]) -> AsyncIterator[str]:
    """An aiohttp server on 127.0.0.1 (port 0) answering everything with ``handler``; its URL."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)  # type: ignore[arg-type]
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


@asynccontextmanager
async def candidate(**fields: object) -> AsyncIterator[Candidate]:
    stub = Candidate(**fields)  # type: ignore[arg-type]
    async with serving(stub.handle) as url:
        stub.url = url
        yield stub


def accepted(event_id: str, item_types: tuple[str, ...] = ("event",), project: str = "1") -> Result:
    result: Result = make_result(event_id, item_types, 200, project)
    return result


def test_the_token_comes_from_the_environment_only() -> None:
    assert TOKEN == api_token({TOKEN_ENV: f" {TOKEN}\n"})
    with pytest.raises(MirrorError, match=TOKEN_ENV):
        api_token({})
    with pytest.raises(MirrorError, match="control character"):
        api_token({TOKEN_ENV: "a\rb"})


@pytest.mark.parametrize(
    "url", ["ftp://host", "http://user:pw@host", "http://host/?q=1", "http://host:99999", "host:8000"]
)
def test_an_api_url_is_http_without_credentials(url: str) -> None:
    with pytest.raises(MirrorError, match="--api-url"):
        ApiClient(url, TOKEN)


async def test_detects_sentry_glitchtip_and_bugsink() -> None:
    async with candidate() as stub:
        api = ApiClient(stub.url, TOKEN)
        assert "sentry" == await detect(api)
        api.close()

    async def glitchtip(request: web.Request) -> web.Response:
        if request.path == "/api/settings/":
            return web.json_response({"version": "4.2", "billingEnabled": False, "iPaidForGlitchTip": False})
        return web.json_response({"detail": "no"}, status=404)

    async def bugsink(request: web.Request) -> web.Response:
        return web.json_response(
            {"detail": "Invalid Bearer token."}, status=401, headers={"WWW-Authenticate": "Bearer"}
        )

    async def nothing(request: web.Request) -> web.Response:
        return web.Response(text="<html>", status=200)

    for handler, kind in ((glitchtip, "glitchtip"), (bugsink, "bugsink")):
        async with serving(handler) as url:
            api = ApiClient(url, TOKEN)
            assert kind == await detect(api)
            api.close()
    async with serving(nothing) as url:
        api = ApiClient(url, TOKEN)
        with pytest.raises(MirrorError, match="--api-kind"):
            await detect(api)
        api.close()


async def test_an_api_that_is_not_there_is_a_clear_error(unused_tcp_port: int) -> None:
    api = ApiClient(f"http://127.0.0.1:{unused_tcp_port}", TOKEN)
    with pytest.raises(MirrorError, match="could not reach the API"):
        await detect(api)


async def test_access_is_checked_before_sending() -> None:
    async with candidate() as stub:
        good = ApiClient(stub.url, TOKEN)
        await check_access(good, "sentry", "1", ORG_SLUG)
        with pytest.raises(MirrorError, match="needs --api-project"):
            await check_access(good, "glitchtip", "1", None)
        with pytest.raises(MirrorError, match="has no acme/other"):
            await check_access(good, "sentry", "1", ("acme", "other"))
        bad = ApiClient(stub.url, "wrong-token")
        with pytest.raises(MirrorError, match="refused the token") as refused:
            await check_access(bad, "sentry", "1", ORG_SLUG)
        assert "wrong-token" not in str(refused.value)
        good.close()
        bad.close()


@pytest.mark.parametrize(
    ("project", "said"),
    [
        ({"id": "2", "slug": "backend"}, "acme/backend is project 2, not the DSN's project 1"),
        ({"id": 2}, "acme/backend is project 2, not the DSN's project 1"),
        ({"slug": "backend"}, "acme/backend does not say its id, not the DSN's project 1"),
        ({"id": True}, "acme/backend does not say its id"),
    ],
)
async def test_the_api_project_must_be_the_dsns(project: dict[str, object], said: str) -> None:
    """Another project's events API would answer 404 for every event: refused before sending."""
    async with candidate(project=project) as stub:
        api = ApiClient(stub.url, TOKEN)
        with pytest.raises(MirrorError, match=said):
            await check_access(api, "sentry", "1", ORG_SLUG)
        api.close()
    async with candidate(project={"id": 1}) as stub:  # GlitchTip's ids are numbers
        api = ApiClient(stub.url, TOKEN)
        await check_access(api, "glitchtip", "1", ORG_SLUG)
        api.close()


SECRET = "sntrys_Ab3dE6gH9jK2mN5pQ8sT1vW4yZ7"


@pytest.mark.parametrize(
    ("answer", "shown"),
    [
        ({"detail": f"Invalid token {SECRET.upper()}"}, "(401: Invalid token ***)"),
        ({"detail": f"bad token={SECRET[:8]}..."}, "(401: its answer quotes the token: not shown)"),
        ({"detail": f"bad {SECRET[1:-1]}"}, "(401: its answer quotes the token: not shown)"),
        ({"detail": "no\x1b[2J" + "x" * 500}, "(401: no\\x1b[2J" + "x" * 194 + ")"),
        ({"message": f"token {SECRET}"}, "(401)"),
        (f"<html>bad token {SECRET.upper()}</html>", "(401)"),
    ],
)
async def test_a_refusal_never_shows_the_token(answer: object, shown: str) -> None:
    """Only a JSON detail is shown, cut and escaped, the token masked in any case; none of
    it when a piece of the token is left."""

    async def refuse(request: web.Request) -> web.Response:
        if isinstance(answer, str):
            return web.Response(text=answer, status=401)
        return web.json_response(answer, status=401)

    async with serving(refuse) as url:
        api = ApiClient(url, SECRET)
        with pytest.raises(MirrorError) as refused:
            await check_access(api, "sentry", "1", ORG_SLUG)
        api.close()
    message = str(refused.value)
    assert f"refused the token in {TOKEN_ENV} {shown};" in message, message
    assert SECRET[:6].lower() not in message.lower() and "\x1b" not in message


async def test_events_are_asked_about_until_they_show_or_the_wait_ends() -> None:
    ids = [uuid.uuid4().hex for _ in range(4)]
    async with candidate(found_after=2) as stub:
        stub.kept.update(ids[:2])  # stored, but the API shows them only from the third lookup
        check = StoredCheck("sentry", project="1")
        for event_id in ids:
            check.add(accepted(event_id))
        api = ApiClient(stub.url, TOKEN)
        await verify(check, api, ORG_SLUG, wait=2.0)
        api.close()
    assert [("event", 2, 2, 0, 0)] == check.rows()
    assert sorted(ids[2:]) == sorted(check.examples["event"])
    assert 3 == stub.asked.count(ids[0])  # asked until it showed, then no more
    assert stub.asked.count(ids[2]) >= 3 and check.waited >= 2.0  # asked again until the wait ended
    assert {f"Bearer {TOKEN}"} == stub.authorizations


async def test_no_wait_asks_once() -> None:
    async with candidate() as stub:
        check = StoredCheck("sentry", project="1")
        check.add(accepted(uuid.uuid4().hex))
        api = ApiClient(stub.url, TOKEN)
        await verify(check, api, ORG_SLUG, wait=0)
        api.close()
    assert 1 == len(stub.asked) and 1 == check.not_stored


async def test_an_api_failing_is_cannot_tell_and_a_401_is_an_error() -> None:
    async with candidate(event_status=502) as stub:
        check = StoredCheck("sentry", project="1")
        check.add(accepted(uuid.uuid4().hex))
        api = ApiClient(stub.url, TOKEN)
        await verify(check, api, ORG_SLUG, wait=0.6)
        assert [("event", 0, 0, 0, 1)] == check.rows()
        assert {("event", "the API answered 502"): 1} == dict(check.reasons)
        stub.event_status = 403
        check = StoredCheck("sentry", project="1")
        check.add(accepted(uuid.uuid4().hex))
        with pytest.raises(MirrorError, match=r"refused the token in SENTRY_MIRROR_API_TOKEN \(403: no\)"):
            await verify(check, api, ORG_SLUG, wait=0)
        api.close()


def _bugsink_api(pages: dict[str, list[dict[str, object]]], seen: list[str]) -> Callable[..., object]:
    """Bugsink's canonical API over ``pages`` (path and query -> results), two results a page."""

    async def handle(request: web.Request) -> web.Response:
        seen.append(request.path_qs)
        if request.headers.get("Authorization") != f"Bearer {TOKEN}":
            return web.json_response({"detail": "Invalid Bearer token."}, status=401)
        key = request.path_qs.split("&cursor=")[0]
        if key not in pages:
            return web.json_response({"detail": "No Project matches the given query."}, status=404)
        start = int(request.query.get("cursor", "0"))
        rest = pages[key][start : start + 2]
        more = start + 2 < len(pages[key])
        following = f"http://elsewhere{request.path}?cursor={start + 2}&{key.split('?')[1]}" if more else None
        return web.json_response({"next": following, "previous": None, "results": rest})

    return handle


async def test_bugsink_events_are_found_through_issues_page_by_page() -> None:
    ids = [uuid.uuid4() for _ in range(5)]
    pages: dict[str, list[dict[str, object]]] = {
        "/api/canonical/0/issues/?project=7": [
            {"id": "i1", "stored_event_count": 3},
            {"id": "i2", "stored_event_count": 1},
            {"id": "i3", "stored_event_count": 0},
        ],
        "/api/canonical/0/events/?issue=i1": [{"event_id": str(i)} for i in ids[:3]],
        "/api/canonical/0/events/?issue=i2": [{"event_id": str(ids[3])}],
        "/api/canonical/0/events/?issue=i3": [],
    }
    seen: list[str] = []
    async with serving(_bugsink_api(pages, seen)) as url:
        check = StoredCheck("bugsink")
        for event_id in [*ids, uuid.uuid4()]:
            check.add(accepted(event_id.hex, project="7"))
        check.add(accepted(uuid.uuid4().hex, project="8"))  # a project the API does not have
        api = ApiClient(url, TOKEN)
        await verify(check, api, None, wait=0.6)
        api.close()
    assert [("event", 4, 2, 0, 1)] == check.rows()
    assert {("event", "Bugsink's API has no project 8"): 1} == dict(check.reasons)
    assert "/api/canonical/0/events/?issue=i1&cursor=2" in seen  # the next page, on the API's own URL
    assert 1 == seen.count("/api/canonical/0/events/?issue=i1")  # unchanged issues are not listed again
