"""The ``behaviour`` section's rate-limit verdicts: ``backoff``, ``scope``, ``resume`` and
``retry_after``, read from one SDK's timeline ordered by time (:mod:`.behaviour_timeline`).

An answer limits what the SDK may send when it carries ``X-Sentry-Rate-Limits`` (any status)
or is a 429 (its ``Retry-After``, else 60 s, for every category): the SDK development spec's
"Rate Limit Enforcement" (:data:`SPECS`), applied by :class:`~sentry_mirror.core.ratelimits.RateLimits`,
the mirror's one model of it. The limit counts from when the answer went out (after a
scripted delay). A request received less than :data:`IN_FLIGHT` seconds after the answer
went out was already on its way (another connection) and is never a violation.

A verdict never passes on no evidence: an SDK that sent nothing of a limited category while
limited passes ``backoff`` only when it sent that category again later, or said in a client
report that it held items back (``ratelimit_backoff``); otherwise the verdict is ``not_seen``.
"""

from __future__ import annotations

import heapq
import math
from bisect import bisect_left
from collections import Counter
from dataclasses import dataclass, field
from itertools import islice

from sentry_mirror.core.ratelimits import DATA_CATEGORIES, RateLimits, parse_rate_limits, retry_after_seconds
from sentry_mirror.core.report.behaviour_timeline import Entry
from sentry_mirror.core.report.bounded import Json

#: Seconds after an answer went out during which a request received is taken as already in
#: flight (sent on another connection before the SDK read the answer).
IN_FLIGHT = 0.2
#: The spec each verdict cites (``spec`` of a verdict -> where it is written).
SPECS = {
    "rate-limiting": "https://develop.sentry.dev/sdk/expected-features/rate-limiting/#rate-limit-enforcement",
    "client-reports": "https://develop.sentry.dev/sdk/telemetry/client-reports/#network-failure-recording",
    "network-failures": "https://develop.sentry.dev/sdk/expected-features/#dealing-with-network-failures",
}
#: Categories an SDK reports with a limited one: a dropped transaction is also reported as
#: its spans (client reports spec, "Span Outcomes"), logs as their bytes.
COMPANIONS = {"transaction": ("span",), "log_item": ("log_byte",), "attachment": ("attachment_item",)}
#: The name of the "every category" limit in details.
ALL = "every category"
#: Answers with ``Retry-After`` judged per SDK (the first).
MAX_ANSWERS = 1_000
PASS, FAIL, NOT_SEEN, INFO = "pass", "fail", "not_seen", "info"
#: Said of a backoff failure: processes of one SDK and DSN cannot be told apart.
ANOTHER_PROCESS = "(or another process of the same SDK and DSN sent it: judge one process at a time)"


@dataclass(frozen=True)
class Verdict:
    """One check's outcome for one SDK."""

    check: str
    status: str  #: pass, fail, not_seen (nothing to judge) or info (told, not judged)
    detail: str  #: what was seen, with the numbers
    spec: str  #: a key of :data:`SPECS`

    def to_json(self) -> Json:
        return {"check": self.check, "status": self.status, "detail": self.detail, "spec": self.spec}


@dataclass
class Episode:
    """A category limited from an answer until a time (extended by later answers)."""

    answered: float
    until: float
    status: int


