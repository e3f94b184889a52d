"""The replay client: schedule, rate limits, verdicts, and real round trips.

Mirror A records real sentry-sdk traffic; replaying A's snapshot into mirror B (another
project and key) must give B the same envelopes apart from the documented rewrites.
"""

from __future__ import annotations

import asyncio
import email.utils
import itertools
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from aiohttp import web

from sentry_mirror.core import envelope
from sentry_mirror.core.auth import parse_dsn
from sentry_mirror.core.record import decode_bytes, encode_bytes, format_time, parse_time
from sentry_mirror.core.replay.envelope_rewrite import rewrite_envelope
from sentry_mirror.core.replay.fresh_ids import IdMap
from sentry_mirror.core.replay.plan import Pacing, make_plan
from sentry_mirror.core.replay.results import ReplaySummary, Result
from sentry_mirror.core.replay.rewrite import Options, Target
from sentry_mirror.core.stats import nearest_rank
from sentry_mirror.io.replay import replay
from tests.conftest import Mirror
from tests.factories import accepted_envelope_record, make_record, make_request
from tests.io.test_http1 import big_answer_server
from tests.test_sdk_e2e import send_app_traffic

NEW_KEY = "fedcba9876543210fedcba9876543210"
T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)


def body_of(data: dict[str, Any]) -> bytes:
    return decode_bytes(data["body"], data["body_base64"])


def unix(value: Any) -> float:
    """A timestamp as SDKs send it (Unix seconds or RFC 3339) as Unix seconds."""
    if isinstance(value, str):
        return datetime.fromisoformat(value).timestamp()
    return float(value)


# ------------------------------------------------------------------ round trips


async def record_sdk_traffic(mirror: Mirror) -> list[dict[str, Any]]:
    """Real sentry-sdk traffic (errors, an attachment, a transaction, a session, a check-in, logs) into ``mirror``."""
    await send_app_traffic(mirror.dsn(project=42))
    records = [r.data for r in mirror.records()]
    assert len(records) >= 6 and {200} == {d["response"]["status"] for d in records}
    return records


async def run_replay(
    records: list[dict[str, Any]], target: Mirror, options: Options, pacing: Pacing | None = None, **kwargs: Any
) -> tuple[ReplaySummary, list[Result], IdMap]:
    pacing = pacing or Pacing(concurrency=1)
    plan = make_plan(records, Target(parse_dsn(target.dsn(NEW_KEY, 5))), options, pacing, **kwargs)
    report, results = ReplaySummary(), []
    ids = IdMap()

    def on_result(result: Result) -> None:
        report.add(result)
        results.append(result)

    await replay(plan, pacing, on_result=on_result, ids=ids)
    return report, results, ids


@pytest.fixture
async def mirrors(start_mirror: Callable[..., Awaitable[Mirror]]) -> tuple[Mirror, Mirror]:
    return await start_mirror(), await start_mirror()


async def test_round_trip_keeps_payloads_byte_exact(mirrors: tuple[Mirror, Mirror]) -> None:
    a, b = mirrors
    recorded = await record_sdk_traffic(a)
    report, results, _ = await run_replay(recorded, b, Options())
    assert 0 == report.failed and [] == [r.problems for r in results if r.problems]
    replayed = [r.data for r in b.records()]
    assert len(recorded) == len(replayed)
    for before, after in zip(recorded, replayed, strict=True):  # one in flight: same order
        assert ("5", NEW_KEY, "x-sentry-auth", 200) == (
            after["project_id"],
            after["auth"]["public_key"],
            after["auth"]["form"],
            after["response"]["status"],
        )
        assert before["content_encoding"] == after["content_encoding"]
        old, new = envelope.parse(body_of(before)), envelope.parse(body_of(after))
        assert [(i.headers, i.payload) for i in old.items] == [(i.headers, i.payload) for i in new.items]
        expected_header = dict(old.headers)
        if "trace" in expected_header:
            expected_header["trace"] = {**expected_header["trace"], "public_key": NEW_KEY}
        assert expected_header == new.headers
        if before["summary"]["event_id"]:
            assert {"id": before["summary"]["event_id"]} == orjson.loads(after["response"]["body"])


