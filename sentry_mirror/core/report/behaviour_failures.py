"""The ``behaviour`` section's verdicts on refusals: ``server_error`` (after a 5xx or a
dropped connection), ``too_large`` (after a 413), ``client_error`` (after another 4xx but
429) and ``client_reports`` (what the SDK said it dropped, against what was refused and
limited), from one SDK's ordered timeline.

A retry is the same event id (``summary.event_id``) sent again after the answer that
refused it; a request without an event id cannot be told from a new one and is not judged.
The SDK development spec ("Dealing with Network Failures", :data:`NETWORK`): on a 4xx (but
429) or a 5xx answer the SDK discards the envelope, never resends it; it may retry after a
network error (a dropped connection, a timeout). The client reports spec ("Network Failure
Recording"): it records what it discards as ``send_error`` (sentry-python writes
``network_error``; both are taken, the detail says so), and nothing on a 429 (the server
counted it).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from sentry_mirror.core.ratelimits import DATA_CATEGORIES, ENDPOINT_CATEGORIES, category_of
from sentry_mirror.core.report.behaviour_checks import FAIL, INFO, NOT_SEEN, PASS, LimitFacts, Verdict, counts, seconds
from sentry_mirror.core.report.behaviour_timeline import Entry, event_text
from sentry_mirror.core.report.bounded import Json, num

#: The spec the verdicts on refusals cite (a key of :data:`~.behaviour_checks.SPECS`).
NETWORK = "network-failures"
#: Reasons that stand for items the server refused (4xx other than 429, 5xx, dropped connections).
SEND_REASONS = ("send_error", "network_error")
#: Categories whose refused items are expected in client reports (sessions are aggregated
#: and attachments counted in bytes: their quantities cannot be compared to items).
JUDGED = frozenset(
    {"error", "default", "transaction", "security", "feedback", "monitor", "profile", "profile_chunk", "replay",
     "span", "log_item", "trace_metric"}
)  # fmt: skip


def refused(entry: Entry) -> bool:
    """A 4xx other than 429 (a 413 among them), a 5xx or a dropped connection (status 0):
    what the SDK must record as ``send_error`` (a network error, if not retried)."""
    return entry.status == 0 or (400 <= entry.status <= 599 and entry.status != 429)


@dataclass
class RetryFacts:
    """Event ids sent again after a 5xx or a dropped connection."""

    failures: int = 0  #: 5xx answers and dropped connections
    dropped: int = 0  #: of which dropped connections
    events: int = 0  #: distinct event ids among them
    retried: set[bytes | str] = field(default_factory=set)  #: event ids sent again after one
    attempts: int = 0  #: requests sending such an id again
    #: of which after a 5xx answer had gone out (the spec: MUST discard)
    after_answer: int = 0
    #: of which after a dropped connection, or before the (delayed) answer went out: a network error
    after_network: int = 0
    gaps: list[float] = field(default_factory=list)  #: seconds from the previous send of the id
    duplicated: list[bytes | str] = field(default_factory=list)  #: retried ids accepted (2xx) twice or more
    observed: float = 0.0  #: seconds from the first failure to an event id to the last request
    later: int = 0  #: requests received after that failure

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
    """Who got a 5xx or a dropped connection, and which event ids came again: after the 5xx
    answer went out, or after a network error (a dropped connection; a resend received before
    a delayed answer went out: the SDK timed out)."""
    facts = RetryFacts()
    first: dict[bytes | str, int] = {}
    for index, entry in enumerate(entries):
        if _server_failure(entry):
            facts.failures += 1
            facts.dropped += entry.status == 0
            if entry.event_id is not None and entry.event_id not in first:
                first[entry.event_id] = index
    facts.events = len(first)
    if first:
        start = min(first.values())
        facts.observed = entries[-1].t - entries[start].t
        facts.later = len(entries) - start - 1
    previous: dict[bytes | str, Entry] = {}
    accepted: Counter[bytes | str] = Counter()
    for index, entry in enumerate(entries):
        key = entry.event_id
        if key is None or key not in first or index < first[key]:
            continue
        if index > first[key]:
            before = previous[key]
            facts.retried.add(key)
            facts.attempts += 1
            facts.gaps.append(entry.t - before.t)
            if before.status == 0 or entry.t < before.answered:
                facts.after_network += 1
            elif 500 <= before.status <= 599:
                facts.after_answer += 1
        previous[key] = entry
        accepted[key] += 200 <= entry.status <= 299
    facts.duplicated = sorted((key for key in facts.retried if accepted[key] > 1), key=event_text)
    return facts


#: Seconds of traffic after a failure needed to say an SDK did not retry.
MIN_OBSERVED = 1.0


def server_error(facts: RetryFacts) -> Verdict:
    """After a 5xx or a dropped connection: dropped (as the spec asks), retried after a
    network error (allowed), or resent after a 5xx answer or stored twice (fail)."""
    if not facts.failures:
        return Verdict("server_error", NOT_SEEN, "no 5xx answer and no dropped connection", NETWORK)
    answers = facts.failures - facts.dropped
    what = " and ".join(
        part
        for part in (
            f"{answers} 5xx answer(s)" if answers else "",
            f"{facts.dropped} dropped connection(s)" if facts.dropped else "",
        )
        if part
    )
    if not facts.events:
        return Verdict("server_error", NOT_SEEN, f"{what}, none to a request with an event id", NETWORK)
    if not facts.retried and not facts.later:
        return Verdict("server_error", NOT_SEEN, f"{what}: the traffic ended with it, nothing to judge", NETWORK)
    if not facts.retried:
        detail = f"{what}: none of the {facts.events} event(s) was sent again in the {seconds(facts.observed)} after"
        if facts.observed < MIN_OBSERVED:  # a retry comes a second or more later (sentry-cli: 1.5 s)
            return Verdict("server_error", NOT_SEEN, detail + ": too short to tell", NETWORK)
        return Verdict("server_error", PASS, detail, NETWORK)
    gaps = f"gaps {seconds(min(facts.gaps))} to {seconds(max(facts.gaps))}"
    detail = f"{what}: {len(facts.retried)} of {facts.events} event(s) sent again, {facts.attempts} attempt(s), {gaps}"
    if facts.duplicated:
        detail += f"; {len(facts.duplicated)} accepted twice (stored twice), e.g. {event_text(facts.duplicated[0])}"
        return Verdict("server_error", FAIL, detail, NETWORK)
    if facts.after_answer:
        detail += f"; {facts.after_answer} after a 5xx answer (the spec: discard on a 5xx, never resend)"
        return Verdict("server_error", FAIL, detail, NETWORK)
    detail += "; all after a network error (a dropped connection or a timeout), which the spec lets an SDK retry"
    return Verdict("server_error", INFO, detail, NETWORK)


def _client_error(entry: Entry) -> bool:
    return 400 <= entry.status <= 499 and entry.status != 429


def resent(entries: list[Entry], check: str, answered: Callable[[Entry], bool], name: str) -> Verdict:
    """After a refusal (``answered`` tells which: a 413, another 4xx): dropped (as the spec
    asks), resent changed (split or cut), or resent as it was (fail)."""
    answers = [(i, e) for i, e in enumerate(entries) if answered(e)]
    if not answers:
        return Verdict(check, NOT_SEEN, f"no {name} answer", NETWORK)
    with_id = {e.event_id: (i, e) for i, e in reversed(answers) if e.event_id is not None}
    if not with_id:
        return Verdict(check, NOT_SEEN, f"{len(answers)} {name} answer(s), none to a request with an event id", NETWORK)
    same = changed = 0
    for index, later in enumerate(entries):
        first = with_id.get(later.event_id) if later.event_id is not None else None
        if first is None or index <= first[0]:
            continue
        answer = first[1]
        if later.size == answer.size and later.types == answer.types:
            same += 1
        else:
            changed += 1
    what = f"{len(answers)} {name} answer(s) to {len(with_id)} event(s)"
    if min(index for index, _ in with_id.values()) == len(entries) - 1:
        return Verdict(check, NOT_SEEN, f"{what}: the traffic ended with it, nothing to judge", NETWORK)
    if same:
        return Verdict(
            check, FAIL, f"{what}: resent unchanged {same} time(s) (the spec: discard, never resend)", NETWORK
        )
    if changed:
        return Verdict(check, INFO, f"{what}: resent changed (split or cut) {changed} time(s)", NETWORK)
    return Verdict(check, PASS, f"{what}: none was sent again", NETWORK)


def too_large(entries: list[Entry]) -> Verdict:
    """After a 413: dropped (as the spec asks), resent changed (split or cut), or resent as it was."""
    return resent(entries, "too_large", lambda entry: entry.status == 413, "413")


def client_error(entries: list[Entry]) -> Verdict:
    """After another 4xx (not 413, not 429): dropped (as the spec asks), or resent."""
    return resent(entries, "client_error", lambda entry: _client_error(entry) and entry.status != 413, "other 4xx")


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
    went_on: bool = False  #: the SDK sent anything after a refusal (it had the chance to report it)
    reasons: Counter[str] = field(default_factory=Counter)  #: quantities per reason
    answered_refusals: int = 0  #: refusals that were HTTP answers (not dropped connections)


def walk_reports(entries: list[Entry]) -> Reports:
    """Sum the reports' send reasons, and find the refused items no later report accounts
    for: each ``send_error``/``network_error`` row settles as many earlier refused items of
    its category (oldest first); what is left, refused before the last report, is missing.
    An event id sent again (after any refusal) counts once, by its last send."""
    facts = Reports()
    last = {entry.event_id: index for index, entry in enumerate(entries) if entry.event_id is not None}
    unsettled: dict[str, list[list[float]]] = {}  # category -> [answered, items not yet reported]
    first_refusal = last_report = None
    for index, entry in enumerate(entries):
        facts.reports += entry.reports
        facts.went_on = facts.went_on or (first_refusal is not None and entry.t > first_refusal)
        if entry.reports:
            last_report = entry.t
            facts.late = facts.late or (first_refusal is not None and entry.t > first_refusal)
        for reason, category, quantity in entry.discards:
            facts.reasons[reason] += quantity
            if reason in SEND_REASONS and category in DATA_CATEGORIES:
                facts.reported[category] += quantity
                _settle(unsettled.get(category, []), entry.t, quantity)
        if entry.status == 429:
            facts.limited.update(item_counts(entry))
        elif refused(entry) and (entry.event_id is None or last[entry.event_id] == index):
            items = item_counts(entry)
            facts.refused.update(items)
            facts.answered_refusals += entry.status != 0
            for category, n in items.items():
                unsettled.setdefault(category, []).append([entry.answered, n])
            first_refusal = entry.answered if first_refusal is None else min(first_refusal, entry.answered)
    for category, waiting in unsettled.items():
        missing = sum(n for at, n in waiting if last_report is not None and at < last_report)
        if missing:
            facts.missing[category] = int(missing)
    return facts


def _settle(waiting: list[list[float]], now: float, quantity: int) -> None:
    """Take ``quantity`` reported items off the refusals answered before ``now``, oldest first."""
    for refusal in waiting:
        if quantity <= 0 or refusal[0] >= now:
            break
        taken = min(refusal[1], quantity)
        refusal[1] -= taken
        quantity -= int(taken)
    waiting[:] = [refusal for refusal in waiting if refusal[1] > 0]


def client_reports(entries: list[Entry], limits: LimitFacts) -> Verdict:
    """Which client reports came, with which reasons, and whether refused items are in them."""
    facts = walk_reports(entries)
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
        detail = "no client report arrived" + (f" ({said})" if said else "")
        if facts.refused and facts.went_on:  # it kept sending, and never said what it lost
            detail += "; the spec asks for send_error (unless the app turned client reports off)"
            return Verdict("client_reports", FAIL, detail, "client-reports")
        if facts.refused or limits.answers:
            detail += "; the SDK may have them turned off"
        return Verdict("client_reports", NOT_SEEN, detail, "client-reports")
    if facts.missing:
        detail = (
            f"no client report after the refusal names {counts(facts.missing)} as send_error or network_error "
            f"(short by that much); {said}"
        )
        return Verdict("client_reports", FAIL, detail, "client-reports")
    double = {c: n - facts.refused[c] for c, n in facts.reported.items() if c in facts.limited and n > facts.refused[c]}
    if double:
        detail = f"{counts(double)} more reported as send_error/network_error than refused: 429'd items counted (the spec: never); {said}"
        return Verdict("client_reports", FAIL, detail, "client-reports")
    if (facts.refused and facts.late) or held:
        detail = f"{_reports(facts)}: {said}"
        if facts.refused:
            detail += "; the counts add up"
            if facts.answered_refusals and facts.reasons["network_error"]:
                detail += " (network_error for HTTP answers, where the spec says send_error: taken, not failed)"
        return Verdict("client_reports", PASS, detail, "client-reports")
    if facts.refused:
        return Verdict(
            "client_reports", NOT_SEEN, f"no client report arrived after a refusal; {said}", "client-reports"
        )
    return Verdict("client_reports", INFO, _reports(facts) + (f": {said}" if said else ""), "client-reports")


def _reports(facts: Reports) -> str:
    """``3 report(s) (ratelimit_backoff 3, sample_rate 1)``."""
    return f"{facts.reports} report(s)" + (f" ({counts(facts.reasons)})" if facts.reasons else "")
