"""``report --jobs N`` merges the partial reports of windows of a capture: for the output to be
byte for byte that of one pass, every section's merge must be exact. Real captures (the
committed samples, the golden v1 capture, and records of every optional section) are split
at many cut points into parts that cross a process boundary (pickled, as the workers' are),
merged in order, and compared with one pass, whole JSON, every section."""

from __future__ import annotations

import itertools
import pickle
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from sentry_mirror.core import record, report
from sentry_mirror.io.snapshot import iter_records
from tests.core.report.test_releases import bundle_upload, deploy, new_release, put_release
from tests.factories import T0, make_answer, make_scripted, make_sdk_record
from tests.helpers import require_relay

ROOT = Path(__file__).resolve().parents[3]
CAPTURES = [
    ROOT / "snapshots" / "sample-node.jsonl.zst",
    ROOT / "snapshots" / "sample-browser.jsonl.zst",
    ROOT / "snapshots" / "sample-python.jsonl.zst",
    ROOT / "tests" / "data" / "v1-sentry-python-2.75.0.jsonl.zst",
]
OPTIONAL = ("releases", "behaviour", "upstream")


def records_of(path: Path) -> list[dict[str, Any]]:
    return [r.data for r in iter_records([path], answers=True)]


def mixed() -> list[dict[str, Any]]:
    """Every capture above, then records of the optional sections: sentry-cli's releases and
    uploads, scripted answers (rate limits, drops, 413s), forward mode's answers."""
    records = [data for path in CAPTURES for data in records_of(path)]
    records += [new_release("1.0"), put_release("1.0", {"refs": []}), deploy("1.0"), bundle_upload("1.0")]
    limited = make_scripted("rate-limit-errors")
    for n in range(12):
        status, headers = [(429, [("Retry-After", "2")]), (200, []), (413, []), (503, [("Retry-After", "1")])][n % 4]
        records.append(make_sdk_record(("event",), at=n * 0.4, status=status, headers=headers, scripted=limited))
    for data in records[:20]:
        forwarded = {**data, "forwarded_to": "http://127.0.0.1:9000/1"}
        records.append(
            make_answer(forwarded, latency_ms=1.5 + len(records) % 7, status=[200, 429, 500][len(records) % 3])
        )
    for n, data in enumerate(records):  # one capture, in time order, several requests a second
        data["received_at"] = record.format_time(T0 + timedelta(milliseconds=250 * n))
    return records


def one_pass(records: list[dict[str, Any]], sections: tuple[str, ...]) -> dict[str, Any]:
    return report.build_report(records, sections).to_json()


def in_parts(records: list[dict[str, Any]], cuts: list[int], sections: tuple[str, ...]) -> dict[str, Any]:
    """As ``build(..., jobs=N)`` does: a builder per part, across a process boundary, merged in order."""
    bounds = [0, *cuts, len(records)]
    merged: report.ReportBuilder | None = None
    for start, end in itertools.pairwise(bounds):
        part = report.ReportBuilder(sections=set(sections), scan_pii="pii" in sections)
        for data in records[start:end]:
            part.add(data)
        part = pickle.loads(pickle.dumps(part))
        if merged is None:
            merged = part
        else:
            merged.merge(part)
    assert merged is not None
    return merged.build(sections).to_json()


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: p.name)
def test_every_cut_of_a_real_capture_merges_to_one_pass(path: Path) -> None:
    records = records_of(path)
    sections = report.DEFAULT_SECTIONS
    whole = one_pass(records, sections)
    for cut in range(len(records) + 1):
        assert whole == in_parts(records, [cut], sections), cut


def test_every_section_merges_exactly_at_many_cuts() -> None:
    records = mixed()
    sections = tuple(name for name in report.EVERY_SECTION if name != "normalization")
    whole = one_pass(records, sections)
    assert set(OPTIONAL) <= set(whole["sections"])
    for cut in range(0, len(records) + 1, 3):
        assert whole == in_parts(records, [cut], sections), cut
    rng = random.Random(18)
    for _ in range(12):
        cuts = sorted(rng.sample(range(len(records) + 1), rng.randint(2, 6)))
        assert whole == in_parts(records, cuts, sections), cuts


def test_normalization_merges_exactly() -> None:
    require_relay()
    records = records_of(CAPTURES[2]) + records_of(CAPTURES[0])
    sections = ("traffic", "normalization")
    whole = one_pass(records, sections)
    assert "normalization" in whole["sections"]
    for cut in range(0, len(records) + 1, 4):
        assert whole == in_parts(records, [cut], sections), cut