async def test_round_trip_with_fresh_ids_and_shifted_timestamps(mirrors: tuple[Mirror, Mirror]) -> None:
    a, b = mirrors
    recorded = await record_sdk_traffic(a)
    # make it a capture from a week ago: receive times and every timestamp a week earlier
    week = timedelta(days=7)
    aged = []
    for d in recorded:
        body, is_base64 = encode_bytes(
            rewrite_envelope(body_of(d), dsn=None, public_key=None, shift=-week.total_seconds()).body
        )
        aged.append(
            {
                **d,
                "received_at": format_time(parse_time(d["received_at"]) - week),
                "body": body,
                "body_base64": is_base64,
            }
        )
    recorded = aged
    start = datetime.now(UTC)
    report, _, ids = await run_replay(
        aged, b, Options(fresh_ids=True, encoding="gzip"), shift_timestamps=True, start=start
    )
    assert 0 == report.failed
    replayed = [r.data for r in b.records()]
    shift = (start - parse_time(aged[-1]["received_at"])).total_seconds()
    assert shift == pytest.approx(week.total_seconds(), abs=60)
    mapping = ids.mapping()
    assert len(mapping) >= 6
    for before, after in zip(recorded, replayed, strict=True):
        assert "gzip" == after["content_encoding"]
        old, new = envelope.parse(body_of(before)), envelope.parse(body_of(after))
        if old.event_id:
            assert mapping[old.event_id] == new.event_id == after["summary"]["event_id"]
            assert {"id": new.event_id} == orjson.loads(after["response"]["body"])
        if "sent_at" in old.headers:
            moved = parse_time(new.headers["sent_at"])
            assert abs((moved - datetime.now(UTC)).total_seconds()) < 60
        for old_item, new_item in zip(old.items, new.items, strict=True):
            if old_item.type in ("event", "transaction"):
                was, now = old_item.json(), new_item.json()
                assert mapping[was["event_id"]] == now["event_id"] == new.event_id
                assert unix(now["timestamp"]) - unix(was["timestamp"]) == pytest.approx(shift, abs=1e-3)
                assert unix(now["start_timestamp"] if "start_timestamp" in now else now["timestamp"]) - unix(
                    was.get("start_timestamp", was["timestamp"])
                ) == pytest.approx(shift, abs=1e-3)
                assert abs(unix(now["timestamp"]) - datetime.now(UTC).timestamp()) < 60
            elif old_item.type == "log":
                for was, now in zip(old_item.json()["items"], new_item.json()["items"], strict=True):
                    assert unix(now["timestamp"]) - unix(was["timestamp"]) == pytest.approx(shift, abs=1e-3)
            elif old_item.type == "attachment":
                assert old_item.payload == new_item.payload
            elif old_item.type == "session":
                was, now = old_item.json(), new_item.json()
                assert mapping[was["sid"].replace("-", "")] == now["sid"].replace("-", "")
            elif old_item.type == "check_in":
                assert mapping[old_item.json()["check_in_id"]] == new_item.json()["check_in_id"]


async def test_speed_one_keeps_the_recorded_gaps(mirrors: tuple[Mirror, Mirror]) -> None:
    _, b = mirrors
    body = '{}\n{"type":"session"}\n{"sid":"x","status":"ok"}\n'
    base = {
        "method": "POST",
        "path": "/api/1/envelope/",
        "query": "sentry_key=k&sentry_version=7",
        "headers": [],
        "endpoint": "envelope",
        "project_id": "1",
        "auth": {"form": "query", "public_key": "k"},
        "content_encoding": None,
        "body": body,
        "body_base64": False,
        "body_decoded": True,
        "summary": {"event_id": None, "items": [{"type": "session"}]},
        "response": {"status": 200},
    }
    records = [make_record(**base, id=f"{n:032x}", received_at=T0 + timedelta(seconds=n * 0.05)) for n in range(10)]
    loop = asyncio.get_running_loop()
    began = loop.time()
    report, results, _ = await run_replay(records, b, Options(), Pacing(speed=1, concurrency=4))
    elapsed = loop.time() - began
    assert 0 == report.failed
    assert 0.45 <= elapsed < 1.5
    lateness = nearest_rank([r.late_ms for r in results if r.late_ms is not None], 99)
    assert lateness is not None and lateness < 50
    received = [parse_time(r.data["received_at"]) for r in b.records()]
    gaps = [(y - x).total_seconds() for x, y in itertools.pairwise(received)]
    assert all(0.025 < gap < 0.15 for gap in gaps), gaps


