"""Decompression bombs under the size cap: the listener's memory and latency, then every reader's.

    python benchmarks/bombs.py [--mib 199] [--parallel 4] [--shape attachment|header|items] [--tree PATH]
                               [--out PATH] [--json]

1. Builds a valid envelope and gzips it at level 9, streaming: about 200 KB on the wire for
   199 MiB decoded, under the listener's 200 MiB cap, so it is accepted. ``--shape`` says
   where the ``--mib`` MiB are: ``attachment`` (the default: a small error event, then an
   attachment of zeros, ``length`` on every item), ``header`` (the envelope header line is
   a JSON object of that size, ``{"event_id":…,"dsn":…,"x":"AAAA…"}``, then the event) or
   ``items`` (the event, then that many MiB of empty span items, ``{"type":"span","length":0}``:
   about 36,000 items a MiB).
2. Starts ``python -m sentry_mirror listen --port 0 --quiet`` as its own process, measures
   the latency of normal gzipped SDK envelopes sent one after another (no bomb), then sends
   ``--parallel`` bombs at once while the normal envelopes keep going, and reads the
   listener's peak RSS (``VmHWM`` in /proc/<pid>/status) after the bombs.
3. Runs every reader over the capture as its own process, peak RSS its own ``VmHWM``:
   ``inspect``, ``inspect --json``, ``inspect show``, ``inspect --raw``, ``group``,
   ``report --format json``, ``diff``, ``export -o``, ``export --envelopes``,
   ``replay --dry-run``.

``--tree PATH`` runs another checkout's sentry_mirror (``PYTHONPATH=PATH``), for example
the code before this change (``git archive main | tar -x -C /tmp/before``), in the same way.

Targets (issue 12): listener peak RSS under 500 MB with 4 bombs in parallel; p99 latency of
the normal envelopes sent meanwhile under 100 ms; every reader's peak RSS under 500 MB.

Writes its results to benchmarks/results/bombs.json (``--out``; see resultfile.py).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import uuid
import zlib
from pathlib import Path
from typing import Any

import aiohttp
from resultfile import add_output_options, begin, document, emit, headline

HOST = "127.0.0.1"
KEY = "0123456789abcdef0123456789abcdef"
MIB = 1 << 20
TARGET_RSS_MB = 500
TARGET_P99_MS = 100


def _event(event_id: str) -> bytes:
    event = {
        "event_id": event_id,
        "level": "error",
        "platform": "python",
        "exception": {
            "values": [
                {
                    "type": "ValueError",
                    "value": "a bomb came with me",
                    "stacktrace": {
                        "frames": [
                            {
                                "function": "upload",
                                "module": "shop.upload",
                                "filename": "shop/upload.py",
                                "lineno": 12,
                                "in_app": True,
                            }
                        ]
                    },
                }
            ]
        },
        "sdk": {"name": "sentry.python", "version": "2.75.0"},
    }
    return json.dumps(event).encode()


def envelope_header(event_id: str) -> bytes:
    return json.dumps({"event_id": event_id, "sdk": {"name": "sentry.python", "version": "2.75.0"}}).encode()


SHAPES = ("attachment", "header", "items")
EMPTY_ITEM = b'{"type":"span","length":0}\n\n'


def _repeated(packer: Any, unit: bytes, size: int) -> list[bytes]:
    """``unit`` repeated to ``size`` bytes, compressed a MiB at a time."""
    block = unit * (MIB // len(unit))
    out = []
    for start in range(0, size, len(block)):
        out.append(packer.compress(block[: min(len(block), size - start)]))
    return out


def bomb(mib: float, shape: str = "attachment") -> tuple[str, bytes, int]:
    """(event id, gzip body, decoded size): the envelope is never whole in memory."""
    event_id = uuid.uuid4().hex
    event = _event(event_id)
    size = int(mib * MIB)
    event_item = json.dumps({"type": "event", "length": len(event)}).encode() + b"\n" + event + b"\n"
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    if shape == "header":
        start = f'{{"event_id":"{event_id}","dsn":"http://{KEY}@{HOST}:9/1","x":"'.encode()
        size -= len(start) + 2
        out = [packer.compress(start), *_repeated(packer, b"A", size), packer.compress(b'"}\n' + event_item)]
        return event_id, b"".join(out) + packer.flush(), len(start) + size + 3 + len(event_item)
    head = envelope_header(event_id) + b"\n" + event_item
    if shape == "items":
        size -= size % len(EMPTY_ITEM)
        out = [packer.compress(head), *_repeated(packer, EMPTY_ITEM, size)]
        return event_id, b"".join(out) + packer.flush(), len(head) + size
    head += json.dumps({"type": "attachment", "length": size, "filename": "bomb.bin"}).encode() + b"\n"
    out = [packer.compress(head), *_repeated(packer, b"\0", size)]
    out += [packer.compress(b"\n"), packer.flush()]
    return event_id, b"".join(out), len(head) + size + 1


def small() -> bytes:
    event_id = uuid.uuid4().hex
    event = _event(event_id)
    body = b"\n".join(
        [envelope_header(event_id), json.dumps({"type": "event", "length": len(event)}).encode(), event, b""]
    )
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    return packer.compress(body) + packer.flush()


def _env(tree: str | None) -> dict[str, str]:
    env = {**os.environ, "COLUMNS": "200", "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = tree or str(Path(__file__).resolve().parent.parent)
    return env


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def _normal_loop(url: str, stop: asyncio.Event, latencies: list[float], gap: float) -> None:
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/x-sentry-envelope"}
    async with aiohttp.ClientSession() as session:
        while not stop.is_set():
            body = small()
            start = time.perf_counter()
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                assert response.status == 200, response.status
            latencies.append((time.perf_counter() - start) * 1000)
            await asyncio.sleep(gap)


async def _bombs(url: str, body: bytes, parallel: int) -> list[int]:
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/x-sentry-envelope"}
    timeout = aiohttp.ClientTimeout(total=600)
    async with aiohttp.ClientSession(timeout=timeout) as session:

        async def one() -> int:
            async with session.post(url, data=body, headers=headers) as response:
                await response.read()
                return response.status

        return list(await asyncio.gather(*(one() for _ in range(parallel))))


async def _listen_phase(port: int, body: bytes, parallel: int, quiet_seconds: float) -> dict[str, Any]:
    url = f"http://{HOST}:{port}/api/1/envelope/?sentry_key={KEY}&sentry_version=7"
    alone: list[float] = []
    stop = asyncio.Event()
    loop = asyncio.create_task(_normal_loop(url, stop, alone, 0.01))
    await asyncio.sleep(quiet_seconds)
    stop.set()
    await loop
    meanwhile: list[float] = []
    stop = asyncio.Event()
    loop = asyncio.create_task(_normal_loop(url, stop, meanwhile, 0.01))
    start = time.perf_counter()
    statuses = await _bombs(url, body, parallel)
    took = time.perf_counter() - start
    stop.set()
    await loop
    return {
        "bomb_statuses": statuses,
        "bombs_seconds": round(took, 2),
        "normal_alone": {"n": len(alone), "p50_ms": _percentile(alone, 0.5), "p99_ms": _percentile(alone, 0.99)},
        "normal_meanwhile": {
            "n": len(meanwhile),
            "p50_ms": _percentile(meanwhile, 0.5),
            "p99_ms": _percentile(meanwhile, 0.99),
            "max_ms": max(meanwhile, default=float("nan")),
        },
    }


def listen(workdir: Path, body: bytes, parallel: int, tree: str | None) -> dict[str, Any]:
    argv = [sys.executable, "-m", "sentry_mirror", "listen", "--port", "0", "--quiet", "--dir", str(workdir / "snap")]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=_env(tree), cwd=workdir)
    assert proc.stdout is not None
    port = None
    for raw in proc.stdout:
        match = re.search(rf"{re.escape(HOST)}:(\d+)/1", raw.decode("utf-8", "replace"))
        if match:
            port = int(match.group(1))
            break
    if port is None:
        raise RuntimeError("the listener did not print its DSN")
    try:
        result = asyncio.run(_listen_phase(port, body, parallel, quiet_seconds=3.0))
        result["listener_peak_rss_mb"] = round(_peak_rss_mb(proc.pid), 1)
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=120)
    return result


READERS: list[tuple[str, list[str]]] = [
    ("inspect", ["inspect", "{snap}"]),
    ("inspect --json", ["inspect", "--json", "{snap}"]),
    ("inspect show", ["inspect", "show", "{event}", "{snap}"]),
    ("inspect --raw", ["inspect", "--raw", "{event}", "{snap}"]),
    ("group", ["group", "{snap}"]),
    ("report --format json", ["report", "--format", "json", "{snap}"]),
    ("diff", ["diff", "{snap}", "{snap}"]),
    ("export -o", ["export", "-o", "{work}/export-{n}.jsonl.zst", "{snap}"]),
    ("export --envelopes", ["export", "--envelopes", "{work}/envelopes-{n}", "{snap}"]),
    ("replay --dry-run", ["replay", "--dry-run", "--to", f"http://{KEY}@{HOST}:9/1", "{snap}"]),
]


#: Runs sentry_mirror and, at exit, writes its own peak RSS (VmHWM, kB) to the file named by
#: its first argument. (A child's ru_maxrss starts at its parent's peak when it is started
#: with vfork, as subprocess does: it would measure this script.)
MEASURED = """
import atexit, runpy, sys
out = sys.argv.pop(1)
def report():
    with open("/proc/self/status") as status, open(out, "w") as fo:
        fo.write(next(line for line in status if line.startswith("VmHWM:")).split()[1])
