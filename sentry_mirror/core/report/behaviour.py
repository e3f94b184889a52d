"""Section 12, ``behaviour``: what each SDK did around the answers it got (scripted ones
above all: ``listen --scenario``/``--script``), judged against the SDK development spec.

Each record becomes a compact :class:`~.behaviour_timeline.Entry` on its timeline: one per SDK
(name and version, from ``summary.sdk``), project and DSN public key (:func:`timeline_key`;
processes of one SDK and DSN cannot be told apart): when it arrived, the data categories it carried, its event id, the status
it got and when the answer went out (after a scripted delay), the rate limits and
``Retry-After`` the answer stated, and the ``discarded_events`` of the client reports it
carried (read from every record, accepted or not: what the SDK said it dropped). The
verdicts (:mod:`.behaviour_checks`, :mod:`.behaviour_failures`) are computed in :meth:`Behaviour.result`, on each
timeline ordered by time (a stable sort), so merging parts in any order gives the result
of one pass.

Bounds: :data:`MAX_SDKS` timelines (the records of later ones are counted and their client
reports summed under ``(other)``, not judged), :data:`~.behaviour_timeline.MAX_ENTRIES` entries per
timeline and :data:`~.behaviour_timeline.MAX_TOTAL` over all (the first met; further records are
counted, and the ``notes`` say so). The client report sums are exact (up to
:data:`~.behaviour_timeline.MAX_DISCARD_KEYS` reason and category pairs).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from sentry_mirror.core.describe import split_sdk
from sentry_mirror.core.ratelimits import DATA_CATEGORIES
from sentry_mirror.core.report.behaviour_checks import (
    NOT_SEEN,
    SPECS,
    Verdict,
    backoff,
    resume,
    retry_after,
    scope,
    walk_limits,
)
from sentry_mirror.core.report.behaviour_failures import (
    NETWORK,
    RetryFacts,
    client_error,
    client_reports,
    server_error,
    too_large,
    walk_retries,
)
from sentry_mirror.core.report.behaviour_timeline import MAX_TEXT, MAX_TOTAL, Timeline, entry_of
from sentry_mirror.core.report.bounded import OTHER, Json, by_count
from sentry_mirror.core.report.view import RecordView

MAX_SDKS = 50
#: SDKs past :data:`MAX_SDKS` whose keys are counted (for the ``(other)`` row's note).
MAX_OTHERS = 10_000
#: Every check, with the spec it cites, in the order of a row's verdicts.
CHECKS = (
    ("backoff", "rate-limiting"), ("scope", "rate-limiting"), ("resume", "rate-limiting"),
    ("retry_after", "rate-limiting"), ("server_error", NETWORK), ("too_large", NETWORK),
    ("client_error", NETWORK), ("client_reports", "client-reports"),
)  # fmt: skip


def timeline_key(view: RecordView) -> str:
    """Whose timeline a record is on: the SDK (name and version), the project and the DSN's
    public key, joined by NUL (an SDK sending to two DSNs keeps two sets of limits)."""
    sdk = view.sdk if isinstance(view.sdk, str) and view.sdk else "-"
    project = view.data.get("project_id")
    key = view.auth.get("public_key") if isinstance(view.auth, dict) else None
    return "\x00".join(
        (
            sdk[:MAX_TEXT],
            project[:MAX_TEXT] if isinstance(project, str) else "",
            key[:MAX_TEXT] if isinstance(key, str) else "",
        )
    )


class Behaviour:
    """The ``behaviour`` aggregator: every record, refused ones included."""

    reads = None

    def __init__(self) -> None:
        self.sdks: dict[str, Timeline] = {}
        #: SDKs past :data:`MAX_SDKS`, mixed: counted and their client reports summed, not judged
        self.other = Timeline()
        self.others: set[str] = set()  #: their keys (up to :data:`MAX_OTHERS`)
        self.kept = 0  #: entries kept over every SDK (up to :data:`MAX_TOTAL`)
        #: records a scripted rule answered (the section is shown only when there is one)
        self.scripted = 0

    def _timeline(self, key: str) -> Timeline:
        timeline = self.sdks.get(key)
        if timeline is None:
            if len(self.sdks) < MAX_SDKS:
                timeline = self.sdks[key] = Timeline()
            else:
                if len(self.others) < MAX_OTHERS:
                    self.others.add(key)
                timeline = self.other
        return timeline

    def add(self, view: RecordView) -> None:
        scripted = isinstance(view.data.get("scripted"), dict)
        self.scripted += scripted
        timeline = self._timeline(timeline_key(view))
        room = timeline is not self.other and self.kept < MAX_TOTAL
        self.kept += timeline.add(entry_of(view), scripted, room)

    def merge(self, other: Behaviour) -> None:
        self.scripted += other.scripted
        for key, timeline in other.sdks.items():
            mine = self._timeline(key)
            room = MAX_TOTAL - self.kept if mine is not self.other else 0
            self.kept += mine.merge(timeline, room)
        self.other.merge(other.other, 0)
        self.others.update(list(other.others)[: max(MAX_OTHERS - len(self.others), 0)])

    def result(self) -> Json:
        rows = [sdk_result(key, timeline) for key, timeline in self.sdks.items()]
        rows.sort(
            key=lambda row: (-row["scripted"], -row["requests"], row["sdk"], row["version"] or "", row["project"] or "")
        )
        if self.other.requests:
            rows.append(other_result(self.other, len(self.others)))
        notes = [f"{self.kept} request(s) kept over every SDK: later ones not judged"] if self.kept >= MAX_TOTAL else []
        return {"scripted": self.scripted, "specs": dict(SPECS), "sdks": rows, "notes": notes}


def _row(key: str, timeline: Timeline) -> Json:
    sdk, project, public_key = [*key.split("\x00"), "", ""][:3]
    name, version = split_sdk(sdk)
    return {
        "sdk": name or "-",
        "version": version,
        "project": project or None,
        "public_key": public_key or None,
        "requests": timeline.requests,
        "scripted": timeline.scripted,
        "client_reports": _discarded(timeline),
    }


def sdk_result(key: str, timeline: Timeline) -> Json:
    """One SDK's (and DSN's) part of the section: its counts, verdicts and client report sums."""
    entries = sorted(timeline.entries, key=lambda entry: entry.t)  # (stable: one time keeps the order met)
    limits = walk_limits(entries)
    retries = walk_retries(entries)
    verdicts = [
        backoff(limits),
        scope(limits),
        resume(limits),
        retry_after(entries, limits),
        server_error(retries),
        too_large(entries),
        client_error(entries),
        client_reports(entries, limits),
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
    unknown = sorted({key.partition("\x00")[2] for key in timeline.discarded} - DATA_CATEGORIES)
    if unknown:
        shown = ", ".join(repr(category) for category in unknown[:5]) + (", …" if len(unknown) > 5 else "")
        notes.append(f"client reports named {len(unknown)} unknown categor(ies), not judged: {shown}")
    return {
        **_row(key, timeline),
        "rules": by_count(rules),
        "scripted_answers": by_count(answers),
        "verdicts": [verdict.to_json() for verdict in verdicts],
        "retries": retries.to_json(),
        "notes": notes,
    }


def other_result(timeline: Timeline, sdks: int) -> Json:
    """The ``(other)`` row: SDKs past :data:`MAX_SDKS`, mixed: counts and client report sums only."""
    more = f"{sdks}+" if sdks >= MAX_OTHERS else str(sdks)
    text = f"{more} SDK(s) past the first {MAX_SDKS}, mixed: not judged"
    verdicts = [Verdict(check, NOT_SEEN, text, spec).to_json() for check, spec in CHECKS]
    row = _row(OTHER, timeline)
    row["sdk"] = OTHER
    return {
        **row,
        "rules": {},
        "scripted_answers": {},
        "verdicts": verdicts,
        "retries": RetryFacts().to_json(),
        "notes": [text],
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
