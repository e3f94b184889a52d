"""The ``behaviour`` section's timeline: each record of an SDK as a compact :class:`Entry`
(when it arrived, the data categories it carried, its event id, the status it got and when
the answer went out, the limits the answer stated, the client report rows it carried), and
:class:`Timeline`, one SDK's entries (bounded) and client report sums (exact)."""

from __future__ import annotations

import functools
from typing import Any, NamedTuple

from sentry_mirror.core.envelope import ENVELOPE_ENDPOINTS
from sentry_mirror.core.grouping import events_of
from sentry_mirror.core.ratelimits import ENDPOINT_CATEGORIES, record_categories
from sentry_mirror.core.record import parse_time
from sentry_mirror.core.report.bounded import Capped
from sentry_mirror.core.report.view import RecordView

#: Entries kept per SDK (the first met).
MAX_ENTRIES = 100_000
#: Entries kept over every SDK (about 280 bytes each: ``docs/report.md``).
MAX_TOTAL = 300_000
#: Distinct (reason, category) pairs of client reports summed per SDK.
MAX_DISCARD_KEYS = 1_000
#: Characters of a header value, a rule name, an event id kept.
MAX_TEXT = 1_000
#: Client report rows read per record.
MAX_ROWS = 1_000
_CLIENT_REPORT = frozenset({"client_report"})


class Entry(NamedTuple):
    """One request of an SDK, as the checks read it."""

    t: float  #: received, seconds since the epoch (entries of one time keep the order met)
    #: item types; for a store, security, minidump … request its endpoint's name; none for a
    #: request that is not an SDK's (web API, uploads, unknown paths)
    types: tuple[str, ...]
    categories: tuple[str, ...]  #: the data categories it carried (``internal`` left out)
    #: the event id: 16 bytes for a hex UUID (the common case, compact), else the text
    event_id: bytes | str | None
    status: int  #: the answer's status; 0: the connection was dropped
    answered: float  #: when the answer went out (``t`` plus a scripted delay)
    rule: str | None  #: the scripted rule that answered, if one did
    limits: str | None  #: the answer's ``X-Sentry-Rate-Limits``
    retry_after: str | None  #: the answer's ``Retry-After``
    size: int | None  #: the decoded body's size
    discards: tuple[tuple[str, str, int], ...]  #: client report rows: (reason, category, quantity)
    reports: int  #: client report items it carried


class Timeline:
    """One SDK's requests (bounded) and its client report sums (exact)."""

    __slots__ = ("discarded", "entries", "overflow", "requests", "scripted", "untimed")

    def __init__(self) -> None:
        self.entries: list[Entry] = []
        self.requests = 0
        self.scripted = 0
        self.overflow = 0  #: records past :data:`MAX_ENTRIES`
        self.untimed = 0  #: records without a readable ``received_at``
        self.discarded = Capped(MAX_DISCARD_KEYS)

    def add(self, entry: Entry | None, scripted: bool, room: bool = True) -> bool:
        """Count the request; keep its entry when there is ``room`` (over every SDK) and the
        timeline has fewer than :data:`MAX_ENTRIES`. Whether it was kept."""
        self.requests += 1
        self.scripted += scripted
        if entry is None:
            self.untimed += 1
            return False
        for reason, category, quantity in entry.discards:
            self.discarded.add(f"{reason}\x00{category}", quantity)
        if room and len(self.entries) < MAX_ENTRIES:
            self.entries.append(entry)
            return True
        self.overflow += 1
        return False

    def merge(self, other: Timeline, room: int = MAX_ENTRIES) -> int:
        """Take ``other`` in, keeping at most ``room`` of its entries; how many it kept."""
        self.requests += other.requests
        self.scripted += other.scripted
        self.untimed += other.untimed
        self.discarded.merge(other.discarded)
        room = max(min(room, MAX_ENTRIES - len(self.entries)), 0)
        self.entries.extend(other.entries[:room])
        kept = min(room, len(other.entries))
        self.overflow += other.overflow + len(other.entries) - kept
        return kept


