"""Ingest benchmark: the mirror's listener against a bare aiohttp app, on loopback.

    python benchmarks/ingest.py [--seconds N] [--concurrency C] [--out PATH] [--json]

1. Builds a pool of real sentry-python envelopes (the SDK runs in this process with a
   capturing transport): errors with a chained exception, local variables and
   breadcrumbs (~6 KB), transactions with spans (~4 KB) and message events (~2 KB),
   each gzipped as the SDK does (gzip level 9). Every one has its own event id.
2. Starts, one at a time, (a) ``python -m sentry_mirror listen --port 0 --quiet`` and
   (b) ``benchmarks/bare_app.py`` (answers ``{}``, appends the raw body to a file),
   each as its own process, on 127.0.0.1.
3. Drives each from this process with an aiohttp ClientSession at a fixed number of
   concurrent requests: a warm-up, then a measured window. Runs are interleaved
   (bare, mirror, bare, mirror, ...) and the median of each figure is taken; the CPU
   ratio is the median of each pair's own ratio (a mirror run against the bare run just
   before it), since the machine's speed drifts between pairs.
4. Measures envelopes/s, latency p50/p99, the server's CPU seconds per envelope
   (utime+stime from /proc/<pid>/stat across the window), and for the mirror the
   snapshot bytes on disk per envelope against the wire (gzip body) bytes, under load
   and at concurrency 1 (one write per record).

Targets (from the issue): mirror CPU per envelope at most 2x the bare app's, and
snapshot bytes at most 0.5x the wire bytes under load.

Writes its results to benchmarks/results/ingest.json (``--out``; see resultfile.py).
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import io
import itertools
import json
import logging
import os
import queue
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
from resultfile import add_output_options, begin, document, emit, headline

HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
PUBLIC_KEY = "benchkey"
SDK_CLIENT = "sentry.python/2.75.0"
MAX_REQUESTS_PER_RUN = 2_000_000  # a hard bound besides the time limit
CLK_TCK = os.sysconf("SC_CLK_TCK")

TARGET_CPU_RATIO = 2.0
TARGET_SNAPSHOT_RATIO = 0.5


# ---------------------------------------------------------------- envelopes


def _gzip9(data: bytes) -> bytes:
    """Compressed as sentry-python's HttpTransport does it (GzipFile, level 9)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="w", compresslevel=9) as out:
        out.write(data)
    return buffer.getvalue()


class _PaymentError(Exception):
    pass


def _charge(order_id: int, amount_cents: int, currency: str, gateway: str) -> None:
    card = {"brand": "visa", "last4": f"{4242 + order_id % 7:04d}", "exp": "12/29"}
    attempts = 3
    timeout_s = 2.5
    raise ConnectionError(
        f"{gateway}: gateway timeout after {attempts} attempts ({timeout_s}s)"
        f" for order {order_id}, card {card['last4']}"
    )


def _checkout(order_id: int, cart: list[dict[str, Any]], user_id: int) -> None:
    total = sum(item["price"] * item["qty"] for item in cart)
    gateway = ("stripe", "adyen", "braintree")[order_id % 3]
    try:
        _charge(order_id, total, "EUR", gateway)
    except ConnectionError as exc:
        raise _PaymentError(f"could not charge order {order_id} for user {user_id}") from exc


def _place_order(sdk: Any, order_id: int, cart: list[dict[str, Any]], user_id: int) -> None:
    try:
        _checkout(order_id, cart, user_id)
    except _PaymentError:
        sdk.capture_exception()


