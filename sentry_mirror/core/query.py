"""Filters over recorded requests that compose (all given conditions must hold).

Cheap conditions (endpoint, project, status, time) are checked on the record before
its body is parsed; the rest on its :class:`~sentry_mirror.core.describe.Row`. Answer
records (forward mode, :mod:`sentry_mirror.core.answer`), where a command reads them, are
kept by the filters naming what they share with their request (endpoint, item types, time);
the other filters leave them alone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sentry_mirror.core import answer, bodies
from sentry_mirror.core.describe import Row, describe
from sentry_mirror.core.envelope import canonical_type
from sentry_mirror.core.malformed import FATAL, Malformed
from sentry_mirror.core.record import format_time
from sentry_mirror.errors import MirrorError

_RELATIVE = re.compile(r"^(\d+(?:\.\d+)?)\s*(s|m|h|d|w)$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_moment(text: str, now: datetime) -> datetime:
    """``10m`` (ago), ``2026-11-23T10:00:00Z``, ``2026-11-23 10:00``, ``2026-11-23``: a UTC time."""
    value = text.strip()
    match = _RELATIVE.match(value)
    if match:
        return now - timedelta(seconds=float(match.group(1)) * _UNIT[match.group(2)])
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MirrorError(f"{text!r} is not a time: use 10m, 2h, 1d or 2026-11-23T10:00:00Z") from None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def is_status(wanted: str) -> bool:
    """Whether ``wanted`` is a status filter: a code (``200``) or a class (``4xx``)."""
    return (wanted.isascii() and wanted.isdigit()) or _is_status_class(wanted)


def _is_status_class(wanted: str) -> bool:
    return len(wanted) == 3 and wanted.lower().endswith("xx") and wanted[0].isascii() and wanted[0].isdigit()


def _status_matches(status: int, wanted: str) -> bool:
    if _is_status_class(wanted):
        return status // 100 == int(wanted[0])
    return wanted.isdigit() and status == int(wanted)


@dataclass(frozen=True)
class Query:
    """What to keep. Empty collections and None mean "any"."""

    item_types: frozenset[str] = frozenset()
    endpoints: frozenset[str] = frozenset()
    projects: frozenset[str] = frozenset()
    sdks: frozenset[str] = frozenset()  # name, or name@version
    event_ids: frozenset[str] = frozenset()  # full ids or prefixes, dashes ignored
    levels: frozenset[str] = frozenset()
    environments: frozenset[str] = frozenset()
    releases: frozenset[str] = frozenset()
    statuses: frozenset[str] = frozenset()  # 200, 4xx, ...
    since: datetime | None = None
    until: datetime | None = None
    grep: str | None = None
    errors_only: bool = False
    limit: int | None = None

    def _record_ok(self, data: Mapping[str, Any]) -> bool:
        """The conditions that need no parsing."""
        if self.endpoints and data["endpoint"] not in self.endpoints:
            return False
        if self.projects and data.get("project_id") not in self.projects:
            return False
        status = data["response"]["status"]
        if self.statuses and not any(_status_matches(status, s) for s in self.statuses):
            return False
        if self.errors_only and status < 300 and data.get("error") is None:
            return False
        received = data["received_at"]
        if self.since is not None and received < format_time(self.since):
            return False
        if self.until is not None and received > format_time(self.until):
            return False
        if self.item_types and self.item_types.isdisjoint(
            canonical_type(item["type"]) for item in data["summary"]["items"]
        ):
            return False
        if self.event_ids:
            event_id = data["summary"].get("event_id") or ""
            if not any(event_id.startswith(wanted.replace("-", "").lower()) for wanted in self.event_ids):
                return False
        return not (self.grep is not None and not bodies.contains(data, self.grep.encode()))

    def _row_ok(self, row: Row) -> bool:
        if self.sdks and not any(
            sdk == row.sdk_name or sdk == f"{row.sdk_name}@{row.sdk_version}" for sdk in self.sdks
        ):
            return False
        if self.levels and row.level not in self.levels:
            return False
        if self.environments and row.environment not in self.environments:
            return False
        return not (self.releases and row.release not in self.releases)

    def _answer_ok(self, data: Mapping[str, Any]) -> bool:
        """An answer record (:mod:`sentry_mirror.core.answer`), by the filters naming what it
        shares with its request: endpoint, item types and time (when it was answered); the
        other filters leave it alone."""
        if self.endpoints and data["endpoint"] not in self.endpoints:
            return False
        if self.item_types and self.item_types.isdisjoint(canonical_type(t) for t in data["item_types"]):
            return False
        received = data["received_at"]
        if self.since is not None and received < format_time(self.since):
            return False
        return not (self.until is not None and received > format_time(self.until))

    def _row(self, data: Mapping[str, Any], malformed: Malformed | None) -> Row | None:
        """The record's Row when it passes the conditions that need no parsing, else None. A
        record that cannot be described is counted in ``malformed`` (the last resort)."""
        try:
            return describe(data) if self._record_ok(data) else None
        except FATAL:
            raise
        except Exception as exc:
            (malformed or Malformed(where="inspect")).failed(data, exc)
            return None

    def select(
        self, records: Iterable[Mapping[str, Any]], malformed: Malformed | None = None
    ) -> Iterator[tuple[Mapping[str, Any], Row]]:
        """The records that match, each with its Row, up to ``limit``; streaming. A record that
        cannot be described is counted in ``malformed`` (the last resort) and left out."""
        taken = 0
        for data in records:
            if self.limit is not None and taken >= self.limit:
                return
            row = self._row(data, malformed)
            if row is not None and self._row_ok(row):
                taken += 1
                yield data, row

    def matching(self, records: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        """The records that match, up to ``limit``; streaming. A record is described (its
        :class:`Row` built) only when a filter needs its SDK, level, environment or release.
        Answer records (read only when asked for) are kept by endpoint, item types and time
        alone, and not counted in ``limit``. An empty query keeps every record as read."""
        if self == Query():
            yield from records
            return
        described = bool(self.sdks or self.levels or self.environments or self.releases)
        taken = 0
        for data in records:
            if self.limit is not None and taken >= self.limit:
                return
            if answer.is_answer(data):
                if self._answer_ok(data):
                    yield data
                continue
            if described:
                row = self._row(data, None)
                kept = row is not None and self._row_ok(row)
            else:
                kept = self._record_ok(data)
            if kept:
                taken += 1
                yield data

    def with_answers(self, records: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
        """The requests that match (as :meth:`matching`), and the answer records to them
        whatever their own time, endpoint or item types, in the order read (``export``: a
        request exported without its upstream's answer would look undelivered to ``replay
        --undelivered``). Answers to requests not kept, or read before their request, are left
        out; after ``limit`` the rest is still read for the answers to the requests kept.
        Memory: the ids of the requests kept (none when nothing is filtered: all is kept)."""
        if self == Query():
            yield from records
            return
        kept = AnswerKeeper()
        found: list[Mapping[str, Any]] = []  # answers to requests kept, read since the last request kept

        def requests() -> Iterator[Mapping[str, Any]]:
            for data in records:
                if not answer.is_answer(data):
                    yield data
                elif kept.wants(data["request_id"]):
                    found.append(data)

        stream = requests()
        for data in self.matching(stream):
            yield from found
            found.clear()
            kept.request(data["id"])
            yield data
        for _ in stream:  # what is left after the limit: only its answers are kept
            yield from found
            found.clear()
        yield from found


class AnswerKeeper:
    """Which answer records (forward mode) an export keeps: those to a request kept before
    them (:meth:`Query.with_answers`, and ``export --jobs`` as it writes the windows out).
    Memory: the ids of the requests kept."""

    def __init__(self) -> None:
        self._kept: set[str] = set()

    def request(self, ident: str) -> None:
        """A request kept."""
        self._kept.add(ident)

    def wants(self, request_id: object) -> bool:
        """Whether an answer to ``request_id`` goes with the requests kept so far."""
        return request_id in self._kept


def find(records: Iterable[Mapping[str, Any]], ident: str) -> Mapping[str, Any]:
    """The one record whose record id or event id is ``ident`` or starts with it."""
    wanted = ident.replace("-", "").lower()
    if not wanted:
        raise MirrorError("give a record id, an event id, or a prefix of one")
    found: list[Mapping[str, Any]] = []
    for data in records:
        if data["id"].startswith(wanted) or (data["summary"].get("event_id") or "").startswith(wanted):
            if data["id"] == wanted or data["summary"].get("event_id") == wanted:
                return data
            found.append(data)
            if len(found) > 5:
                break
    if not found:
        raise MirrorError(f"no record or event id starts with {ident!r}")
    if len(found) > 1:
        ids = ", ".join(d["id"] for d in found[:5])
        raise MirrorError(
            f"{ident!r} is ambiguous: it starts {len(found)}{'+' if len(found) > 5 else ''} ids ({ids}); give more characters"
        )
    return found[0]
