"""The synthetic snapshot the read and replay benchmarks measure with: real sentry-python
traffic (the committed sample of the Python shop example) repeated, with fresh record ids,
event ids and receive times, so no two records are the same. Not committed: built per run."""

from __future__ import annotations

import random
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sentry_mirror.core.record import format_time, new_id  # noqa: E402
from sentry_mirror.io.snapshot import SnapshotWriter, iter_records  # noqa: E402

SAMPLE = ROOT / "snapshots" / "sample-python.jsonl.zst"


def build(path: Path, count: int, gaps: list[float] | None = None) -> None:
    """COUNT records cycling through the sample's, each with its own ids and receive time
    (1 ms apart, or the given gaps in seconds)."""
    templates = [r.data for r in iter_records([SAMPLE])]
    rng = random.Random(7)
    moment = time.time() - (sum(gaps) if gaps else count / 1000) - 1
    with path.open("wb") as fo:
        writer = SnapshotWriter(fo)
        batch: list[dict[str, Any]] = []
        for n in range(count):
            template = templates[n % len(templates)]
            record = dict(template)
            moment += gaps[n] if gaps else 0.001
            record["id"] = new_id(int(moment * 1e9))
            record["received_at"] = format_time(datetime.fromtimestamp(moment, UTC))
            old = template["summary"]["event_id"]
            if old:
                new = uuid.UUID(int=rng.getrandbits(128)).hex
                record["body"] = template["body"].replace(old, new)
                record["summary"] = {**template["summary"], "event_id": new}
            batch.append(record)
            if len(batch) == 8:
                writer.write(batch)
                batch = []
        if batch:
            writer.write(batch)
        writer.close()