def build_pool(rounds: int = 12) -> list[bytes]:
    """``rounds`` x (error, transaction, message) envelopes from the real SDK, gzipped."""
    import sentry_sdk
    from sentry_sdk.integrations.logging import LoggingIntegration
    from sentry_sdk.transport import Transport

    captured: list[bytes] = []

    class Capture(Transport):
        def capture_envelope(self, envelope: Any) -> None:
            captured.append(envelope.serialize())

    # No auto-enabled integrations: the aiohttp one would instrument the load generator.
    sentry_sdk.init(
        dsn=f"http://{PUBLIC_KEY}@{HOST}:9/1",
        transport=Capture,
        default_integrations=False,
        auto_enabling_integrations=False,
        integrations=[LoggingIntegration(level=logging.INFO, event_level=None)],
        traces_sample_rate=1.0,
        send_client_reports=False,
        release="shop@1.4.2",
        environment="production",
        server_name="web-3",
    )
    log = logging.getLogger("shop.checkout")
    log.propagate = False
    log.setLevel(logging.INFO)
    try:
        for n in range(rounds):
            order_id, user_id = 51_000 + n * 17, 1_000 + n
            with sentry_sdk.isolation_scope() as scope:
                scope.set_user({"id": str(user_id), "email": f"user{user_id}@example.com", "ip_address": f"10.0.{n}.7"})
                scope.set_tag("region", ("eu-west-1", "us-east-1")[n % 2])
                scope.set_tag("feature.new_checkout", str(n % 3 == 0).lower())
                scope.set_context("cart", {"items": 3 + n % 4, "currency": "EUR"})
                for step in range(3):
                    log.info("checkout step %d for order %d (user %d)", step, order_id, user_id)
                sentry_sdk.add_breadcrumb(
                    category="httplib",
                    type="http",
                    data={"method": "GET", "url": f"https://api.example.com/carts/{order_id}", "status_code": 200},
                )
                sentry_sdk.add_breadcrumb(category="query", message=f"SELECT * FROM orders WHERE id = {order_id}")
                cart = [
                    {"sku": f"SKU-{order_id % 97 + k}", "price": 995 + 100 * k, "qty": 1 + k % 2}
                    for k in range(3 + n % 4)
                ]
                _place_order(sentry_sdk, order_id, cart, user_id)
                route = "/api/orders/{order_id}/checkout"
                with sentry_sdk.start_transaction(op="http.server", name=route) as transaction:
                    transaction.set_tag("http.status_code", "502")
                    for k in range(4 + n % 3):
                        query = "SELECT * FROM order_items WHERE order_id = %s"
                        with sentry_sdk.start_span(op="db", name=query) as span:
                            span.set_data("db.system", "postgresql")
                            span.set_data("db.rows", k + n)
                    with sentry_sdk.start_span(op="http.client", name=f"POST https://gateway.example.com/charge/{n}"):
                        pass
                sentry_sdk.capture_message(f"slow checkout for order {order_id}: {1.2 + n / 10:.1f}s", level="warning")
        sentry_sdk.flush()
    finally:
        sentry_sdk.get_client().close()
    return [_gzip9(envelope) for envelope in captured]


def pool_stats(raw_pool: list[bytes]) -> dict[str, Any]:
    kinds: dict[str, list[tuple[int, int]]] = {}
    for body in raw_pool:
        plain = gzip.decompress(body)
        item = json.loads(plain.split(b"\n")[1])
        kind = item["type"]
        if kind == "event":
            kind = "error" if b'"exception"' in plain else "message"
        kinds.setdefault(kind, []).append((len(plain), len(body)))
    return {
        kind: {
            "count": len(sizes),
            "raw_bytes": round(statistics.mean(s for s, _ in sizes)),
            "gzip_bytes": round(statistics.mean(g for _, g in sizes)),
        }
        for kind, sizes in kinds.items()
    }


# ---------------------------------------------------------------- servers


