"""Real SDKs against a real sentry-mirror listener with scripted answers, and the behaviour
report's verdicts on what they did (docs/sdk-failure-behaviour.md, "Under sentry-mirror's
scenarios").

Each SDK runs as a real app in its own process (sentry-python: ``failure_app.py``;
@sentry/node with classic transactions: ``js/failure_node_app.js``), in their ``steady``
mode: an error and a transaction (with one child span), then a flush, every 0.2 s for
``STEADY`` seconds, then close. The app loads its SDK first and only then gets the DSN of
a listener started (in this process, ``io.listener.listen``) with one scenario:

- ``rate-limit-transactions:2s``: the first request of transactions gets 429 with
  ``X-Sentry-Rate-Limits: 2:transaction:organization:quota_exceeded``, and so would every
  other for the next 2 s;
- ``outage:3s``: every request gets 503 for 3 s from the listener's start.

The tests assert what the snapshot holds (what was sent, when, and the answer it got) and
``sentry-mirror report --json``'s ``behaviour`` section on it. Every SDK and scenario runs
at the same time, each against its own listener; the runs happen once per module.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
import sentry_sdk

from sentry_mirror.core import envelope
from sentry_mirror.core.record import Record
from sentry_mirror.core.script.model import Script
from sentry_mirror.core.script.presets import scenario
from sentry_mirror.io.listener import ListenOptions, Ready, listen
from sentry_mirror.io.snapshot import iter_records
from tests.conformance.clients import JS_DIR, finish, installed_version, need_node, pinned_version, run, start

ROOT = Path(__file__).parents[2]
WINDOW = 2  # seconds: the rate limit's window
OUTAGE = 3  # seconds: the outage's (longer: the apps need some of it to start sending)
STEADY = 5  # seconds the apps send for
SCENARIOS = {
    "rate-limit-transactions": f"rate-limit-transactions:{WINDOW}s",
    "outage": f"outage:{OUTAGE}s",
}
SDKS = {"python": "sentry.python", "node": "sentry.javascript.node"}


@dataclass(frozen=True)
class Sent:
    """One request in the snapshot: when, what, and the answer it got."""

    at: float
    types: tuple[str, ...]
    status: int
    event_ids: tuple[str, ...]
    discarded: tuple[tuple[str, str, int], ...]
    scripted: dict[str, Any] | None
    headers: dict[str, str]

    @classmethod
    def of(cls, record: Record) -> Sent:
        items = envelope.parse(record.body).items
        payloads = [(item.type, item.json()) for item in items if item.type != "attachment"]
        return cls(
            at=record.received_at.timestamp(),
            types=tuple(t for t, _ in payloads),
            status=record.status,
            event_ids=tuple(p["event_id"] for t, p in payloads if t in ("event", "transaction")),
            discarded=tuple(
                (d["reason"], d["category"], d["quantity"])
                for t, p in payloads
                if t == "client_report"
                for d in p.get("discarded_events", [])
            ),
            scripted=record.data.get("scripted"),
            headers={k.lower(): v for k, v in record.data["response"]["headers"]},
        )


@dataclass(frozen=True)
class Outcome:
    """One SDK under one scenario: the app's report, the snapshot, and the behaviour report."""

    app: dict[str, Any]
    sent: list[Sent]
    started: float  # when the listener started (its scripted windows count from then)
    behaviour: dict[str, Any]  # the report's entry for this SDK

    def ids(self, kind: str) -> list[str]:
        """The ids the app gave its errors (``error``) or transactions (``transaction``)."""
        return [tick[kind] for tick in self.app["phases"]]

    def verdicts(self) -> dict[str, str]:
        return {v["check"]: v["status"] for v in self.behaviour["verdicts"]}

    def discarded(self, *, answered: int | None = None) -> dict[tuple[str, str], int]:
        """The client reports' counts, summed by (reason, category), of the requests that got
        ``answered`` (any answer when None); sessions left out (a race, as in
        test_failure_answers.py)."""
        out: Counter[tuple[str, str]] = Counter()
        for s in self.sent:
            if answered is None or s.status == answered:
                for reason, category, quantity in s.discarded:
                    if category != "session":
                        out[reason, category] += quantity
        return dict(out)


@contextlib.asynccontextmanager
async def _listener(spec: str, directory: Path) -> AsyncIterator[Ready]:
    """A real listener on 127.0.0.1 port 0 answering as the scenario says."""
    ready: list[Ready] = []
    stop = asyncio.Event()
    options = ListenOptions(port=0, directory=directory, script=Script(rules=scenario(spec)))
    task = asyncio.create_task(listen(options, on_ready=ready.append, stop=stop))
    while not ready and not task.done():
        await asyncio.sleep(0.005)
    if task.done():
        task.result()  # raises why it did not start
    try:
        yield ready[0]
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)


AppArgv = Callable[[Path], list[str]]


