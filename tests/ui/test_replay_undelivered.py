"""``replay --undelivered`` through the CLI: what a forwarding listener could not deliver is
sent later, once, to a real server on 127.0.0.1 and to the real Bugsink.

The command runs its own event loop, so it is invoked in a thread while the target keeps
serving on the test's loop.
"""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import sys
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from aiohttp import web
from click.testing import CliRunner

from sentry_mirror.core import envelope
from sentry_mirror.core.auth import parse_dsn
from sentry_mirror.core.forwarding import to_string
from sentry_mirror.io.snapshot import SnapshotWriter, iter_records
from sentry_mirror.ui.cli import cli
from tests.bugsink import Bugsink
from tests.factories import T0, make_answer, make_record, make_request
from tests.ui.test_inspect import event_envelope

ENV = {"COLUMNS": "200", "NO_COLOR": "1"}
REPO = Path(__file__).resolve().parent.parent.parent
SAMPLE = REPO / "snapshots" / "sample-python.jsonl.zst"
KEY = "fedcba9876543210fedcba9876543210"
UPSTREAM = "https://o1.ingest.sentry.io/42"
CAPTURE = "2026-11-23T10-00-00Z-listener-1.jsonl.zst"


async def run(*args: str) -> Any:
    result = await asyncio.to_thread(CliRunner().invoke, cli, list(args), env=ENV)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def forwarded(n: int, event_id: str, to: str = UPSTREAM) -> dict[str, Any]:
    """An event request a forwarding listener recorded ``n`` seconds after T0 and sent on (to ``to``)."""
    request = make_request(path="/api/42/envelope/", body=event_envelope(event_id))
    return make_record(request, received_at=T0 + timedelta(seconds=n), forwarded_to=to)


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    with path.open("wb") as fo:
        writer = SnapshotWriter(fo)
        writer.write(records)
        writer.close()
    return path


def capture(directory: Path, to: str = UPSTREAM) -> tuple[Path, set[str]]:
    """A listener's snapshot (forwarding to ``to``): delivered, failed (503), unanswered, timed
    out, refused by the upstream (429: its verdict, delivered), shadowed only, and not
    forwarded requests. Returns it and the event ids of the undelivered ones."""
    ok, failed, silent, late, limited, shadowed = (forwarded(n, c * 32, to) for n, c in enumerate("abcdef"))
    local = {**forwarded(9, "9" * 32), "forwarded_to": None}
    records = [
        ok,
        make_answer(ok, answered_at=T0 + timedelta(seconds=0.01)),
        failed,
        make_answer(failed, status=503, returned=False),
        silent,
        late,
        make_answer(late, status=None, error="TimeoutError", latency_ms=10_000.0),
        limited,
        make_answer(limited, status=429),
        shadowed,
        make_answer(shadowed, target="candidate", returned=False),
        make_answer(shadowed, status=502),
        local,
    ]
    return write(directory / CAPTURE, records), {"b" * 32, "c" * 32, "d" * 32, "f" * 32}


class Target:
    """A Sentry-like server on 127.0.0.1: answers ``status`` and notes each event id it gets."""

    def __init__(self) -> None:
        self.status = 200
        self.received: list[str] = []
        self.port = 0
        self.latency = 0.0  # seconds before each answer

    async def handle(self, request: web.Request) -> web.Response:
        parsed = envelope.parse(await request.read())
        self.received.append(str(parsed.event_id))
        if self.latency:
            await asyncio.sleep(self.latency)
        return web.json_response({"id": parsed.event_id}, status=self.status)

    def dsn(self, project: int = 5) -> str:
        return f"http://{KEY}@127.0.0.1:{self.port}/{project}"

    @property
    def to(self) -> str:
        """Its :meth:`dsn` as a forwarding listener names it (a capture forwarding to it)."""
        return f"http://127.0.0.1:{self.port}/5"


@pytest.fixture
async def target(aiohttp_server: Callable[..., Awaitable[Any]]) -> Target:
    server = Target()
    app = web.Application()
    app.router.add_post("/api/{project}/envelope/", server.handle)
    server.port = (await aiohttp_server(app)).port
    return server


def answers(directory: Path) -> list[dict[str, Any]]:
    """The answer records replay wrote into ``directory``."""
    return [r.data for r in iter_records(sorted(directory.glob("*Z-replay-*.jsonl.zst")), answers=True)]