def _busy_cpus(seconds: float = 0.5) -> float:
    """How many CPUs something else keeps busy right now (from /proc/stat), before we start."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            values = [int(v) for v in f.readline().split()[1:]]
        idle = values[3] + values[4]  # idle + iowait
        return sum(values) - idle, sum(values)

    busy0, total0 = sample()
    time.sleep(seconds)
    busy1, total1 = sample()
    return (busy1 - busy0) / max(1, total1 - total0) * (os.cpu_count() or 1)


def _cpu_seconds(pid: int) -> float:
    """utime + stime of the whole process (all threads), from /proc/<pid>/stat."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # fields 14 and 15 of stat(5)


class Server:
    """A server subprocess; ``port`` is read from its stdout. ``options`` are added to its command
    line (the last of a repeated option wins)."""

    def __init__(self, kind: str, workdir: Path, options: tuple[str, ...] = ()) -> None:
        self.kind = kind
        self.workdir = workdir
        self.stderr_path = workdir / "stderr.txt"
        env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
        if kind == "mirror":
            self.snapshots = workdir / "snapshots"
            argv = [sys.executable, "-m", "sentry_mirror", "listen", "--port", "0", "--quiet"]
            argv += ["--dir", str(self.snapshots)]
            pattern = re.compile(r"http://[^@\s]+@127\.0\.0\.1:(\d+)/1")
        else:
            self.out = workdir / "bodies.bin"
            argv = [sys.executable, str(HERE / "bare_app.py"), "--host", HOST, "--port", "0", "--out", str(self.out)]
            pattern = re.compile(r"^PORT (\d+)")
        self._stderr = open(self.stderr_path, "wb")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [*argv, *options], stdout=subprocess.PIPE, stderr=self._stderr, cwd=workdir, env=env
        )
        self._lines: queue.Queue[bytes | None] = queue.Queue()
        threading.Thread(target=self._drain, daemon=True).start()
        self.port = self._wait_port(pattern, timeout=20.0)

    def _drain(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)
        self._lines.put(None)

    def _wait_port(self, pattern: re.Pattern[str], timeout: float) -> int:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if line is None:
                break
            match = pattern.search(line.decode("utf-8", "replace"))
            if match:
                return int(match.group(1))
        self.stop()
        raise RuntimeError(f"{self.kind} server did not print its port; stderr:\n{self.stderr_path.read_text()}")

    def cpu(self) -> float:
        return _cpu_seconds(self.proc.pid)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._stderr.close()
        return self.proc.returncode


def snapshot_stats(directory: Path) -> dict[str, int]:
    """Bytes and records in the snapshot files under ``directory`` (read with the package's reader)."""
    from sentry_mirror.io.snapshot import iter_records

    total = sum(p.stat().st_size for p in directory.glob("*.jsonl.zst"))
    records = sum(1 for _ in iter_records([directory]))
    return {"bytes": total, "records": records}


# ---------------------------------------------------------------- load


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def request_headers() -> dict[str, str]:
    """The headers of every request: a gzip'd envelope, as sentry-python sends it."""
    return {
        "Content-Encoding": "gzip",
        "Content-Type": "application/x-sentry-envelope",
        "X-Sentry-Auth": f"Sentry sentry_key={PUBLIC_KEY},sentry_version=7,sentry_client={SDK_CLIENT}",
        "User-Agent": SDK_CLIENT,
    }


