"""Compare two results files of the same benchmark: each headline figure, its change, a verdict.

    python benchmarks/compare.py OLD.json NEW.json [--tolerance 5]

A figure that moved by less than the tolerance (per cent of the old value) is ``ok``; beyond
it, ``better`` or ``WORSE`` in the direction the figure counts (``better`` in the results
file: ``higher`` or ``lower``). Exits 1 if any figure is worse beyond the tolerance, 2 if the
files are of different benchmarks. Ratios against the baseline of the same run come first in
every results file: on a shared machine they are the figures to trust.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def verdict(old: float, new: float, better: str, tolerance: float) -> tuple[float, str]:
    """The change in per cent of ``old``, and ``ok``, ``better`` or ``WORSE``."""
    change = (new - old) / abs(old) * 100 if old else (0.0 if new == old else float("inf"))
    if abs(change) < tolerance:
        return change, "ok"
    improved = change > 0 if better == "higher" else change < 0
    return change, "better" if improved else "WORSE"


def compare(old: dict[str, Any], new: dict[str, Any], tolerance: float) -> tuple[list[str], bool]:
    """The lines to print, and whether any figure is worse beyond the tolerance."""
    lines = [
        f"{old['benchmark']}: {old['date']} ({old['commit']}) -> {new['date']} ({new['commit']});"
        f" tolerance {tolerance:g}%",
        f"{'figure':<64}{'old':>12}{'new':>12}{'change':>10}  verdict",
    ]
    worse = False
    for key, figure in old["headline"].items():
        if key not in new["headline"]:
            lines.append(f"{figure['label'][:63]:<64}{figure['value']:>12.4g}{'-':>12}{'':>10}  missing")
            continue
        before, after = figure["value"], new["headline"][key]["value"]
        if before is None or after is None:
            lines.append(f"{figure['label'][:63]:<64}{before!s:>12}{after!s:>12}{'':>10}  not measured")
            continue
        change, word = verdict(before, after, figure["better"], tolerance)
        worse = worse or word == "WORSE"
        better = "higher" if figure["better"] == "higher" else "lower"
        lines.append(
            f"{figure['label'][:63]:<64}{before:>12.4g}{after:>12.4g}{change:>+9.1f}%  {word} ({better} is better)"
        )
    for key in new["headline"].keys() - old["headline"].keys():
        lines.append(f"{new['headline'][key]['label'][:63]:<64}{'-':>12}{new['headline'][key]['value']:>12.4g}")
    return lines, worse


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old", type=Path)
    parser.add_argument("new", type=Path)
    parser.add_argument("--tolerance", type=float, default=5.0, help="per cent counted as noise (default 5)")
    args = parser.parse_args(argv)
    old, new = json.loads(args.old.read_text()), json.loads(args.new.read_text())
    if old["benchmark"] != new["benchmark"]:
        print(f"not the same benchmark: {old['benchmark']} and {new['benchmark']}", file=sys.stderr)
        return 2
    lines, worse = compare(old, new, args.tolerance)
    print("\n".join(lines))
    return 1 if worse else 0


if __name__ == "__main__":
    raise SystemExit(main())
