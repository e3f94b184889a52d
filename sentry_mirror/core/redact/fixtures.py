"""Golden fixtures (``export --redact --fixtures DIR``): one redacted example per SDK and
item type, as the raw envelope a candidate server's tests can send, and a manifest."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from sentry_mirror.core import bodies
from sentry_mirror.core.envelope import ENVELOPE_ENDPOINTS, canonical_type

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, slots=True)
class Fixture:
    """One example: the file it goes to, what it shows, and its envelope bytes."""

    name: str
    sdk: str
    item_type: str
    record_id: str
    event_id: str | None
    body: bytes

    def entry(self) -> dict[str, Any]:
        return {
            "file": self.name,
            "sdk": self.sdk,
            "item_type": self.item_type,
            "record_id": self.record_id,
            "event_id": self.event_id,
            "size": len(self.body),
        }


def _safe(text: str) -> str:
    return _UNSAFE.sub("_", text).strip("._") or "unknown"


@dataclass(frozen=True, slots=True)
class Example:
    """The first accepted envelope of an (SDK name, item type): a fixture before it is named."""

    sdk: str
    item_type: str
    record_id: str
    event_id: str | None
    body: bytes


def examples(records: Iterable[Mapping[str, Any]]) -> Iterator[Example]:
    """The first accepted envelope of each (SDK name, item type) in ``records`` (redacted
    ones: the names come from their redacted summaries); an envelope is the example of each
    type it is the first of. The examples of consecutive parts of a series, one part after
    the other, go through :func:`named` as the series' own do (``export --jobs``)."""
    seen: set[tuple[str, str]] = set()
    for data in records:
        response = data.get("response")
        status = response.get("status") if isinstance(response, dict) else None
        summary = data.get("summary")
        if data.get("endpoint") not in ENVELOPE_ENDPOINTS or not isinstance(status, int) or status >= 300:
            continue
        if not isinstance(summary, dict) or not isinstance(summary.get("items"), list):
            continue
        sdk = str(summary.get("sdk") or "unknown").split("/")[0]
        body: bytes | None = None
        for item in summary["items"]:
            kind = canonical_type(str(item.get("type") if isinstance(item, dict) else ""))
            if not kind or (sdk, kind) in seen:
                continue
            seen.add((sdk, kind))
            body = bodies.whole(data) if body is None else body
            yield Example(sdk, kind, str(data.get("id")), summary.get("event_id"), body)


def named(found: Iterable[Example]) -> Iterator[Fixture]:
    """The first example of each (SDK name, item type) in ``found``, as a :class:`Fixture`
    with a unique file name (``-2``… when two SDK names are made safe alike)."""
    seen: set[tuple[str, str]] = set()
    names: set[str] = set()
    for example in found:
        if (example.sdk, example.item_type) in seen:
            continue
        seen.add((example.sdk, example.item_type))
        name = base = f"{_safe(example.sdk)}-{_safe(example.item_type)}"
        count = 1
        while name in names:  # two SDK names made safe alike ("my sdk", "my_sdk")
            count += 1
            name = f"{base}-{count}"
        names.add(name)
        yield Fixture(f"{name}.envelope", example.sdk, example.item_type, example.record_id, example.event_id,
                      example.body)  # fmt: skip


def pick(records: Iterable[Mapping[str, Any]]) -> Iterator[Fixture]:
    """The fixtures of ``records``: :func:`named` :func:`examples`."""
    return named(examples(records))


def manifest(fixtures: Iterable[Fixture], engine: str, key_id: str) -> dict[str, Any]:
    """The manifest of a fixtures directory."""
    return {
        "format": 1,
        "redacted": {"engine": engine, "key_id": key_id},
        "fixtures": [fixture.entry() for fixture in fixtures],
    }
