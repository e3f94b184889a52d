"""Real SDKs through ``sentry-mirror listen --forward`` (a real process of the CLI) to real servers.

The SDKs run as their own processes: sentry-python (``forward_app.py`` here, and the
conformance tests' ``failure_app.py``) and @sentry/node (``tests/conformance/js/node_app.js``).
Upstreams are the session's real Bugsink (``tests/bugsink.py``), real aiohttp stubs on
127.0.0.1 (one that answers a rate limit, one that is slow) and a closed port (an outage).

What is checked, end to end (issue 14):

- every event the SDK reports is stored upstream and in the snapshot, and every request
  the listener sent on has the upstream's answer recorded (an answer record);
- the upstream's rate limit reaches the SDK through the mirror, which then holds back
  what it would hold back talking to the upstream directly;
- with the upstream down the SDK still gets answers, the records say undelivered, and
  ``replay --undelivered`` delivers each of them once;
- candidates (``--tee``) that are slow or down do not slow the SDK down.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import signal
import statistics
import sys
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from sentry_mirror.core import answer
from sentry_mirror.io import tee
from sentry_mirror.io.snapshot import iter_records
from tests.bugsink import Bugsink
from tests.conformance.clients import JS_DIR, need_node, run
from tests.conformance.scripted_server import Answer, ScriptedServer, Seen, scripted_server
from tests.conformance.test_failure_answers import _discarded
from tests.stubs import Stub, closed_port_dsn

APP = Path(__file__).with_name("forward_app.py")
FAILURE_APP = Path(__file__).parent.parent / "conformance" / "failure_app.py"
DSN_LINE = re.compile(r"DSN\s+(http://\S+)")


# ------------------------------------------------------------------ the listener, as users run it


@dataclass
class Listener:
    """A running ``sentry-mirror listen`` process: the DSN it printed, and what it wrote."""

    dsn: str
    directory: Path
    output: list[str] = field(default_factory=list)

    def records(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """(request records, answer records), as the readers give them with ``answers=True``."""
        warnings: list[str] = []
        read = [r.data for r in iter_records([self.directory], on_warning=warnings.append, answers=True)]
        assert [] == warnings
        return [d for d in read if not answer.is_answer(d)], [d for d in read if answer.is_answer(d)]


def _environment() -> dict[str, str]:
    """This environment without Sentry's or the mirror's own settings (``SENTRY_MIRROR_FORWARD``...)."""
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("SENTRY_")}


async def _drain(stream: asyncio.StreamReader, into: list[str]) -> None:
    while line := await stream.readline():
        into.append(line.decode("utf-8", "replace"))


@contextlib.asynccontextmanager
async def listening(directory: Path, *options: str) -> AsyncIterator[Listener]:
    """``sentry-mirror listen --port 0 --quiet OPTIONS``; stopped with SIGTERM, which must exit 0."""
    argv = [sys.executable, "-m", "sentry_mirror", "listen", "--port", "0", "--dir", str(directory), "--quiet"]
    proc = await asyncio.create_subprocess_exec(
        *argv, *options, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=_environment()
    )
    assert proc.stdout is not None and proc.stderr is not None
    output: list[str] = []
    errors: list[str] = []
    drains = [asyncio.create_task(_drain(proc.stderr, errors))]
    try:
        while not (match := DSN_LINE.search(output[-1] if output else "")):
            line = await asyncio.wait_for(proc.stdout.readline(), 30)
            assert line, f"the listener exited before printing its DSN: {''.join(errors)}"
            output.append(line.decode("utf-8", "replace"))
        drains.append(asyncio.create_task(_drain(proc.stdout, output)))
        yield Listener(match.group(1), directory, output)
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(proc.wait(), 60)
        await asyncio.gather(*drains)
    assert 0 == code, "".join(errors)


def upstream_dsn(dsn: str, port: int) -> str:
    """``dsn`` with its host and port replaced by 127.0.0.1:``port`` (key and project kept)."""
    parts = urlsplit(dsn)
    return f"{parts.scheme}://{parts.username}@127.0.0.1:{port}{parts.path}"


def to_string(dsn: str) -> str:
    """The ``to`` of the design: scheme, host, port and path of a DSN, never its key."""
    parts = urlsplit(dsn)
    return f"{parts.scheme}://{parts.hostname}:{parts.port}{parts.path}"


async def python_app(dsn: str, report: Path, events: int, *flags: str) -> dict[str, Any]:
    """Run ``forward_app.py`` against ``dsn``; its report."""
    ran = await run([sys.executable, str(APP), dsn, str(report), str(events), *flags], cwd=report.parent, timeout=60)
    assert 0 == ran.returncode, ran.stderr
    result: dict[str, Any] = json.loads(report.read_text())
    return result


def answers_by_request(answers: list[dict[str, Any]], target: str = "upstream") -> dict[str, list[dict[str, Any]]]:
    by_request: dict[str, list[dict[str, Any]]] = {}
    for data in answers:
        if data["target"] == target:
            by_request.setdefault(data["request_id"], []).append(data)
    return by_request


def header(data: dict[str, Any], name: str) -> str | None:
    values = [v for k, v in data["headers"] if k.lower() == name.lower()]
    return values[0] if values else None


def check_forwarded(listener: Listener, upstream: str, statuses: list[int]) -> list[dict[str, Any]]:
    """Every request record was sent on to ``upstream`` and has exactly one upstream answer,
    returned to the SDK and delivered; their statuses are the ones the SDK saw. The requests."""
    requests, answers = listener.records()
    assert len(statuses) == len(requests)
    assert {to_string(upstream)} == {r["forwarded_to"] for r in requests}
    by_request = answers_by_request(answers)
    assert sorted(by_request) == sorted(r["id"] for r in requests)
    for request in requests:
        [upstream_answer] = by_request[request["id"]]
        assert answer.problem(upstream_answer) is None
        assert (to_string(upstream), "listen") == (upstream_answer["to"], upstream_answer["via"])
        assert (True, True, False) == (
            upstream_answer["returned"],
            upstream_answer["delivered"],
            upstream_answer["dropped"],
        )
        assert upstream_answer["error"] is None and upstream_answer["latency_ms"] >= 0
        assert request["endpoint"] == upstream_answer["endpoint"]
    assert Counter(statuses) == Counter(a[0]["status"] for a in by_request.values())
    # the key is in no record beyond what the SDK itself sent
    key = urlsplit(upstream).username
    assert key and not any(key in json.dumps(a) for a in answers)
    return requests


def event_ids(requests: list[dict[str, Any]]) -> set[str]:
    return {r["summary"]["event_id"] for r in requests} - {None}


# ------------------------------------------------------------------ Bugsink as the upstream


async def test_sentry_python_through_the_mirror_into_bugsink(bugsink: Bugsink, tmp_path: Path) -> None:
    """Every event sentry-python reports is stored by Bugsink and in the snapshot; the SDK got
    Bugsink's own answers (its rate limit on transactions too) and they are recorded."""
    project_id, dsn = bugsink.project()
    async with listening(tmp_path / "snapshots", "--forward", dsn) as listener:
        assert upstream_dsn(dsn, urlsplit(listener.dsn).port or 0) == listener.dsn  # key and project kept
        report = await python_app(listener.dsn, tmp_path / "report.json", 3, "--transaction")
    assert [] == [r for r in report["requests"] if "error" in r]
    assert 3 == len(report["event_ids"])
    assert sorted(report["event_ids"]) == sorted(bugsink.stored_events(project_id))
    requests = check_forwarded(listener, dsn, [r["status"] for r in report["requests"]])
    assert set(report["event_ids"]) <= event_ids(requests)
    # Bugsink stores no transactions and says so with a rate limit in every answer: it reached
    # the SDK through the mirror, which then held back the transaction it captured after the first event
    _, answers = listener.records()
    limits = {header(a, "X-Sentry-Rate-Limits") for a in answers}
    assert len(limits) == 1 and None not in limits
    assert limits == {r["rate_limits"] for r in report["requests"]}
    assert "transaction" in (limits.pop() or "")
    assert ["ratelimit_backoff", "transaction"] in report["lost"]