def entry_of(view: RecordView) -> Entry | None:
    """The record as an :class:`Entry`; None when its receive time cannot be read."""
    data = view.data
    try:
        t = parse_time(view.received).timestamp()
    except (TypeError, ValueError):
        return None
    endpoint = view.endpoint if isinstance(view.endpoint, str) else "unknown"
    if endpoint in ENVELOPE_ENDPOINTS:
        types = tuple([str(item.get("type"))[:100] for item in view.items])
    else:  # a request of another SDK endpoint carries one item of its category; the rest none
        types = (endpoint,) if endpoint in ENDPOINT_CATEGORIES else ()
    categories = record_categories({"endpoint": endpoint, "summary": {"items": view.items}}) if types else ()
    status = view.status if type(view.status) is int else 0
    scripted = data.get("scripted")
    scripted = scripted if isinstance(scripted, dict) else {}
    delay = scripted.get("delay_ms")
    delay_s = (
        delay / 1000 if isinstance(delay, (int, float)) and not isinstance(delay, bool) and 0 <= delay < 1e9 else 0.0
    )
    rule = scripted.get("rule")
    summary = data.get("summary")
    event_id = summary.get("event_id") if isinstance(summary, dict) else None
    if types and REPLAY_TYPES.issuperset(types):  # every segment of a replay carries the replay's id
        event_id = None  # (segment N+1 after a 5xx on N is no resend)
    size = data.get("body_size")
    discards, reports = _client_reports(view, types)
    limits, retry_after = _limit_headers(data.get("response"))
    return Entry(
        t=t,
        types=_shared(types),
        categories=_shared(tuple([c for c in categories if c != "internal"])),
        event_id=event_key(event_id) if isinstance(event_id, str) and event_id else None,
        status=status,
        answered=t + delay_s if delay_s else t,  # (one float for both, the common case)
        rule=_shared(rule[:MAX_TEXT] if isinstance(rule, str) else "(unnamed)") if scripted else None,
        limits=limits,
        retry_after=retry_after,
        size=size if type(size) is int else None,
        discards=discards,
        reports=reports,
    )


#: Item types of a session replay's envelopes: their event id is the replay's, the same in every segment.
REPLAY_TYPES = frozenset({"replay_event", "replay_recording", "replay_video"})


@functools.lru_cache(maxsize=4096)
def _shared(value: Any) -> Any:
    """One object for equal values met often (item types, categories, rule names, headers):
    the timeline holds references, not copies."""
    return value


def event_key(event_id: str) -> bytes | str:
    """An event id as the timeline keeps it: 16 bytes for a hex UUID (dashes or not, any
    case), else its text (cut to :data:`MAX_TEXT`)."""
    if len(event_id) in (32, 36):
        try:
            return bytes.fromhex(event_id.replace("-", ""))
        except ValueError:
            pass
    return event_id[:MAX_TEXT]


def event_text(key: bytes | str) -> str:
    """An event id kept by :func:`event_key`, as text (hex)."""
    return key.hex() if isinstance(key, bytes) else key


def _limit_headers(response: Any) -> tuple[str | None, str | None]:
    """The answer's ``X-Sentry-Rate-Limits`` and ``Retry-After`` (the first of each)."""
    headers = response.get("headers") if isinstance(response, dict) else None
    limits = retry_after = None
    for pair in headers if isinstance(headers, list) else ():
        if not (isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[1], str)):
            continue
        name = str(pair[0]).lower()
        if name == "x-sentry-rate-limits" and limits is None:
            limits = _shared(pair[1][:MAX_TEXT])
        elif name == "retry-after" and retry_after is None:
            retry_after = _shared(pair[1][:MAX_TEXT])
    return limits, retry_after


def _client_reports(view: RecordView, types: tuple[str, ...]) -> tuple[tuple[tuple[str, str, int], ...], int]:
    """The ``discarded_events`` rows of the record's client reports, and how many it carried."""
    if "client_report" not in types:
        return (), 0
    payloads = view.payloads if view.accepted else list(events_of(view.data, _CLIENT_REPORT))
    rows: list[tuple[str, str, int]] = []
    reports = 0
    for payload, kind in payloads:
        if kind != "client_report":
            continue
        reports += 1
        discarded = payload.get("discarded_events")
        for row in discarded[:MAX_ROWS] if isinstance(discarded, list) else ():
            if not isinstance(row, dict):
                continue
            reason, category, quantity = row.get("reason"), row.get("category"), row.get("quantity")
            if isinstance(reason, str) and isinstance(category, str) and type(quantity) is int and quantity > 0:
                rows.append((reason[:100], category[:100], min(quantity, 10**12)))
    return tuple(rows), reports
