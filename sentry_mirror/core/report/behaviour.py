"""Section 12, ``behaviour``: what each SDK did around the answers it got (scripted ones
above all: ``listen --scenario``/``--script``), judged against the SDK development spec.

Each record becomes a compact :class:`~.behaviour_timeline.Entry` on its SDK's timeline (name and version, from
``summary.sdk``): when it arrived, the data categories it carried, its event id, the status
it got and when the answer went out (after a scripted delay), the rate limits and
``Retry-After`` the answer stated, and the ``discarded_events`` of the client reports it
carried (read from every record, accepted or not: what the SDK said it dropped). The
verdicts (:mod:`.behaviour_checks`, :mod:`.behaviour_failures`) are computed in :meth:`Behaviour.result`, on each
timeline ordered by time (then record id), so merging parts in any order gives the result
of one pass.

Bounds: :data:`MAX_SDKS` SDKs (the rest under ``(other)``), :data:`~.behaviour_timeline.MAX_ENTRIES` entries per
SDK (the first met; further records are counted, and the SDK's ``notes`` say so). The client
report sums are exact (up to :data:`~.behaviour_timeline.MAX_DISCARD_KEYS` reason and category pairs).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from sentry_mirror.core.describe import split_sdk
from sentry_mirror.core.report.behaviour_checks import SPECS, backoff, resume, retry_after, scope, walk_limits
from sentry_mirror.core.report.behaviour_failures import client_reports, server_error, too_large, walk_retries
from sentry_mirror.core.report.behaviour_timeline import MAX_TEXT, Timeline, entry_of
from sentry_mirror.core.report.bounded import Json, bounded, by_count
from sentry_mirror.core.report.view import RecordView

MAX_SDKS = 50


def _timeline() -> Timeline:
    return Timeline()


class Behaviour:
    """The ``behaviour`` aggregator: every record, refused ones included."""

    reads = None

    def __init__(self) -> None:
        self.sdks: dict[str, Timeline] = {}
        #: records a scripted rule answered (the section is shown only when there is one)
        self.scripted = 0

    def add(self, view: RecordView) -> None:
        scripted = isinstance(view.data.get("scripted"), dict)
        self.scripted += scripted
        sdk = view.sdk if isinstance(view.sdk, str) and view.sdk else "-"
        bounded(self.sdks, sdk[:MAX_TEXT], MAX_SDKS, _timeline).add(entry_of(view), scripted)

    def merge(self, other: Behaviour) -> None:
        self.scripted += other.scripted
        for sdk, timeline in other.sdks.items():
            bounded(self.sdks, sdk, MAX_SDKS, _timeline).merge(timeline)

    def result(self) -> Json:
        rows = []
        for sdk, timeline in self.sdks.items():
            name, version = split_sdk(sdk)
            rows.append(sdk_result(name or "-", version, timeline))
        rows.sort(key=lambda row: (-row["scripted"], -row["requests"], row["sdk"], row["version"] or ""))
        return {"scripted": self.scripted, "specs": dict(SPECS), "sdks": rows}


def sdk_result(name: str, version: str | None, timeline: Timeline) -> Json:
    """One SDK's part of the section: its counts, verdicts and client report sums."""
    entries = sorted(timeline.entries, key=lambda entry: (entry.t, entry.id))
    limits = walk_limits(entries)
    retries = walk_retries(entries)
    verdicts = [
        backoff(limits),
        scope(limits),
        resume(limits),
        retry_after(entries, limits),
        server_error(retries),
        too_large(entries),
        client_reports(entries, limits, retries),
    ]
    rules: Counter[str] = Counter(entry.rule for entry in entries if entry.rule is not None)
    answers: Counter[str] = Counter(
        "dropped" if entry.status == 0 else str(entry.status) for entry in entries if entry.rule is not None
    )
    notes = []
    if timeline.overflow:
        notes.append(f"{timeline.overflow} request(s) past the first {len(timeline.entries)} not judged")
    if timeline.untimed:
        notes.append(f"{timeline.untimed} record(s) without a readable received_at not judged")
    return {
        "sdk": name,
        "version": version,
        "requests": timeline.requests,
        "scripted": timeline.scripted,
        "rules": by_count(rules),
        "scripted_answers": by_count(answers),
        "verdicts": [verdict.to_json() for verdict in verdicts],
        "client_reports": _discarded(timeline),
        "retries": retries.to_json(),
        "notes": notes,
    }


def _discarded(timeline: Timeline) -> list[Json]:
    rows = []
    for key, quantity in sorted(timeline.discarded.items(), key=lambda kv: (-kv[1], kv[0])):
        reason, _, category = key.partition("\x00")
        rows.append({"reason": reason, "category": category, "quantity": quantity})
    return rows


def failed(result: Mapping[str, Any]) -> bool:
    """Whether a verdict of the section's JSON (:meth:`Behaviour.result`) failed: ``probe``'s
    exit code."""
    rows = result.get("sdks")
    return any(
        isinstance(verdict, dict) and verdict.get("status") == "fail"
        for row in (rows if isinstance(rows, list) else ())
        if isinstance(row, dict) and isinstance(row.get("verdicts"), list)
        for verdict in row["verdicts"]
    )
