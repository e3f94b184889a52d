"""SQL benchmark: a typical question answered with ``sentry-mirror sql`` against the full ``report``.

    python benchmarks/sql.py [--count 1000000] [--capture PATH] [--rounds 3] [--jobs 1]

Builds read.py's synthetic capture of COUNT envelopes (real sentry-python traffic with fresh
ids and times; ``synthetic.py``; with ``--capture PATH`` it is kept there and reused when it
exists), then times, in the same run, as users type them:

- ``sentry-mirror sql FILE -c "<errors per SDK and release per hour>" --json`` (``--rounds``
  runs; the median), a query over the ``events`` view that DuckDB answers with its own
  zstd JSON reader;
- ``sentry-mirror report --format json FILE`` (once: every section of the report, which is
  what a user without ``sql`` runs to get the same numbers);

both with ``--jobs`` (default 1: one thread for DuckDB, one process for the report). It
checks that the query's errors add up to the report's error events.

Target (issue 18): the query at least 5x faster than the report at 1,000,000 envelopes.

Writes its results to benchmarks/results/sql.json (``--out``; see resultfile.py).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from ingest import _busy_cpus
from jobs import capture
from proctree import adopt_orphans, run_measured
from resultfile import add_output_options, begin, document, emit, headline

TARGET_SPEEDUP = 5.0
#: The typical question: errors per SDK and release per hour.
QUERY = (
    "select date_trunc('hour', received_at) as hour, sdk, release, count(*) as errors"
    " from events group by all order by hour, sdk, release"
)


def timed(argv: list[str]) -> tuple[dict[str, Any], bytes]:
    """Wall and CPU time of one command (the CPU of its whole tree), its peak RSS, and its stdout."""
    run = run_measured(argv)
    if run.code != 0:
        raise RuntimeError(f"{argv[3:5]} exited {run.code}:\n{run.stderr[-2000:]}")
    return {"wall_s": run.wall_s, "cpu_s": run.cpu_s, "peak_rss_mb": run.peaks["parent_peak_rss_mb"]}, run.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000, help="envelopes (default 1,000,000)")
    parser.add_argument("--capture", type=Path, help="keep the capture here (reused if it exists: build it once)")
    parser.add_argument("--rounds", type=int, default=3, help="runs of the query (default 3); the report runs once")
    parser.add_argument("--jobs", type=int, default=1, help="--jobs of both commands (default 1)")
    add_output_options(parser, "sql")
    args = parser.parse_args()
    if not 1 <= args.rounds <= 10 or args.count < 1 or args.jobs < 1:
        parser.error("need 1 <= rounds <= 10, count >= 1, jobs >= 1")
    started = begin()
    busy = _busy_cpus()
    adopt_orphans()
    mirror = [sys.executable, "-m", "sentry_mirror"]
    with tempfile.TemporaryDirectory(prefix="bench-sql-") as tmp:
        path = args.capture or Path(tmp) / f"capture-{args.count}.jsonl.zst"
        built = capture(path, args.count)
        jobs = ["--jobs", str(args.jobs)] if args.jobs != 1 else []  # 1: as users type them
        sql_runs = []
        for _ in range(args.rounds):
            figures, out = timed([*mirror, "sql", str(path), "-c", QUERY, "--json", *jobs])
            sql_runs.append(figures)
            print(f"  sql: {figures['wall_s']:.2f} s wall, {figures['cpu_s']:.2f} s CPU", file=sys.stderr, flush=True)
        rows = json.loads(out)
        report_run, report_out = timed([*mirror, "report", "--format", "json", str(path), *jobs])
        print(f"  report: {report_run['wall_s']:.1f} s wall, {report_run['cpu_s']:.1f} s CPU", file=sys.stderr)
    report_events = json.loads(report_out)["issues"]["events"]
    sql_wall = statistics.median(r["wall_s"] for r in sql_runs)
    sql_cpu = statistics.median(r["cpu_s"] for r in sql_runs)
    figures = {
        "busy_cpus_before": round(busy, 2),
        "capture": built,
        "query": QUERY,
        "sql_runs": sql_runs,
        "sql": {
            "wall_s": sql_wall,
            "cpu_s": sql_cpu,
            "peak_rss_mb": max(r["peak_rss_mb"] for r in sql_runs),
            "rows": len(rows),
            "errors": sum(r["errors"] for r in rows),
        },
        "report": {**report_run, "error_events": report_events},
        "speedup": report_run["wall_s"] / sql_wall,
        "speedup_cpu": report_run["cpu_s"] / sql_cpu,
    }
    figures["targets"] = {"speedup": figures["speedup"] >= TARGET_SPEEDUP}
    figures["same_count"] = figures["sql"]["errors"] == report_events
    headlines = {
        "speedup": headline(
            figures["speedup"], "higher", "report / sql wall time, errors per SDK and release per hour"
        ),
        "speedup_cpu": headline(figures["speedup_cpu"], "higher", "report / sql CPU time"),
        "sql_wall_s": headline(sql_wall, "lower", "sql: seconds (absolute: moves with the machine)"),
    }
    doc = document("sql", vars(args), headlines, figures, started)
    emit(doc, args.out, args.json)
    if not args.json:
        print(
            f"sql {sql_wall:.2f} s, report {report_run['wall_s']:.1f} s: {figures['speedup']:.1f}x"
            f" (target >= {TARGET_SPEEDUP:g}x: {'met' if figures['targets']['speedup'] else 'not met'});"
            f" CPU {figures['speedup_cpu']:.1f}x; errors: sql {figures['sql']['errors']:,},"
            f" report {report_events:,}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
