"""Scripted answers over real HTTP on 127.0.0.1: what is sent, what is recorded, when."""

from __future__ import annotations

import asyncio
import gc
import os
import time
import tracemalloc
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from sentry_mirror.core.script import parse, scenario
from sentry_mirror.core.script.answers import RATE_LIMITED
from sentry_mirror.core.script.model import Answer, Match, Rule, Script
from sentry_mirror.errors import ScriptError
from sentry_mirror.io import scripting
from sentry_mirror.io.forward import ForwardOptions
from sentry_mirror.io.listener import ListenOptions, listen
from sentry_mirror.io.server import Timeouts, _Flight
from sentry_mirror.io.snapshot import iter_records
from tests.conftest import Mirror
from tests.factories import make_envelope

KEY_QUERY = "sentry_key=0123456789abcdef0123456789abcdef&sentry_version=7"


class Scripted:
    """A mirror (tests/conftest.py) answering as scripted; ``url`` is its envelope endpoint."""

    def __init__(self, mirror: Mirror) -> None:
        self.running, self.recorder, self.directory = mirror.running, mirror.recorder, mirror.directory

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.running.port}/api/1/envelope/?{KEY_QUERY}"

    def records(self) -> list[dict[str, Any]]:
        return [record.data for record in iter_records([self.directory])]


@pytest.fixture
def scripted(start_mirror: Callable[..., Awaitable[Mirror]]) -> Callable[..., Awaitable[Scripted]]:
    async def start(script: Script, timeouts: Timeouts = Timeouts()) -> Scripted:
        return Scripted(await start_mirror(script=script, timeouts=timeouts))

    return start


def envelope(*types: str) -> tuple[str, bytes]:
    event_id = uuid.uuid4().hex
    items = [
        ({"type": kind}, {"event_id": event_id, "type": kind} if kind != "client_report" else {}) for kind in types
    ]
    return event_id, make_envelope({"event_id": event_id, "sdk": {"name": "sentry.python", "version": "2.0"}}, items)


async def post(session: aiohttp.ClientSession, url: str, body: bytes) -> tuple[int, dict[str, str], bytes]:
    async with session.post(url, data=body) as response:
        return response.status, dict(response.headers), await response.read()


async def test_a_rate_limited_transaction_gets_429_with_the_headers_and_is_recorded_scripted(scripted: Any) -> None:
    mirror = await scripted(Script(scenario("rate-limit-transactions:60s")))
    async with aiohttp.ClientSession() as session:
        limited = await post(session, mirror.url, envelope("transaction")[1])
        event_id, error = envelope("event")
        taken = await post(session, mirror.url, error)
    status, headers, body = limited
    assert 429 == status
    assert "60:transaction:organization:quota_exceeded" == headers["X-Sentry-Rate-Limits"]
    assert "60" == headers["Retry-After"]
    assert {"detail": RATE_LIMITED} == orjson.loads(body)
    assert (200, {"id": event_id}) == (taken[0], orjson.loads(taken[2]))
    first, second = mirror.records()
    assert 429 == first["response"]["status"]
    assert ["X-Sentry-Rate-Limits", "60:transaction:organization:quota_exceeded"] in first["response"]["headers"]
    assert {
        "rule": "rate-limit-transactions:60s",
        "source": "scenario rate-limit-transactions:60s",
        "natural": {"status": 200},
        "delay_ms": 0,
        "drop": False,
        "partial": False,
    } == first["scripted"]
    assert "scripted" not in second


async def test_a_partly_limited_envelope_gets_the_natural_answer_and_the_header(scripted: Any) -> None:
    mirror = await scripted(Script(scenario("rate-limit-transactions")))
    event_id, body = envelope("transaction", "session")
    async with aiohttp.ClientSession() as session:
        status, headers, answer = await post(session, mirror.url, body)
    assert (200, {"id": event_id}) == (status, orjson.loads(answer))
    assert headers["X-Sentry-Rate-Limits"].endswith(":transaction:organization:quota_exceeded")
    assert "Retry-After" not in headers
    (record,) = mirror.records()
    assert record["scripted"]["partial"] is True
    assert 200 == record["response"]["status"]


async def test_a_delayed_answer_comes_after_the_delay_with_the_record_already_on_disk(scripted: Any) -> None:
    mirror = await scripted(Script(scenario("slow:0.5s")))
    event_id, body = envelope("event")
    async with aiohttp.ClientSession() as session:
        task = asyncio.create_task(post(session, mirror.url, body))
        started = time.monotonic()
        while not mirror.records():
            await asyncio.sleep(0.02)
        assert not task.done()  # recorded, not answered yet
        status, _, answer = await task
    assert time.monotonic() - started >= 0.4
    assert (200, {"id": event_id}) == (status, orjson.loads(answer))
    (record,) = mirror.records()
    assert (500, 200) == (record["scripted"]["delay_ms"], record["scripted"]["natural"]["status"])


