"""The ``behaviour`` section's verdicts on refusals: ``server_error`` (after a 5xx or a
dropped connection), ``too_large`` (after a 413) and ``client_reports`` (what the SDK said
it dropped, against what was refused and limited), from one SDK's ordered timeline.

A retry is the same event id (``summary.event_id``) sent again after the answer that
refused it; a request without an event id cannot be told from a new one and is not judged.
The client reports spec (:data:`~.behaviour_checks.SPECS`, "Network Failure Recording"): on a
4xx or 5xx the SDK discards the envelope and records ``send_error`` (sentry-python writes
``network_error``; both are taken), on a 413 it never resends, on a 429 it records nothing
(the server counted it), and it may retry a network error without recording it.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from sentry_mirror.core.ratelimits import ENDPOINT_CATEGORIES, category_of
from sentry_mirror.core.report.behaviour_checks import FAIL, INFO, NOT_SEEN, PASS, LimitFacts, Verdict, counts, seconds
from sentry_mirror.core.report.behaviour_timeline import Entry
from sentry_mirror.core.report.bounded import Json, num

#: Reasons that stand for items the server refused (4xx other than 429, 5xx, dropped connections).
SEND_REASONS = ("send_error", "network_error")
#: Categories whose refused items are expected in client reports (sessions are aggregated
#: and attachments counted in bytes: their quantities cannot be compared to items).
JUDGED = frozenset(
    {"error", "default", "transaction", "security", "feedback", "monitor", "profile", "profile_chunk", "replay",
     "span", "log_item", "trace_metric"}
)  # fmt: skip


def refused(entry: Entry) -> bool:
    """A 5xx, a dropped connection (status 0) or a 413."""
    return entry.status in (0, 413) or 500 <= entry.status <= 599


@dataclass
class RetryFacts:
    """Event ids sent again after a 5xx or a dropped connection."""

    failures: int = 0  #: 5xx answers and dropped connections
    dropped: int = 0  #: of which dropped connections
    events: int = 0  #: distinct event ids among them
    retried: set[str] = field(default_factory=set)  #: event ids sent again after one
    attempts: int = 0  #: requests sending such an id again
    gaps: list[float] = field(default_factory=list)  #: seconds from an answer to the id's next send
    duplicated: list[str] = field(default_factory=list)  #: retried ids accepted (2xx) twice or more
    observed: float = 0.0  #: seconds from the last failure to the last request

    def to_json(self) -> Json:
        return {
            "failures": self.failures,
            "dropped_connections": self.dropped,
            "events": self.events,
            "retried": len(self.retried),
            "attempts": self.attempts,
            "gap_min_s": num(min(self.gaps)) if self.gaps else None,
            "gap_max_s": num(max(self.gaps)) if self.gaps else None,
            "duplicated": len(self.duplicated),
        }


def _server_failure(entry: Entry) -> bool:
    return entry.status == 0 or 500 <= entry.status <= 599


def walk_retries(entries: list[Entry]) -> RetryFacts:
    """Who got a 5xx or a dropped connection, and which event ids came again."""
    facts = RetryFacts()
    first: dict[str, int] = {}
    for index, entry in enumerate(entries):
        if _server_failure(entry):
            facts.failures += 1
            facts.dropped += entry.status == 0
            facts.observed = entries[-1].t - entry.t
            if entry.event_id is not None and entry.event_id not in first:
                first[entry.event_id] = index
    facts.events = len(first)
    previous: dict[str, Entry] = {}
    accepted: Counter[str] = Counter()
    for index, entry in enumerate(entries):
        key = entry.event_id
        if key is None or key not in first or index < first[key]:
            continue
        if index > first[key]:
            facts.retried.add(key)
            facts.attempts += 1
            facts.gaps.append(entry.t - previous[key].answered)
        previous[key] = entry
        accepted[key] += 200 <= entry.status <= 299
    facts.duplicated = sorted(key for key in facts.retried if accepted[key] > 1)
    return facts


def server_error(facts: RetryFacts) -> Verdict:
    """After a 5xx or a dropped connection: dropped (as the spec asks), retried, or worse,
    stored twice (an event id accepted twice)."""
    if not facts.failures:
        return Verdict("server_error", NOT_SEEN, "no 5xx answer and no dropped connection", "client-reports")
    what = f"{facts.failures} 5xx answer(s) or dropped connection(s) ({facts.dropped} dropped)"
    if not facts.events:
        return Verdict("server_error", NOT_SEEN, f"{what}, none to a request with an event id", "client-reports")
    if not facts.retried:
        detail = f"{what}: none of the {facts.events} event(s) was sent again in the {seconds(facts.observed)} after"
        return Verdict("server_error", PASS, detail, "client-reports")
    gaps = f"gaps {seconds(min(facts.gaps))} to {seconds(max(facts.gaps))}"
    detail = f"{what}: {len(facts.retried)} of {facts.events} event(s) sent again, {facts.attempts} attempt(s), {gaps}"
    if facts.duplicated:
        detail += f"; {len(facts.duplicated)} accepted twice (stored twice), e.g. {facts.duplicated[0]}"
        return Verdict("server_error", FAIL, detail, "client-reports")
    detail += "; the spec: discard on a 5xx, a network error may be retried"
    return Verdict("server_error", INFO, detail, "client-reports")


def too_large(entries: list[Entry]) -> Verdict:
    """After a 413: dropped (as the spec asks), resent changed (split or cut), or resent as it was."""
    answers = [(i, e) for i, e in enumerate(entries) if e.status == 413]
    if not answers:
        return Verdict("too_large", NOT_SEEN, "no 413 answer", "client-reports")
    with_id = {e.event_id: (i, e) for i, e in reversed(answers) if e.event_id is not None}
    if not with_id:
        return Verdict(
            "too_large", NOT_SEEN, f"{len(answers)} 413 answer(s), none to a request with an event id", "client-reports"
        )
    same = changed = 0
    for key, (index, answer) in with_id.items():
        for later in entries[index + 1 :]:
            if later.event_id == key:
                if later.size == answer.size and later.types == answer.types:
                    same += 1
                else:
                    changed += 1
    what = f"{len(answers)} 413 answer(s) to {len(with_id)} event(s)"
    if same:
        return Verdict(
            "too_large", FAIL, f"{what}: resent unchanged {same} time(s) (the spec: never resend)", "client-reports"
        )
    if changed:
        return Verdict("too_large", INFO, f"{what}: resent changed (split or cut) {changed} time(s)", "client-reports")
    return Verdict("too_large", PASS, f"{what}: none was sent again", "client-reports")


def item_counts(entry: Entry) -> Counter[str]:
    """The items of a request per judged data category."""
    found: Counter[str] = Counter()
    for kind in entry.types:
        category = category_of(kind) if kind not in ENDPOINT_CATEGORIES else ENDPOINT_CATEGORIES[kind]
        if category in JUDGED:
            found[category] += 1
    return found


@dataclass
class Reports:
    """What the client reports said, against what was refused."""

    reports: int = 0
    refused: Counter[str] = field(default_factory=Counter)  #: items refused (413, 5xx, dropped; not retried)
    limited: Counter[str] = field(default_factory=Counter)  #: items refused with 429
    reported: Counter[str] = field(default_factory=Counter)  #: send_error + network_error per category
    missing: Counter[str] = field(default_factory=Counter)  #: refused, and no later report says so
    late: bool = False  #: a client report arrived after a refusal
    reasons: Counter[str] = field(default_factory=Counter)  #: quantities per reason


def walk_reports(entries: list[Entry], retried: set[str]) -> Reports:
    """Sum the reports' send reasons, and find the refusals no later report accounts for."""
    facts = Reports()
    unsettled: dict[str, list[tuple[float, int]]] = {}  # category -> (answered, items) not yet reported
    first_refusal = last_report = None
    for entry in entries:
        facts.reports += entry.reports
        if entry.reports:
            last_report = entry.t
            facts.late = facts.late or (first_refusal is not None and entry.t > first_refusal)
        for reason, category, quantity in entry.discards:
            facts.reasons[reason] += quantity
            if reason in SEND_REASONS:
                facts.reported[category] += quantity
                if category in unsettled:
                    unsettled[category] = [(at, n) for at, n in unsettled[category] if at >= entry.t]
        if entry.status == 429:
            facts.limited.update(item_counts(entry))
        elif refused(entry) and not (entry.event_id is not None and entry.event_id in retried):
            items = item_counts(entry)
            facts.refused.update(items)
            for category, n in items.items():
                unsettled.setdefault(category, []).append((entry.answered, n))
            first_refusal = entry.answered if first_refusal is None else min(first_refusal, entry.answered)
    for category, waiting in unsettled.items():
        missing = sum(n for at, n in waiting if last_report is not None and at < last_report)
        if missing:
            facts.missing[category] = missing
    return facts