async def drive(server: Server, pool: list[bytes], concurrency: int, warmup: float, seconds: float) -> dict[str, Any]:
    """``concurrency`` workers post envelopes until the window ends; figures of the window."""
    url = f"http://{HOST}:{server.port}/api/1/envelope/"
    headers = request_headers()
    loop = asyncio.get_running_loop()
    start = loop.time()
    window_start, window_end = start + warmup, start + warmup + seconds
    picks = itertools.count()
    done = {"answered": 0, "bad": 0, "wire": 0}
    latencies: list[float] = []
    statuses: dict[int, int] = {}

    async def worker(session: aiohttp.ClientSession) -> None:
        while loop.time() < window_end and done["answered"] < MAX_REQUESTS_PER_RUN:
            body = pool[next(picks) % len(pool)]
            began = loop.time()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                status = response.status
            ended = loop.time()
            done["answered"] += 1
            done["wire"] += len(body)
            statuses[status] = statuses.get(status, 0) + 1
            if status != 200:
                done["bad"] += 1
            if window_start <= began and ended <= window_end:
                latencies.append(ended - began)

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
        workers = [asyncio.create_task(worker(session)) for _ in range(concurrency)]
        await asyncio.sleep(max(0.0, window_start - loop.time()))
        cpu0, own0, n0, t0 = server.cpu(), os.times(), done["answered"], loop.time()
        await asyncio.sleep(max(0.0, window_end - loop.time()))
        cpu1, own1, n1, t1 = server.cpu(), os.times(), done["answered"], loop.time()
        await asyncio.wait_for(asyncio.gather(*workers), timeout=60)
    window = n1 - n0
    client_cpu = (own1.user + own1.system) - (own0.user + own0.system)
    return {
        "concurrency": concurrency,
        "window_s": round(t1 - t0, 3),
        "envelopes": window,
        "envelopes_per_s": window / (t1 - t0),
        "p50_ms": _percentile(latencies, 0.50) * 1000,
        "p99_ms": _percentile(latencies, 0.99) * 1000,
        "server_cpu_us_per_envelope": (cpu1 - cpu0) / window * 1e6 if window else float("nan"),
        "server_cpu_utilisation": (cpu1 - cpu0) / (t1 - t0),
        "client_cpu_us_per_envelope": client_cpu / window * 1e6 if window else float("nan"),
        "answered_total": done["answered"],
        "non_200": done["bad"],
        "statuses": statuses,
        "wire_bytes_total": done["wire"],
        "wire_bytes_per_envelope": done["wire"] / done["answered"] if done["answered"] else float("nan"),
    }


def run(kind: str, pool: list[bytes], concurrency: int, warmup: float, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"bench-{kind}-") as tmp:
        server = Server(kind, Path(tmp))
        try:
            figures = asyncio.run(drive(server, pool, concurrency, warmup, seconds))
        finally:
            code = server.stop()
        figures["server"] = kind
        figures["exit_code"] = code
        if kind == "mirror":
            snap = snapshot_stats(server.snapshots)
            figures["snapshot_bytes_total"] = snap["bytes"]
            figures["snapshot_records"] = snap["records"]
            figures["snapshot_bytes_per_envelope"] = snap["bytes"] / figures["answered_total"]
            figures["snapshot_to_wire"] = snap["bytes"] / figures["wire_bytes_total"]
            if snap["records"] != figures["answered_total"]:
                answered = figures["answered_total"]
                figures["warning"] = f"{snap['records']} records on disk for {answered} answered requests"
        else:
            on_disk = server.out.stat().st_size
            if on_disk != figures["wire_bytes_total"]:
                figures["warning"] = f"bare app wrote {on_disk} bytes for {figures['wire_bytes_total']} wire bytes"
    return figures


# ---------------------------------------------------------------- report

_MEDIAN_KEYS = (
    "envelopes_per_s",
    "p50_ms",
    "p99_ms",
    "server_cpu_us_per_envelope",
    "server_cpu_utilisation",
    "client_cpu_us_per_envelope",
    "wire_bytes_per_envelope",
)


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    keys = list(_MEDIAN_KEYS)
    if runs[0]["server"] == "mirror":
        keys += ["snapshot_bytes_per_envelope", "snapshot_to_wire"]
    medians = {key: statistics.median(r[key] for r in runs) for key in keys}
    return {"server": runs[0]["server"], "concurrency": runs[0]["concurrency"], "runs": len(runs), **medians}


