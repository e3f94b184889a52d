"""The figures in the docs, generated from the benchmarks' results files.

    python benchmarks/figures.py            # rewrite every figure block from benchmarks/results/*.json
    python benchmarks/figures.py --check    # exit 1 if a block differs from what the results give

A figure block is a marked region of a Markdown file::

    <!-- figures: ingest -->
    (generated: a table or a sentence)
    <!-- /figures -->

The name after ``figures:`` picks the renderer below; each renderer reads the results of one
or more benchmarks (``benchmarks/results/<name>.json``, written by the benchmark itself) and
says when, at which commit, on which machine and with which command they were measured.
Only the text between the markers is rewritten.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
#: The files that hold figure blocks, relative to the root.
DOCS = ("docs/performance.md", "docs/reliability.md", "benchmarks/README.md")
RESULTS = "benchmarks/results"
BLOCK = re.compile(r"(<!-- figures: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /figures -->)", re.S)

Results = dict[str, dict[str, Any]]


def load(results_dir: Path) -> Results:
    """Every ``<name>.json`` in the results directory, by benchmark name."""
    return {path.stem: json.loads(path.read_text()) for path in sorted(results_dir.glob("*.json"))}


# ------------------------------------------------------------------ shared pieces


def met(ok: bool) -> str:
    return "met" if ok else "not met"


def measured(doc: dict[str, Any]) -> str:
    """When, where and how: the date, the commit, the machine and the command."""
    machine = doc["machine"]
    commit = f"`{doc['commit']}`" + (" with local changes" if doc.get("dirty") else "") if doc["commit"] else "?"
    load = machine.get("load_average")
    busy = f", load average {load:g} at the start" if load is not None else ""
    note = doc["params"].get("note")
    return (
        f"Measured on {doc['date'][:10]} at commit {commit}, on {machine['cores']} cores ({machine['cpu_model']})"
        f" with Python {machine['python']}{busy}" + (f"; {note}" if note else "") + ":\n\n"
        f"```sh\n{doc['command']}\n```\n"
    )


def n0(value: float) -> str:
    return f"{value:,.0f}"


# ------------------------------------------------------------------ ingest


def ingest(results: Results) -> str:
    doc = results["ingest"]
    fig, ratios = doc["figures"], doc["figures"]["ratios"]
    rows = [
        ("bare", fig["median"]["bare"]),
        ("mirror", fig["median"]["mirror"]),
        ("bare", fig["single_bare"]),
        ("mirror", fig["single"]),
    ]
    lines = [
        measured(doc),
        f"Concurrency {fig['median']['mirror']['concurrency']} (medians of {doc['params']['rounds']} interleaved"
        " pairs) and 1:",
        "",
        "| server | concurrency | envelopes/s | p50 ms | p99 ms | server CPU µs/envelope | snapshot B/envelope"
        " | snapshot / wire |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for server, r in rows:
        disk = f"{r['snapshot_bytes_per_envelope']:.0f}" if "snapshot_bytes_per_envelope" in r else "–"
        ratio = f"{r['snapshot_to_wire']:.3f}" if "snapshot_to_wire" in r else "–"
        lines.append(
            f"| {server} | {r['concurrency']} | {n0(r['envelopes_per_s'])} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f}"
            f" | {r['server_cpu_us_per_envelope']:.0f} | {disk} | {ratio} |"
        )
    pairs = ", ".join(f"{p:.2f}x" for p in ratios["cpu_per_envelope_pairs"])
    lines += [
        "",
        f"Wire bytes: {fig['median']['mirror']['wire_bytes_per_envelope']:.0f} per envelope (the mean gzip body).",
        "",
        "| target | measured | met |",
        "|---|---:|:---:|",
        f"| snapshot bytes ≤ 0.5x wire bytes under load | {ratios['snapshot_to_wire']:.3f}"
        f" ({ratios['snapshot_to_wire_c1']:.3f} at c=1) | {met(fig['targets']['snapshot_to_wire'])} |",
        f"| mirror/bare CPU per envelope ≤ 2x under load | {ratios['cpu_per_envelope']:.2f}x: pairs {pairs};"
        f" {ratios['cpu_per_envelope_of_medians']:.2f}x of the medians | {met(fig['targets']['cpu_per_envelope'])} |",
        f"| (for information) mirror/bare CPU per envelope, c=1 | {ratios['cpu_per_envelope_c1']:.2f}x | – |",
        f"| (for information) mirror/bare throughput under load | {ratios['throughput']:.2f}x | – |",
    ]
    return "\n".join(lines) + "\n"


def ingest_pool(results: Results) -> str:
    """The envelopes the ingest benchmark sends: how many of each kind, and their sizes."""
    doc = results["ingest"]
    pool = doc["figures"]["pool"]
    lines = [
        f"| kind (`--pool-rounds {doc['params']['pool_rounds']}`, {doc['date'][:10]}) | envelopes | bytes | gzip bytes |",
        "|---|---:|---:|---:|",
    ]
    for kind, sizes in pool.items():
        lines.append(f"| {kind} | {sizes['count']} | {n0(sizes['raw_bytes'])} | {n0(sizes['gzip_bytes'])} |")
    wire = doc["figures"]["median"]["mirror"]["wire_bytes_per_envelope"]
    return "\n".join(lines) + f"\n\n{wire:,.0f} bytes on the wire per envelope on average, as sent.\n"


# ------------------------------------------------------------------ read

READ_TARGETS = {"inspect": 50_000, "group": 50_000, "report": 20_000}


def _read_rows(doc: dict[str, Any]) -> dict[str, dict[int, dict[str, Any]]]:
    """The rows by command, then by snapshot size."""
    rows: dict[str, dict[int, dict[str, Any]]] = {}
    for row in doc["figures"]["rows"]:
        rows.setdefault(row["command"], {})[row["envelopes"]] = row
    return rows


def read(results: Results) -> str:
    doc = results["read"]
    count = doc["params"]["count"]
    rows = _read_rows(doc)
    base = next(by_size[count] for name, by_size in rows.items() if name.startswith("zstd"))
    size = f" ({base['snapshot_bytes'] / 1e6:.0f} MB of snapshot)" if "snapshot_bytes" in base else ""
    lines = [
        measured(doc),
        f"{count:,} envelopes{size}:",
        "",
        "| command | envelopes/s | per CPU second | against the baseline's per CPU second"
        f" | peak memory at {count // 10:,} / {count:,} envelopes |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, by_size in rows.items():
        full, tenth = by_size[count], by_size.get(count // 10)
        rate = full["envelopes_per_cpu_s"]
        target = READ_TARGETS.get(name.split()[0])
        shown = n0(rate) + (f" (target {target:,}: {met(rate >= target)})" if target else "")
        ratio = "–" if full is base else f"{rate / base['envelopes_per_cpu_s']:.2f}x"
        memory = f"{tenth['peak_rss_mb']:.0f} / " if tenth else ""
        command = "`zstd -dc FILE \\| wc -l` (baseline)" if full is base else f"`sentry-mirror {name} FILE`"
        lines.append(
            f"| {command} | {n0(full['envelopes_per_s'])} | {shown} | {ratio} | {memory}{full['peak_rss_mb']:.0f} MB |"
        )
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ replay


def _replay_rows(doc: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    rows: dict[str, dict[str, dict[str, Any]]] = {}
    for row in doc["figures"]["max"]:
        rows.setdefault(row["encoding"], {})[row["who"]] = row
    return rows


def replay(results: Results) -> str:
    doc = results["replay"]
    paced = doc["figures"]["paced"]
    lines = [
        measured(doc),
        f"`--speed max`, {doc['params']['count']:,} requests, best / median of {doc['params']['rounds']} runs:",
        "",
        "| `--encoding` | replay requests/s at the sink | replay CPU µs per request | aiohttp loop, same requests"
        " | aiohttp CPU µs per request | replay / aiohttp requests/s (median) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    per_cpu = []
    for encoding, who in _replay_rows(doc).items():
        rep, base = who["replay"], who["baseline"]
        rate = f"{n0(rep['rps_best'])} / {n0(rep['rps_median'])}"
        if encoding == "identity":
            rate += f" (target 8,000: {met(rep['rps_median'] >= 8000)})"
        lines.append(
            f"| {encoding} | {rate} | {rep['cpu_us']:.0f} | {n0(base['rps_best'])} / {n0(base['rps_median'])}"
            f" | {base['cpu_us']:.0f} | {rep['rps_median'] / base['rps_median']:.2f}x |"
        )
        per_cpu.append(f"{encoding.split()[0]} {n0(1e6 / rep['cpu_us'])}")
    lines += [
        "",
        f"In requests per CPU second: {', '.join(per_cpu)}.",
        "",
        f"Pacing: at `--speed 1` ({paced['requests']:,} requests over {paced['span_s']:.1f} s) requests are written"
        f" {paced['lag_p50_ms']:.2f} ms late at p50 and {paced['lag_p99_ms']:.2f} ms at p99"
        f" (target 5 ms: {met(paced['lag_p99_ms'] < 5)}).",
    ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ forward


def forward(results: Results) -> str:
    doc = results["forward"]
    fig, params = doc["figures"], doc["params"]
    ratios, targets = fig["ratios"], fig["targets"]
    closed, paced = fig["closed_loop"], fig["paced"]
    names = {"listen": "`listen`", "forward": "`listen --forward`", "sink": "the sink alone (sent to directly)"}
    lines = [
        measured(doc),
        f"Closed loop, {params['concurrency']} requests in flight (medians of {params['rounds']} interleaved rounds):",
        "",
        "| server | requests/s | p50 ms | p99 ms | server CPU µs/request |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, r in closed.items():
        lines.append(
            f"| {names[name]} | {n0(r['envelopes_per_s'])} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f}"
            f" | {r['server_cpu_us_per_envelope']:.0f} |"
        )
    lines += [
        "",
        f"Paced: {params['concurrency']} clients sending {params['rate']:g} requests/s in all:",
        "",
        "| sent to | p50 ms | p99 ms | max ms |",
        "|---|---:|---:|---:|",
    ]
    for name, r in paced.items():
        lines.append(f"| {names[name]} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['max_ms']:.1f} |")
    pairs = ", ".join(f"{p:.2f}x" for p in ratios["cpu_per_request_pairs"])
    lines += [
        "",
        "| target | measured | met |",
        "|---|---:|:---:|",
        f"| `--forward`/`listen` listener CPU per request ≤ 1.3x | {ratios['cpu_per_request']:.2f}x: pairs {pairs}"
        f" | {met(targets['cpu_per_request'])} |",
        f"| added latency p50 ≤ 1 ms (paced) | {ratios['added_p50_ms']:.2f} ms | {met(targets['added_p50_ms'])} |",
        f"| added latency p99 ≤ 5 ms (paced) | {ratios['added_p99_ms']:.2f} ms | {met(targets['added_p99_ms'])} |",
        f"| (for information) latency plain `listen` adds, p50 / p99 (paced; it does not send on) |"
        f" {ratios['listen_added_p50_ms']:.2f} / {ratios['listen_added_p99_ms']:.2f} ms | – |",
        f"| (for information) added latency p50 / p99, closed loop | {ratios['closed_loop_added_p50_ms']:.2f} /"
        f" {ratios['closed_loop_added_p99_ms']:.2f} ms | – |",
        f"| (for information) `--forward`/`listen` throughput, closed loop | {ratios['throughput']:.2f}x | – |",
    ]
    return "\n".join(lines) + "\n"


def _forward_summary(doc: dict[str, Any]) -> list[str]:
    """The summary's rows for ``listen --forward``."""
    ratios, targets = doc["figures"]["ratios"], doc["figures"]["targets"]
    rate = f"{doc['params']['rate']:g}/s, c={doc['params']['concurrency']}"
    return [
        f"| `listen --forward`: listener CPU per request | – | {ratios['cpu_per_request']:.2f}x plain `listen`'s |"
        f" at most 1.3x: {met(targets['cpu_per_request'])} |",
        f"| `listen --forward`: added latency p50 / p99 ({rate}) | {ratios['added_p50_ms']:.2f} /"
        f" {ratios['added_p99_ms']:.2f} ms | against sending to the upstream directly | 1 / 5 ms:"
        f" {met(targets['added_p50_ms'] and targets['added_p99_ms'])} |",
    ]


