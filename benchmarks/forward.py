"""Forward benchmark: ``listen --forward`` against plain ``listen``, and against the upstream alone.

    python benchmarks/forward.py [--seconds N] [--rounds R] [--concurrency C] [--rate N] [--out PATH] [--json]

One bare upstream sink serves the whole run: ``benchmarks/bare_app.py``, its own process on
127.0.0.1, answering every request ``200 {}`` (the bodies go to /dev/null). The envelopes
are ingest.py's pool (real sentry-python envelopes, gzipped as the SDK does it).

1. **CPU.** Interleaved rounds of runs, each listener its own process: plain ``listen``, then
   ``listen --forward <the sink's DSN>`` (then the sink sent to directly), each driven by ingest.py's closed loop at C requests
   in flight (default 32) for a window. The listener's CPU per request is its utime+stime
   (/proc/<pid>/stat) across the window divided by the requests answered in it. The ratio
   is the median of each pair's own ratio. Target: forward / plain at most 1.3x.
2. **Added latency.** The same sink, sent to directly, through plain ``listen`` (which does
   not send on: what recording alone adds) and through ``listen --forward``, by C
   workers paced to RATE requests/s in all (default 500): the time from sending a request to
   its answer read, at the client. Paced, so that the latency is each request's own path and
   not its wait behind a saturated core (in a closed loop at c=32 on two cores the latency is
   32 requests' worth of CPU, whatever the path). Added latency = forward minus direct, for
   p50 and p99, per pair of runs, median. Targets: p50 at most 1 ms, p99 at most 5 ms. The
   closed-loop latencies of step 1 (and of the sink alone, at the same concurrency) are
   shown for information.
3. **Checks.** After each forward run: every request recorded was sent on and has its
   upstream answer recorded, delivered; the script warns otherwise.

Writes its results to benchmarks/results/forward.json (``--out``; see resultfile.py).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import ingest
from resultfile import add_output_options, begin, document, emit, headline

TARGET_CPU_RATIO = 1.3
TARGET_ADDED_P50_MS = 1.0
TARGET_ADDED_P99_MS = 5.0


# ---------------------------------------------------------------- load


async def paced(
    server: ingest.Server, pool: list[bytes], concurrency: int, rate: float, warmup: float, seconds: float
) -> dict[str, Any]:
    """``concurrency`` workers, each sending on its own schedule so that all of them together
    send ``rate`` requests a second (a worker late on its schedule sends at once); figures
    of the requests sent and answered inside the window."""
    url = f"http://{ingest.HOST}:{server.port}/api/1/envelope/"
    headers = ingest.request_headers()
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.05
    window_start, window_end = start + warmup, start + warmup + seconds
    picks = itertools.count()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    late = 0

    async def worker(n: int, session: aiohttp.ClientSession) -> None:
        nonlocal late
        for k in itertools.count():
            due = start + (n + k * concurrency) / rate
            if due >= window_end:
                return
            if due > loop.time():
                await asyncio.sleep(due - loop.time())
            elif loop.time() - due > 0.005:
                late += 1
            body = pool[next(picks) % len(pool)]
            began = loop.time()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                statuses[response.status] = statuses.get(response.status, 0) + 1
            if window_start <= began and loop.time() <= window_end:
                latencies.append(loop.time() - began)

    connector = aiohttp.TCPConnector(limit=concurrency)
    timeout = aiohttp.ClientTimeout(total=30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=False) as session:
        workers = [asyncio.create_task(worker(n, session)) for n in range(concurrency)]
        await asyncio.sleep(max(0.0, window_start - loop.time()))
        cpu0 = server.cpu()
        await asyncio.sleep(max(0.0, window_end - loop.time()))
        cpu1 = server.cpu()
        await asyncio.wait_for(asyncio.gather(*workers), 60)
    return {
        "concurrency": concurrency,
        "rate": rate,
        "requests": len(latencies),
        "p50_ms": ingest._percentile(latencies, 0.50) * 1000,
        "p99_ms": ingest._percentile(latencies, 0.99) * 1000,
        "max_ms": max(latencies, default=float("nan")) * 1000,
        "late_sends": late,
        "server_cpu_us_per_request": (cpu1 - cpu0) / len(latencies) * 1e6 if latencies else float("nan"),
        "statuses": statuses,
        "non_200": sum(n for status, n in statuses.items() if status != 200),
    }


# ---------------------------------------------------------------- runs


def forwarding_check(snapshots: Path) -> dict[str, Any]:
    """What a forward run wrote: requests, those sent on, and their upstream answers."""
    from sentry_mirror.core import answer
    from sentry_mirror.io.snapshot import iter_records

    requests = forwarded = answered = delivered = 0
    for record in iter_records([snapshots], answers=True):
        data = record.data
        if answer.is_answer(data):
            answered += data["target"] == "upstream"
            delivered += data["target"] == "upstream" and data["delivered"] and data["returned"]
        else:
            requests += 1
            forwarded += bool(data.get("forwarded_to"))
    return {"records": requests, "forwarded": forwarded, "upstream_answers": answered, "delivered": delivered}


def listener_run(name: str, options: tuple[str, ...], pool: list[bytes], load: Any) -> dict[str, Any]:
    """One listener process (``listen`` with ``options``) under ``load(server)``; its figures."""
    with tempfile.TemporaryDirectory(prefix=f"bench-forward-{name}-") as tmp:
        server = ingest.Server("mirror", Path(tmp), options)
        try:
            figures: dict[str, Any] = asyncio.run(load(server))
        finally:
            code = server.stop()
        figures |= {"server": name, "exit_code": code}
        if "--forward" in options:
            check = forwarding_check(server.snapshots)
            figures["check"] = check
            if not check["records"] == check["forwarded"] == check["upstream_answers"] == check["delivered"]:
                figures["warning"] = f"not every request was forwarded and delivered: {check}"
        if code != 0:
            figures["warning"] = f"the listener exited {code}: {server.stderr_path.read_text()[-500:]}"
    return figures


def cpu_pairs(args: argparse.Namespace, pool: list[bytes], sink: ingest.Server) -> list[dict[str, Any]]:
    """Step 1: plain, forward and the sink alone, interleaved, in the closed loop."""
    forward = ("--forward", f"http://{ingest.PUBLIC_KEY}@{ingest.HOST}:{sink.port}/1")
    c, warmup, seconds = args.concurrency, args.warmup, args.seconds
    runs = []
    for _ in range(args.rounds):
        for name, options in (("listen", ()), ("forward", forward)):
            runs.append(listener_run(name, options, pool, lambda s: ingest.drive(s, pool, c, warmup, seconds)))
            _progress(args, runs[-1], "envelopes_per_s", "req/s")
        direct = asyncio.run(ingest.drive(sink, pool, c, warmup, seconds))
        runs.append(direct | {"server": "sink"})
        _progress(args, runs[-1], "envelopes_per_s", "req/s")
    return runs


def latency_pairs(args: argparse.Namespace, pool: list[bytes], sink: ingest.Server) -> list[dict[str, Any]]:
    """Step 2: the sink directly, plain ``listen`` and ``listen --forward``, paced, interleaved."""
    forward = ("--forward", f"http://{ingest.PUBLIC_KEY}@{ingest.HOST}:{sink.port}/1")
    c, rate, warmup, seconds = args.concurrency, args.rate, args.warmup, args.paced_seconds
    runs = []
    for _ in range(args.rounds):
        runs.append(asyncio.run(paced(sink, pool, c, rate, warmup, seconds)) | {"server": "sink"})
        _progress(args, runs[-1], "p50_ms", "ms p50")
        for name, options in (("listen", ()), ("forward", forward)):
            runs.append(listener_run(name, options, pool, lambda s: paced(s, pool, c, rate, warmup, seconds)))
            _progress(args, runs[-1], "p50_ms", "ms p50")
    return runs


def _progress(args: argparse.Namespace, run: dict[str, Any], key: str, unit: str) -> None:
    if not args.json:
        print(f"  {run['server']:<8} c={run['concurrency']}: {run[key]:.2f} {unit}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------- figures


def summarise(cpu_runs: list[dict[str, Any]], latency_runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians, each pair's ratios and differences, and the targets."""
    cpu = "server_cpu_us_per_envelope"
    by = {name: [r for r in cpu_runs if r["server"] == name] for name in ("listen", "forward", "sink")}
    pairs = [f[cpu] / p[cpu] for p, f in zip(by["listen"], by["forward"], strict=True)]
    timed = {name: [r for r in latency_runs if r["server"] == name] for name in ("sink", "listen", "forward")}
    sink, forward = timed["sink"], timed["forward"]
    added = {q: [f[q] - s[q] for s, f in zip(sink, forward, strict=True)] for q in ("p50_ms", "p99_ms")}

    def median(runs: list[dict[str, Any]], key: str) -> float:
        return statistics.median(r[key] for r in runs)

    closed = {
        name: {k: median(runs, k) for k in ("envelopes_per_s", "p50_ms", "p99_ms", cpu)} for name, runs in by.items()
    }
    paced_ = {
        name: {k: median(runs, k) for k in ("p50_ms", "p99_ms", "max_ms", "server_cpu_us_per_request")}
        for name, runs in timed.items()
    }

    ratios = {
        "cpu_per_request": statistics.median(pairs),
        "cpu_per_request_pairs": pairs,
        "cpu_per_request_of_medians": closed["forward"][cpu] / closed["listen"][cpu],
        "throughput": closed["forward"]["envelopes_per_s"] / closed["listen"]["envelopes_per_s"],
        "added_p50_ms": statistics.median(added["p50_ms"]),
        "added_p99_ms": statistics.median(added["p99_ms"]),
        "added_p50_ms_pairs": added["p50_ms"],
        "added_p99_ms_pairs": added["p99_ms"],
        "listen_added_p50_ms": paced_["listen"]["p50_ms"] - paced_["sink"]["p50_ms"],
        "listen_added_p99_ms": paced_["listen"]["p99_ms"] - paced_["sink"]["p99_ms"],
        "closed_loop_added_p50_ms": closed["forward"]["p50_ms"] - closed["sink"]["p50_ms"],
        "closed_loop_added_p99_ms": closed["forward"]["p99_ms"] - closed["sink"]["p99_ms"],
    }
    targets = {
        "cpu_per_request": ratios["cpu_per_request"] <= TARGET_CPU_RATIO,
        "added_p50_ms": ratios["added_p50_ms"] <= TARGET_ADDED_P50_MS,
        "added_p99_ms": ratios["added_p99_ms"] <= TARGET_ADDED_P99_MS,
    }
    return {"closed_loop": closed, "paced": paced_, "ratios": ratios, "targets": targets}


