"""What each tested SDK really does when Sentry answers 429, 503 or 413 (docs/sdk-failure-behaviour.md).

A real aiohttp server (``scripted_server.py``) answers the first envelope that carries an
error with a scripted failure, and everything after it with ``200``. Each SDK runs as a
real app in its own process (sentry-python: ``failure_app.py``; @sentry/node:
``js/failure_node_app.js``; @sentry/browser: ``js/failure_browser_app.js`` in chromium),
in three phases, each ending with a flush:

1. one error: the event in hand, which gets the failure;
2. at once (inside any backoff window): an error and a transaction;
3. after ``WAIT`` seconds (past every 2-second window): an error and a transaction.

The tests assert what reached the server and when: whether the event in hand was ever
sent again (retried), which later events were held back, for which categories and how
long, and the client reports (``discarded_events``) the SDK sent, summed. sentry-cli's
``send-event`` is one-shot: its exit code, message and attempts are asserted instead.
These are pinned versions: an SDK update that changes any of this fails here.

The scenarios of one SDK run at the same time (each against its own server), so the file
stays fast; each SDK's runs happen once per module.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import sentry_sdk

from tests.conformance.clients import (
    JS_DIR,
    NODE_MODULES,
    SENTRY_CLI,
    installed_version,
    need_chromium,
    need_node,
    pinned_version,
    run,
    serve_directory,
)
from tests.conformance.scripted_server import Answer, ScriptedServer, Seen, scripted_server

WINDOW = 2  # seconds: every Retry-After and rate limit the scenarios answer with
WAIT = 2.5  # seconds the apps wait between phase 2 and phase 3

SCENARIOS = {
    "429-retry-after": Answer(429, {"Retry-After": str(WINDOW)}),
    "429-no-header": Answer(429),
    "429-transaction-limit": Answer(429, {"X-Sentry-Rate-Limits": f"{WINDOW}:transaction:organization"}),
    "429-all-limit": Answer(429, {"X-Sentry-Rate-Limits": f"{WINDOW}::organization"}),
    "503": Answer(503),
    "503-retry-after": Answer(503, {"Retry-After": str(WINDOW)}),
    "413": Answer(413),
}

BOTH = ("error", "transaction")
TX_RATELIMITED = {("ratelimit_backoff", "transaction"): 1, ("ratelimit_backoff", "span"): 2}  # span: 1 + 1 child
RATELIMITED = {("ratelimit_backoff", "error"): 1, **TX_RATELIMITED}


@dataclass(frozen=True)
class Expected:
    """What reached the server from phase 2 and phase 3, and the client reports, summed."""

    second: tuple[str, ...]
    third: tuple[str, ...]
    discarded: dict[tuple[str, str], int]


#: sentry-python: only 429 backs off (Retry-After, else 60 s; X-Sentry-Rate-Limits per
#: category); 503 and 413 drop the event and report it. A flush inside an all-categories
#: backoff drops the client report itself, so what was dropped is never reported: only
#: ``ratelimit_backoff``/``internal`` (the lost report) arrives.
PYTHON = {
    "429-retry-after": Expected((), BOTH, {("ratelimit_backoff", "internal"): 1}),
    "429-no-header": Expected((), (), {}),
    "429-transaction-limit": Expected(("error",), BOTH, TX_RATELIMITED),
    "429-all-limit": Expected((), BOTH, {("ratelimit_backoff", "internal"): 1}),
    "503": Expected(BOTH, BOTH, {("network_error", "error"): 1}),
    "503-retry-after": Expected(BOTH, BOTH, {("network_error", "error"): 1}),
    "413": Expected(BOTH, BOTH, {("send_error", "error"): 1}),
}

#: @sentry/node and @sentry/browser share @sentry/core's transport: Retry-After is honoured
#: on any status (a 503 with it backs off everything), a 429 without headers backs off
#: 60 s, a 503 without it is dropped silently (no client report), a 413 is reported.
JAVASCRIPT = {
    "429-retry-after": Expected((), BOTH, RATELIMITED),
    "429-no-header": Expected((), (), {}),
    "429-transaction-limit": Expected(("error",), BOTH, TX_RATELIMITED),
    "429-all-limit": Expected((), BOTH, RATELIMITED),
    "503": Expected(BOTH, BOTH, {}),
    "503-retry-after": Expected((), BOTH, RATELIMITED),
    "413": Expected(BOTH, BOTH, {("send_error", "error"): 1}),
}


@dataclass
class Outcome:
    """One scenario: the app's report, what the server saw, and the app's work directory."""

    report: dict[str, Any]
    seen: list[Seen]
    workdir: Path


AppArgv = Callable[[str, Path], list[str]]


async def _run_app(name: str, answer: Answer, argv: AppArgv, root: Path) -> Outcome:
    workdir = root / name
    workdir.mkdir()
    async with scripted_server(answer) as server:
        ran = await run(argv(server.dsn(), workdir), env={"HOME": str(workdir)}, cwd=workdir, timeout=60)
        assert 0 == ran.returncode, ran.stderr
        report = json.loads((workdir / "report.json").read_text())
        return Outcome(report, list(server.seen), workdir)


def _run_all(argv: AppArgv, root: Path, scenarios: dict[str, Answer] = SCENARIOS) -> dict[str, Outcome]:
    async def run_all() -> dict[str, Outcome]:
        names = list(scenarios)
        outcomes = await asyncio.gather(*(_run_app(n, scenarios[n], argv, root) for n in names))
        return dict(zip(names, outcomes, strict=True))

    return asyncio.run(run_all())


def _one_failure(outcome: Outcome) -> None:
    """Only the event in hand got the failure; phase 2 ran inside the window, phase 3 after it."""
    first, second, third = outcome.report["phases"]
    failed = [s for s in outcome.seen if s.status != 200]
    assert [[first["error"]]] == [s.event_ids() for s in failed], [s.status for s in outcome.seen]
    assert second["at"] < failed[0].at + WINDOW - 0.5, "phase 2 started too late to test a backoff"
    assert third["at"] > failed[0].at + WINDOW + 0.2


def _discarded(seen: list[Seen]) -> dict[tuple[str, str], int]:
    """The client reports' counts, summed by (reason, category).

    Sessions are left out: the JavaScript SDKs send a session update alongside the error,
    so whether it falls inside the backoff (and is reported dropped) is a race.
    """
    discarded: Counter[tuple[str, str]] = Counter()
    for s in seen:
        for reason, category, quantity in s.discarded():
            if category != "session":
                discarded[reason, category] += quantity
    return dict(discarded)


def check(outcome: Outcome, expected: Expected, allowed_types: set[str], on_disk: bool = True) -> None:
    """The observed behaviour is the expected one (see the module docstring)."""
    _one_failure(outcome)
    seen = outcome.seen
    first, second, third = outcome.report["phases"]
    # The event in hand is never sent again: not retried, not kept for later.
    ids = Counter(i for s in seen for i in s.event_ids())
    assert 1 == ids[first["error"]]
    # Each later event reached the server once, or never.
    for phase, wanted in ((second, expected.second), (third, expected.third)):
        for kind in BOTH:
            assert (1 if kind in wanted else 0) == ids[phase[kind]], (phase["name"], kind)
    third_seen = [s for s in seen if set(s.event_ids()) & {third["error"], third["transaction"]}]
    assert all(s.at >= third["at"] for s in third_seen)

    assert expected.discarded == _discarded(seen)
    assert {t for s in seen for t, _, _ in s.items()} <= allowed_types
    # Nothing kept on disk: the work directory (also HOME) holds only the app's report.
    if on_disk:
        assert ["report.json"] == sorted(p.name for p in outcome.workdir.iterdir())


# sentry-python ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def python_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    app = Path(__file__).with_name("failure_app.py")
    root = tmp_path_factory.mktemp("python")
    return _run_all(lambda dsn, wd: [sys.executable, str(app), dsn, str(WAIT), str(wd / "report.json")], root)


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_sentry_python(python_runs: dict[str, Outcome], scenario: str) -> None:
    outcome = python_runs[scenario]
    assert sentry_sdk.VERSION == outcome.report["sdk"]
    check(outcome, PYTHON[scenario], {"event", "transaction", "client_report"})


def test_the_doc_names_the_measured_versions() -> None:
    doc = (Path(__file__).parents[2] / "docs" / "sdk-failure-behaviour.md").read_text()
    assert "measured by `tests/conformance/test_failure_answers.py`" in doc.lower()
    assert f"sentry-python {sentry_sdk.VERSION}" in doc
    for package in ("@sentry/node", "@sentry/browser", "@sentry/cli"):
        assert f"{package} {pinned_version(package)}" in doc


# @sentry/node ------------------------------------------------------------------------------


#: With @sentry/node's default span stream, traces go as ``span`` items: a limit on the
#: ``transaction`` category does not hold them back, one on ``span`` does.
STREAM = {
    "429-transaction-limit": Answer(429, {"X-Sentry-Rate-Limits": f"{WINDOW}:transaction:organization"}),
    "429-span-limit": Answer(429, {"X-Sentry-Rate-Limits": f"{WINDOW}:span:organization"}),
}


@pytest.fixture(scope="module")
def node_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    """Classic transactions in every scenario, and the span stream in those of STREAM
    (named ``stream-...``), all at the same time."""
    node = need_node("@sentry/node")
    app = str(JS_DIR / "failure_node_app.js")
    root = tmp_path_factory.mktemp("node")

    def argv(lifecycle: str) -> AppArgv:
        return lambda dsn, wd: [node, app, dsn, str(WAIT), str(wd / "report.json"), lifecycle]

    async def both() -> list[dict[str, Outcome]]:
        static = asyncio.to_thread(_run_all, argv("static"), root)
        stream = asyncio.to_thread(_run_all, argv("stream"), root, {f"stream-{n}": a for n, a in STREAM.items()})
        return list(await asyncio.gather(static, stream))

    static, stream = asyncio.run(both())
    return {**static, **stream}


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_sentry_node(node_runs: dict[str, Outcome], scenario: str) -> None:
    outcome = node_runs[scenario]
    assert installed_version("@sentry/node") == outcome.report["sdk"]
    assert outcome.report["closed"] is True
    check(outcome, JAVASCRIPT[scenario], {"event", "transaction", "client_report", "session"})


@pytest.mark.parametrize(("scenario", "held_back"), [("429-transaction-limit", False), ("429-span-limit", True)])
def test_sentry_node_span_stream(node_runs: dict[str, Outcome], scenario: str, held_back: bool) -> None:
    outcome = node_runs[f"stream-{scenario}"]
    _one_failure(outcome)
    first, second, third = outcome.report["phases"]
    seen = outcome.seen
    events = Counter(i for s in seen for i in s.event_ids())
    spans = Counter(i for s in seen for i in s.span_ids())
    assert (1, 1, 1) == (events[first["error"]], events[second["error"]], events[third["error"]])
    assert (0 if held_back else 1, 1) == (spans[second["span"]], spans[third["span"]])
    assert 4 - 2 * held_back == sum(spans.values())  # each root span with its child
    assert ({("ratelimit_backoff", "span"): 2} if held_back else {}) == _discarded(seen)
    assert "transaction" not in {t for s in seen for t, _, _ in s.items()}


# @sentry/browser ---------------------------------------------------------------------------


def _serve_bundle(site: Path) -> None:
    site.mkdir()
    (site / "failure.html").write_bytes((JS_DIR / "failure.html").read_bytes())
    esbuild = str(NODE_MODULES / ".bin" / "esbuild")
    out = f"--outfile={site / 'failure_app.js'}"
    argv = [esbuild, "failure_browser_app.js", "--bundle", "--format=iife", "--target=es2020", out]
    argv.append("--log-level=warning")
    subprocess.run(argv, cwd=JS_DIR, check=True, timeout=60)


async def _run_browser(chromium: str, node: str, root: Path) -> dict[str, Outcome]:
    """Every scenario in its own page of one chromium, each page against its own server."""
    site = root / "site"
    _serve_bundle(site)
    origin, runner = await serve_directory(site)
    try:
        async with contextlib.AsyncExitStack() as stack:
            servers = {n: await stack.enter_async_context(scripted_server(a)) for n, a in SCENARIOS.items()}
            urls = [f"{origin}/failure.html?wait={WAIT}&dsn={quote(s.dsn(), safe='')}" for s in servers.values()]
            report = root / "report.json"
            argv = [node, "failure_browser_driver.js", chromium, str(root / "profile"), str(report), *urls]
            ran = await run(argv, timeout=60)
            assert 0 == ran.returncode, ran.stderr
            pages = json.loads(report.read_text())
            return {n: Outcome(p, list(servers[n].seen), root) for n, p in zip(servers, pages, strict=True)}
    finally:
        await runner.cleanup()


@pytest.fixture(scope="module")
def browser_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Outcome]:
    need_node("@sentry/browser", "esbuild", "playwright-core")
    chromium = need_chromium()
    node = need_node("playwright-core")
    return asyncio.run(_run_browser(chromium, node, tmp_path_factory.mktemp("browser")))


@pytest.mark.parametrize("scenario", list(SCENARIOS))
def test_sentry_browser(browser_runs: dict[str, Outcome], scenario: str) -> None:
    browser = browser_runs[scenario].report
    page = browser["page"]
    assert "error" not in page, page
    assert installed_version("@sentry/browser") == page["sdk"]
    # The failure shows in the console only as chromium's own line about the failed fetch.
    assert [] == browser["page_errors"]
    # Leaving the page (to have the client reports sent) aborts, for the page, keepalive
    # fetches whose answers it has not read yet; chromium still sends them.
    assert {"net::ERR_ABORTED"} >= {error for _, _, error in browser["failed_requests"]}
    status = SCENARIOS[scenario].status
    assert [("error", status)] == [
        (kind, int(m.group(1))) for kind, text in browser["console"] if (m := re.search(r"status of (\d+)", text))
    ]
    # Nothing kept: no IndexedDB database (where makeOfflineTransport would keep envelopes),
    # nothing in localStorage or sessionStorage.
    assert [] == page["indexeddb"]
    assert [0, 0] == page["storage"]
    outcome = Outcome(page, browser_runs[scenario].seen, browser_runs[scenario].workdir)
    check(outcome, JAVASCRIPT[scenario], {"event", "transaction", "client_report", "session"}, on_disk=False)


# sentry-cli --------------------------------------------------------------------------------


async def _send_event(server: ScriptedServer, home: Path, **env: str) -> tuple[int, str, float]:
    """``sentry-cli send-event -m``: its exit code, stdout + stderr, and how long it took."""
    need_node("@sentry/cli")
    environment = {
        "HOME": str(home),  # no ~/.sentryclirc
        "SENTRY_DSN": server.dsn(),
        "SENTRY_LOAD_DOTENV": "0",
        "SENTRY_DISABLE_UPDATE_CHECK": "true",
        "NO_COLOR": "1",
        **env,
    }
    started = time.time()
    argv = [str(SENTRY_CLI), "send-event", "-m", "hello"]
    ran = await run(argv, env=environment, cwd=home, timeout=60)
    return ran.returncode, ran.stdout + ran.stderr, time.time() - started


def _failed(status: int) -> str:
    caused = f"sentry reported an error: scripted failure (http status: {status})"
    return f"error: API request failed\n\nCaused by:\n    {caused}\n"


@pytest.mark.parametrize("scenario", ["429-retry-after", "429-no-header", "429-all-limit", "413"])
async def test_sentry_cli_gives_up_at_once_on_429_and_413(tmp_path: Path, scenario: str) -> None:
    """Default settings: one attempt, exit code 1, and Relay's ``detail`` in the message."""
    async with scripted_server(SCENARIOS[scenario], failures=100) as server:
        code, output, _ = await _send_event(server, tmp_path)
    assert 1 == code
    assert _failed(SCENARIOS[scenario].status) in output
    assert 1 == len(server.seen)
    assert [] == sorted(p.name for p in tmp_path.iterdir())  # nothing kept on disk


