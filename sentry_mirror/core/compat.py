"""Reading records of every format version this sentry-mirror has written.

Each change to the record format bumps :data:`~sentry_mirror.core.record.RECORD_VERSION`
and adds one ``migrate_N_to_N1`` function here; :func:`migrate` applies them in a loop.
Files from a newer sentry-mirror fail with a message that says to upgrade.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sentry_mirror.core.record import NEWEST_VERSION, RECORD_VERSION
from sentry_mirror.errors import FormatVersionError, SnapshotError

#: version N → the function that turns an N record into an N+1 record
MIGRATIONS: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {}


def migrate(data: Any) -> dict[str, Any]:
    """``data`` brought to the current format version, or a :class:`SnapshotError`."""
    if not isinstance(data, dict) or not isinstance(data.get("v"), int):
        raise SnapshotError("not a sentry-mirror record (no format version 'v')")
    record: dict[str, Any] = data
    version = record["v"]
    if version > NEWEST_VERSION:
        raise FormatVersionError(
            f"record format version {version} is newer than this sentry-mirror reads "
            f"(up to {NEWEST_VERSION}): upgrade sentry-mirror (pip install -U sentry-mirror)"
        )
    while version < RECORD_VERSION:
        step = MIGRATIONS.get(version)
        if step is None:
            raise SnapshotError(f"record format version {version} is not supported")
        record = step(record)
        version = record["v"]
    return record