@dataclass
class LimitFacts:
    """What the walk over a timeline found about rate limits."""

    answers: int = 0  #: limiting answers, from the first that set a limit on
    longest: float = 0.0  #: the longest limit stated (seconds)
    statuses: Counter[int] = field(default_factory=Counter)
    limited: set[str | None] = field(default_factory=set)  #: categories ever limited (None: all)
    first_at: float | None = None  #: when the first limiting answer went out
    violations: int = 0
    violated: Counter[str] = field(default_factory=Counter)
    first_violation: tuple[str, float, float, int] | None = None  #: category, s after the answer, limit s, status
    flowing: Counter[str] = field(default_factory=Counter)  #: other categories sent while one was limited
    #: (category, limit s, s after the limit ended, s after the answer, status), in order
    resumed: list[tuple[str, float, float, float, int]] = field(default_factory=list)
    open: dict[str | None, Episode] = field(default_factory=dict)  #: limits not yet followed by a request
    #: ratelimit_backoff reported after the first limiting answer went out
    backoff_reported: Counter[str] = field(default_factory=Counter)
    end: float = 0.0  #: the last request's time

    def covers(self, category: str) -> bool:
        """Whether a limit stated covers ``category`` (or it goes with one that is)."""
        if None in self.limited or category in self.limited:
            return True
        return any(category in COMPANIONS.get(c or "", ()) for c in self.limited)

    def named(self) -> str:
        return ", ".join(sorted(c or ALL for c in self.limited))


def limiting(entry: Entry) -> bool:
    """Whether the answer to ``entry`` states a limit (a 429, or a parseable ``X-Sentry-Rate-Limits``)."""
    return entry.status == 429 or (entry.limits is not None and bool(parse_rate_limits(entry.limits)))


def walk_limits(entries: list[Entry]) -> LimitFacts:
    """Walk the timeline (ordered) once, applying each limiting answer :data:`IN_FLIGHT`
    seconds after it went out, and judging every request against the limits known then."""
    facts = LimitFacts()
    limits = RateLimits()
    pending: list[tuple[float, int, Entry]] = []
    sent_at: float | None = None  # when the first limiting answer went out
    for seq, entry in enumerate(entries):
        while pending and pending[0][0] <= entry.t:
            _apply(facts, limits, heapq.heappop(pending)[2])
        if entry.categories:
            _judge(facts, limits, entry)
        if limiting(entry):
            heapq.heappush(pending, (entry.answered + IN_FLIGHT, seq, entry))
            sent_at = entry.answered if sent_at is None else min(sent_at, entry.answered)
        if sent_at is not None and entry.t >= sent_at:
            for reason, category, quantity in entry.discards:
                if reason == "ratelimit_backoff" and category in DATA_CATEGORIES:
                    facts.backoff_reported[category] += quantity
    while pending:
        _apply(facts, limits, heapq.heappop(pending)[2])
    facts.end = entries[-1].t if entries else 0.0
    return facts


def _apply(facts: LimitFacts, limits: RateLimits, answer: Entry) -> None:
    headers = {}
    if answer.limits is not None:
        headers["x-sentry-rate-limits"] = answer.limits
    if answer.retry_after is not None:
        headers["retry-after"] = answer.retry_after
    before = dict(limits.until)
    limits.update(answer.status, headers, answer.answered, wall=answer.answered)
    changed = False
    for key, until in limits.until.items():
        if until <= before.get(key, 0.0) or until <= answer.answered:
            continue
        changed = True
        facts.limited.add(key)
        facts.longest = max(facts.longest, until - answer.answered)
        episode = facts.open.get(key)
        if episode is None or episode.until <= answer.answered:
            facts.open[key] = Episode(answer.answered, until, answer.status)
        else:
            episode.until = until
    if changed or facts.answers:  # (one restating a limit already held counts too)
        facts.answers += 1
        facts.statuses[answer.status] += 1
    if changed and facts.first_at is None:
        facts.first_at = answer.answered


def _judge(facts: LimitFacts, limits: RateLimits, entry: Entry) -> None:
    limited = limits.limited(entry.categories, entry.t)
    if limited:
        facts.violations += 1
        facts.violated.update(limited)
        if facts.first_violation is None:
            category = sorted(limited)[0]
            episode = facts.open.get(category) or facts.open.get(None)
            if episode is not None:
                since, window = entry.t - episode.answered, episode.until - episode.answered
                facts.first_violation = (category, since, window, episode.status)
    elif any(key is not None and until > entry.t for key, until in limits.until.items()):
        facts.flowing.update(entry.categories)
    for key, episode in list(facts.open.items()):
        if entry.t >= episode.until and (key is None or key in entry.categories):
            window = episode.until - episode.answered
            since = entry.t - episode.answered
            facts.resumed.append((key or ALL, window, entry.t - episode.until, since, episode.status))
            del facts.open[key]


