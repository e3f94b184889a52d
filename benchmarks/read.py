"""Read benchmark: `inspect --json`, `group` and `report` over a large synthetic snapshot.

    python benchmarks/read.py [--count 1000000] [--keep FILE] [--only inspect|group|report ...] [--out PATH] [--json]

Builds a snapshot of COUNT realistic envelopes (real sentry-python traffic from
snapshots/sample-python.jsonl.zst, with fresh record ids, event ids and times, so no
two records are the same), not committed, then times in the same run:

- the baseline: ``zstd -dc FILE | wc -l`` (decompression alone);
- ``sentry-mirror inspect --json FILE > /dev/null``;
- ``sentry-mirror group FILE`` (when the command exists);
- ``sentry-mirror report --format json FILE`` (when the command exists);

and prints envelopes per second, per CPU second (the targets are 50,000 per core for
inspect and group, 20,000 for report with the built-in PII engine), and
peak memory (RSS) of each, at COUNT/10 and COUNT envelopes: memory must not grow with
the snapshot's size.

Writes its results to benchmarks/results/read.json (``--out``; see resultfile.py).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from resultfile import add_output_options, begin, document, emit, headline  # noqa: E402
from synthetic import build  # noqa: E402


def measure(command: str) -> dict[str, float]:
    """Wall time, CPU time of the children and their peak RSS for one shell command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(["bash", "-c", f"set -o pipefail; {command}"], check=True, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu, "peak_rss_mb": after.ru_maxrss / 1024}


def peak_rss(argv: list[str]) -> float:
    """Peak RSS (MB) of one command, measured alone (getrusage's children maximum is sticky)."""
    code = (
        "import resource, subprocess, sys; subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    out = subprocess.run([sys.executable, "-c", code, *argv], check=True, capture_output=True, text=True)
    return int(out.stdout.strip()) / 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1_000_000)
    parser.add_argument("--keep", type=Path, help="keep the big snapshot at this path")
    parser.add_argument(
        "--only",
        action="append",
        choices=["inspect", "group", "report"],
        help="measure only this command, next to the baseline (repeatable)",
    )
    add_output_options(parser, "read")
    args = parser.parse_args()
    started = begin()
    mirror = [sys.executable, "-m", "sentry_mirror"]
    has_group = subprocess.run([*mirror, "group", "--help"], capture_output=True).returncode == 0
    has_report = subprocess.run([*mirror, "report", "--help"], capture_output=True).returncode == 0
    with tempfile.TemporaryDirectory() as tmp:
        rows = []
        sizes: dict[int, int] = {}
        for count in (args.count // 10, args.count):
            path = Path(tmp) / f"big-{count}.jsonl.zst"
            t = time.perf_counter()
            build(path, count)
            sizes[count] = path.stat().st_size
            print(
                f"built {count} envelopes in {time.perf_counter() - t:.1f} s: {path.stat().st_size / 1e6:.1f} MB",
                file=sys.stderr,
            )
            commands = {
                "zstd -dc | wc -l (baseline)": (f"zstd -dc {path} | wc -l", ["zstd", "-dc", str(path)]),
                "inspect --json": (
                    f"{' '.join(mirror)} inspect --json {path}",
                    [*mirror, "inspect", "--json", str(path)],
                ),
            }
            if has_group:
                commands["group"] = (f"{' '.join(mirror)} group {path}", [*mirror, "group", str(path)])
            if has_report:
                commands["report --format json"] = (
                    f"{' '.join(mirror)} report --format json {path}",
                    [*mirror, "report", "--format", "json", str(path)],
                )
            if args.only:
                commands = {
                    name: command
                    for name, command in commands.items()
                    if name.endswith("(baseline)") or name.split()[0] in args.only
                }
            for name, (shell, argv) in commands.items():
                figures = measure(shell)
                figures["peak_rss_mb"] = peak_rss(argv)
                rows.append((count, name, figures))
                print(
                    f"{count:>9} {name:<28} {count / figures['wall_s']:>10.0f} env/s  {count / figures['cpu_s']:>10.0f} env/CPU-s  {figures['peak_rss_mb']:>7.1f} MB",
                    file=sys.stderr,
                )
            if args.keep and count == args.count:
                shutil.copyfile(path, args.keep)
            os.unlink(path)
    figures = [
        {
            "envelopes": count,
            "command": name,
            **f,
            "envelopes_per_s": count / f["wall_s"],
            "envelopes_per_cpu_s": count / f["cpu_s"],
            "snapshot_bytes": sizes[count],
        }
        for count, name, f in rows
    ]
    doc = document("read", vars(args), headlines(figures, args.count), {"rows": figures}, started)
    emit(doc, args.out, args.json)
    if not args.json:
        print()
        print(table(figures))
    return 0


def headlines(rows: list[dict[str, Any]], count: int) -> dict[str, Any]:
    """Each command's envelopes per CPU second at full size, against the baseline's of the same
    run (the ratio first: the machine's speed moves, the ratio much less)."""
    full = {row["command"].split()[0]: row for row in rows if row["envelopes"] == count}
    baseline = full.pop("zstd")
    out: dict[str, Any] = {}
    for command, row in full.items():
        rate = row["envelopes_per_cpu_s"]
        out[f"{command}_vs_baseline"] = headline(
            rate / baseline["envelopes_per_cpu_s"], "higher", f"{command}: per CPU second / zstd -dc | wc -l's"
        )
        out[f"{command}_per_cpu_s"] = headline(rate, "higher", f"{command}: envelopes per CPU second (absolute)")
    return out


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| envelopes | command | envelopes/s | envelopes per CPU second | peak RSS |",
        "|---:|---|---:|---:|---:|",
    ]
    for f in rows:
        lines.append(
            f"| {f['envelopes']:,} | {f['command']} | {f['envelopes_per_s']:,.0f} | {f['envelopes_per_cpu_s']:,.0f}"
            f" | {f['peak_rss_mb']:.0f} MB |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
