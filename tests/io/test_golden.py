"""Golden snapshots of real SDK traffic, one per record format version, kept forever.

Each is read with today's reader, and each request in it, handled again by today's
ingest code, must get the same answer and the same summary: a change that alters how
real SDK traffic is understood shows up here.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from sentry_mirror.core import ingest
from sentry_mirror.core.record import Record
from sentry_mirror.io.snapshot import iter_records

DATA = Path(__file__).resolve().parent.parent / "data"
GOLDEN = sorted(DATA.glob("v*.jsonl.zst"))


def test_there_is_a_golden_snapshot_for_the_current_version() -> None:
    from sentry_mirror.core.record import RECORD_VERSION

    assert any(p.name.startswith(f"v{RECORD_VERSION}-") for p in GOLDEN)


def rehandle(record: Record) -> ingest.Outcome:
    """Handle the recorded request again, from its decoded body (Content-Encoding dropped)."""
    headers = tuple((k, v) for k, v in record.data["headers"] if k.lower() != "content-encoding")
    request = ingest.Request(record.data["method"], record.data["path"], record.data["query"], headers, record.body)
    return ingest.handle(request)


@pytest.mark.parametrize("path", GOLDEN, ids=lambda p: p.name)
def test_golden_snapshot_reads_and_rehandles_identically(path: Path) -> None:
    warnings: list[str] = []
    records = list(iter_records([path], on_warning=warnings.append))
    assert [] == warnings
    assert len(records) >= 18
    assert {"br", "gzip", None} == {r.data["content_encoding"] for r in records}
    for record in records:
        outcome = rehandle(record)
        summary = record.data["summary"]
        assert record.status == outcome.response.status
        assert record.data["endpoint"] == outcome.endpoint
        assert (summary["event_id"], summary["sdk"]) == (outcome.event_id, outcome.sdk)
        assert summary["envelope_header"] == outcome.envelope_header
        assert summary["items"] == list(outcome.items)