async def test_sentry_node_through_the_mirror_into_bugsink(bugsink: Bugsink, tmp_path: Path) -> None:
    """@sentry/node's traffic (errors, attachments, a transaction, a session, a check-in, logs):
    Bugsink stores every event it reports; each request has Bugsink's answer recorded."""
    node = need_node("@sentry/node")
    project_id, dsn = bugsink.project()
    async with listening(tmp_path / "snapshots", "--forward", dsn) as listener:
        ran = await run([node, "node_app.js", listener.dsn, "static", str(tmp_path / "report.json")], cwd=JS_DIR)
    assert 0 == ran.returncode, ran.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["flushed"] is True
    assert [] == report["transport_errors"]
    assert [] == [r for r in report["requests"] if "error" in r]
    assert 3 == len(report["event_ids"])
    assert sorted(report["event_ids"]) == sorted(bugsink.stored_events(project_id))
    requests = check_forwarded(listener, dsn, [r["status"] for r in report["requests"]])
    assert set(report["event_ids"]) <= event_ids(requests)
    # what the SDK got is Bugsink's answer: its body (the event id, or nothing) and rate limits
    _, answers = listener.records()
    bodies = Counter(a["body"] for a in answers)
    assert bodies == Counter(r["response_body"] for r in report["requests"])
    seen_limits = Counter(r["response_headers"].get("x-sentry-rate-limits") for r in report["requests"])
    assert seen_limits == Counter(header(a, "X-Sentry-Rate-Limits") for a in answers)


