"""``migrate``: records of every format version read as the current one."""

from __future__ import annotations

from typing import Any

import pytest

from sentry_mirror.core import compat
from sentry_mirror.core.record import NEWEST_VERSION, RECORD_VERSION
from sentry_mirror.errors import FormatVersionError, SnapshotError
from tests.factories import make_record


def test_a_current_record_is_read_as_it_is() -> None:
    record = make_record(v=RECORD_VERSION)
    assert record is compat.migrate(record)


@pytest.mark.parametrize("data", [None, [], {"id": "x"}, {"v": "1"}])
def test_what_is_not_a_record_is_a_snapshot_error(data: Any) -> None:
    with pytest.raises(SnapshotError, match="not a sentry-mirror record"):
        compat.migrate(data)


def test_a_newer_version_asks_for_an_upgrade() -> None:
    with pytest.raises(FormatVersionError, match=rf"version {NEWEST_VERSION + 1} is newer .* upgrade sentry-mirror"):
        compat.migrate(make_record(v=NEWEST_VERSION + 1))


def test_an_older_version_goes_through_each_migration(monkeypatch: pytest.MonkeyPatch) -> None:
    steps: list[int] = []

    def step(version: int) -> Any:
        def migrate(record: dict[str, Any]) -> dict[str, Any]:
            steps.append(version)
            return {**record, "v": version + 1, f"from_{version}": True}

        return migrate

    monkeypatch.setattr(compat, "RECORD_VERSION", RECORD_VERSION + 2)
    monkeypatch.setattr(compat, "NEWEST_VERSION", RECORD_VERSION + 2)
    monkeypatch.setattr(
        compat, "MIGRATIONS", {RECORD_VERSION: step(RECORD_VERSION), RECORD_VERSION + 1: step(RECORD_VERSION + 1)}
    )
    migrated = compat.migrate(make_record(v=RECORD_VERSION))
    assert [RECORD_VERSION, RECORD_VERSION + 1] == steps
    assert (RECORD_VERSION + 2, True, True) == (
        migrated["v"],
        migrated[f"from_{RECORD_VERSION}"],
        migrated[f"from_{RECORD_VERSION + 1}"],
    )


def test_a_version_nothing_migrates_from_is_not_supported() -> None:
    with pytest.raises(SnapshotError, match="record format version 0 is not supported"):
        compat.migrate(make_record(v=0))
