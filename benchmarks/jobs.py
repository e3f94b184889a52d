"""Jobs benchmark: ``report --format json --jobs 2`` against ``--jobs 1``.

    python benchmarks/jobs.py [--count 100000] [--rounds 2] [--large-count 1000000] [--large-capture PATH]

Builds read.py's synthetic capture of COUNT envelopes (real sentry-python traffic with fresh
ids and times; ``synthetic.py``), then, in interleaved rounds (the order alternating), runs
``python -m sentry_mirror report --format json --jobs N FILE`` for N = 1 and 2 and measures:

- wall time and CPU time (user + system of the whole process tree) of each run; the figure is
  the median of each round's own wall-time ratio, ``--jobs 1`` / ``--jobs 2``;
- the peak RSS of every process of the run (the parent and each worker: its ``VmHWM``, polled
  in /proc every 50 ms);
- that ``--jobs 2`` writes the same stdout, byte for byte, and exits with the same code.

Then the same once more for each N on a capture of ``--large-count`` envelopes (1,000,000 by
default; 0 skips it), kept at ``--large-capture`` (reused when it exists, so that a second
run does not build it again): peak RSS per process must not grow with the capture.

Targets (issue 18): ``--jobs 2`` at least 1.7x faster at 100,000 envelopes; every process
under 300 MB at 1,000,000, and flat as the capture grows.

Writes its results to benchmarks/results/jobs.json (``--out``; see resultfile.py).
"""

from __future__ import annotations

import argparse
import hashlib
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ingest import _busy_cpus
from proctree import adopt_orphans, run_measured
from resultfile import add_output_options, begin, document, emit, headline
from synthetic import build

TARGET_SPEEDUP = 1.7
TARGET_RSS_MB = 300.0


def capture(path: Path, count: int) -> dict[str, Any]:
    """Build the capture at ``path`` unless it is there already (then it is reused as it is)."""
    reused = path.exists()
    if not reused:
        t = time.perf_counter()
        build(path, count)
        print(f"built {count:,} envelopes in {time.perf_counter() - t:.0f} s: {path}", file=sys.stderr)
    return {"envelopes": count, "bytes": path.stat().st_size, "reused": reused}


def report(path: Path, jobs: int) -> dict[str, Any]:
    """One ``report --format json --jobs N`` run: wall, CPU, peak RSS per process, its output's digest."""
    argv = [sys.executable, "-m", "sentry_mirror", "report", "--format", "json", "--jobs", str(jobs), str(path)]
    run = run_measured(argv)
    if run.code != 0:
        print(f"report --jobs {jobs} exited {run.code}:\n{run.stderr[-2000:]}", file=sys.stderr)
    return {
        "jobs": jobs,
        "wall_s": run.wall_s,
        "cpu_s": run.cpu_s,
        "exit_code": run.code,
        "stdout_sha256": hashlib.sha256(run.stdout).hexdigest(),
        "stderr_lines": len(run.stderr.splitlines()),
        **run.peaks,
    }


def rounds(path: Path, count: int, n: int) -> list[dict[str, Any]]:
    runs = []
    for round_ in range(n):
        for jobs in (1, 2) if round_ % 2 == 0 else (2, 1):
            runs.append({"envelopes": count, **report(path, jobs)})
            r = runs[-1]
            workers = r["max_worker_peak_rss_mb"]
            print(
                f"  {count:>9,} --jobs {jobs}: {r['wall_s']:.1f} s wall, {r['cpu_s']:.1f} s CPU;"
                f" peak RSS parent {r['parent_peak_rss_mb']:.0f} MB"
                + (f", workers up to {workers:.0f} MB ({r['processes'] - 1})" if workers else ""),
                file=sys.stderr,
                flush=True,
            )
    return runs