async def _run_app(name: str, spec: str, argv: AppArgv, root: Path) -> tuple[dict[str, Any], Path, float]:
    """Start the app, wait until it is ready, start the listener, give the app its DSN."""
    workdir = root / name
    workdir.mkdir()
    proc = await start(argv(workdir), env={"HOME": str(workdir)}, cwd=workdir, stdin=subprocess.PIPE)
    assert proc.stdout is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 60)
    if line != b"ready\n":
        ran = await finish(proc)
        pytest.fail(f"{name} did not start: {line!r} {ran.stderr}")
    snapshots = workdir / "snapshots"
    try:
        async with _listener(spec, snapshots) as ready:
            started = time.time()
            dsn = f"http://mirror@127.0.0.1:{ready.port}/1\n"
            ran = await finish(proc, stdin=dsn.encode(), timeout=60)
    finally:
        if proc.returncode is None:  # the listener did not start: the app waits for its DSN
            proc.kill()
            await proc.wait()
    assert 0 == ran.returncode, ran.stderr
    app = orjson.loads((workdir / "report.json").read_bytes())
    return app, snapshots, started


async def _outcome(name: str, spec: str, argv: AppArgv, root: Path, sdk: str) -> Outcome:
    app, snapshots, started = await _run_app(name, spec, argv, root)
    # The report as a user gets it: the CLI, on the snapshot directory.
    reported = await run(
        [sys.executable, "-m", "sentry_mirror", "report", "--format", "json", str(snapshots)], cwd=ROOT
    )
    assert 0 == reported.returncode, reported.stderr
    behaviour = orjson.loads(reported.stdout)["behaviour"]
    [entry] = [e for e in behaviour["sdks"] if e["sdk"] == sdk]
    sent = [Sent.of(r) for r in iter_records([snapshots])]
    return Outcome(app, sent, started, entry)


def _apps() -> dict[str, AppArgv]:
    """The apps to run: node's only when node and @sentry/node are there (outside CI the node
    tests then skip; in CI the missing node fails here)."""
    python_app = str(Path(__file__).with_name("failure_app.py"))
    apps: dict[str, AppArgv] = {
        "python": lambda wd: [sys.executable, python_app, "-", str(STEADY), str(wd / "report.json"), "steady"]
    }
    try:
        node = need_node("@sentry/node")
    except pytest.skip.Exception:
        return apps
    node_app = str(JS_DIR / "failure_node_app.js")
    apps["node"] = lambda wd: [node, node_app, "-", str(STEADY), str(wd / "report.json"), "static", "steady"]
    return apps


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Every app under every scenario, all at the same time."""
    root = tmp_path_factory.mktemp("scenarios")
    apps = _apps()
    names = [f"{sdk}-{scenario}" for sdk in apps for scenario in SCENARIOS]

    async def run_all() -> list[Outcome]:
        return await asyncio.gather(
            *(
                _outcome(f"{sdk}-{scenario}", spec, apps[sdk], root, SDKS[sdk])
                for sdk in apps
                for scenario, spec in SCENARIOS.items()
            )
        )

    return dict(zip(names, asyncio.run(run_all()), strict=True))


def _outcome_of(runs: dict[str, Outcome], sdk: str, name: str) -> Outcome:
    if sdk == "node":
        need_node("@sentry/node")  # skips (or fails in CI) as the fixture did not run it
    outcome = runs[f"{sdk}-{name}"]
    version = sentry_sdk.VERSION if sdk == "python" else installed_version("@sentry/node")
    assert (SDKS[sdk], version) == (outcome.behaviour["sdk"], outcome.behaviour["version"])
    assert version == outcome.app["sdk"]
    return outcome


def _no_failed_verdict(outcome: Outcome) -> None:
    assert [] == [v for v in outcome.behaviour["verdicts"] if v["status"] == "fail"], outcome.behaviour


# rate-limit-transactions -------------------------------------------------------------------


@pytest.mark.parametrize("sdk", list(SDKS))
def test_rate_limit_transactions(runs: dict[str, Outcome], sdk: str) -> None:
    """Both SDKs: the first transaction gets the 429; transactions are held back for the
    window and sent again after it; errors keep flowing; each held-back transaction is in a
    client report as ``ratelimit_backoff`` (with its two spans); the verdicts pass."""
    outcome = _outcome_of(runs, sdk, "rate-limit-transactions")
    sent = outcome.sent
    [limited] = [s for s in sent if s.scripted is not None]
    assert (("transaction",), 429) == (limited.types, limited.status)
    assert (outcome.ids("transaction")[0],) == limited.event_ids
    assert f"{WINDOW}:transaction:organization:quota_exceeded" == limited.headers["x-sentry-rate-limits"]
    assert str(WINDOW) == limited.headers["retry-after"]
    others = [s for s in sent if s is not limited]
    assert {200} == {s.status for s in others}

    # Transactions: none inside the window, sent again after it.
    transactions = [s for s in others if "transaction" in s.types]
    assert [] == [s.at - limited.at for s in transactions if s.at < limited.at + WINDOW]
    assert transactions, "transactions never came back"
    # Errors: every one sent once, also inside the window.
    ids = Counter(i for s in sent for i in s.event_ids)
    assert {1} == {ids[e] for e in outcome.ids("error")}
    assert any(limited.at < s.at < limited.at + WINDOW for s in others if "event" in s.types)
    # Every transaction sent at most once; those never sent are the ones reported.
    assert {0, 1} >= {ids[t] for t in outcome.ids("transaction")}
    held = sum(1 for t in outcome.ids("transaction") if ids[t] == 0)
    assert held >= 3  # ticks inside the window
    backoff = {("ratelimit_backoff", "transaction"): held, ("ratelimit_backoff", "span"): 2 * held}
    assert backoff == outcome.discarded()

    # The behaviour report says so.
    verdicts = outcome.verdicts()
    assert ("pass", "pass", "pass", "pass") == tuple(
        verdicts[c] for c in ("backoff", "scope", "resume", "client_reports")
    )
    _no_failed_verdict(outcome)
    reported = {(c["reason"], c["category"]): c["quantity"] for c in outcome.behaviour["client_reports"]}
    assert backoff == reported


# outage ------------------------------------------------------------------------------------


def _outage(outcome: Outcome) -> tuple[list[Sent], list[Sent]]:
    """Every request got 503 until the window ended, then 200; every error and transaction
    was sent exactly once (the 503'd ones were neither retried nor kept for later, and
    nothing was held back after a 503). The 503'd requests and the others."""
    sent = outcome.sent
    failed = [s for s in sent if s.status == 503]
    assert failed and len(failed) < len(sent)
    assert sent[: len(failed)] == failed
    assert all(s.scripted is not None for s in failed)
    assert all(s.scripted is None and s.status == 200 for s in sent[len(failed) :])
    assert failed[-1].at < outcome.started + OUTAGE
    assert sent[len(failed)].at > outcome.started + OUTAGE - 0.5  # (started: taken just after the start)
    ids = Counter(i for s in sent for i in s.event_ids)
    wanted = outcome.ids("error") + outcome.ids("transaction")
    assert Counter(wanted) == ids
    return failed, sent[len(failed) :]


