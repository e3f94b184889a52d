"""What a recorded request was, in the terms a person browses by: one :class:`Row` each.

The listener keeps parsing off its hot path, so readers derive these from the recorded
body here: the SDK, item types, event id, title, level, environment and release.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from sentry_mirror.core import envelope
from sentry_mirror.core.record import decode_bytes
from sentry_mirror.core.summary import item_title, record_title
from sentry_mirror.errors import EnvelopeError

_EVENTISH = ("event", "transaction", "feedback")
_TITLED = ("event", "transaction", "feedback", "check_in", "log", "span", "trace_metric", "session")


@dataclass(frozen=True, slots=True)
class Row:
    """One request as ``inspect`` lists it (and as ``--json`` prints it)."""

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

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}  # type: ignore[attr-defined]


def _json(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def split_sdk(sdk: str | None) -> tuple[str | None, str | None]:
    """``sentry.python/2.75.0`` → (``sentry.python``, ``2.75.0``)."""
    if not sdk:
        return None, None
    name, _, version = sdk.partition("/")
    return name or None, version or None


def _attributes(payload: Any) -> tuple[str | None, str | None, str | None]:
    """(level, environment, release) of an item payload, where it has them."""
    if not isinstance(payload, dict):
        return None, None, None
    attrs = payload.get("attrs") if isinstance(payload.get("attrs"), dict) else {}
    return (
        _text(payload.get("level")),
        _text(payload.get("environment")) or _text(attrs.get("environment")),
        _text(payload.get("release")) or _text(attrs.get("release")),
    )


def describe(data: Mapping[str, Any]) -> Row:
    """The :class:`Row` of a record dict (parsing its body once)."""
    summary = data["summary"]
    title = level = environment = release = None
    if data["endpoint"] in ("envelope", "tunnel") and data.get("body_decoded", True) and not data.get("body_truncated"):
        try:
            parsed = envelope.parse(decode_bytes(data["body"], data["body_base64"]))
        except EnvelopeError:
            parsed = None
        if parsed is not None:
            for item in parsed.items:
                if item.type not in _TITLED:
                    continue
                payload = _json(item.payload)
                if title is None:
                    title = item_title(item.type, payload)
                found = _attributes(payload)
                level, environment, release = level or found[0], environment or found[1], release or found[2]
                if item.type in _EVENTISH and title:
                    break
            trace = parsed.headers.get("trace")
            if isinstance(trace, dict):
                environment = environment or _text(trace.get("environment"))
                release = release or _text(trace.get("release"))
    else:
        title = record_title(data)
    sdk_name, sdk_version = split_sdk(summary.get("sdk"))
    return Row(
        id=data["id"],
        received_at=data["received_at"],
        endpoint=data["endpoint"],
        project_id=data.get("project_id"),
        sdk_name=sdk_name,
        sdk_version=sdk_version,
        item_types=tuple(item["type"] for item in summary["items"]),
        event_id=summary.get("event_id"),
        title=title,
        level=level,
        environment=environment,
        release=release,
        wire_size=data["wire_size"],
        body_size=data["body_size"],
        status=data["response"]["status"],
        error=data.get("error"),
    )
