"""What every benchmark writes: one JSON document with its figures, its parameters, the date,
the commit and the machine, in ``benchmarks/results/<name>.json`` unless ``--out`` says
otherwise. ``benchmarks/figures.py`` renders the docs' figures from these files and
``benchmarks/compare.py`` compares two of them.

The document::

    {"benchmark": "ingest", "date": "2026-12-03T05:10:00Z", "commit": "64806a4", "dirty": false,
     "machine": {"cores": 2, "cpu_model": "...", "python": "3.11.7", "load_average": 2.9, ...},
     "params": {...the command-line options...},
     "headline": {"cpu_ratio": {"value": 1.9, "better": "lower", "label": "..."}, ...},
     "figures": {...everything the benchmark measured...}}

``headline`` holds the figures a regression check compares (``better`` says which way is
better); ratios against a baseline measured in the same run come first, as they are the
trustworthy ones on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
RESULTS = HERE / "results"


def add_output_options(parser: argparse.ArgumentParser, name: str) -> None:
    """``--out PATH`` (default ``benchmarks/results/<name>.json``) and ``--json`` (stdout)."""
    default = RESULTS / f"{name}.json"
    parser.add_argument(
        "--out",
        type=Path,
        default=default,
        help=f"write the results as JSON to this file (default {default.relative_to(ROOT)}; '-' for none)",
    )
    parser.add_argument("--json", action="store_true", help="print the results as JSON on stdout as well")
    parser.add_argument("--note", help="how this run was made (e.g. 'quick settings'), kept in the results' params")


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _command(argv: list[str]) -> str:
    """The command as it can be typed again, without the options that only say where the
    results go or describe the run (``--out``, ``--json``, ``--note``)."""
    kept, skip = [], False
    for arg in argv[1:]:
        if skip:
            skip = False
        elif arg in ("--out", "--note"):
            skip = True
        elif arg != "--json" and not arg.startswith(("--out=", "--note=")):
            kept.append(arg)
    return shlex.join(["python", os.path.relpath(argv[0], ROOT), *kept])


def begin() -> dict[str, Any]:
    """Taken when a benchmark starts: the date, the commit, and the machine (cores, CPU model,
    Python, and how busy it was)."""
    try:
        load = round(os.getloadavg()[0], 2)
    except OSError:
        load = None
    # the code measured: the package and the benchmarks (not the docs, the results or the tools reading them)
    measured = (
        "sentry_mirror",
        "benchmarks/*.py",
        ":(exclude)benchmarks/figures.py",
        ":(exclude)benchmarks/compare.py",
    )
    status = _git("status", "--porcelain", "--untracked-files=no", "--", *measured)
    return {
        "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "commit": _git("rev-parse", "--short", "HEAD"),
        "dirty": bool(status) if status is not None else None,
        "command": _command(sys.argv),
        "machine": {
            "cores": os.cpu_count(),
            "cpu_model": _cpu_model(),
            "python": platform.python_version(),
            "system": f"{platform.system()} {platform.release()}",
            "load_average": load,
        },
    }


def headline(value: float, better: str, label: str) -> dict[str, Any]:
    """One headline figure: ``better`` is ``"higher"`` or ``"lower"``."""
    assert better in ("higher", "lower")
    return {"value": value, "better": better, "label": label}


def document(
    name: str, params: dict[str, Any], headlines: dict[str, Any], figures: dict[str, Any], started: dict[str, Any]
) -> dict[str, Any]:
    """The results document; ``started`` is what :func:`begin` returned before the benchmark ran."""
    params = {k: v for k, v in params.items() if k not in ("out", "json")}
    return {"benchmark": name, **started, "params": params, "headline": headlines, "figures": figures}


def _clean(value: Any) -> Any:
    """NaN and infinities (a figure with nothing to measure) as null: the file stays strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def emit(doc: dict[str, Any], out: Path, also_stdout: bool) -> None:
    """Write the document to ``out`` (unless it is ``-``), and to stdout if asked."""
    text = json.dumps(_clean(doc), indent=2, allow_nan=False) + "\n"
    if str(out) != "-":
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"results written to {out}", file=sys.stderr)
    if also_stdout:
        print(text, end="")