def _row(label: str, r: dict[str, Any]) -> str:
    snap = lambda key, fmt: format(r[key], fmt) if key in r else "-"  # noqa: E731
    return (
        f"{label:<16}{r['concurrency']:>5}{r['envelopes_per_s']:>9.0f}{r['p50_ms']:>8.2f}{r['p99_ms']:>8.2f}"
        f"{r['server_cpu_us_per_envelope']:>10.0f}{r['server_cpu_utilisation'] * 100:>6.0f}%"
        f"{r['client_cpu_us_per_envelope']:>10.0f}{r['wire_bytes_per_envelope']:>8.0f}"
        f"{snap('snapshot_bytes_per_envelope', '>8.0f'):>8}{snap('snapshot_to_wire', '>7.3f'):>7}"
    )


def report(doc: dict[str, Any]) -> str:
    machine, result = doc["machine"], doc["figures"]
    pool = result["pool"].items()
    lines = [
        f"{doc['date']}, {machine['cores']} CPUs, Python {machine['python']}; "
        f"{doc['params']['seconds']:g} s measured per run after {doc['params']['warmup']:g} s warm-up",
        "pool: " + ", ".join(f"{k} x{v['count']} {v['raw_bytes']} B raw / {v['gzip_bytes']} B gzip" for k, v in pool),
        "",
        f"{'run':<16}{'conc':>5}{'env/s':>9}{'p50ms':>8}{'p99ms':>8}{'srvCPU':>10}{'srv%':>7}{'cliCPU':>10}"
        f"{'wireB':>8}{'diskB':>8}{'d/w':>7}",
        f"{'':<46}{'us/env':>10}{'':>7}{'us/env':>10}{'/env':>8}{'/env':>8}",
    ]
    for i, r in enumerate(result["runs"]):
        lines.append(_row(f"{r['server']} #{i // 2 + 1}", r))
    lines.append(_row("bare c=1", result["single_bare"]))
    lines.append(_row("mirror c=1", result["single"]))
    lines.append("")
    lines.append(_row("median bare", result["median"]["bare"]))
    lines.append(_row("median mirror", result["median"]["mirror"]))
    ratios, targets = result["ratios"], result["targets"]
    ok = lambda met: "MET" if met else "MISSED"  # noqa: E731
    conc = f"c={result['median']['mirror']['concurrency']}"
    lines += [
        "",
        f"mirror/bare CPU per envelope : {ratios['cpu_per_envelope']:.2f}x"
        f"   (target <= {TARGET_CPU_RATIO}x: {ok(targets['cpu_per_envelope'])}; median of the pairs "
        + ", ".join(f"{r:.2f}x" for r in ratios["cpu_per_envelope_pairs"])
        + f"; {ratios['cpu_per_envelope_of_medians']:.2f}x of the medians)",
        f"mirror/bare CPU per env, c=1 : {ratios['cpu_per_envelope_c1']:.2f}x",
        f"mirror/bare throughput       : {ratios['throughput']:.2f}x",
        f"{'snapshot/wire bytes, ' + conc:<29}: {ratios['snapshot_to_wire']:.3f}"
        f"   (target <= {TARGET_SNAPSHOT_RATIO}: {ok(targets['snapshot_to_wire'])})",
        f"{'snapshot/wire bytes, c=1':<29}: {ratios['snapshot_to_wire_c1']:.3f}   (one write per record)",
    ]
    every = [*result["runs"], result["single_bare"], result["single"]]
    warnings = [f"{r['server']}: {r['warning']}" for r in every if "warning" in r]
    warnings += [f"{r['server']}: {r['non_200']} non-200 answers {r['statuses']}" for r in every if r["non_200"]]
    if result["busy_cpus_before"] > 0.2:
        busy = result["busy_cpus_before"]
        warnings.append(f"{busy:.2f} CPUs were busy before the start: other processes may skew the figures")
    lines += [f"WARNING {w}" for w in warnings]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="Ingest benchmark: sentry-mirror listen vs a bare aiohttp app.")
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per run (default 10)")
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per run (default 1)")
    parser.add_argument("--concurrency", type=int, default=16, help="concurrent requests under load (default 16)")
    parser.add_argument("--rounds", type=int, default=2, help="bare+mirror pairs, interleaved (default 2)")
    parser.add_argument(
        "--single-seconds", type=float, default=4.0, help="measured seconds of each concurrency-1 run (default 4)"
    )
    parser.add_argument(
        "--pool-rounds", type=int, default=12, help="SDK rounds for the envelope pool, 3 envelopes each (default 12)"
    )
    add_output_options(parser, "ingest")
    args = parser.parse_args()
    if not 1 <= args.concurrency <= 1024 or not 0 < args.seconds <= 600 or not 1 <= args.rounds <= 10:
        parser.error("need 1 <= concurrency <= 1024, 0 < seconds <= 600, 1 <= rounds <= 10")
    if not 1 <= args.pool_rounds <= 1000 or not 0 < args.single_seconds <= 600:
        parser.error("need 1 <= pool-rounds <= 1000, 0 < single-seconds <= 600")

    started = begin()
    busy_before = _busy_cpus()
    pool = build_pool(args.pool_rounds)
    runs = []
    for _ in range(args.rounds):
        for kind in ("bare", "mirror"):
            runs.append(run(kind, pool, args.concurrency, args.warmup, args.seconds))
            if not args.json:
                rate = runs[-1]["envelopes_per_s"]
                print(f"  {kind:<6} c={args.concurrency}: {rate:.0f} env/s", file=sys.stderr, flush=True)
    single_bare = run("bare", pool, 1, args.warmup, args.single_seconds)
    single = run("mirror", pool, 1, args.warmup, args.single_seconds)
    median = {kind: _median([r for r in runs if r["server"] == kind]) for kind in ("bare", "mirror")}
    cpu = "server_cpu_us_per_envelope"
    # each mirror run against the bare run just before it: the machine's speed drifts by
    # more than the gap being measured, and a pair run back to back shares its conditions
    pairs = [mirror[cpu] / bare[cpu] for bare, mirror in zip(runs[::2], runs[1::2], strict=True)]
    ratios = {
        "cpu_per_envelope": statistics.median(pairs),
        "cpu_per_envelope_pairs": pairs,
        "cpu_per_envelope_of_medians": median["mirror"][cpu] / median["bare"][cpu],
        "throughput": median["mirror"]["envelopes_per_s"] / median["bare"]["envelopes_per_s"],
        "snapshot_to_wire": median["mirror"]["snapshot_to_wire"],
        "snapshot_to_wire_c1": single["snapshot_to_wire"],
        "cpu_per_envelope_c1": single[cpu] / single_bare[cpu],
    }
    figures = {
        "busy_cpus_before": round(busy_before, 2),
        "pool": pool_stats(pool),
        "runs": runs,
        "single_bare": single_bare,
        "single": single,
        "median": median,
        "ratios": ratios,
        "targets": {
            "cpu_per_envelope": ratios["cpu_per_envelope"] <= TARGET_CPU_RATIO,
            "snapshot_to_wire": ratios["snapshot_to_wire"] <= TARGET_SNAPSHOT_RATIO,
        },
    }
    headlines = {
        "cpu_ratio": headline(
            ratios["cpu_per_envelope"], "lower", f"mirror/bare server CPU per envelope, c={args.concurrency}"
        ),
        "snapshot_to_wire": headline(ratios["snapshot_to_wire"], "lower", "snapshot bytes per wire byte, under load"),
        "throughput_ratio": headline(ratios["throughput"], "higher", "mirror/bare envelopes/s under load"),
        "mirror_cpu_us": headline(
            median["mirror"][cpu], "lower", "mirror server CPU µs per envelope (absolute: moves with the machine)"
        ),
    }
    doc = document("ingest", vars(args), headlines, figures, started)
    emit(doc, args.out, args.json)
    if not args.json:
        print(report(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
