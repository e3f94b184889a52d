"""The recording replay of ``replay --undelivered`` (sentry_mirror.io.replay_record) against a
real server on 127.0.0.1: every answer recorded, cancelled or not, and a request the target
partly rate-limits kept whole for the next run."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from sentry_mirror.core import envelope
from sentry_mirror.core.auth import parse_dsn
from sentry_mirror.core.replay.plan import Pacing, make_plan
from sentry_mirror.core.replay.results import Result
from sentry_mirror.core.replay.rewrite import Options, Target
from sentry_mirror.io.replay import replay
from sentry_mirror.io.replay_record import (
    Recording,
    answer_files,
    find_undelivered,
    record_directory,
    replay_recorded,
)
from sentry_mirror.io.snapshot import SnapshotWriter, iter_records
from tests.factories import T0, make_envelope, make_event, make_record, make_request

KEY = "fedcba9876543210fedcba9876543210"
ONE = Pacing(concurrency=1)
UPSTREAM = "http://127.0.0.1:1/42"  # where the listener forwarded them; the recordings name it too


def forwarded(n: int, *, attachment: bool = False) -> dict[str, Any]:
    event_id = f"{n:x}" * 32
    items: list[tuple[dict[str, Any], Any]] = [({"type": "event"}, make_event(event_id=event_id))]
    if attachment:
        items.append(({"type": "attachment", "filename": "a.txt"}, b"hello"))
    body = make_envelope({"event_id": event_id}, items)
    request = make_request(path="/api/42/envelope/", body=body)
    return make_record(request, received_at=T0 + timedelta(seconds=n), forwarded_to=UPSTREAM)


async def serve(
    aiohttp_server: Callable[..., Awaitable[Any]], handle: Callable[..., Awaitable[web.Response]]
) -> Target:
    app = web.Application()
    app.router.add_post("/api/{project}/envelope/", handle)
    server = await aiohttp_server(app)
    return Target(parse_dsn(f"http://{KEY}@127.0.0.1:{server.port}/5"))


def recorded(directory: Path) -> list[dict[str, Any]]:
    return [r.data for r in iter_records(answer_files(directory), answers=True)]


async def test_a_partly_rate_limited_request_is_held_whole(
    aiohttp_server: Callable[..., Awaitable[Any]], tmp_path: Path
) -> None:
    """The first answer limits attachments: an event with an attachment waits whole (a plain
    replay sends it without the attachment, which would then be lost)."""
    seen: list[tuple[str, ...]] = []

    async def handle(request: web.Request) -> web.Response:
        parsed = envelope.parse(await request.read())
        seen.append(parsed.item_types)
        return web.json_response(
            {"id": parsed.event_id}, headers={"X-Sentry-Rate-Limits": "60:attachment:organization"}
        )

    target = await serve(aiohttp_server, handle)
    records = [forwarded(1), forwarded(2, attachment=True), forwarded(3)]
    results: list[Result] = []
    recording = Recording(tmp_path, UPSTREAM)
    await replay_recorded(make_plan(records, target, Options(), ONE), ONE, recording, on_result=results.append)
    assert [("event",), ("event",)] == seen
    assert ["accepted", "held-back", "accepted"] == [r.outcome for r in results]
    assert (2, 0) == (recording.recorded, recording.unrecorded)
    assert [records[0]["id"], records[2]["id"]] == [a["request_id"] for a in recorded(tmp_path)]
    assert [records[1]["id"]] == [d["id"] for d in _undelivered_requests(tmp_path, records)]

    seen.clear()
    await replay(make_plan(records, target, Options(), ONE), ONE)
    assert [("event",), ("event",), ("event",)] == seen  # the attachment left out


def _undelivered_requests(directory: Path, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    capture = directory / "2026-11-23T10-00-00Z-listener-1.jsonl.zst"
    with capture.open("wb") as fo:
        writer = SnapshotWriter(fo)
        writer.write(records)
        writer.close()
    found = find_undelivered((str(capture),), directory)
    return [d for d in records if d["id"] in found]


async def test_cancelled_the_answers_given_are_recorded(
    aiohttp_server: Callable[..., Awaitable[Any]], tmp_path: Path
) -> None:
    """Ctrl-C cancels the replay: the answer already given is on disk, the request in
    flight has none (it stays undelivered)."""
    release = asyncio.Event()

    async def handle(request: web.Request) -> web.Response:
        parsed = envelope.parse(await request.read())
        if parsed.event_id != "1" * 32:
            await release.wait()
        return web.json_response({"id": parsed.event_id})

    target = await serve(aiohttp_server, handle)
    records = [forwarded(1), forwarded(2)]
    first = asyncio.Event()
    recording = Recording(tmp_path, UPSTREAM)
    task = asyncio.ensure_future(
        replay_recorded(make_plan(records, target, Options(), ONE), ONE, recording, on_result=lambda _: first.set())
    )
    try:
        await asyncio.wait_for(first.wait(), 30)
        await asyncio.sleep(0.1)  # the second request is in flight
        task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            pass
    finally:
        release.set()
    assert [records[0]["id"]] == [a["request_id"] for a in recorded(tmp_path)]
    assert 1 == recording.recorded and [recording.paths[0]] == answer_files(tmp_path)


def test_answers_go_beside_the_first_snapshot_named(tmp_path: Path) -> None:
    capture = tmp_path / "a.jsonl.zst"
    capture.touch()
    assert tmp_path == record_directory((str(capture),))
    assert tmp_path == record_directory((str(tmp_path),))
    assert tmp_path == record_directory((str(tmp_path / "*.jsonl.zst"),))
    assert Path("snapshots") == record_directory(())
    assert [] == answer_files(tmp_path / "missing")