atexit.register(report)
sys.argv[0] = "sentry-mirror"
runpy.run_module("sentry_mirror", run_name="__main__", alter_sys=True)
"""


def readers(workdir: Path, event_id: str, tree: str | None) -> dict[str, Any]:
    results: dict[str, Any] = {}
    peak = workdir / "peak.txt"
    for n, (name, template) in enumerate(READERS):
        argv = [a.format(snap=workdir / "snap", event=event_id, work=workdir, n=n) for a in template]
        start = time.perf_counter()
        with open(os.devnull, "wb") as sink:
            proc = subprocess.run(
                [sys.executable, "-c", MEASURED, str(peak), *argv],
                stdout=sink,
                stderr=subprocess.PIPE,
                env=_env(tree),
                check=False,
            )
        results[name] = {
            "peak_rss_mb": round(int(peak.read_text()) / 1024, 1),
            "seconds": round(time.perf_counter() - start, 2),
            "exit": proc.returncode,
        }
        if proc.returncode != 0:
            results[name]["stderr"] = proc.stderr.decode("utf-8", "replace")[-300:]
    return results


def report(result: dict[str, Any]) -> str:
    listen_ = result["listen"]
    lines = [
        f"{result['parallel']} bombs of {result['wire_bytes']:,} B gzip -> {result['decoded_bytes'] / MIB:.0f} MiB each"
        f" (ratio {result['decoded_bytes'] / result['wire_bytes']:.0f}:1), answered {listen_['bomb_statuses']}"
        f" in {listen_['bombs_seconds']} s",
        f"listener peak RSS          {listen_['listener_peak_rss_mb']:8.1f} MB   (target < {TARGET_RSS_MB}:"
        f" {'met' if listen_['listener_peak_rss_mb'] < TARGET_RSS_MB else 'NOT met'})",
        f"normal envelope, alone     p50 {listen_['normal_alone']['p50_ms']:6.1f} ms  p99 {listen_['normal_alone']['p99_ms']:6.1f} ms"
        f"  ({listen_['normal_alone']['n']} sent)",
        f"normal envelope, meanwhile p50 {listen_['normal_meanwhile']['p50_ms']:6.1f} ms  p99 {listen_['normal_meanwhile']['p99_ms']:6.1f} ms"
        f"  max {listen_['normal_meanwhile']['max_ms']:.1f} ms ({listen_['normal_meanwhile']['n']} sent; target p99 < {TARGET_P99_MS}:"
        f" {'met' if listen_['normal_meanwhile']['p99_ms'] < TARGET_P99_MS else 'NOT met'})",
        "reader                      peak RSS    seconds   exit",
    ]
    for name, figures in result["readers"].items():
        lines.append(f"  {name:24} {figures['peak_rss_mb']:8.1f} MB  {figures['seconds']:7.2f}   {figures['exit']}")
    worst = max(f["peak_rss_mb"] for f in result["readers"].values())
    lines.append(
        f"worst reader peak RSS      {worst:8.1f} MB   (target < {TARGET_RSS_MB}: {'met' if worst < TARGET_RSS_MB else 'NOT met'})"
    )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description="Decompression bombs: listener memory and latency, readers' memory.")
    parser.add_argument(
        "--mib", type=float, default=199.0, help="decoded MiB per bomb (default 199, under the 200 MiB cap)"
    )
    parser.add_argument("--parallel", type=int, default=4, help="bombs sent at once (default 4)")
    parser.add_argument("--shape", choices=SHAPES, default="attachment", help="where the bytes are (see the module)")
    parser.add_argument("--tree", help="PYTHONPATH of the sentry_mirror to measure (default: this checkout)")
    add_output_options(parser, "bombs")
    args = parser.parse_args()
    started = begin()
    event_id, body, decoded = bomb(args.mib, args.shape)
    with tempfile.TemporaryDirectory(prefix="bombs-") as tmp:
        workdir = Path(tmp)
        result: dict[str, Any] = {
            "tree": args.tree or "this checkout",
            "parallel": args.parallel,
            "shape": args.shape,
            "wire_bytes": len(body),
            "decoded_bytes": decoded,
        }
        if args.shape == "items":
            result["empty_items"] = decoded // len(EMPTY_ITEM)  # about: the event comes first
        result["listen"] = listen(workdir, body, args.parallel, args.tree)
        result["readers"] = readers(workdir, event_id, args.tree)
    doc = document("bombs", vars(args), headlines(result), result, started)
    emit(doc, args.out, args.json)
    if not args.json:
        print(report(result))
    return 0


def headlines(result: dict[str, Any]) -> dict[str, Any]:
    listen_ = result["listen"]
    alone, meanwhile = listen_["normal_alone"]["p99_ms"], listen_["normal_meanwhile"]["p99_ms"]
    return {
        "listener_peak_rss_mb": headline(
            listen_["listener_peak_rss_mb"], "lower", f"listener peak RSS, {result['parallel']} bombs at once, MB"
        ),
        "normal_p99_ms": headline(meanwhile, "lower", "p99 of the normal envelopes sent meanwhile, ms"),
        "normal_p99_ratio": headline(meanwhile / alone, "lower", "p99 of normal envelopes, meanwhile / alone"),
        "reader_peak_rss_mb": headline(
            max(f["peak_rss_mb"] for f in result["readers"].values()), "lower", "worst reader's peak RSS, MB"
        ),
    }


if __name__ == "__main__":
    sys.exit(main())