async def test_sends_exactly_the_undelivered_once_and_records_the_answers(target: Target, tmp_path: Path) -> None:
    path, undelivered = capture(tmp_path, target.to)
    result = await run("replay", str(tmp_path), "--undelivered", "--to", target.dsn())
    assert 0 == result.exit_code, result.output
    assert sorted(undelivered) == sorted(target.received)
    (written,) = tmp_path.glob("*Z-replay-*.jsonl.zst")
    assert 0o600 == stat.S_IMODE(written.stat().st_mode)
    assert f"recorded 4 answer(s) in {written}" in result.output
    recorded = answers(tmp_path)
    ids = {r.data["summary"]["event_id"]: r.data["id"] for r in iter_records([path])}
    assert {ids[e] for e in undelivered} == {a["request_id"] for a in recorded}
    assert {("upstream", "replay", f"http://127.0.0.1:{target.port}/5", 200, True, False)} == {
        (a["target"], a["via"], a["to"], a["status"], a["delivered"], a["returned"]) for a in recorded
    }
    assert KEY.encode() not in b"".join(orjson.dumps(a) for a in recorded)

    again = await run("replay", str(tmp_path), "--undelivered", "--to", target.dsn())
    assert 0 == again.exit_code, again.output
    assert "nothing undelivered: 6 of 6 forwarded request(s) delivered" in again.output
    assert 4 == len(target.received)
    assert 1 == len(list(tmp_path.glob("*Z-replay-*.jsonl.zst")))  # the second run left no file


async def test_a_failing_target_leaves_them_undelivered_for_the_next_run(target: Target, tmp_path: Path) -> None:
    _, undelivered = capture(tmp_path, target.to)
    target.status = 503
    failing = await run("replay", str(tmp_path), "--undelivered", "--to", target.dsn())
    assert 1 == failing.exit_code, failing.output  # server errors are failures
    assert {(503, False)} == {(a["status"], a["delivered"]) for a in answers(tmp_path)}
    assert 4 == len(answers(tmp_path))

    target.status = 200
    target.received.clear()
    healed = await run("replay", str(tmp_path), "--undelivered", "--to", target.dsn())
    assert 0 == healed.exit_code, healed.output
    assert sorted(undelivered) == sorted(target.received)
    assert "nothing undelivered" in (await run("replay", str(tmp_path), "--undelivered", "--to", target.dsn())).output
    assert 4 == len(target.received)


async def test_a_snapshot_named_as_a_file_finds_the_answers_beside_it(target: Target, tmp_path: Path) -> None:
    """The answers go to the snapshot's directory (or --record-dir), and are read from there."""
    path, _ = capture(tmp_path, target.to)
    elsewhere = tmp_path / "answers"
    first = await run("replay", str(path), "--undelivered", "--to", target.dsn(), "--record-dir", str(elsewhere))
    assert 0 == first.exit_code, first.output
    assert 4 == len(answers(elsewhere)) and [] == answers(tmp_path)
    again = await run("replay", str(path), "--undelivered", "--to", target.dsn(), "--record-dir", str(elsewhere))
    assert "nothing undelivered" in again.output
    assert 4 == len(target.received)


async def test_filters_and_dry_run_keep_working(target: Target, tmp_path: Path) -> None:
    _, undelivered = capture(tmp_path, target.to)
    dry = await run("replay", str(tmp_path), "--undelivered", "--to", target.dsn(), "--dry-run", "--json")
    assert 0 == dry.exit_code, dry.output
    planned = [orjson.loads(line) for line in dry.stdout.splitlines() if line.startswith("{")]
    assert undelivered == {line["event_id"] for line in planned}
    assert [] == target.received and [] == list(tmp_path.glob("*Z-replay-*"))  # a dry run records nothing

    one = await run("replay", str(tmp_path), "--undelivered", "--to", target.dsn(), "--event-id", "c" * 8)
    assert 0 == one.exit_code, one.output
    assert ["c" * 32] == target.received
    rest = await run("replay", str(tmp_path), "--undelivered", "--to", target.dsn(), "--concurrency", "1")
    assert 0 == rest.exit_code, rest.output
    assert sorted(undelivered - {"c" * 32}) == sorted(target.received[1:])


async def test_a_replay_to_another_server_warns_and_delivers_nothing(target: Target, tmp_path: Path) -> None:
    """Requests forwarded to the upstream, replayed --to a staging server: the answers are
    recorded (naming that server), with a warning, and the requests stay undelivered."""
    _, undelivered = capture(tmp_path)  # forwarded to UPSTREAM
    first = await run("replay", str(tmp_path), "--undelivered", "--to", target.dsn())
    assert 0 == first.exit_code, first.output
    assert (
        f"warning: 4 undelivered request(s) were forwarded to {UPSTREAM}: the answers of {target.to} "
        f"will not mark them delivered for {UPSTREAM}"
    ) in first.stderr
    assert {target.to} == {a["to"] for a in answers(tmp_path)} and 4 == len(answers(tmp_path))
    again = await run("replay", str(tmp_path), "--undelivered", "--to", target.dsn())
    assert 0 == again.exit_code, again.output
    assert sorted(undelivered) == sorted(target.received[4:])  # sent again: not delivered to the upstream
    same = await run("replay", str(tmp_path), "--undelivered", "--to", target.dsn(), "--dry-run")
    assert "warning" in same.stderr
    (tmp_path / "own").mkdir()
    path, _ = capture(tmp_path / "own", target.to)
    quiet = await run("replay", str(path), "--undelivered", "--to", target.dsn(), "--dry-run")
    assert "warning" not in quiet.stderr, quiet.stderr


async def test_nothing_forwarded_sends_nothing(target: Target) -> None:
    result = await run("replay", str(SAMPLE), "--undelivered", "--to", target.dsn())
    assert 0 == result.exit_code, result.output
    assert "nothing undelivered: no forwarded request in the snapshots read" in result.output
    assert [] == target.received