async def test_rate_limits_are_honoured_per_category(mirrors: tuple[Mirror, Mirror], aiohttp_server: Any) -> None:
    """A target answering events with 429 and X-Sentry-Rate-Limits for ``error``: the other
    events are held back, other categories still go out; with honouring off, all go out."""
    a, _ = mirrors
    recorded = await record_sdk_traffic(a)
    seen: list[tuple[str, ...]] = []

    async def handle(request: web.Request) -> web.Response:
        parsed = envelope.parse(await request.read())  # aiohttp undoes the Content-Encoding
        types = parsed.item_types
        seen.append(types)
        if "event" in types:
            return web.Response(
                status=429,
                headers={"X-Sentry-Rate-Limits": "60:error:organization:quota_exceeded", "Retry-After": "60"},
            )
        return web.json_response({"id": parsed.event_id} if parsed.event_id else {})

    app = web.Application()
    app.router.add_post("/api/{project}/envelope/", handle)
    server = await aiohttp_server(app)
    target = Target(parse_dsn(f"http://{NEW_KEY}@127.0.0.1:{server.port}/5"))
    kinds = [tuple(i["type"] for i in d["summary"]["items"]) for d in recorded]
    events = sum(1 for types in kinds if "event" in types)
    pure_events = kinds.count(("event",))
    assert kinds[0] == ("event",) and ("event", "attachment") in kinds and pure_events >= 2

    for honour in (True, False):
        seen.clear()
        report = ReplaySummary()
        pacing = Pacing(concurrency=1)
        await replay(
            make_plan(recorded, target, Options(), pacing), pacing, honour_rate_limits=honour, on_result=report.add
        )
        outcomes = report.outcomes()
        if honour:
            # the first event gets the 429; later events are held back, and the event with an
            # attachment goes out as the attachment alone, as an SDK sends it
            assert (1, pure_events - 1) == (outcomes["rate-limited"], outcomes["held-back"])
            assert 1 == sum(1 for types in seen if "event" in types)
            assert ("attachment",) in seen
            assert len(recorded) - pure_events == outcomes["accepted"]
        else:
            assert (events, 0) == (outcomes["rate-limited"], outcomes["held-back"])
            assert len(recorded) - events == outcomes["accepted"]
        assert [] == list(report.problems)


async def test_a_target_that_is_not_there_is_a_transport_error(unused_tcp_port: int) -> None:
    target = Target(parse_dsn(f"http://{NEW_KEY}@127.0.0.1:{unused_tcp_port}/5"))
    plan = make_plan([accepted_envelope_record()], target, Options(), Pacing())
    report = ReplaySummary()
    await replay(plan, Pacing(), on_result=report.add)
    assert {"transport-error": 1} == dict(report.outcomes())
    assert 1 == report.failed


# ------------------------------------------------------------------ streaming


class Held:
    """Counts the records alive at once (CPython frees a record as soon as nothing holds it)."""

    def __init__(self) -> None:
        self.live = 0
        self.peak = 0
        self.made = 0


def tracked_records(count: int, held: Held) -> Callable[[], Any]:
    class Tracked(dict):  # type: ignore[type-arg]
        def __init__(self, *args: Any) -> None:
            super().__init__(*args)
            held.live += 1
            held.made += 1
            held.peak = max(held.peak, held.live)

        def __del__(self) -> None:
            held.live -= 1

    def source() -> Any:
        for n in range(count):
            yield Tracked(
                {
                    **accepted_envelope_record(),
                    "id": f"{n:032x}",
                    "received_at": format_time(T0 + timedelta(milliseconds=n)),
                }
            )

    return source


