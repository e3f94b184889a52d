"""Writing selected records out: as a new snapshot file, or as one ``.envelope`` per request."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sentry_mirror.core import bodies
from sentry_mirror.errors import SnapshotError
from sentry_mirror.io.snapshot import SnapshotWriter

_ENVELOPE_ENDPOINTS = ("envelope", "tunnel")


@dataclass(frozen=True)
class Exported:
    written: int
    skipped: int
    target: Path


def _create(path: Path) -> int:
    try:
        return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    except FileExistsError:
        raise SnapshotError(f"{path} already exists: choose another name or remove it") from None
    except OSError as exc:
        raise SnapshotError(f"cannot create {path}: {exc.strerror}") from None


def export_snapshot(records: Iterable[Mapping[str, Any]], path: Path, *, group: int = 64) -> Exported:
    """Write ``records`` into a new snapshot file (owner-readable only), as read, streaming."""
    written = 0
    with os.fdopen(_create(path), "wb") as fo:
        writer = SnapshotWriter(fo)
        batch: list[Mapping[str, Any]] = []
        for data in records:
            batch.append(data)
            if len(batch) >= group:
                writer.write(batch)  # type: ignore[arg-type]
                written += len(batch)
                batch = []
        if batch:
            writer.write(batch)  # type: ignore[arg-type]
            written += len(batch)
        writer.close()
    return Exported(written, 0, path)


def export_envelopes(records: Iterable[Mapping[str, Any]], directory: Path) -> Exported:
    """One ``<time>-<record id>.envelope`` per accepted envelope request, the decoded bytes
    exactly (ready for ``sentry-cli send-envelope``); other requests (other endpoints,
    bodies that were refused) are counted as skipped."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise SnapshotError(f"cannot create {directory}: {exc.strerror}") from None
    written = skipped = 0
    for data in records:
        if data["endpoint"] not in _ENVELOPE_ENDPOINTS or data["response"]["status"] >= 300:
            skipped += 1
            continue
        stamp = data["received_at"].replace(":", "-")
        with os.fdopen(_create(directory / f"{stamp}-{data['id']}.envelope"), "wb") as fo:
            for chunk in bodies.chunks(data):  # a body kept compressed is decoded step by step
                fo.write(chunk)
        written += 1
    return Exported(written, skipped, directory)