def test_outage_python(runs: dict[str, Outcome]) -> None:
    """sentry-python drops each 503'd envelope and reports it (``network_error``, with the
    next flush). During the outage those reports get 503 too: each lost report is counted
    (``network_error``/``internal``) in the next one, so only the last loss reaches a
    working server."""
    outcome = _outcome_of(runs, "python", "outage")
    failed, _ = _outage(outcome)
    errors = sum(1 for s in failed if "event" in s.types)
    transactions = sum(1 for s in failed if "transaction" in s.types)
    reports = sum(1 for s in failed if "client_report" in s.types)
    assert errors >= 3 and transactions >= 3 and reports >= 3
    assert {
        ("network_error", "error"): errors,
        ("network_error", "transaction"): transactions,
        ("network_error", "span"): 2 * transactions,
        ("network_error", "internal"): reports,
    } == outcome.discarded()
    # What reached a working server: the loss of the last report of the outage (and, when
    # the outage ended inside a tick, that tick's 503'd items).
    landed = outcome.discarded(answered=200)
    assert 1 == landed.pop(("network_error", "internal"))
    assert landed.keys() <= {("network_error", c) for c in ("error", "transaction", "span")}
    assert max(landed.values(), default=0) <= 2

    # The report: no retry; the reports (503'd ones included) count every refused item.
    verdicts = outcome.verdicts()
    assert ("pass", "pass") == (verdicts["server_error"], verdicts["client_reports"])
    assert ("not_seen",) * 4 == tuple(verdicts[c] for c in ("backoff", "scope", "resume", "retry_after"))
    _no_failed_verdict(outcome)
    reported = {(c["reason"], c["category"]): c["quantity"] for c in outcome.behaviour["client_reports"]}
    assert outcome.discarded() == reported


def test_outage_node(runs: dict[str, Outcome]) -> None:
    """@sentry/node drops each 503'd envelope silently: no client report at all."""
    outcome = _outcome_of(runs, "node", "outage")
    failed, _ = _outage(outcome)
    assert sum(1 for s in failed if "event" in s.types) >= 3
    assert sum(1 for s in failed if "transaction" in s.types) >= 3
    assert [] == [s for s in outcome.sent if "client_report" in s.types]

    # The report: no retry; client reports fail: it kept sending after the outage and never
    # reported what the 503s cost (the spec asks for send_error: docs/sdk-failure-behaviour.md).
    verdicts = outcome.verdicts()
    assert ("pass", "fail") == (verdicts["server_error"], verdicts["client_reports"])
    assert [] == outcome.behaviour["client_reports"]
    assert ["client_reports"] == [v["check"] for v in outcome.behaviour["verdicts"] if v["status"] == "fail"]


def test_the_doc_tells_what_was_measured() -> None:
    doc = (ROOT / "docs" / "sdk-failure-behaviour.md").read_text()
    part = doc.split("## Under sentry-mirror's scenarios", 1)[1]
    assert "measured by `tests/conformance/test_scenarios.py`" in part.lower()
    assert f"sentry-python {sentry_sdk.VERSION}" in part
    assert f"@sentry/node {pinned_version('@sentry/node')}" in part