async def test_replay_streams_its_records_holding_a_bounded_number(aiohttp_server: Any) -> None:
    """Records are read as they are sent: a replay of 2,000 holds no more than the read-ahead
    window and the requests in flight at any moment (the counting pass even fewer)."""
    answered = 0

    async def handle(request: web.Request) -> web.Response:
        nonlocal answered
        await request.read()
        answered += 1
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/api/{project}/envelope/", handle)
    server = await aiohttp_server(app)
    held = Held()
    pacing = Pacing(concurrency=4)
    plan = make_plan(
        tracked_records(2000, held),
        Target(parse_dsn(f"http://{NEW_KEY}@127.0.0.1:{server.port}/5")),
        Options(),
        pacing,
        window=16,
    )
    assert (2000, 2000, 0) == (plan.count, held.made, held.live)
    assert held.peak <= 16 + 4
    report = ReplaySummary()
    await replay(plan, pacing, on_result=report.add)
    assert (2000, 2000, 4000) == (report.total, answered, held.made)
    assert {"accepted": 2000} == dict(report.outcomes())
    assert 0 == held.live
    assert held.peak <= 16 + 4 + 8, held.peak  # window + in flight + the few being handed along


# ------------------------------------------------------------------ big answers (bounded reading)


async def test_a_huge_answer_leaves_the_connection_usable_and_the_result_says_how_big(tmp_path: Any) -> None:
    server = await big_answer_server("length", 1 << 20)
    port = server.sockets[0].getsockname()[1]
    data = {**send_data(), "response": {"status": 400}}
    plan = make_plan([data], Target(parse_dsn(f"http://k@127.0.0.1:{port}/1")), Options(), Pacing())
    results: list[Result] = []
    try:
        await replay(plan, on_result=results.append)
    finally:
        server.close()
    (result,) = results
    line = result.to_dict()
    assert (400, 1 << 20) == (line["status"], line["response_body_size"])
    assert len(decode_bytes(line["response_body"], line["response_body_base64"])) < 1 << 20


def send_data() -> dict[str, Any]:
    """One recorded envelope request (as the mirror records it)."""
    request = make_request(path="/api/1/envelope/", query="sentry_key=k")
    return make_record(request, remote_addr="127.0.0.1:1", id="0" * 32)


async def test_a_retry_after_date_is_read_against_the_clock(
    mirrors: tuple[Mirror, Mirror], aiohttp_server: Any
) -> None:
    """A 429 whose Retry-After is an HTTP date already past holds nothing back (read without
    the wall clock, the date was unreadable: 60 s for everything)."""
    a, _ = mirrors
    recorded = await record_sdk_traffic(a)
    past = email.utils.format_datetime(datetime.now(UTC) - timedelta(seconds=10), usegmt=True)
    answered: list[int] = []

    async def handle(request: web.Request) -> web.Response:
        parsed = envelope.parse(await request.read())
        if not answered:
            answered.append(429)
            return web.Response(status=429, headers={"Retry-After": past})
        answered.append(200)
        return web.json_response({"id": parsed.event_id} if parsed.event_id else {})

    app = web.Application()
    app.router.add_post("/api/{project}/envelope/", handle)
    server = await aiohttp_server(app)
    target = Target(parse_dsn(f"http://{NEW_KEY}@127.0.0.1:{server.port}/5"))
    report = ReplaySummary()
    pacing = Pacing(concurrency=1)
    await replay(make_plan(recorded, target, Options(), pacing), pacing, honour_rate_limits=True, on_result=report.add)
    outcomes = report.outcomes()
    assert (1, 0) == (outcomes["rate-limited"], outcomes["held-back"])
    assert len(recorded) - 1 == outcomes["accepted"]