def client_reports(entries: list[Entry], limits: LimitFacts, retries: RetryFacts) -> Verdict:
    """Which client reports came, with which reasons, and whether refused items are in them."""
    facts = walk_reports(entries, retries.retried)
    held = {c: n for c, n in limits.backoff_reported.items() if limits.covers(c)}
    said = "; ".join(
        text
        for text in (
            f"refused {counts(facts.refused)}" if facts.refused else "",
            f"reported as send_error/network_error {counts(facts.reported)}" if facts.reported else "",
            f"as ratelimit_backoff {counts(held)}" if held else "",
        )
        if text
    )
    if not facts.reports:
        something = facts.refused or limits.answers
        detail = "no client report arrived" + (f" ({said})" if said else "")
        if something:
            detail += "; the SDK may have them turned off"
        return Verdict("client_reports", NOT_SEEN, detail, "client-reports")
    if facts.missing:
        detail = (
            f"no client report after the refusal names {counts(facts.missing)} as send_error or network_error; {said}"
        )
        return Verdict("client_reports", FAIL, detail, "client-reports")
    double = {c: n - facts.refused[c] for c, n in facts.reported.items() if c in facts.limited and n > facts.refused[c]}
    if double:
        detail = f"{counts(double)} more reported as send_error/network_error than refused: 429'd items counted (the spec: never); {said}"
        return Verdict("client_reports", FAIL, detail, "client-reports")
    if (facts.refused and facts.late) or held:
        detail = f"{_reports(facts)}: {said}"
        if facts.refused:
            add_up = all(facts.reported[c] >= n for c, n in facts.refused.items())
            detail += "; the counts add up" if add_up else "; fewer reported than refused"
        return Verdict("client_reports", PASS, detail, "client-reports")
    if facts.refused:
        return Verdict(
            "client_reports", NOT_SEEN, f"no client report arrived after a refusal; {said}", "client-reports"
        )
    return Verdict("client_reports", INFO, _reports(facts) + (f": {said}" if said else ""), "client-reports")


def _reports(facts: Reports) -> str:
    """``3 report(s) (ratelimit_backoff 3, sample_rate 1)``."""
    return f"{facts.reports} report(s)" + (f" ({counts(facts.reasons)})" if facts.reasons else "")