async def test_sentry_cli_retries_503_with_the_same_event(tmp_path: Path) -> None:
    """Default settings: a 503 is retried (the same envelope) after about 1.5 s, not after
    Retry-After (10 s here); the 200 that follows makes it a success."""
    async with scripted_server(Answer(503, {"Retry-After": "10"}), failures=1) as server:
        code, output, elapsed = await _send_event(server, tmp_path)
    assert 0 == code, output
    assert [503, 200] == [s.status for s in server.seen]
    assert server.seen[0].body == server.seen[1].body
    assert 1.0 < server.seen[1].at - server.seen[0].at < 5
    assert elapsed < 10
    assert server.seen[0].event_ids()[0].replace("-", "") in output.replace("-", "")


async def test_sentry_cli_gives_up_on_503_after_its_retries(tmp_path: Path) -> None:
    """With SENTRY_HTTP_MAX_RETRIES=1: two attempts, then exit code 1 (the default, 5
    retries, takes about 21 s: see docs/sdk-failure-behaviour.md)."""
    async with scripted_server(SCENARIOS["503"], failures=100) as server:
        code, output, _ = await _send_event(server, tmp_path, SENTRY_HTTP_MAX_RETRIES="1")
    assert 1 == code
    assert _failed(503) in output
    assert [503, 503] == [s.status for s in server.seen]
    assert server.seen[0].body == server.seen[1].body
    assert [] == sorted(p.name for p in tmp_path.iterdir())