# ------------------------------------------------------------------ a rate limit, through the mirror and without


RATE_LIMIT = Answer(429, {"X-Sentry-Rate-Limits": "60:transaction:organization"})


def _arrived(seen: list[Seen], report: dict[str, Any]) -> list[tuple[str, str]]:
    """(phase, kind) of every event and transaction of the app's report that reached the server."""
    ids = Counter(i for s in seen for i in s.event_ids())
    return [
        (phase["name"], kind)
        for phase in report["phases"]
        for kind in ("error", "transaction")
        if phase[kind] and ids[phase[kind]]
    ]


def _failure_app_argv(sdk: str) -> list[str]:
    """The conformance tests' failure app of ``sdk`` (its DSN, wait and report path follow)."""
    if sdk == "python":
        return [sys.executable, str(FAILURE_APP)]
    return [need_node("@sentry/node"), str(JS_DIR / "failure_node_app.js")]


async def _failure_app(sdk: str, dsn: str, workdir: Path) -> dict[str, Any]:
    workdir.mkdir()
    report = workdir / "report.json"
    argv = [*_failure_app_argv(sdk), dsn, "0.2", str(report)] + (["static"] if sdk == "node" else [])
    ran = await run(argv, env={"HOME": str(workdir)}, cwd=workdir, timeout=60)
    assert 0 == ran.returncode, ran.stderr
    result: dict[str, Any] = json.loads(report.read_text())
    return result


#: What the upstream answers the error in hand, and the listener's options: a rate limit and a
#: 413 are the upstream's verdict, passed on in any mode; a 503 only with ``--upstream-failure pass``.
FAILURES = {
    "429-transaction-limit": (RATE_LIMIT, ()),
    "503-retry-after-pass": (Answer(503, {"Retry-After": "60"}), ("--upstream-failure", "pass")),
    "413": (Answer(413), ()),
}


