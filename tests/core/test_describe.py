"""``describe``: a record as ``inspect`` lists it."""

from __future__ import annotations

import pytest

from sentry_mirror.core.describe import Row, describe, split_sdk
from tests.factories import make_record


@pytest.mark.parametrize(
    ("sdk", "expected"),
    [
        ("sentry.python/2.75.0", ("sentry.python", "2.75.0")),
        ("sentry.python", ("sentry.python", None)),
        ("/1.0", (None, "1.0")),
        ("", (None, None)),
        (None, (None, None)),
    ],
)
def test_split_sdk(sdk: str | None, expected: tuple[str | None, str | None]) -> None:
    assert expected == split_sdk(sdk)


def test_a_row_holds_what_a_person_browses_by() -> None:
    record = make_record(
        id="ab" * 16,
        endpoint="envelope",
        project_id="42",
        wire_size=10,
        body_size=20,
        error=None,
        summary={
            "event_id": "cd" * 16,
            "sdk": "sentry.python/2.75.0",
            "title": "ValueError: boom",
            "level": "error",
            "environment": "production",
            "release": "shop@1.4.2",
            "envelope_header": None,
            "items": [{"type": "event", "size": 5, "headers": {}}, "not an item", {"type": "attachment", "size": 1}],
        },
        response={"status": 200, "headers": [], "body": "", "body_base64": False},
    )
    row = describe(record)
    assert (
        Row(
            id="ab" * 16,
            received_at=record["received_at"],
            endpoint="envelope",
            project_id="42",
            sdk_name="sentry.python",
            sdk_version="2.75.0",
            item_types=("event", "attachment"),
            event_id="cd" * 16,
            title="ValueError: boom",
            level="error",
            environment="production",
            release="shop@1.4.2",
            wire_size=10,
            body_size=20,
            status=200,
            error=None,
        )
        == row
    )
