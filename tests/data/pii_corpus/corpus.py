"""The labelled personal-data corpus: its captures, its labels, and how an engine scores on it.

``labels.json`` lists, per capture (a snapshot, by its path from the repository's root),
every place that holds personal data: ``{"item_type", "path", "kind", "planted"}``, paths in
the detector's notation (``exception.values[].stacktrace.frames[].vars.card``). A finding
is a true positive when its capture, item type and path are labelled (the kind is what the
planter put there; a place holding a cookie may be found as a session id), a false
positive otherwise; a labelled place with no finding is a miss. Scores count places
(capture, item type, path), and false positives also as findings (one per value).

Engines, on every JSON item the report reads, and profile chunks: ``builtin``
(:func:`sentry_mirror.core.pii.locate`) and ``relay`` as ``report --pii-engine relay`` runs it
(:func:`sentry_mirror.core.pii.relay_scan`: the built-in findings, and the paths Sentry's own
default scrubbing changes in events, transactions and feedback that no finding covers). For
``relay``, paths on both sides are compared as Relay names them (:func:`~sentry_mirror.core.pii.relay_name`).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sentry_mirror.core import pii
from sentry_mirror.core.grouping import events_of
from sentry_mirror.core.report.view import JSON_ITEM_TYPES
from sentry_mirror.io.snapshot import iter_records

CORPUS = Path(__file__).resolve().parent
ROOT = CORPUS.parents[2]
LABELS = CORPUS / "labels.json"
ENGINES = (pii.ENGINE, pii.RELAY_ENGINE)
Place = tuple[str, str, str]  # capture, item type, path


def labels() -> dict[str, list[dict[str, Any]]]:
    """The labels, per capture."""
    loaded: dict[str, list[dict[str, Any]]] = json.loads(LABELS.read_text())["captures"]
    return loaded


#: The JSON items the report reads, and profile chunks (which ``export --redact`` rewrites).
ITEM_TYPES = JSON_ITEM_TYPES | {"profile_chunk"}


def payloads(capture: str) -> Iterator[tuple[dict[str, Any], str]]:
    """The JSON payloads of one capture, as ``(payload, item type)``."""
    for record in iter_records([ROOT / capture]):
        yield from events_of(record, ITEM_TYPES)


def found(engine: str, capture: str) -> Counter[Place]:
    """Findings (one per value) per place of one capture, by one engine."""
    places: Counter[Place] = Counter()
    scanner = pii.Scanner()
    for payload, item_type in payloads(capture):
        if engine == pii.ENGINE:
            for _, path in {(location, f.path) for location, f in pii.locate(payload, item_type, scanner)}:
                places[capture, item_type, path] += 1
        else:
            judged = pii.relay_scan(payload, item_type, scanner)
            paths = [finding.path for finding in judged.findings] + [path for path, _ in judged.relay_only]
            for path in paths:
                places[capture, item_type, pii.relay_name(path)] += 1
    return places


@dataclass
class Score:
    """One engine on the corpus: places found and labelled, found and not, labelled and not found."""

    engine: str
    true: set[Place] = field(default_factory=set)
    false: Counter[Place] = field(default_factory=Counter)
    missed: set[Place] = field(default_factory=set)

    @property
    def precision(self) -> float:
        return len(self.true) / (len(self.true) + len(self.false)) if self.true or self.false else 1.0

    @property
    def recall(self) -> float:
        seen = len(self.true) + len(self.missed)
        return len(self.true) / seen if seen else 1.0

    def summary(self) -> dict[str, Any]:
        return {
            "engine": self.engine,
            "true_positives": len(self.true),
            "false_positives": len(self.false),
            "false_positive_findings": sum(self.false.values()),
            "missed": len(self.missed),
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
        }


def score(engine: str, captures: dict[str, list[dict[str, Any]]] | None = None) -> Score:
    """How ``engine`` does on the corpus (or on some of its captures)."""
    result = Score(engine)
    for capture, labelled in (captures if captures is not None else labels()).items():
        if engine == pii.ENGINE:
            truth = {(capture, label["item_type"], label["path"]) for label in labelled}
        else:
            truth = {(capture, label["item_type"], pii.relay_name(label["path"])) for label in labelled}
        places = found(engine, capture)
        result.true |= truth & set(places)
        for place, count in places.items():
            if place not in truth:
                result.false[place] += count
        result.missed |= truth - set(places)
    return result


def scalars(value: Any, path: str) -> Iterator[tuple[str, Any]]:
    """``(path, scalar)`` of every string and number, pair lists read as maps (as the detector does)."""
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from scalars(inner, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        if path and value and all(isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) for v in value):
            for name, inner in value:
                yield from scalars(inner, f"{path}.{name}")
        else:
            for inner in value:
                yield from scalars(inner, path + "[]")
    elif isinstance(value, str | int | float) and not isinstance(value, bool):
        yield path, value


def luhn_thread_ids(capture: str) -> set[str]:
    """Thread ids of the capture's profiles that pass the Luhn check (what issue 19 saw
    flagged as card numbers): the profiling capture is taken again until it holds one."""
    return {
        str(value)
        for payload, item_type in payloads(capture)
        if item_type in ("profile", "profile_chunk")
        for path, value in scalars(payload, "")
        if path.endswith("thread_id") and str(value).isdigit() and len(str(value)) >= 13 and pii.luhn(str(value))
    }