async def test_a_drop_closes_the_connection_without_an_answer_yet_the_record_is_on_disk(scripted: Any) -> None:
    script = parse('[[rule]]\nname = "cut"\ndrop = true\n', "drop.toml")
    mirror = await scripted(script)
    event_id, body = envelope("event")
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await post(session, mirror.url, body)
    (record,) = mirror.records()
    assert record["summary"]["event_id"] == event_id
    assert {"status": 0, "headers": [], "body": "", "body_base64": False} == record["response"]
    assert ("cut", "drop.toml:1", True) == (
        record["scripted"]["rule"],
        record["scripted"]["source"],
        record["scripted"]["drop"],
    )


async def test_an_outage_answers_503_then_healthy(scripted: Any) -> None:
    mirror = await scripted(Script(scenario("outage:0.5s")))
    async with aiohttp.ClientSession() as session:
        down = await post(session, mirror.url, envelope("event")[1])
        await asyncio.sleep(0.6)
        event_id, body = envelope("event")
        up = await post(session, mirror.url, body)
    assert 503 == down[0]
    assert "Retry-After" not in down[1]
    assert {"detail": "the service is overloaded"} == orjson.loads(down[2])
    assert (200, {"id": event_id}) == (up[0], orjson.loads(up[2]))
    assert [503, 200] == [r["response"]["status"] for r in mirror.records()]


async def test_client_reports_alone_are_never_limited(scripted: Any) -> None:
    mirror = await scripted(Script(scenario("rate-limit-all")))
    async with aiohttp.ClientSession() as session:
        report = await post(session, mirror.url, envelope("client_report")[1])
        limited = await post(session, mirror.url, envelope("event")[1])
    assert (200, 429) == (report[0], limited[0])
    assert "60::organization:quota_exceeded" == limited[1]["X-Sentry-Rate-Limits"]


async def test_a_stopping_listener_cuts_a_long_delay(scripted: Any) -> None:
    mirror = await scripted(Script(scenario("slow:60s")), Timeouts(grace=0.5))
    event_id, body = envelope("event")
    async with aiohttp.ClientSession() as session:
        task = asyncio.create_task(post(session, mirror.url, body))
        while not mirror.records():
            await asyncio.sleep(0.02)
        started = time.monotonic()
        await mirror.running.stop()
        status, _, answer = await asyncio.wait_for(task, 5)
    assert time.monotonic() - started < 3
    assert (200, {"id": event_id}) == (status, orjson.loads(answer))


async def test_a_delay_ends_when_its_client_goes_away(scripted: Any) -> None:
    """The wait is cut soon after the client left: nothing stays in flight for the whole 30 s."""
    mirror = await scripted(Script(scenario("slow:30s")))
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=0.5)) as session:
        with pytest.raises(asyncio.TimeoutError):
            await post(session, mirror.url, envelope("event")[1])
    started = time.monotonic()
    while mirror.running.mirror.flight.count and time.monotonic() - started < 5:
        await asyncio.sleep(0.05)
    assert 0 == mirror.running.mirror.flight.count
    assert time.monotonic() - started < 2
    assert 0 == mirror.running.mirror.scripting.delayed


async def test_a_waiting_answer_holds_no_copy_of_its_body(scripted: Any) -> None:
    """Under a delay only the connection is held: not the request's body, not its record."""
    mirror = await scripted(Script(scenario("slow:30s")))
    big = make_envelope({"event_id": "a" * 32}, [({"type": "attachment"}, b"x" * (1 << 20))])
    tracemalloc.start()
    try:
        async with aiohttp.ClientSession() as session:
            tasks = [asyncio.create_task(post(session, mirror.url, big)) for _ in range(8)]
            while len(mirror.records()) < 8:  # all recorded: now waiting out the delay
                await asyncio.sleep(0.05)
            await asyncio.sleep(0.1)
            del big
            gc.collect()
            held, _ = tracemalloc.get_traced_memory()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    finally:
        tracemalloc.stop()
    assert held < 4 * (1 << 20)  # 8 MiB of bodies; twice that when the frames held them


async def test_over_the_cap_of_delayed_answers_the_answer_is_sent_at_once_and_says_so(scripted: Any) -> None:
    mirror = await scripted(Script(scenario("slow:30s")))
    mirror.running.mirror.scripting.max_delayed = 1
    async with aiohttp.ClientSession() as session:
        waiting = asyncio.create_task(post(session, mirror.url, envelope("event")[1]))
        while not mirror.records():
            await asyncio.sleep(0.02)
        started = time.monotonic()
        event_id, body = envelope("event")
        status, _, answer = await post(session, mirror.url, body)
        assert time.monotonic() - started < 2
        waiting.cancel()
    assert (200, {"id": event_id}) == (status, orjson.loads(answer))
    first, second = mirror.records()
    assert (30000, 0) == (first["scripted"]["delay_ms"], second["scripted"]["delay_ms"])
    assert "note" not in first["scripted"]
    assert "without its delay: 1 answers were already waiting" in second["scripted"]["note"]