@pytest.mark.parametrize("scenario", list(FAILURES))
@pytest.mark.parametrize("sdk", ["python", "node"])
async def test_a_failure_answer_reaches_the_sdk_as_without_the_mirror(tmp_path: Path, sdk: str, scenario: str) -> None:
    """The upstream answers the first error with a failure: the real SDK (sentry-python,
    @sentry/node), through the mirror, then sends and holds back exactly what it does talking
    to that upstream directly, and its client reports say the same (both run at the same
    time; sessions left out of the reports, as in the conformance tests). A 429 with a 60 s
    limit on transactions: the SDK stops sending them and reports ``ratelimit_backoff``."""
    failure, options = FAILURES[scenario]

    async def through_the_mirror(server: ScriptedServer) -> tuple[dict[str, Any], Listener]:
        async with listening(tmp_path / "snapshots", "--forward", server.dsn(), *options) as listener:
            return await _failure_app(sdk, listener.dsn, tmp_path / "mirrored"), listener

    async with scripted_server(failure) as direct, scripted_server(failure) as upstream:
        alone, (mirrored, listener) = await asyncio.gather(
            _failure_app(sdk, direct.dsn(), tmp_path / "direct"), through_the_mirror(upstream)
        )
    assert _arrived(direct.seen, alone) == _arrived(upstream.seen, mirrored)
    assert _discarded(direct.seen) == _discarded(upstream.seen)
    assert [failure.status] == [s.status for s in upstream.seen if s.status != 200]

    # the snapshot: the failure is recorded as the SDK got it, on the error in hand
    requests, answers = listener.records()
    [failed] = [a for a in answers if a["status"] == failure.status]
    assert failure.headers.items() <= dict(failed["headers"]).items()
    assert (True, failure.status < 500) == (failed["returned"], failed["delivered"])
    failed_request = next(r for r in requests if r["id"] == failed["request_id"])
    assert mirrored["phases"][0]["error"] == failed_request["summary"]["event_id"]
    if failure is RATE_LIMIT:
        assert [("first", "error"), ("second", "error"), ("third", "error")] == _arrived(upstream.seen, mirrored)
        assert 2 == _discarded(upstream.seen)[("ratelimit_backoff", "transaction")]
        assert "transaction" not in {item["type"] for r in requests for item in r["summary"]["items"]}


# ------------------------------------------------------------------ the upstream down for a while


async def _while_down(bugsink: Bugsink, tmp_path: Path) -> tuple[int, str, dict[str, Any], Listener]:
    """sentry-python through a listener whose upstream (Bugsink's project, on a closed port) is down."""
    project_id, dsn = bugsink.project()
    down = upstream_dsn(dsn, urlsplit(closed_port_dsn()).port or 0)
    async with listening(tmp_path / "snapshots", "--forward", down, "--forward-timeout", "2s") as listener:
        report = await python_app(listener.dsn, tmp_path / "report.json", 3)
    # the SDK kept getting answers: the mirror's own (the request is on disk)
    assert [200, 200, 200] == [r.get("status") for r in report["requests"]]
    requests, answers = listener.records()
    assert set(report["event_ids"]) == event_ids(requests)
    assert {to_string(down)} == {r["forwarded_to"] for r in requests}
    by_request = answers_by_request(answers)
    assert sorted(by_request) == sorted(r["id"] for r in requests)
    for [failed] in by_request.values():
        assert (False, False, None) == (failed["delivered"], failed["returned"], failed["status"])
        assert failed["error"]
    assert [] == bugsink.stored_events(project_id)
    # the banner says where requests go, the stop line what became of them; the key only in the DSN to paste
    stop = [line for line in listener.output if to_string(down) in line and "undelivered" in line]
    assert stop and "3 undelivered" in stop[-1], listener.output
    assert f"forwarding to {to_string(down)}" in "".join(listener.output)
    key = urlsplit(dsn).username or ""
    assert [listener.dsn] == [m.group(1) for line in listener.output if key in line and (m := DSN_LINE.search(line))]
    assert 1 == sum(key in line for line in listener.output)
    return project_id, dsn, report, listener


async def test_with_the_upstream_down_the_sdk_gets_answers_and_records_say_undelivered(
    bugsink: Bugsink, tmp_path: Path
) -> None:
    await _while_down(bugsink, tmp_path)


def _replay_undelivered(directory: Path, dsn: str) -> list[str]:
    return [sys.executable, "-m", "sentry_mirror", "replay", str(directory), "--undelivered", "--to", dsn]


