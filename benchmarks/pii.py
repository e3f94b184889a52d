"""Personal-data benchmark: precision and recall of each engine on the labelled corpus.

    python benchmarks/pii.py [--rounds 20] [--out PATH] [--json]

Scores the built-in engine and the relay engine as ``report --pii-engine relay`` runs it
(the built-in findings, and what Sentry's own default scrubbing changes beyond them in
events, transactions and feedback: ``sentry-relay``, skipped without it) on tests/data/pii_corpus (real SDK captures, with and without planted data, and the committed
samples; its README says how it is made and labelled), per engine and per capture, and
times each engine over the corpus's payloads (ROUNDS passes, a fresh scanner each: payloads
and JSON bytes per CPU second). Writes benchmarks/results/pii.json (``--out``; see
resultfile.py).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import orjson  # noqa: E402
from resultfile import add_output_options, begin, document, emit, headline  # noqa: E402

from sentry_mirror.core import pii  # noqa: E402
from tests.data.pii_corpus import corpus  # noqa: E402


def throughput(engine: str, payloads: list[tuple[dict[str, Any], str]], rounds: int) -> dict[str, float]:
    """Payloads and JSON bytes per CPU second of one engine over the corpus's payloads."""
    size = sum(len(orjson.dumps(payload)) for payload, _ in payloads)
    started = time.process_time()
    for _ in range(rounds):
        scanner = pii.Scanner()
        for payload, kind in payloads:
            if engine == pii.ENGINE:
                for _found in pii.locate(payload, kind, scanner):
                    pass
            else:
                pii.relay_scan(payload, kind, scanner)
    cpu = time.process_time() - started
    return {
        "payloads": len(payloads),
        "json_bytes": size,
        "payloads_per_cpu_s": len(payloads) * rounds / cpu,
        "mb_per_cpu_s": size * rounds / cpu / 1e6,
    }


def measure(rounds: int) -> dict[str, Any]:
    labels = corpus.labels()
    planted = {capture: [label for label in places if label["planted"]] for capture, places in labels.items()}
    payloads = [pair for capture in labels for pair in corpus.payloads(capture)]
    engines = [pii.ENGINE] + ([pii.RELAY_ENGINE] if pii.relay_available() else [])
    figures: dict[str, Any] = {
        "captures": {
            capture: {"payloads": sum(1 for _ in corpus.payloads(capture)), "labelled": len(places)}
            for capture, places in labels.items()
        },
        "engines": {},
    }
    for engine in engines:
        score = corpus.score(engine)
        per_capture = {}
        for capture in labels:
            one = corpus.score(engine, {capture: labels[capture]})
            per_capture[capture] = one.summary()
        figures["engines"][engine] = {
            **score.summary(),
            "planted_recall": round(corpus.score(engine, planted).recall, 4),
            "false_places": sorted(score.false),
            "missed_places": sorted(score.missed),
            "per_capture": per_capture,
            "throughput": throughput(engine, payloads, rounds),
        }
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20, help="passes over the corpus for the throughput")
    add_output_options(parser, "pii")
    args = parser.parse_args()
    started = begin()
    figures = measure(args.rounds)
    for engine, fig in figures["engines"].items():
        print(
            f"{engine:8} precision {fig['precision']:.3f}  recall {fig['recall']:.3f}  (true {fig['true_positives']},"
            f" false {fig['false_positives']}, missed {fig['missed']}; planted recall {fig['planted_recall']:.3f});"
            f" {fig['throughput']['payloads_per_cpu_s']:,.0f} payloads per CPU second"
        )
    builtin = figures["engines"][pii.ENGINE]
    headlines = {
        "builtin_precision": headline(builtin["precision"], "higher", "built-in engine: precision on the corpus"),
        "builtin_recall": headline(builtin["recall"], "higher", "built-in engine: recall on the corpus"),
        "builtin_payloads_per_cpu_s": headline(
            round(builtin["throughput"]["payloads_per_cpu_s"]), "higher", "built-in engine: payloads per CPU second"
        ),
    }
    relay = figures["engines"].get(pii.RELAY_ENGINE)
    if relay:
        headlines["relay_precision"] = headline(relay["precision"], "higher", "relay engine: precision on the corpus")
        headlines["relay_recall"] = headline(relay["recall"], "higher", "relay engine: recall on the corpus")
    emit(document("pii", vars(args), headlines, figures, started), args.out, args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