def report(doc: dict[str, Any]) -> str:
    fig, params = doc["figures"], doc["params"]
    ratios, targets = fig["ratios"], fig["targets"]
    ok = lambda met: "MET" if met else "MISSED"  # noqa: E731
    lines = [
        f"{doc['date']}, {doc['machine']['cores']} CPUs, Python {doc['machine']['python']};"
        f" c={params['concurrency']}, {params['rounds']} rounds",
        "",
        f"{'closed loop':<12}{'req/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'CPU us/req':>12}",
    ]
    for name, r in fig["closed_loop"].items():
        lines.append(
            f"{name:<12}{r['envelopes_per_s']:>9.0f}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}"
            f"{r['server_cpu_us_per_envelope']:>12.0f}"
        )
    lines += ["", f"{'paced ' + str(params['rate']) + '/s':<12}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"]
    for name, r in fig["paced"].items():
        lines.append(f"{name:<12}{r['p50_ms']:>9.2f}{r['p99_ms']:>9.2f}{r['max_ms']:>9.1f}")
    pairs = ", ".join(f"{p:.2f}x" for p in ratios["cpu_per_request_pairs"])
    lines += [
        "",
        f"forward/listen CPU per request: {ratios['cpu_per_request']:.2f}x (target <= {TARGET_CPU_RATIO}x:"
        f" {ok(targets['cpu_per_request'])}; pairs {pairs})",
        f"added latency p50: {ratios['added_p50_ms']:.2f} ms (target <= {TARGET_ADDED_P50_MS:g} ms:"
        f" {ok(targets['added_p50_ms'])})",
        f"added latency p99: {ratios['added_p99_ms']:.2f} ms (target <= {TARGET_ADDED_P99_MS:g} ms:"
        f" {ok(targets['added_p99_ms'])})",
        f"(plain listen, paced: added p50 {ratios['listen_added_p50_ms']:.2f} ms,"
        f" p99 {ratios['listen_added_p99_ms']:.2f} ms)",
        f"(closed loop, c={params['concurrency']}: added p50 {ratios['closed_loop_added_p50_ms']:.2f} ms,"
        f" p99 {ratios['closed_loop_added_p99_ms']:.2f} ms; forward/listen throughput {ratios['throughput']:.2f}x)",
    ]
    every = [*fig["runs"], *fig["latency_runs"]]
    warnings = [f"{r['server']}: {r['warning']}" for r in every if "warning" in r]
    warnings += [f"{r['server']}: non-200 answers {r['statuses']}" for r in every if r["non_200"]]
    if fig["busy_cpus_before"] > 0.2:
        warnings.append(
            f"{fig['busy_cpus_before']:.2f} CPUs were busy before the start: other processes may skew the figures"
        )
    return "\n".join(lines + [f"WARNING {w}" for w in warnings])


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Forward benchmark: listen --forward vs listen, and vs the upstream alone."
    )
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="measured seconds of each closed-loop run (default 5)"
    )
    parser.add_argument(
        "--paced-seconds", type=float, default=5.0, help="measured seconds of each paced run (default 5)"
    )
    parser.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per run (default 1)")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight / paced workers (default 32)")
    parser.add_argument("--rate", type=float, default=500.0, help="requests/s of the paced runs, in all (default 500)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each step, interleaved (default 3)")
    parser.add_argument("--pool-rounds", type=int, default=12, help="ingest.py's envelope pool rounds (default 12)")
    add_output_options(parser, "forward")
    args = parser.parse_args()
    if not 1 <= args.concurrency <= 1024 or not 1 <= args.rounds <= 10 or not 0 < args.rate <= 100_000:
        parser.error("need 1 <= concurrency <= 1024, 1 <= rounds <= 10, 0 < rate <= 100000")
    if not 0 < args.seconds <= 600 or not 0 < args.paced_seconds <= 600 or not 1 <= args.pool_rounds <= 1000:
        parser.error("need 0 < seconds, paced-seconds <= 600 and 1 <= pool-rounds <= 1000")

    started = begin()
    busy_before = ingest._busy_cpus()
    pool = ingest.build_pool(args.pool_rounds)
    with tempfile.TemporaryDirectory(prefix="bench-forward-sink-") as tmp:
        sink = ingest.Server("bare", Path(tmp), ("--out", os.devnull))
        try:
            runs = cpu_pairs(args, pool, sink)
            latency_runs = latency_pairs(args, pool, sink)
        finally:
            sink.stop()
    figures = {"busy_cpus_before": round(busy_before, 2), "runs": runs, "latency_runs": latency_runs}
    figures |= summarise(runs, latency_runs)
    ratios = figures["ratios"]
    headlines = {
        "cpu_ratio": headline(
            ratios["cpu_per_request"], "lower", f"forward/listen listener CPU per request, c={args.concurrency}"
        ),
        "added_p50_ms": headline(ratios["added_p50_ms"], "lower", f"added latency p50 at {args.rate:g}/s, ms"),
        "added_p99_ms": headline(ratios["added_p99_ms"], "lower", f"added latency p99 at {args.rate:g}/s, ms"),
        "throughput_ratio": headline(ratios["throughput"], "higher", "forward/listen requests/s, closed loop"),
    }
    doc = document("forward", vars(args), headlines, figures, started)
    emit(doc, args.out, args.json)
    if not args.json:
        print(report(doc))
    return 0


if __name__ == "__main__":
    sys.exit(main())