async def test_replay_undelivered_delivers_each_once(bugsink: Bugsink, tmp_path: Path) -> None:
    """After the outage, ``replay --undelivered`` sends each undelivered request to Bugsink
    once (its answers recorded beside the requests); a second run sends nothing."""
    project_id, dsn, report, listener = await _while_down(bugsink, tmp_path)
    requests, _ = listener.records()

    ran = await run(_replay_undelivered(listener.directory, dsn), env=_environment(), cwd=tmp_path)
    assert 0 == ran.returncode, ran.stdout + ran.stderr
    stored = bugsink.stored_events(project_id)
    assert sorted(report["event_ids"]) == sorted(stored)
    _, answers = listener.records()
    replayed = [a for a in answers if a["via"] == "replay"]
    assert sorted(r["id"] for r in requests) == sorted(a["request_id"] for a in replayed)
    assert {("upstream", to_string(dsn), True, 200)} == {
        (a["target"], a["to"], a["delivered"], a["status"]) for a in replayed
    }

    again = await run(_replay_undelivered(listener.directory, dsn), env=_environment(), cwd=tmp_path)
    assert 0 == again.returncode, again.stdout + again.stderr
    assert answers == listener.records()[1]  # nothing sent, nothing recorded
    assert sorted(stored) == sorted(bugsink.stored_events(project_id))


# ------------------------------------------------------------------ candidates that are slow or down

SLOW_SECONDS = 2.0
#: Requests the SDK sends: more than a candidate's workers and its queue of one can take at once.
LATENCY_EVENTS = tee.WORKERS + 4


async def test_slow_or_down_candidates_do_not_slow_the_sdk(
    stubs: Callable[..., Awaitable[Stub]], tmp_path: Path
) -> None:
    """The SDK's own latency, timed at the client for each request, with ``--tee`` to a
    candidate that takes 2 s to answer (and whose queue of one fills up) and to one that is
    down, stays that of a run without candidates (medians within a generous factor; no
    request waited for the slow one). What each candidate answered, or that a copy was
    dropped, is recorded and counted."""
    upstream, slow, down = (await stubs()).dsn(), await stubs(delay=SLOW_SECONDS), closed_port_dsn()
    async with listening(tmp_path / "plain", "--forward", upstream) as plain_listener:
        plain = await python_app(plain_listener.dsn, tmp_path / "plain.json", LATENCY_EVENTS)
    tee = ("--tee", slow.dsn(), "--tee", down, "--tee-queue", "1", "--forward-timeout", "3s")
    async with listening(tmp_path / "tee", "--forward", upstream, *tee) as listener:
        teed = await python_app(listener.dsn, tmp_path / "tee.json", LATENCY_EVENTS)
    for report in (plain, teed):
        assert [200] * LATENCY_EVENTS == [r.get("status") for r in report["requests"]]
    plain_ms = statistics.median(r["ms"] for r in plain["requests"])
    teed_ms = [r["ms"] for r in teed["requests"]]
    assert statistics.median(teed_ms) < 3 * plain_ms + 50, (plain_ms, teed_ms)
    assert max(teed_ms) < SLOW_SECONDS * 1000, teed_ms

    # the SDK got the upstream's answers only; every copy has one answer record, never returned
    requests, answers = listener.records()
    check_forwarded(listener, upstream, [200] * LATENCY_EVENTS)
    ids = sorted(r["id"] for r in requests)
    copies = {to: [a for a in answers if a["to"] == to] for to in (to_string(slow.dsn()), to_string(down))}
    for to, sent in copies.items():
        assert ids == sorted(a["request_id"] for a in sent), to
        assert {"candidate"} == {a["target"] for a in sent} and not any(a["returned"] for a in sent)
    # the one down answered nothing; the slow one answered each copy it got after its 2 s, and
    # the copies that found its queue full were dropped (recorded, counted in the stop line)
    assert {(None, False, False)} == {(a["status"], a["delivered"], a["dropped"]) for a in copies[to_string(down)]}
    slow_copies = copies[to_string(slow.dsn())]
    dropped = [a for a in slow_copies if a["dropped"]]
    assert {(None, False, "queue full")} == {(a["status"], a["delivered"], a["error"]) for a in dropped}
    taken = [a for a in slow_copies if not a["dropped"]]
    assert {(200, True)} == {(a["status"], a["delivered"]) for a in taken}
    assert all(a["latency_ms"] >= SLOW_SECONDS * 1000 for a in taken)
    assert len(taken) == len(slow.received) and dropped, "the slow candidate never fell behind"
    stop = next(line for line in listener.output if to_string(slow.dsn()) in line and "delivered" in line)
    assert f"{len(taken)} delivered" in stop and f"{len(dropped)} dropped" in stop, stop