# ------------------------------------------------------------------ the real Bugsink


def sample_events_forwarded(directory: Path, to: str) -> tuple[Path, int]:
    """The sample's event requests as a forwarding listener (to ``to``) records them while
    the upstream is down: every one forwarded, answered 503 or not at all."""
    events = [
        r.data
        for r in iter_records([SAMPLE])
        if r.data["response"]["status"] == 200 and [i["type"] for i in r.data["summary"]["items"]] == ["event"]
    ]
    records: list[dict[str, Any]] = []
    for n, data in enumerate(events):
        request = {**data, "forwarded_to": to}
        records.append(request)
        if n % 2:
            records.append(make_answer(request, status=503, returned=False))
    return write(directory / CAPTURE, records), len(events)


async def test_bugsink_stores_each_undelivered_event_once(bugsink: Bugsink, tmp_path: Path) -> None:
    """With fresh ids, a request sent twice would be stored twice: each is stored once."""
    project, dsn = bugsink.project()
    _, count = sample_events_forwarded(tmp_path, to_string(parse_dsn(dsn)))
    assert count >= 2
    args = ("replay", str(tmp_path), "--undelivered", "--to", dsn, "--fresh-ids", "--shift-timestamps")
    result = await run(*args)
    assert 0 == result.exit_code, result.output
    stored = bugsink.stored_events(project)
    assert count == len(stored) == len(set(stored))
    assert {True} == {a["delivered"] for a in answers(tmp_path)} and count == len(answers(tmp_path))
    again = await run(*args)
    assert 0 == again.exit_code and "nothing undelivered" in again.output, again.output
    assert count == len(bugsink.stored_events(project))


async def replaying(target: Target, directory: Path, *args: str) -> asyncio.subprocess.Process:
    """``replay DIRECTORY --undelivered --to TARGET ARGS`` in a process of its own (Ctrl-C is a signal)."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from sentry_mirror.ui.cli import main; main()",
        "replay",
        str(directory),
        "--undelivered",
        "--to",
        target.dsn(),
        *args,
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **ENV},
    )


async def test_ctrl_c_keeps_the_answers_given(target: Target, tmp_path: Path) -> None:
    """Two undelivered requests a minute apart at --speed 1: Ctrl-C after the first is
    answered exits 130 with that answer recorded; the next run sends only the second."""
    first, second = forwarded(0, "a" * 32, target.to), forwarded(60, "b" * 32, target.to)
    write(tmp_path / CAPTURE, [first, second])
    process = await replaying(target, tmp_path, "--speed", "1")
    deadline = time.monotonic() + 30
    while not target.received:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)
    process.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert 130 == process.returncode, (out + err).decode()
    assert "recorded 1 answer(s)" in (out + err).decode()
    assert [first["id"]] == [a["request_id"] for a in answers(tmp_path)]
    rest = await run("replay", str(tmp_path), "--undelivered", "--to", target.dsn())
    assert 0 == rest.exit_code, rest.output
    assert ["a" * 32, "b" * 32] == target.received


async def test_ctrl_c_lets_the_requests_in_flight_finish_and_records_them(target: Target, tmp_path: Path) -> None:
    """60 undelivered, 0.2 s an answer, 8 in flight: after the first Ctrl-C nothing new is
    sent and what was in flight is answered and recorded, so that the next run sends each
    of the others once: the target gets every request exactly once."""
    requests = [forwarded(n, f"{n:032x}", target.to) for n in range(60)]
    write(tmp_path / CAPTURE, requests)
    target.latency = 0.2
    process = await replaying(target, tmp_path)
    deadline = time.monotonic() + 30
    while len(target.received) < 20:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    process.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(process.communicate(), 30)
    assert 130 == process.returncode, (out + err).decode()
    assert "stopping: waiting for the requests in flight" in err.decode()
    sent = len(target.received)
    assert 20 <= sent < 60
    assert sent == len(answers(tmp_path))  # each request the target got has its answer recorded
    rest = await run("replay", str(tmp_path), "--undelivered", "--to", target.dsn())
    assert 0 == rest.exit_code, rest.output
    assert sorted(f"{n:032x}" for n in range(60)) == sorted(target.received)


async def test_a_second_ctrl_c_abandons_the_requests_in_flight(target: Target, tmp_path: Path) -> None:
    write(tmp_path / CAPTURE, [forwarded(n, f"{n:032x}", target.to) for n in range(3)])
    target.latency = 60
    process = await replaying(target, tmp_path)
    deadline = time.monotonic() + 30
    while len(target.received) < 3:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.02)
    process.send_signal(signal.SIGINT)
    await asyncio.sleep(1)
    assert process.returncode is None  # waiting for the answers
    process.send_signal(signal.SIGINT)
    out, err = await asyncio.wait_for(process.communicate(), 10)
    assert 130 == process.returncode, (out + err).decode()
    assert "recorded 0 answer(s)" in (out + err).decode()
    assert [] == answers(tmp_path)
