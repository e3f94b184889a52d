"""Capture the personal-data corpus again (newer SDKs) and label it.

    python tests/data/pii_corpus/build.py            # capture, then label
    python tests/data/pii_corpus/build.py --labels   # label the captures there are

Each capture runs apps against a fresh ``sentry-mirror listen --port 0`` and keeps its
snapshot here (:data:`CAPTURES`); Node needs ``npm ci --prefix tests/conformance/js``. The
unplanted profiling capture is taken until one of its profiles' thread ids passes the Luhn
check (a thread id is a 15-digit number: one in ten passes), the false alarm of issue 19.
Labels are found by value, not by the detector: every string or number of every JSON item
the report reads that holds a planted value (planted.json; for the committed samples in
snapshots/, the values the examples plant) is labelled with the value's kind, at its path
in the detector's notation; so is every cookie in ``request.cookies`` (not planted).
labels.json is rewritten; read its diff before committing it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any
from urllib.parse import unquote

sys.path[:0] = [str(Path(__file__).resolve().parents[3]), str(Path(__file__).resolve().parents[3] / "examples")]

import refresh_samples  # noqa: E402  (examples/)

from sentry_mirror.core.patterns import PLACEHOLDER  # noqa: E402
from tests.data.pii_corpus.corpus import CORPUS, LABELS, ROOT, luhn_thread_ids, payloads, scalars  # noqa: E402

PYTHON_APP = [sys.executable, str(CORPUS / "python_app.py")]
NODE_APP = ["node", str(CORPUS / "node_app.js")]
#: Captures: name -> the apps run, in turn, against one listener.
CAPTURES = {
    "python-profiling": [[*PYTHON_APP, "transaction"], [*PYTHON_APP, "continuous"]],
    "python-planted": [[*PYTHON_APP, "transaction", "--plant"], [*PYTHON_APP, "continuous", "--plant"]],
    "node": [NODE_APP],
    "node-planted": [[*NODE_APP, "--plant"]],
}
PLANTED: dict[str, str] = dict(json.loads((CORPUS / "planted.json").read_text()).values())
#: What examples/ plant in the committed samples.
SAMPLE_PLANTED = {"jane@example.com": "email", "203.0.113.7": "ip", "4242424242424242": "credit_card"}
SAMPLES = ("snapshots/sample-python.jsonl.zst", "snapshots/sample-node.jsonl.zst", "snapshots/sample-browser.jsonl.zst")


def capture(name: str, commands: list[list[str]]) -> str:
    return str(refresh_samples.capture(commands, CORPUS / f"{name}.jsonl.zst").relative_to(ROOT))


def capture_all() -> list[str]:
    names = []
    for name, commands in CAPTURES.items():
        for _ in range(20 if name == "python-profiling" else 1):
            names.append(capture(name, commands))
            if name != "python-profiling" or luhn_thread_ids(names[-1]):
                break
            names.pop()
        else:
            raise SystemExit("no profile thread id passed Luhn in 20 captures")
    return names


def label(capture: str, planted: dict[str, str]) -> list[dict[str, Any]]:
    """Every (item type, path, kind) of ``capture`` holding a planted value (URL-encoded too),
    and the cookies the request sent (a cookie is personal data, docs/report.md: not planted)."""
    places: dict[tuple[str, str], tuple[str, bool]] = {}
    for payload, item_type in payloads(capture):
        for path, value in scalars(payload, ""):
            text = str(value)
            for candidate in (text, unquote(text)):
                kind = next((kind for value_, kind in planted.items() if value_ in candidate), None)
                if kind is not None:
                    places.setdefault((item_type, path), (kind, True))
                    break
            else:
                if path.startswith("request.cookies.") and not PLACEHOLDER.fullmatch(text):
                    places.setdefault((item_type, path), ("cookie", False))
    return [
        {"item_type": item_type, "path": path, "kind": kind, "planted": planted_}
        for (item_type, path), (kind, planted_) in sorted(places.items())
    ]


def write_labels(captures: list[str]) -> None:
    labelled = {capture: label(capture, PLANTED) for capture in captures}
    labelled.update({sample: label(sample, SAMPLE_PLANTED) for sample in SAMPLES})
    LABELS.write_text(json.dumps({"captures": labelled}, indent=1) + "\n")
    for capture, places in labelled.items():
        print(f"{capture}: {len(places)} labelled places")


if __name__ == "__main__":
    if "--labels" in sys.argv[1:]:
        names = [str(path.relative_to(ROOT)) for path in sorted(CORPUS.glob("*.jsonl.zst"))]
    else:
        names = capture_all()
    write_labels(names)
