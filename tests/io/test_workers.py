"""`sentry-mirror listen --workers 2` as real processes: one port shared by two workers,
every 200 on disk, one feed, a clean stop, a dead worker restarted, storage failing in one
worker, hostile requests, the shared-socket fallback, and no orphans."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest
from hypothesis import HealthCheck, given, settings

from sentry_mirror.io import workers
from sentry_mirror.io.forward import Tally
from sentry_mirror.io.listener import Stopped
from sentry_mirror.io.snapshot import iter_records
from sentry_mirror.io.verify import verify_file
from sentry_mirror.ui.params import usable_cores
from tests.factories import make_artifact_bundle, make_envelope
from tests.io.test_http_fuzz import read_response, request_bytes
from tests.io.test_listener import hammer
from tests.io.test_webapi import ORG, call, sha1, upload_chunks

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals and process groups")
#: The kernel spreads connections over the workers (Linux); elsewhere one socket is shared
#: and a worker may happen to take every connection of a short test.
SPREAD = workers.reuse_port_available()

QUERY = "sentry_key=mirror&sentry_version=7"
LISTEN = (sys.executable, "-m", "sentry_mirror", "listen", "--port", "0")
_PID = re.compile(r"-(\d+)(?:_\d{4})?\.jsonl\.zst$")


@dataclass
class Workers:
    """A running ``listen --workers`` process; its output collected as it comes."""

    process: subprocess.Popen[str]
    url: str
    port: int
    banner: list[str]
    out: list[str] = field(default_factory=list)
    err: list[str] = field(default_factory=list)

    @property
    def pids(self) -> list[int]:
        return [int(m.group(1)) for line in self.banner if (m := _PID.search(line.strip()))]

    def finish(self, timeout: float = 30) -> int:
        code = self.process.wait(timeout=timeout)
        time.sleep(0.1)  # the readers take the last lines
        return code


#: Listeners started by the test running now: stopped (their whole group) if it failed half-way.
STARTED: list[subprocess.Popen[str]] = []


@pytest.fixture(autouse=True)
def _no_listener_left() -> Iterator[None]:
    yield
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _drain(stream: object, into: list[str]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.append(line)


def start(directory: Path, *extra: str, workers: str = "2", env: dict[str, str] | None = None) -> Workers:
    process = subprocess.Popen(
        [*LISTEN, "--dir", str(directory), "--workers", workers, *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **(env or {})},
        start_new_session=True,  # its own process group, as a shell's job: Ctrl-C is killpg
    )
    STARTED.append(process)
    assert process.stdout is not None and process.stderr is not None
    banner: list[str] = []
    while "workers on port" not in (banner[-1] if banner else ""):
        banner.append(process.stdout.readline())
        assert banner[-1], f"the listener ended: {process.stderr.read()}"
    line = banner[-1]
    port = int(line.split("port ")[1].split()[0])
    running = Workers(process, f"http://127.0.0.1:{port}", port, banner)
    for stream, into in ((process.stdout, running.out), (process.stderr, running.err)):
        threading.Thread(target=_drain, args=(stream, into), daemon=True).start()
    return running


def envelope() -> tuple[str, bytes]:
    event_id = uuid.uuid4().hex
    event = {"event_id": event_id, "message": "load", "extra": {"pad": "x" * 500}}
    return event_id, make_envelope({"event_id": event_id}, [({"type": "event"}, event)], trailing_newline=False)


async def post_many(url: str, count: int, acknowledged: list[str], statuses: Counter[int] | None = None) -> None:
    """``count`` envelopes, 8 at a time, each on a new connection (the kernel spreads connections)."""
    todo = iter(range(count))

    async def sender(session: aiohttp.ClientSession) -> None:
        for _ in todo:
            event_id, body = envelope()
            async with session.post(f"{url}/api/1/envelope/?{QUERY}", data=body) as response:
                await response.read()
                if statuses is not None:
                    statuses[response.status] += 1
                if response.status == 200:
                    acknowledged.append(event_id)
                elif response.status == 503:
                    assert response.headers["Retry-After"]

    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=20)) as session:
        await asyncio.gather(*(sender(session) for _ in range(8)))


SDK_SENDER = textwrap.dedent(
    """
    import sys, sentry_sdk
    sentry_sdk.init(dsn=sys.argv[1], default_integrations=False)
    for i in range(int(sys.argv[2])):
        print(sentry_sdk.capture_message(f"from the sdk {i}"), flush=True)
    sentry_sdk.flush(10)
    """
)


def sdk_senders(port: int, senders: int, events: int) -> list[str]:
    """Event ids sent by ``senders`` real sentry-sdk processes at once (their own connections)."""
    dsn = f"http://mirror@127.0.0.1:{port}/1"
    running = [
        subprocess.Popen([sys.executable, "-c", SDK_SENDER, dsn, str(events)], stdout=subprocess.PIPE, text=True)
        for _ in range(senders)
    ]
    ids = []
    for process in running:
        out, _ = process.communicate(timeout=60)
        assert 0 == process.returncode
        ids += out.split()
    return ids


def records_by_pid(directory: Path) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    for path in sorted(directory.glob("*.jsonl.zst")):
        match = _PID.search(path.name)
        assert match, path
        found.setdefault(int(match.group(1)), []).extend(r.event_id for r in iter_records([path]))
    return found


def gone(pid: int) -> bool:
    if not Path("/proc").is_dir():
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        return False
    try:
        with open(f"/proc/{pid}/status") as status:
            return "\nState:\tZ" in status.read()  # a zombie has exited
    except FileNotFoundError:
        return True


async def test_two_workers_share_the_port_record_every_200_and_stop_on_ctrl_c(tmp_path: Path) -> None:
    """Many connections (aiohttp, and real sentry-sdk processes): both workers serve, every
    200 is on disk, one live line per request, one DSN; Ctrl-C (SIGINT to the process
    group) stops everything with exit 0 and complete files."""
    running = start(tmp_path)
    assert 1 == sum(line.strip().startswith("DSN") for line in running.banner)
    assert f"127.0.0.1:{running.port}/1" in running.banner[0]
    assert ("(SO_REUSEPORT)" if SPREAD else "(one shared socket)") in running.banner[-1]
    pids = running.pids
    assert 2 == len(set(pids)) and running.process.pid not in pids
    acknowledged: list[str] = []
    await post_many(running.url, 300, acknowledged)
    acknowledged += await asyncio.to_thread(sdk_senders, running.port, 3, 5)
    os.killpg(running.process.pid, signal.SIGINT)
    assert 0 == running.finish()
    by_pid = records_by_pid(tmp_path)
    if SPREAD:
        assert set(pids) == set(by_pid), "both workers served"
        assert all(len(ids) > 10 for ids in by_pid.values()), {pid: len(ids) for pid, ids in by_pid.items()}
    recorded = [event_id for ids in by_pid.values() for event_id in ids]
    assert set(acknowledged) <= set(recorded)
    assert 315 == len(acknowledged) == len(recorded) == len(set(recorded))
    assert all(verify_file(path).ok for path in tmp_path.glob("*.jsonl.zst"))
    lines = [line for line in running.out if "  project 1  " in line]
    assert len(recorded) == len(lines)
    assert f"stopped: {len(recorded)} requests in 2 file(s)" in "".join(running.out)
    assert "Traceback" not in "".join(running.err) and "starting it again" not in "".join(running.err)


async def test_a_killed_worker_is_named_and_restarted_and_nothing_acknowledged_is_lost(tmp_path: Path) -> None:
    running = start(tmp_path, "--quiet")
    victim = running.pids[0]
    acknowledged: list[str] = []
    await post_many(running.url, 60, acknowledged)
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while not any("starting it again" in line for line in running.err) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    note = "".join(running.err)
    assert f"(pid {victim}) died (killed by SIGKILL); starting it again" in note
    after: list[str] = []
    await post_many(running.url, 100, after)
    assert 100 == len(after), "the service went on"
    into = [line for line in running.out if line.strip().startswith("into")]
    assert 1 == len(into), "the new worker's file is announced"
    running.process.send_signal(signal.SIGTERM)
    assert 0 == running.finish()
    by_pid = records_by_pid(tmp_path)
    assert 3 == len(by_pid) and victim in by_pid
    recorded = {event_id for ids in by_pid.values() for event_id in ids}
    assert set(acknowledged + after) <= recorded
    assert "1 worker(s) died" in "".join(running.out)


@pytest.mark.skipif(not hasattr(resource, "prlimit") or not SPREAD, reason="resource.prlimit and SO_REUSEPORT: Linux")
async def test_storage_failing_in_one_worker_is_503_from_it_while_the_other_serves(tmp_path: Path) -> None:
    """One worker's file may not grow (RLIMIT_FSIZE on its pid): it answers 503 with
    Retry-After; the other goes on answering 200, every one on disk; lifted, both serve."""
    running = start(tmp_path, "--quiet")
    failing, other = running.pids
    await post_many(running.url, 20, [])
    soft, hard = resource.prlimit(failing, resource.RLIMIT_FSIZE)
    resource.prlimit(failing, resource.RLIMIT_FSIZE, (1, hard))  # the soft limit: it can be lifted
    during: list[str] = []
    statuses: Counter[int] = Counter()
    await post_many(running.url, 120, during, statuses)
    assert statuses[503] > 0 and statuses[200] > 0, statuses
    resource.prlimit(failing, resource.RLIMIT_FSIZE, (soft, hard))
    await asyncio.sleep(1.2)  # the recorder's retry interval
    after: list[str] = []
    after_statuses: Counter[int] = Counter()
    await post_many(running.url, 60, after, after_statuses)
    assert {200: 60} == after_statuses
    running.process.send_signal(signal.SIGTERM)
    assert 0 == running.finish()
    by_pid = records_by_pid(tmp_path)
    assert set(during) <= set(by_pid[other]), "the 200s during the outage came from the other worker"
    assert set(after) <= {event_id for ids in by_pid.values() for event_id in ids}
    assert failing in by_pid and any(a in by_pid[failing] for a in after), "the failing worker writes again"
    assert f"{statuses[503]} request(s) were answered 503" in "".join(running.out)


def test_hostile_requests_never_stop_two_workers(tmp_path: Path) -> None:
    """The HTTP fuzzing of tests/io/test_http_fuzz.py, shortened, against two workers."""
    running = start(tmp_path, "--quiet", "--header-timeout", "2s", "--body-timeout", "1s", "--max-body", "2MiB")
    answered, ok_ids = 0, set()

    @settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(request=request_bytes())
    def one(request: tuple[bytes, bool, bool]) -> None:
        nonlocal answered
        raw, whole, head_only = request
        with socket.create_connection(("127.0.0.1", running.port), timeout=10) as sock:
            try:
                sock.sendall(raw)
                if not whole:
                    sock.shutdown(socket.SHUT_WR)
            except (BrokenPipeError, ConnectionResetError):
                pass
            try:
                answer = read_response(sock, head_only)
            except ConnectionResetError:
                answer = None
        assert running.process.poll() is None, "the listener exited"
        if answer is None:
            assert not whole or not raw.strip(b"\r\n"), raw[:300]
            return
        status, headers, body = answer
        if headers.get("access-control-allow-origin") == "*":
            answered += 1
            if status == 200 and headers.get("content-type") == "application/json":
                ok_ids.add(orjson.loads(body).get("id"))
        assert status != 500, body

    one()
    assert not any("starting it again" in line for line in running.err), running.err
    running.process.send_signal(signal.SIGTERM)
    assert 0 == running.finish()
    warnings: list[str] = []
    records = list(iter_records([tmp_path], on_warning=warnings.append))
    assert [] == warnings
    assert answered == len(records)
    assert ok_ids - {None} <= {r.event_id for r in records}
    assert "Traceback" not in "".join(running.err)


async def test_auto_with_the_shared_socket_fallback(tmp_path: Path) -> None:
    """``--workers auto`` is the usable cores; forced fallback: one socket the parent binds
    and every worker accepts on; every 200 on disk, a clean stop."""
    cores = usable_cores()
    running = start(tmp_path, "--quiet", workers="auto", env={"SENTRY_MIRROR_WORKERS_SOCKET": "shared"})
    assert f"{cores} workers on port {running.port} (one shared socket)" in running.banner[-1]
    assert cores == len(set(running.pids))
    acknowledged: list[str] = []
    await post_many(running.url, 80, acknowledged)
    running.process.send_signal(signal.SIGINT)
    assert 0 == running.finish()
    recorded = {r.event_id for r in iter_records([tmp_path])}
    assert 80 == len(acknowledged) and set(acknowledged) <= recorded


def test_killing_the_parent_leaves_no_worker_behind(tmp_path: Path) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    running = start(tmp_path, "--quiet", env={"TMPDIR": str(scratch)})
    pids = running.pids
    running.process.send_signal(signal.SIGKILL)
    running.process.wait(timeout=10)
    deadline = time.monotonic() + 15
    while not all(gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(gone(pid) for pid in pids)
    assert [] == list(scratch.iterdir()), "the web API's socket left nothing behind"


async def test_forward_mode_over_two_workers_counts_what_each_sent_on(tmp_path: Path, stubs: Any) -> None:
    """Each worker sends on its own share; the stop lines add them up; every copy carries
    the same loop mark (one for all workers)."""
    upstream, candidate = await stubs(), await stubs()
    running = start(tmp_path, "--quiet", "--forward", upstream.dsn(), "--tee", candidate.dsn())
    acknowledged: list[str] = []
    await post_many(running.url, 40, acknowledged)
    deadline = time.monotonic() + 10
    while len(candidate.received) < 40 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    running.process.send_signal(signal.SIGTERM)
    assert 0 == await asyncio.to_thread(running.finish)  # the stubs answer meanwhile
    out = "".join(running.out)
    assert 2 == out.count("40 delivered, 0 undelivered"), out
    assert "stopped: 40 requests in 2 file(s)" in out
    assert 40 == len(upstream.received) == len(candidate.received)
    marks = {headers["Via"] for _, _, headers, _ in upstream.received + candidate.received}
    assert 1 == len(marks), marks
    assert not SPREAD or 2 == len(records_by_pid(tmp_path))


def test_the_summaries_of_the_workers_add_up(tmp_path: Path) -> None:
    first, second = tmp_path / "a.jsonl.zst", tmp_path / "b.jsonl.zst"
    one = Stopped(3, (first,), 1, 1, (Tally("up", "upstream", 2, 1, 0), Tally("c", "candidate", 3, 0, 0)), 1, 3, 0)
    two = Stopped(4, (second,), 0, 0, (Tally("up", "upstream", 4, 0, 0), Tally("c", "candidate", 3, 0, 1)), 0, 4, 1)
    total = workers._sum([one, two], [])
    assert (
        Stopped(7, (first, second), 1, 1, (Tally("up", "upstream", 6, 1, 0), Tally("c", "candidate", 6, 0, 1)), 1, 7, 1)
        == total
    )


async def test_the_web_api_is_answered_by_one_worker_whatever_the_connection(tmp_path: Path) -> None:
    """A release made through one connection is found through every other one; a bundle
    whose chunks came through several connections is put together once; every web API
    record is in the first worker's file, with the client's own address."""
    running = start(tmp_path, "--quiet", "--repo", "acme/web")
    release = f"{running.url}{ORG}/releases/1.0/"
    bundle = make_artifact_bundle(
        {"~/app.min.js": ("minified_source", b"x()", {"debug-id": "2b5fa5a9-d0e0-5155-8ad5-5b10c1b2a326"})},
        org="acme", release="1.0",
    )  # fmt: skip
    pieces = [bundle[:100], bundle[100:]]
    wanted = {"checksum": sha1(bundle), "chunks": [sha1(p) for p in pieces], "projects": ["web"], "version": "1.0"}
    connector = aiohttp.TCPConnector(force_close=True)  # a new connection for every request
    async with aiohttp.ClientSession(connector=connector) as session:
        made = await call(session, "POST", f"{running.url}{ORG}/releases/", orjson.dumps({"version": "1.0"}))
        found = [(await call(session, "GET", release))[0] for _ in range(20)]
        for environment in ("a", "b", "c", "d", "e", "f"):
            await call(session, "POST", f"{release}deploys/", orjson.dumps({"environment": environment}))
        for piece in pieces:
            await upload_chunks(session, running.url, [("file", sha1(piece), piece)])
        assembled = [await call(session, "POST", f"{running.url}{ORG}/artifactbundle/assemble/", orjson.dumps(wanted))]
        assembled += [await call(session, "POST", f"{running.url}{ORG}/artifactbundle/assemble/", orjson.dumps(wanted))]
        _, got = await call(session, "GET", release)
        envelopes: list[str] = []
    await post_many(running.url, 40, envelopes)
    running.process.send_signal(signal.SIGTERM)
    assert 0 == await asyncio.to_thread(running.finish)
    assert 201 == made[0] and [200] * 20 == found
    assert 6 == got["deployCount"]
    assert [(200, "ok"), (200, "ok")] == [(status, answer["state"]) for status, answer in assembled]
    first, second = running.pids
    records = {
        pid: [r.data for r in iter_records(sorted(tmp_path.glob(f"*-{pid}.jsonl.zst")))] for pid in (first, second)
    }
    api = [r for r in records[first] if r["endpoint"].startswith("api_") or r["endpoint"] == "upload"]
    assert 20 + 1 + 6 + 2 + 2 + 1 == len([r for r in api if r["endpoint"] != "upload"])
    assert 1 == sum(r["endpoint"] == "upload" for r in api), "put together once"
    assert not [r for r in records[second] if r["endpoint"] != "envelope"]
    assert not SPREAD or records[second], "the second worker served envelopes"
    assert all(r["remote_addr"].startswith("127.0.0.1:") for r in api if r["endpoint"] != "upload")


async def test_sigterm_under_load_finishes_what_is_in_flight_in_every_worker(tmp_path: Path) -> None:
    """SIGTERM while both workers are busy: what got a 200 is on disk, nothing is written
    twice, the files are complete (no damage, verify passes), exit 0."""
    running = start(tmp_path, "--quiet")
    acknowledged: list[str] = []
    load = asyncio.create_task(hammer(running.url, 10.0, acknowledged, concurrency=16))
    while len(acknowledged) < 100 and not load.done():
        await asyncio.sleep(0.02)
    running.process.send_signal(signal.SIGTERM)
    await load
    assert 0 == await asyncio.to_thread(running.finish)
    warnings: list[str] = []
    recorded = [r.event_id for r in iter_records([tmp_path], on_warning=warnings.append)]
    assert [] == warnings
    assert set(acknowledged) <= set(recorded) and len(recorded) == len(set(recorded))
    assert all(verify_file(path).ok for path in tmp_path.glob("*.jsonl.zst"))
    assert not SPREAD or 2 == len(records_by_pid(tmp_path))


def spawned_workers(pid: int) -> list[int]:
    """The children of ``pid`` that are spawned workers (not the resource tracker)."""
    with open(f"/proc/{pid}/task/{pid}/children") as found:
        pids = [int(child) for child in found.read().split()]
    found_workers = []
    for child in pids:
        with contextlib.suppress(OSError), open(f"/proc/{child}/cmdline", "rb") as cmdline:
            if b"spawn_main" in cmdline.read():
                found_workers.append(child)
    return found_workers


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="reads /proc for the children")
def test_ctrl_c_while_the_workers_start_is_one_clean_stop_without_traceback(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole group while the spawned workers still import: they must not
    die with a KeyboardInterrupt traceback; the parent stops them."""
    process = subprocess.Popen(
        [*LISTEN, "--dir", str(tmp_path), "--workers", "2", "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    STARTED.append(process)
    deadline = time.monotonic() + 30
    while len(spawned_workers(process.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(0.2)  # they are importing the package now
    os.killpg(process.pid, signal.SIGINT)
    out, err = process.communicate(timeout=60)
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert 0 == process.returncode, err
    assert "stopped: 0 requests" in out


async def test_a_long_tmpdir_does_not_keep_two_workers_from_starting(tmp_path: Path) -> None:
    """A Unix socket's path has about 100 bytes: the web API's socket must not depend on TMPDIR."""
    long = tmp_path / ("t" * 100)
    long.mkdir()
    running = start(tmp_path, "--quiet", env={"TMPDIR": str(long)})
    async with aiohttp.ClientSession() as session:
        answers = [await call(session, "GET", f"{running.url}{ORG}/releases/") for _ in range(6)]
    os.killpg(running.process.pid, signal.SIGINT)
    assert 0 == running.finish(), running.err
    assert all(200 == status for status, *_ in answers), answers
    assert [] == list(long.iterdir())


def test_ctrl_c_before_the_workers_start_is_the_same_clean_stop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Ctrl-C while the port is being bound ends as one later does (a summary, exit 0),
    not as a KeyboardInterrupt (exit 130): one listener's handlers come before its port too."""
    share_port = workers.share_port

    def interrupted(*args: Any) -> tuple[list[socket.socket], bool]:
        os.kill(os.getpid(), signal.SIGINT)
        return share_port(*args)

    monkeypatch.setattr(workers, "share_port", interrupted)
    notes: list[str] = []
    callbacks = workers.Callbacks(on_ready=lambda _: None, on_rotate=lambda _: None, on_note=notes.append)
    options = workers.ListenOptions(port=0, directory=tmp_path)
    summary = workers.supervise(options, 2, callbacks)
    assert 0 == summary.stopped.records and 0 == summary.died and [] == notes