# ------------------------------------------------------------------ scale: --workers, --jobs, sql


def _pinned(pins: dict[str, Any], cores: int) -> str:
    wrk = f"pinned to CPU {pins['wrk']}" if pins.get("wrk") is not None else "not pinned"
    if pins.get("listener") is not None:
        return f"wrk {wrk}, the listener to CPUs {pins['listener']}"
    return f"wrk {wrk}, the listener not pinned ({cores} cores: it shares them with wrk)"


def _busy(doc: dict[str, Any]) -> str:
    """How busy the machine was when the run started (the other jobs on it)."""
    return (
        f"Busy before the start (other processes): {doc['figures']['busy_cpus_before']:.2f} of"
        f" {doc['machine']['cores']} cores.\n"
    )


def workers(results: Results) -> str:
    doc = results["workers"]
    fig, params = doc["figures"], doc["params"]
    ratios, targets, median = fig["ratios"], fig["targets"], fig["median"]
    lines = [
        measured(doc),
        f"wrk: one thread, {params['connections']} keep-alive connections, {_pinned(fig['pinning'], doc['machine']['cores'])};"
        f" {params['seconds']:g} s measured after {params['warmup']:g} s of warm-up; medians of {params['rounds']}"
        " interleaved pairs:",
        "",
        "| `listen` | requests/s | p50 ms | p99 ms | listener CPU µs/request | listener cores used | wrk cores used |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for n in ("1", "2"):
        m = median[n]
        lines.append(
            f"| `--workers {n}` | {n0(m['requests_per_s'])} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f}"
            f" | {m['listener_cpu_us_per_request']:.0f} | {m['listener_cores']:.2f} | {m['wrk_cores']:.2f} |"
        )
    rps = ", ".join(f"{p:.2f}x" for p in ratios["requests_per_s_pairs"])
    cpu = ", ".join(f"{p:.2f}x" for p in ratios["cpu_per_request_pairs"])
    lines += [
        "",
        "| target | measured | met |",
        "|---|---:|:---:|",
        f"| `--workers 2` / `--workers 1` requests/s ≥ 1.6x | {ratios['requests_per_s']:.2f}x: pairs {rps}"
        f" | {met(targets['requests_per_s'])} |",
        f"| listener CPU per request, 2 workers / 1: no more (≤ 1.05x, the noise between runs) |"
        f" {ratios['cpu_per_request']:.2f}x: pairs {cpu} | {met(targets['cpu_per_request'])} |",
    ]
    free = doc["machine"]["cores"] - median["2"]["wrk_cores"]
    lines += [
        "",
        f"With two workers the load generator took {median['2']['wrk_cores']:.2f} of a core, leaving at most"
        f" {free:.2f} of the {doc['machine']['cores']} cores to the listener, which used {median['2']['listener_cores']:.2f}"
        f" (busy before the start: {fig['busy_cpus_before']:.2f} cores)."
        + (f" Warnings: {'; '.join(fig['warnings'])}." if fig["warnings"] else ""),
    ]
    return "\n".join(lines) + "\n"


#: "Flat": the largest process at the large size at most this many times the largest at the small one.
JOBS_FLAT = 1.25


def jobs(results: Results) -> str:
    doc = results["jobs"]
    fig = doc["figures"]
    lines = [
        measured(doc),
        "| envelopes (snapshot) | `--jobs 1` s | `--jobs 2` s | `--jobs 2` faster | CPU s, 1 / 2"
        " | peak RSS of the parent, 1 / 2 | of the other processes of `--jobs 2` (how many) | same output |",
        "|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for count, s in fig["summary"].items():
        size = fig["captures"][count]["bytes"] / 1e6
        pairs = f" (pairs {', '.join(f'{p:.2f}x' for p in s['speedup_pairs'])})" if len(s["speedup_pairs"]) > 1 else ""
        worker = f"up to {s['worker_peak_rss_mb']:.0f} MB ({s['workers']})" if s["worker_peak_rss_mb"] else "–"
        lines.append(
            f"| {int(count):,} ({size:.0f} MB) | {s['wall_s']['1']:.1f} | {s['wall_s']['2']:.1f} | {s['speedup']:.2f}x{pairs}"
            f" | {s['cpu_s']['1']:.1f} / {s['cpu_s']['2']:.1f}"
            f" | {s['parent_peak_rss_mb']['1']:.0f} / {s['parent_peak_rss_mb']['2']:.0f} MB | {worker}"
            f" | {'yes' if s['same_output'] else 'no'} |"
        )
    first, last = next(iter(fig["summary"].values())), list(fig["summary"].values())[-1]
    targets = fig["targets"]
    growth = last["max_process_rss_mb"] / first["max_process_rss_mb"]
    lines += [
        "",
        "| target | measured | met |",
        "|---|---:|:---:|",
        f"| `--jobs 2` ≥ 1.7x faster, {first['envelopes']:,} envelopes | {first['speedup']:.2f}x"
        f" | {met(targets['speedup'])} |",
        f"| every process under 300 MB, {last['envelopes']:,} envelopes | largest {last['max_process_rss_mb']:.0f} MB"
        f" ({first['max_process_rss_mb']:.0f} MB at {first['envelopes']:,}) | {met(targets['rss'])} |",
        f"| flat as the capture grows: the largest process at {last['envelopes']:,} at most"
        f" {JOBS_FLAT:g}x the largest at {first['envelopes']:,} | {growth:.2f}x | {met(growth <= JOBS_FLAT)} |",
        f"| `--jobs 2` prints what `--jobs 1` prints, byte for byte | {'yes' if targets['same_output'] else 'no'}"
        f" | {met(targets['same_output'])} |",
        "",
        _busy(doc),
    ]
    return "\n".join(lines)


def sql(results: Results) -> str:
    doc = results["sql"]
    fig = doc["figures"]
    jobs_ = doc["params"]["jobs"]
    s, r = fig["sql"], fig["report"]
    capture = fig["capture"]
    return (
        measured(doc) + f"\n{capture['envelopes']:,} envelopes ({capture['bytes'] / 1e6:.0f} MB of snapshot),"
        f" `--jobs {jobs_}` for both; the query:\n\n```sql\n{fig['query']}\n```\n\n"
        "| command | seconds | CPU seconds | peak RSS |\n|---|---:|---:|---:|\n"
        f"| `sentry-mirror sql FILE -c QUERY --json` (median of {len(fig['sql_runs'])}) | {s['wall_s']:.2f}"
        f" | {s['cpu_s']:.2f} | {s['peak_rss_mb']:.0f} MB |\n"
        f"| `sentry-mirror report --format json FILE` | {r['wall_s']:.1f} | {r['cpu_s']:.1f}"
        f" | {r['peak_rss_mb']:.0f} MB |\n\n"
        f"The query answers {fig['speedup']:.1f}x faster than the report (target 5x: {met(fig['targets']['speedup'])})"
        f" and takes {fig['speedup_cpu']:.1f}x less CPU. Its answer ({s['rows']} row{'s' if s['rows'] != 1 else ''}) adds up to {s['errors']:,} errors; the"
        f" report counts {r['error_events']:,} error events"
        + (" (the same)." if fig["same_count"] else " (they differ: see the results file).")
        + "\n\n"
        + _busy(doc)
    )


def _scale_summary(results: Results) -> tuple[list[str], tuple[str, ...]]:
    """The summary's rows for ``listen --workers``, ``--jobs`` and ``sql``, for those measured."""
    lines: list[str] = []
    names: tuple[str, ...] = ()
    if "workers" in results:
        fig = results["workers"]["figures"]
        ratios, targets = fig["ratios"], fig["targets"]
        lines += [
            f"| `listen --workers 2`: requests per second | {n0(fig['median']['2']['requests_per_s'])} |"
            f" {ratios['requests_per_s']:.2f}x `--workers 1`'s | at least 1.6x: {met(targets['requests_per_s'])} |",
            f"| `listen --workers 2`: listener CPU per request | {fig['median']['2']['listener_cpu_us_per_request']:.0f}"
            f" µs | {ratios['cpu_per_request']:.2f}x `--workers 1`'s | no more: {met(targets['cpu_per_request'])} |",
        ]
        names += ("workers",)
    if "jobs" in results:
        fig = results["jobs"]["figures"]
        first, last = next(iter(fig["summary"].values())), list(fig["summary"].values())[-1]
        lines += [
            f"| `report --jobs 2`, {first['envelopes']:,} envelopes | {first['wall_s']['2']:.1f} s |"
            f" {first['speedup']:.2f}x faster than `--jobs 1` | 1.7x: {met(fig['targets']['speedup'])} |",
            f"| `report --jobs 2`: peak RSS per process, {last['envelopes']:,} envelopes |"
            f" {last['max_process_rss_mb']:.0f} MB | – | 300 MB: {met(fig['targets']['rss'])} |",
        ]
        names += ("jobs",)
    if "sql" in results:
        fig = results["sql"]["figures"]
        lines.append(
            f"| `sql`: errors per SDK and release per hour, {fig['capture']['envelopes']:,} envelopes"
            f" | {fig['sql']['wall_s']:.2f} s | {fig['speedup']:.1f}x faster than `report` |"
            f" 5x: {met(fig['targets']['speedup'])} |"
        )
        names += ("sql",)
    return lines, names


# ------------------------------------------------------------------ summary (all of the above)


def summary(results: Results) -> str:
    """The table at the top of docs/performance.md: each target, and the same run's baseline."""
    ingest_, read_, replay_ = results["ingest"], results["read"], results["replay"]
    ratios, targets = ingest_["figures"]["ratios"], ingest_["figures"]["targets"]
    lines = [
        "| What | Figure | Against the same run's baseline | Target |",
        "|---|---|---|---|",
        "| `listen`: server CPU per envelope | – | {:.2f}x a bare aiohttp app's (one that only appends bodies"
        " to a file) | at most 2x: {} |".format(ratios["cpu_per_envelope"], met(targets["cpu_per_envelope"])),
        f"| `listen`: snapshot bytes per wire byte, under load | {ratios['snapshot_to_wire']:.3f} | – |"
        f" at most 0.5x: {met(targets['snapshot_to_wire'])} |",
    ]
    count = read_["params"]["count"]
    rows = _read_rows(read_)
    base = next(by_size[count] for name, by_size in rows.items() if name.startswith("zstd"))
    for name, by_size in rows.items():
        target = READ_TARGETS.get(name.split()[0])
        if target:
            rate = by_size[count]["envelopes_per_cpu_s"]
            lines.append(
                f"| `{name}`, envelopes per CPU second | {n0(rate)} |"
                f" {rate / base['envelopes_per_cpu_s']:.2f}x `zstd -dc \\| wc -l`'s | {target:,}: {met(rate >= target)} |"
            )
    identity = _replay_rows(replay_).get("identity")
    if identity:
        rate = identity["replay"]["rps_median"]
        lines.append(
            f"| `replay` (identity), requests per second, median | {n0(rate)} |"
            f" {rate / identity['baseline']['rps_median']:.2f}x an aiohttp client loop's | 8,000: {met(rate >= 8000)} |"
        )
    lag = replay_["figures"]["paced"]["lag_p99_ms"]
    lines.append(f"| `replay --speed 1`, lag p99 | {lag:.2f} ms | – | 5 ms: {met(lag < 5)} |")
    names: tuple[str, ...] = ("ingest", "read", "replay")
    if "forward" in results:
        lines += _forward_summary(results["forward"])
        names += ("forward",)
    scale, measured_ = _scale_summary(results)
    lines += scale
    names += measured_
    when = ", ".join(f"{name} {results[name]['date'][:10]}" for name in names)
    load = max(results[name]["machine"]["load_average"] or 0 for name in names)
    cores = ingest_["machine"]["cores"]
    lines += [
        "",
        f"From the results files in `benchmarks/results/` ({when}; load average up to {load:g} on {cores}"
        " cores): the sections below give each run's details. The absolute rates hold only for that machine"
        " at that moment; the ratios to the baseline hold much better.",
    ]
    if load > cores:
        lines += [
            "",
            "These runs were made on a busy machine (more runnable processes than cores): the absolute figures,"
            " and the targets judged on them, understate what an otherwise idle machine does (the targets are"
            " for one), and the ratios move too, as the two sides of a pair share the cores with others."
            " Compare them only with runs made under the same conditions.",
        ]
    return "\n".join(lines) + "\n"


# ------------------------------------------------------------------ bombs


def _bombs_phrases(doc: dict[str, Any]) -> dict[str, str]:
    fig = doc["figures"]
    listen = fig["listen"]
    rss = [r["peak_rss_mb"] for r in fig["readers"].values()]
    return {
        "bomb": f"{fig['decoded_bytes'] / (1 << 20):.0f} MiB decoded from {fig['wire_bytes'] / 1000:.0f} KB of gzip"
        f" ({fig['decoded_bytes'] / fig['wire_bytes']:.0f}:1), shape `{fig['shape']}`",
        "parallel": f"{fig['parallel']} at once",
        "listener": f"{listen['listener_peak_rss_mb']:.0f} MB",
        "meanwhile": f"p50 {listen['normal_meanwhile']['p50_ms']:.1f} ms, p99 {listen['normal_meanwhile']['p99_ms']:.0f} ms"
        f" ({listen['normal_meanwhile']['n']} sent, max {listen['normal_meanwhile']['max_ms']:.0f} ms)",
        "alone": f"p50 {listen['normal_alone']['p50_ms']:.1f} ms, p99 {listen['normal_alone']['p99_ms']:.1f} ms",
        "readers": f"{min(rss):.0f} to {max(rss):.0f} MB",
    }


def bombs(results: Results) -> str:
    doc = results["bombs"]
    fig, p = doc["figures"], _bombs_phrases(doc)
    listen = fig["listen"]
    worst = max(r["peak_rss_mb"] for r in fig["readers"].values())
    slowest = max(fig["readers"].items(), key=lambda item: item[1]["seconds"])
    return (
        measured(doc) + "\n"
        f"Each bomb: {p['bomb']}; {p['parallel']}, answered {listen['bomb_statuses']}"
        f" in {listen['bombs_seconds']:g} s.\n\n"
        "| | measured | target |\n"
        "|---|---:|---|\n"
        f"| listener peak RSS | {p['listener']} | 500 MB: {met(listen['listener_peak_rss_mb'] < 500)} |\n"
        f"| normal envelopes meanwhile | {p['meanwhile']} | p99 100 ms:"
        f" {met(listen['normal_meanwhile']['p99_ms'] < 100)} |\n"
        f"| normal envelopes alone, before the bombs | {p['alone']} | – |\n"
        f"| readers' peak RSS | {p['readers']} | 500 MB: {met(worst < 500)} |\n"
        f"| slowest reader | `{slowest[0]}`, {slowest[1]['seconds']:g} s | – |\n"
    )


def bombs_summary(results: Results) -> str:
    """The reliability page's paragraph: the default bomb, then the other shapes measured."""
    doc = results["bombs"]
    p = _bombs_phrases(doc)
    text = (
        f"**Decompression bombs** (`{doc['command']}`, {doc['date'][:10]}, commit `{doc['commit']}`: a valid"
        f" envelope, {p['bomb']}): {p['parallel']} peak the listener at {p['listener']}; envelopes sent meanwhile"
        f" {p['meanwhile']}; alone {p['alone']}. Every reader reads that capture in {p['readers']}."
    )
    others = [results[name] for name in ("bombs-header", "bombs-items") if name in results]
    if others:
        shapes = [
            f"`--shape {o['figures']['shape']}` ({_shape_words(o)}): {o['figures']['parallel']} at once peak the"
            f" listener at {_bombs_phrases(o)['listener']}, envelopes sent meanwhile {_bombs_phrases(o)['meanwhile']}"
            f" ({o['date'][:10]})"
            for o in others
        ]
        text += " Other shapes: " + "; ".join(shapes) + "."
    return text + "\n"


def _shape_words(doc: dict[str, Any]) -> str:
    fig = doc["figures"]
    if fig["shape"] == "header":
        return f"a {fig['decoded_bytes'] / (1 << 20):.0f} MiB envelope header line"
    if fig["shape"] == "items":
        return f"{fig['empty_items'] / 1e6:.1f} million empty items"
    return f"a {fig['decoded_bytes'] / (1 << 20):.0f} MiB attachment"


#: The readers that parse a body of many items again, and so hold it whole.
ITEM_READERS = ("group", "report --format json", "diff", "inspect show", "replay --dry-run")


def bombs_items(results: Results) -> str:
    """The known limit that ``--shape items`` measures: the per-item work holds other clients up."""
    doc = results["bombs-items"]
    fig = doc["figures"]
    listen = fig["listen"]
    held = [fig["readers"][name]["peak_rss_mb"] for name in ITEM_READERS if name in fig["readers"]]
    return (
        f"- A body of {_shape_words(doc)} is accepted, but its per-item work holds other clients up: with"
        f" {fig['parallel']} at once (listener peak {listen['listener_peak_rss_mb']:.0f} MB), normal envelopes took"
        f" up to a p99 of {listen['normal_meanwhile']['p99_ms']:.0f} ms (max {listen['normal_meanwhile']['max_ms']:.0f}"
        f" ms; {listen['normal_alone']['p99_ms']:.1f} ms alone). Readers that parse such a body again (`group`,"
        f" `report`, `diff`, `inspect show`, `replay --dry-run`) peaked at {min(held):.0f} to {max(held):.0f} MB"
        f" (`{doc['command']}`, {doc['date'][:10]}).\n"
    )


def sourcemaps(results: Results) -> str:
    doc = results["sourcemaps"]
    fig = doc["figures"]
    base, check = fig["baseline"], fig["check"]
    return (
        measured(doc) + f"\n{fig['events']:,} events ({fig['frames']:,} minified frames) against {fig['bundles']}"
        f" bundles (a {fig['minified_bytes'] / 1024:.0f} KiB minified file and a {fig['map_bytes'] / 1024:.0f} KiB"
        f" map each), {fig['snapshot_bytes'] / 1e6:.1f} MB of snapshot:\n\n"
        "| command | seconds | CPU seconds | frames per CPU second |\n|---|---:|---:|---:|\n"
        f"| `sentry-mirror inspect --json FILE` (baseline) | {base['wall_s']:.2f} | {base['cpu_s']:.2f} | – |\n"
        f"| `sentry-mirror sourcemaps check --json FILE` | {check['wall_s']:.2f} | {check['cpu_s']:.2f}"
        f" | {n0(fig['frames'] / check['cpu_s'])} |\n\n"
        f"The check takes {fig['ratio_cpu']:.1f}x the baseline's CPU time; every frame resolved.\n"
    )


def fixture(results: Results) -> str:
    doc = results["fixture"]
    fig = doc["figures"]
    rows = (
        ("baseline: a temporary directory, a loopback socket bound and closed", "baseline"),
        ("`Mirror(dir).start()` and `stop()` (the function-scoped fixture)", "function"),
        ("the same, with one envelope sent on a keep-alive connection and `wait_for` it", "function_with_request"),
        ("`reset()` on a running Mirror (the session-scoped fixture), one record to forget", "session_reset"),
    )
    table = "".join(
        f"| {label} | {fig[kind]['median_ms']:.2f} | {fig[kind]['p95_ms']:.2f} | {fig[kind]['ratio']:.1f}x |\n"
        for label, kind in rows
    )
    return (
        measured(doc) + f"\n{fig['rounds']:,} rounds of each, interleaved:\n\n"
        "| per test | median ms | p95 ms | x baseline |\n|---|---:|---:|---:|\n" + table + "\n"
        f"The function-scoped fixture adds {fig['function']['median_ms']:.1f} ms to a test (target: a few"
        f" ms: {met(fig['function']['median_ms'] < 5)}); the session-scoped one"
        f" {fig['session_reset']['median_ms']:.2f} ms.\n"
    )


def pii(results: Results) -> str:
    """Precision and recall of the personal-data engines on the labelled corpus."""
    doc = results["pii"]
    engines, captures = doc["figures"]["engines"], doc["figures"]["captures"]
    words = {"builtin": "built-in (every JSON item)", "relay": "relay (built-in, and what Relay scrubs beyond it)"}
    lines = [
        measured(doc),
        f"{len(captures)} captures, {sum(c['payloads'] for c in captures.values())} payloads,"
        f" {sum(c['labelled'] for c in captures.values())} labelled places (tests/data/pii_corpus):",
        "",
        "| engine | precision | recall | found | false (places / values) | missed | payloads per CPU second |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, e in engines.items():
        lines.append(
            f"| {words.get(name, name)} | {e['precision']:.3f} | {e['recall']:.3f} | {e['true_positives']}"
            f" | {e['false_positives']} / {e['false_positive_findings']} | {e['missed']}"
            f" | {n0(e['throughput']['payloads_per_cpu_s'])} |"
        )
    lines += ["", "| target | measured | met |", "|---|---:|:---:|"]
    for name, e in engines.items():
        lines += [
            f"| {words.get(name, name)}: no false positive on the real SDK captures | {e['false_positives']}"
            f" | {met(e['false_positives'] == 0)} |",
            f"| {words.get(name, name)}: recall ≥ 95% on the planted set | {e['planted_recall']:.1%}"
            f" | {met(e['planted_recall'] >= 0.95)} |",
        ]
    return "\n".join(lines) + "\n"


#: Each block's renderer, and the results files (by benchmark name) it reads.
RENDERERS: dict[str, tuple[Callable[[Results], str], tuple[str, ...]]] = {
    "summary": (summary, ("ingest", "read", "replay")),
    "ingest": (ingest, ("ingest",)),
    "ingest-pool": (ingest_pool, ("ingest",)),
    "read": (read, ("read",)),
    "replay": (replay, ("replay",)),
    "forward": (forward, ("forward",)),
    "bombs": (bombs, ("bombs",)),
    "bombs-summary": (bombs_summary, ("bombs",)),
    "bombs-items": (bombs_items, ("bombs-items",)),
    "sourcemaps": (sourcemaps, ("sourcemaps",)),
    "fixture": (fixture, ("fixture",)),
    "pii": (pii, ("pii",)),
    "workers": (workers, ("workers",)),
    "jobs": (jobs, ("jobs",)),
    "sql": (sql, ("sql",)),
}


# ------------------------------------------------------------------ rewriting


def rewrite(text: str, results: Results) -> str:
    """``text`` with every figure block rendered again from ``results``."""

    def render(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in RENDERERS:
            raise SystemExit(f"unknown figure block {name!r} (known: {', '.join(RENDERERS)})")
        renderer, needs = RENDERERS[name]
        missing = [need for need in needs if need not in results]
        if missing:
            raise SystemExit(f"figure block {name!r}: no results for {', '.join(missing)} in {RESULTS}/")
        return f"{match.group(1)}\n{renderer(results)}\n{match.group(4)}"

    return BLOCK.sub(render, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a block is not up to date")
    parser.add_argument("--root", type=Path, default=ROOT, help="the checkout whose docs and results to use")
    args = parser.parse_args(argv)
    results = load(args.root / RESULTS)
    stale = []
    for relative in DOCS:
        path = args.root / relative
        text = path.read_text()
        new = rewrite(text, results)
        if new != text:
            stale.append(relative)
            if not args.check:
                path.write_text(new)
    verb = "differ from the results (run python benchmarks/figures.py)" if args.check else "rewritten"
    for relative in stale:
        print(f"{relative}: figures {verb}", file=sys.stderr)
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