def seconds(value: float) -> str:
    """``60.1 s``; whole numbers without a decimal (``60 s``); ``inf s``, ``nan s`` as such."""
    if not math.isfinite(value):
        return f"{value} s"
    return f"{value:.0f} s" if abs(value - round(value)) < 0.05 else f"{value:.1f} s"


def counts(counter: Counter[str] | dict[str, int]) -> str:
    """``transaction 1, span 2`` (most first)."""
    return ", ".join(f"{key} {n}" for key, n in sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def _stated(facts: LimitFacts) -> str:
    statuses = ", ".join(str(s) for s in sorted(facts.statuses))
    return f"{facts.answers} answer(s) ({statuses}) limited {facts.named()} for up to {seconds(facts.longest)}"


def backoff(facts: LimitFacts) -> Verdict:
    """Limited categories held back for the stated time."""
    if not facts.answers:
        return Verdict(
            "backoff", NOT_SEEN, "no answer stated a rate limit (no 429, no X-Sentry-Rate-Limits)", "rate-limiting"
        )
    stated = _stated(facts)
    if facts.first_violation is not None:
        category, since, window, status = facts.first_violation
        detail = (
            f"{facts.violations} request(s) carried a limited category while it was limited "
            f"({counts(facts.violated)}): the first, {category}, {seconds(since)} after a {status} "
            f"limiting it for {seconds(window)}; {stated} {ANOTHER_PROCESS}"
        )
        return Verdict("backoff", FAIL, detail, "rate-limiting")
    if facts.resumed:
        category, window, _, since, status = facts.resumed[0]
        detail = (
            f"{category} held back {seconds(window)}: none arrived until {seconds(since)} after the {status}; {stated}"
        )
        return Verdict("backoff", PASS, detail, "rate-limiting")
    reported = {c: n for c, n in facts.backoff_reported.items() if facts.covers(c)}
    if reported:
        detail = f"nothing limited was sent while limited, and the SDK reported {counts(reported)} as ratelimit_backoff; {stated}"
        return Verdict("backoff", PASS, detail, "rate-limiting")
    detail = f"{stated}; nothing of it was sent then or later, and no ratelimit_backoff was reported: nothing to judge"
    return Verdict("backoff", NOT_SEEN, detail, "rate-limiting")


def scope(facts: LimitFacts) -> Verdict:
    """Categories not limited kept flowing while others were."""
    if not facts.answers:
        return Verdict("scope", NOT_SEEN, "no answer stated a rate limit", "rate-limiting")
    if facts.limited == {None}:
        return Verdict("scope", NOT_SEEN, "every limit stated was for every category", "rate-limiting")
    wrong = {c: n for c, n in facts.backoff_reported.items() if not facts.covers(c)}
    if wrong:
        detail = f"reported {counts(wrong)} as ratelimit_backoff, though only {facts.named()} was limited"
        return Verdict("scope", FAIL, detail, "rate-limiting")
    if facts.flowing:
        detail = f"while {facts.named()} was limited, other categories kept flowing (requests: {counts(facts.flowing)})"
        return Verdict("scope", PASS, detail, "rate-limiting")
    detail = (
        f"nothing of another category was sent while {facts.named()} was limited (a request within "
        f"{IN_FLIGHT:g} s of the answer may not have known it): nothing to judge"
    )
    return Verdict("scope", NOT_SEEN, detail, "rate-limiting")


def resume(facts: LimitFacts) -> Verdict:
    """Limited categories sent again once their limit ended."""
    if not facts.answers:
        return Verdict("resume", NOT_SEEN, "no answer stated a rate limit", "rate-limiting")
    if facts.resumed:
        shown = "; ".join(
            f"{category} sent again {seconds(after)} after its {seconds(window)} limit ended"
            for category, window, after, _, _ in facts.resumed[:3]
        )
        more = f" (and {len(facts.resumed) - 3} more)" if len(facts.resumed) > 3 else ""
        return Verdict("resume", PASS, shown + more, "rate-limiting")
    running = [(key or ALL, e.until - facts.end) for key, e in facts.open.items() if e.until > facts.end]
    if running:
        category, left = running[0]
        detail = f"the traffic ended {seconds(left)} before the limit on {category} did"
    else:
        detail = f"nothing of {facts.named()} was sent after its limit ended"
    return Verdict("resume", NOT_SEEN, detail + ": nothing to judge", "rate-limiting")


def retry_after(entries: list[Entry], facts: LimitFacts) -> Verdict:
    """After an answer with ``Retry-After`` and no ``X-Sentry-Rate-Limits``: everything held
    back that long (required on 429; on other statuses told, not judged)."""
    times = [entry.t for entry in entries]
    judged: list[str] = []
    told: list[str] = []
    fail = evidence = False
    for answer in [e for e in entries if e.retry_after is not None and _no_limits(e)][:MAX_ANSWERS]:
        wait = retry_after_seconds(answer.retry_after or "", answer.answered)
        if wait is None:
            continue
        end = answer.answered + wait
        during = _first_data(entries, bisect_left(times, answer.answered + IN_FLIGHT), end)
        after = _first_data(entries, bisect_left(times, end), math.inf)
        if during is not None:
            text = f"a request {seconds(during.t - answer.answered)} after a {answer.status} with Retry-After {seconds(wait)}"
        elif after is not None:
            text = f"held back {seconds(wait)} after a {answer.status}: the next request {seconds(after.t - answer.answered)} after it"
        else:
            text = f"nothing sent after a {answer.status} with Retry-After {seconds(wait)}"
        if answer.status == 429:
            fail = fail or during is not None
            evidence = evidence or after is not None
            judged.append(text)
        else:
            told.append(text)
    verdict = _retry_verdict(judged, told, fail, evidence or bool(facts.backoff_reported))
    if verdict.status == FAIL:
        return Verdict(verdict.check, FAIL, verdict.detail + f" {ANOTHER_PROCESS}", verdict.spec)
    return verdict


def _no_limits(entry: Entry) -> bool:
    """Whether the answer had no readable ``X-Sentry-Rate-Limits``."""
    return entry.limits is None or not parse_rate_limits(entry.limits)


def _first_data(entries: list[Entry], start: int, before: float) -> Entry | None:
    """The first request from ``start`` on, received before ``before``, carrying data."""
    for entry in islice(entries, start, None):
        if entry.t >= before:
            return None
        if entry.categories:
            return entry
    return None


def _retry_verdict(judged: list[str], told: list[str], fail: bool, evidence: bool) -> Verdict:
    if not judged and not told:
        detail = "no answer had Retry-After without X-Sentry-Rate-Limits"
        return Verdict("retry_after", NOT_SEEN, detail, "rate-limiting")
    parts = []
    if judged:
        parts.append(f"{len(judged)} 429(s) with Retry-After: " + "; ".join(dict.fromkeys(judged[:3])))
    if told:
        parts.append(
            f"{len(told)} other answer(s) with Retry-After (honouring it is allowed, not required): "
            + "; ".join(dict.fromkeys(told[:3]))
        )
    detail = ". ".join(parts)
    if not judged:
        return Verdict("retry_after", INFO, detail, "rate-limiting")
    status = FAIL if fail else PASS if evidence else NOT_SEEN
    return Verdict("retry_after", status, detail, "rate-limiting")