def summarise(runs: list[dict[str, Any]], count: int) -> dict[str, Any]:
    """At one capture size: the median of each round's wall-time ratio, the medians, the largest
    process, and whether every ``--jobs 2`` output was ``--jobs 1``'s."""
    at = [r for r in runs if r["envelopes"] == count]
    one = [r for r in at if r["jobs"] == 1]
    two = [r for r in at if r["jobs"] == 2]
    pairs = [a["wall_s"] / b["wall_s"] for a, b in zip(one, two, strict=True)]
    every = [r["parent_peak_rss_mb"] for r in at] + [w for r in at for w in r["worker_peak_rss_mb"]]
    return {
        "envelopes": count,
        "speedup": statistics.median(pairs),
        "speedup_pairs": pairs,
        "wall_s": {"1": statistics.median(r["wall_s"] for r in one), "2": statistics.median(r["wall_s"] for r in two)},
        "cpu_s": {"1": statistics.median(r["cpu_s"] for r in one), "2": statistics.median(r["cpu_s"] for r in two)},
        "parent_peak_rss_mb": {
            "1": max(r["parent_peak_rss_mb"] for r in one),
            "2": max(r["parent_peak_rss_mb"] for r in two),
        },
        "worker_peak_rss_mb": max((w for r in two for w in r["worker_peak_rss_mb"]), default=None),
        "workers": max(r["processes"] - 1 for r in two),
        "max_process_rss_mb": max(every),
        "same_output": len({(r["stdout_sha256"], r["exit_code"]) for r in at}) == 1,
        "exit_codes": sorted({r["exit_code"] for r in at}),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=100_000, help="envelopes of the timed capture (default 100,000)")
    parser.add_argument("--rounds", type=int, default=2, help="pairs of runs, --jobs 1 and 2 (default 2)")
    parser.add_argument(
        "--large-count", type=int, default=1_000_000, help="envelopes of the memory check (default 1,000,000; 0: none)"
    )
    parser.add_argument(
        "--large-capture", type=Path, help="keep the large capture here (reused if it exists: build it once)"
    )
    add_output_options(parser, "jobs")
    args = parser.parse_args()
    if not 1 <= args.rounds <= 10 or args.count < 1 or args.large_count < 0:
        parser.error("need 1 <= rounds <= 10, count >= 1, large-count >= 0")
    started = begin()
    busy = _busy_cpus()
    adopt_orphans()
    captures, runs = {}, []
    with tempfile.TemporaryDirectory(prefix="bench-jobs-") as tmp:
        small = Path(tmp) / f"capture-{args.count}.jsonl.zst"
        captures[str(args.count)] = capture(small, args.count)
        runs += rounds(small, args.count, args.rounds)
        small.unlink()
        if args.large_count:
            large = args.large_capture or Path(tmp) / f"capture-{args.large_count}.jsonl.zst"
            captures[str(args.large_count)] = capture(large, args.large_count)
            runs += rounds(large, args.large_count, 1)
    sizes = [args.count] + ([args.large_count] if args.large_count else [])
    summary = {str(count): summarise(runs, count) for count in sizes}
    main_, largest = summary[str(args.count)], summary[str(sizes[-1])]
    figures = {
        "busy_cpus_before": round(busy, 2),
        "captures": captures,
        "runs": runs,
        "summary": summary,
        "targets": {
            "speedup": main_["speedup"] >= TARGET_SPEEDUP,
            "rss": largest["max_process_rss_mb"] < TARGET_RSS_MB,
            "same_output": all(s["same_output"] for s in summary.values()),
        },
    }
    headlines = {
        "speedup": headline(main_["speedup"], "higher", f"--jobs 1 / --jobs 2 wall time, {args.count:,} envelopes"),
        "max_rss_mb": headline(
            largest["max_process_rss_mb"], "lower", f"largest process's peak RSS (MB), {sizes[-1]:,} envelopes"
        ),
        "cpu_ratio": headline(
            main_["cpu_s"]["2"] / main_["cpu_s"]["1"], "lower", "--jobs 2 / --jobs 1 CPU time (the cost of splitting)"
        ),
    }
    doc = document("jobs", vars(args), headlines, figures, started)
    emit(doc, args.out, args.json)
    if not args.json:
        for s in summary.values():
            print(
                f"{s['envelopes']:>9,}: --jobs 2 {s['speedup']:.2f}x faster (pairs "
                + ", ".join(f"{p:.2f}x" for p in s["speedup_pairs"])
                + f"); largest process {s['max_process_rss_mb']:.0f} MB; same output: {s['same_output']}"
            )
        targets = figures["targets"]
        print(
            f"targets: speedup >= {TARGET_SPEEDUP}x {targets['speedup']}, RSS < {TARGET_RSS_MB:g} MB"
            f" {targets['rss']}, same output {targets['same_output']}"
        )
    return 0 if figures["targets"]["same_output"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
