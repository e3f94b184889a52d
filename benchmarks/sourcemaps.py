"""Source map benchmark: ``sourcemaps check`` over minified JavaScript events.

    python benchmarks/sourcemaps.py [--events 10000] [--bundles 20] [--functions 400] [--out PATH] [--json]

Generates a JavaScript app of FUNCTIONS functions in four files, builds it BUNDLES times
with the real esbuild (``--bundle --minify --sourcemap``; a banner makes each build
another), one artifact bundle and release per build (half the events find theirs by debug
id, half by release and URL), then writes a snapshot (not committed) of the uploads and
EVENTS events of 8 frames each at positions of ``throw`` statements of a random build.
Times in the same run:

- the baseline: ``sentry-mirror inspect --json FILE`` (reading and decoding the snapshot);
- ``sentry-mirror sourcemaps check --json FILE`` (the same read, plus every frame resolved
  with symbolic: one cache per bundle file);

and checks that every frame resolved. Needs node's esbuild in tests/conformance/js
(``npm ci`` there). Writes benchmarks/results/sourcemaps.json (``--out``; see resultfile.py).
"""

from __future__ import annotations

import argparse
import random
import re
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from resultfile import add_output_options, begin, document, emit, headline  # noqa: E402

from sentry_mirror.io.snapshot import SnapshotWriter  # noqa: E402
from tests.factories import make_artifact_bundle, make_event_record, make_js_event, make_upload  # noqa: E402

ESBUILD = ROOT / "tests" / "conformance" / "js" / "node_modules" / ".bin" / "esbuild"
FRAMES = 8
PATH = "/srv/app/dist/app.min.js"


def write_app(directory: Path, functions: int) -> None:
    """Four modules of ``functions`` functions in all, each calling the next and throwing."""
    per = functions // 4
    for part in range(4):
        body = [f'import {{ f{(part + 1) * per} }} from "./part{part + 1}.js";' if part < 3 else ""]
        for i in range(part * per, (part + 1) * per):
            call = "return 0;" if i == 4 * per - 1 else f"return f{i + 1}(depth - 1) + {i};"
            body.append(
                f"export function f{i}(depth) {{\n  if (depth <= 0) {{\n"
                f'    throw new Error("failed in f{i} at " + depth);\n  }}\n  {call}\n}}\n'
            )
        (directory / f"part{part}.js").write_text("\n".join(body))
    (directory / "main.js").write_text('import { f0 } from "./part0.js";\nglobalThis.run = f0;\n')


def build(directory: Path, out: Path, number: int) -> tuple[bytes, bytes]:
    target = out / "app.min.js"
    subprocess.run(
        [str(ESBUILD), str(directory / "main.js"), "--bundle", "--minify", "--sourcemap", "--format=iife",
         f"--banner:js=var BUILD_{number}={number};", f"--outfile={target}", "--log-level=warning"],
        check=True,
    )  # fmt: skip
    return target.read_bytes(), (out / "app.min.js.map").read_bytes()


def throw_positions(minified: bytes) -> list[tuple[int, int]]:
    """1-based (line, column) of each ``new Error`` of the minified file."""
    found = []
    for number, line in enumerate(minified.decode().splitlines(), 1):
        found += [(number, m.start() + 1) for m in re.finditer(r"new Error", line)]
    return found


def snapshot(path: Path, builds: list[tuple[bytes, bytes]], events: int) -> None:
    rng = random.Random(15)
    records: list[dict[str, Any]] = []
    positions = []
    for number, (minified, mapped) in enumerate(builds):
        debug_id = str(uuid.UUID(int=number + 1))
        files = {
            "~" + PATH: ("minified_source", minified, {"debug-id": debug_id, "sourcemap": "app.min.js.map"}),
            "~" + PATH + ".map": ("source_map", mapped, {"debug-id": debug_id}),
        }
        records.append(make_upload(make_artifact_bundle(files), release=f"web@{number}"))
        positions.append(throw_positions(minified))
    for i in range(events):
        number = rng.randrange(len(builds))
        frames = [rng.choice(positions[number]) for _ in range(FRAMES)]
        debug_id = str(uuid.UUID(int=number + 1)) if i % 2 else None
        event = make_js_event(PATH, frames, debug_id=debug_id, release=f"web@{number}", event_id=uuid.uuid4().hex)
        records.append(make_event_record(event))
    with path.open("wb") as fo:
        writer = SnapshotWriter(fo)
        for start in range(0, len(records), 1000):
            writer.write(records[start : start + 1000])
        writer.finish_frame()


def measure(argv: list[str]) -> tuple[dict[str, float], bytes]:
    """Wall and CPU seconds of one command, and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, check=False, capture_output=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.decode()[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"wall_s": wall, "cpu_s": cpu}, done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--bundles", type=int, default=20)
    parser.add_argument("--functions", type=int, default=400)
    add_output_options(parser, "sourcemaps")
    args = parser.parse_args()
    started = begin()
    mirror = [sys.executable, "-m", "sentry_mirror"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "src").mkdir()
        write_app(root / "src", args.functions)
        builds = []
        for number in range(args.bundles):
            (root / f"out{number}").mkdir()
            builds.append(build(root / "src", root / f"out{number}", number))
        path = root / "capture.jsonl.zst"
        snapshot(path, builds, args.events)
        size = path.stat().st_size
        print(f"{args.events} events, {args.bundles} bundles of {len(builds[0][0]):,} + {len(builds[0][1]):,} bytes: "
              f"{size / 1e6:.1f} MB of snapshot", file=sys.stderr)  # fmt: skip
        baseline, _ = measure([*mirror, "inspect", "--json", str(path)])
        check, out = measure([*mirror, "sourcemaps", "check", "--json", str(path)])
    totals = orjson.loads(out)["totals"]
    if totals["resolved"] != args.events * FRAMES:
        raise SystemExit(f"not every frame resolved: {totals['outcomes']}")
    figures = {
        "events": args.events,
        "frames": totals["frames"],
        "bundles": args.bundles,
        "minified_bytes": len(builds[0][0]),
        "map_bytes": len(builds[0][1]),
        "snapshot_bytes": size,
        "baseline": baseline,
        "check": check,
        "ratio_wall": check["wall_s"] / baseline["wall_s"],
        "ratio_cpu": check["cpu_s"] / baseline["cpu_s"],
    }
    print(f"inspect --json {baseline['wall_s']:.2f} s; sourcemaps check {check['wall_s']:.2f} s "
          f"({figures['ratio_wall']:.2f}x)", file=sys.stderr)  # fmt: skip
    heads = {
        "check_vs_inspect": headline(figures["ratio_cpu"], "lower", "sourcemaps check's CPU time / inspect --json's"),
        "check_s": headline(check["wall_s"], "lower", "sourcemaps check: seconds (absolute)"),
    }
    emit(document("sourcemaps", vars(args), heads, figures, started), args.out, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