@pytest.mark.parametrize("spelling", ["trace_metric", "trace-metric"])
async def test_a_rule_on_an_item_type_matches_either_spelling_sent(scripted: Any, spelling: str) -> None:
    mirror = await scripted(parse(f'[[rule]]\nitem_type = "{spelling}"\nstatus = 500\n', "s.toml"))
    sent = make_envelope({}, [({"type": "trace-metric", "content_type": "application/json"}, b'{"items": []}')])
    async with aiohttp.ClientSession() as session:
        status, _, _ = await post(session, mirror.url, sent)
    assert 500 == status
    (record,) = mirror.records()
    assert "rule 1" == record["scripted"]["rule"]


async def test_an_answer_that_cannot_be_sent_costs_its_connection_not_the_listener(scripted: Any) -> None:
    """A header aiohttp refuses (only a hand-made Script can hold one: parse refuses it)."""
    bad = Rule("bad", Match(requests=(1, 1)), Answer(status=200, headers=(("Content-Length", "abc"),)))
    mirror = await scripted(Script((bad,)))
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            await post(session, mirror.url, envelope("event")[1])
        event_id, body = envelope("event")
        status, _, answer = await post(session, mirror.url, body)
    assert (200, {"id": event_id}) == (status, orjson.loads(answer))
    assert 0 == mirror.running.mirror.flight.count


async def test_the_web_api_and_preflights_are_not_scripted(scripted: Any) -> None:
    mirror = await scripted(Script(scenario("outage:60s")))
    port = mirror.running.port
    async with aiohttp.ClientSession() as session:
        async with session.options(
            mirror.url, headers={"Origin": "http://a", "Access-Control-Request-Method": "POST"}
        ) as preflight:
            assert 200 == preflight.status
        async with session.get(f"http://127.0.0.1:{port}/api/0/organizations/") as api:
            assert 503 != api.status
    assert all("scripted" not in r for r in mirror.records())


async def test_the_listener_refuses_a_script_with_forward_before_it_starts(tmp_path: Path) -> None:
    options = ListenOptions(
        port=0,
        directory=tmp_path / "s",
        script=Script(scenario("outage")),
        forward=ForwardOptions(upstream="http://0123456789abcdef0123456789abcdef@127.0.0.1:9/1"),
    )
    with pytest.raises(ScriptError, match="cannot go with --forward"):
        await listen(options, on_ready=lambda ready: None)
    assert not (tmp_path / "s").exists()


async def test_when_storage_fails_the_503_goes_out_at_once_not_delayed_nor_dropped(scripted: Any) -> None:
    """A scripted delay or drop is for an answer whose record is on disk: a request that could
    not be stored gets its 503 with Retry-After at once (reviewD 5)."""
    mirror = await scripted(parse('[[rule]]\ndelay = "20s"\ndrop = true\n', "s.toml"))
    await mirror.recorder.write({"warm": "up"})  # the file exists: its descriptor can be spoiled
    full = os.open("/dev/full", os.O_WRONLY)
    try:
        os.dup2(full, mirror.recorder._fd)
    finally:
        os.close(full)
    started = time.monotonic()
    async with aiohttp.ClientSession() as session:
        status, headers, _ = await post(session, mirror.url, envelope("event")[1])
    assert (503, "2") == (status, headers["Retry-After"])
    assert time.monotonic() - started < 10


async def test_a_stop_in_the_moment_a_delay_ends_does_not_break_the_drain() -> None:
    """The timeout of a delay that has just fired cannot be moved: drain() leaves it (it
    raised 'Cannot change state of expiring Timeout', and the snapshot was not finished)."""

    class Staying:
        class transport:
            @staticmethod
            def is_closing() -> bool:
                return False

    loop = asyncio.get_running_loop()
    flight = _Flight()
    ends = loop.time() + 0.2
    waiting = asyncio.create_task(scripting._wait(flight, Staying(), 0.2))  # type: ignore[arg-type]
    drains: list[asyncio.Task[None]] = []
    loop.call_at(ends - 1e-9, lambda: drains.append(asyncio.create_task(flight.drain(1.0))))
    await asyncio.sleep(0.5)
    assert waiting.done() and waiting.exception() is None
    assert drains and drains[0].done() and drains[0].exception() is None
