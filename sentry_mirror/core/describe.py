"""What a recorded request was, in the terms a person browses by: one :class:`Row` each.

Everything comes from the record's summary (older records without the facts there get
them from their body).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sentry_mirror.core.envelope import canonical_type
from sentry_mirror.core.summary import record_facts


@dataclass(frozen=True, slots=True)
class Row:
    """One request as ``inspect`` lists it (``--json`` prints it with orjson's dataclass support)."""

    id: str
    received_at: str
    endpoint: str
    project_id: str | None
    sdk_name: str | None
    sdk_version: str | None
    item_types: tuple[str, ...]
    event_id: str | None
    title: str | None
    level: str | None
    environment: str | None
    release: str | None
    wire_size: int
    body_size: int
    status: int
    error: str | None


def split_sdk(sdk: str | None) -> tuple[str | None, str | None]:
    """``sentry.python/2.75.0`` → (``sentry.python``, ``2.75.0``)."""
    if not sdk:
        return None, None
    name, _, version = sdk.partition("/")
    return name or None, version or None


def describe(data: Mapping[str, Any]) -> Row:
    """The :class:`Row` of a record dict."""
    summary = data.get("summary") or {}
    facts = record_facts(data)
    sdk_name, sdk_version = split_sdk(summary.get("sdk"))
    return Row(
        id=data["id"],
        received_at=data["received_at"],
        endpoint=data["endpoint"],
        project_id=data.get("project_id"),
        sdk_name=sdk_name,
        sdk_version=sdk_version,
        item_types=tuple(canonical_type(item["type"]) for item in summary.get("items") or () if isinstance(item, dict)),
        event_id=summary.get("event_id"),
        title=facts.title,
        level=facts.level,
        environment=facts.environment,
        release=facts.release,
        wire_size=data["wire_size"],
        body_size=data["body_size"],
        status=data["response"]["status"],
        error=data.get("error"),
    )
