"""Which scripted answer a request gets: :class:`Engine` (stateful, pure: the caller
passes the time, in seconds since the listener started).

The first rule that matches wins; none: the natural answer. Every rule counts the
requests that meet its conditions (for ``requests``) whether or not an earlier rule
answered them. A rate-limit rule (``rate_limits``) limits the data categories it names,
and Relay drops the request's items as it would (:func:`core.ratelimits.enforced`: with
a limited event go the items that depend on it). All items dropped: the rule's status
(429) with ``Retry-After`` and ``X-Sentry-Rate-Limits``; only some (the rest are still
taken, as Relay does since relay#5840), the natural answer with the header (and the
script's ``retry_after``), ``partial``; none (a request of client reports only: never
limited), or a request Relay refuses anyway (its natural answer is not a 2xx: bad auth,
a broken envelope), the rule does not match. On the endpoints where Relay never answers
429 (minidump, Unreal, cron check-ins: "clients often retry these") a rate limit that
drops the request gives the natural answer, without the header."""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sentry_mirror.core.envelope import canonical_type
from sentry_mirror.core.ratelimits import enforced, record_categories
from sentry_mirror.core.script.answers import RATE_LIMITS_HEADER, rate_limits_header, scripted
from sentry_mirror.core.script.model import Match, Rule, Script

#: Seconds a rate limit states when its rule has no window to count down.
DEFAULT_LIMIT = 60
#: Endpoints where Relay drops rate-limited data silently and never answers 429
#: (relay-server ``endpoints/minidump.rs``, ``unreal.rs``, ``monitor.rs``).
NEVER_429 = frozenset({"minidump", "unreal", "cron"})


@dataclass(frozen=True)
class Facts:
    """What a rule can match on, from the request's record."""

    endpoint: str
    item_types: tuple[str, ...] = ()
    project_id: str | None = None
    sdk: str | None = None  # "name/version" as in the record's summary, or the name alone
    body_size: int = 0  # decoded
    natural_status: int = 200  # the status of Relay's answer: a refused request is never rate limited
    #: the record's summary items (``type``, ``headers``: a profile chunk's ``platform``, an
    #: attachment's ``attachment_type``); none given: one per ``item_types``, without headers
    items: tuple[Mapping[str, Any], ...] = ()

    @property
    def entries(self) -> tuple[Mapping[str, Any], ...]:
        return self.items or tuple([{"type": kind} for kind in self.item_types])

    @property
    def types(self) -> frozenset[str]:
        """The item types, as the mirror counts them (``trace-metric`` is ``trace_metric``)."""
        return frozenset([canonical_type(str(item.get("type"))) for item in self.entries])

    @property
    def categories(self) -> tuple[str, ...]:
        """The request's rate-limit categories, read as core/ratelimits reads a record."""
        return record_categories({"endpoint": self.endpoint, "summary": {"items": self.entries}})


@dataclass(frozen=True)
class Decision:
    """A scripted answer. ``status`` None: the natural answer's status and body, with
    ``headers`` added (replacing any of the same name); else the whole answer."""

    rule: Rule
    status: int | None
    headers: tuple[tuple[str, str], ...]
    body: bytes | None
    delay: float = 0.0
    drop: bool = False
    partial: bool = False


@dataclass
class _State:
    """What a rule remembers: requests that met its conditions, times it answered, when first."""

    chance: random.Random
    seen: int = 0
    fired: int = 0
    first: float | None = None


@dataclass
class Engine:
    script: Script
    _states: list[_State] = field(init=False)

    def __post_init__(self) -> None:
        seed = self.script.seed
        self._states = [_State(random.Random(f"{seed}:{n}")) for n in range(len(self.script.rules))]

    def decide(self, facts: Facts, now: float) -> Decision | None:
        """The answer of the first rule that takes this request, or None (the natural answer)."""
        winner = None
        categories = facts.categories
        for rule, state in zip(self.script.rules, self._states, strict=True):
            if not _meets(rule.match, facts, categories, now):
                continue
            state.seen += 1
            draw = state.chance.random() if rule.match.share is not None else 0.0
            if winner is not None or not _live(rule, state, now) or not _chosen(rule.match, state.seen, draw):
                continue
            first = now if state.first is None else state.first
            winner = _decision(rule, facts, _window_end(rule, first), now)
            if winner is not None:
                state.fired += 1
                state.first = first
        return winner


def _meets(match: Match, facts: Facts, categories: tuple[str, ...], now: float) -> bool:
    """The conditions that depend on the request and the time only."""
    if match.endpoints is not None and facts.endpoint not in match.endpoints:
        return False
    if match.item_types is not None and match.item_types.isdisjoint(facts.types):
        return False
    if match.categories is not None and match.categories.isdisjoint(categories):
        return False
    if match.projects is not None and facts.project_id not in match.projects:
        return False
    if match.sdks is not None:
        name = (facts.sdk or "").split("/", 1)[0]
        if not any(name.startswith(prefix) for prefix in match.sdks):
            return False
    if match.after is not None and now < match.after:
        return False
    if match.before is not None and now >= match.before:
        return False
    return match.larger_than is None or facts.body_size > match.larger_than


def _live(rule: Rule, state: _State, now: float) -> bool:
    """Not yet used up: fired fewer than ``times``, and within ``lasts`` of its first answer."""
    if rule.times is not None and state.fired >= rule.times:
        return False
    return rule.lasts is None or state.first is None or now < state.first + rule.lasts


def _chosen(match: Match, seen: int, draw: float) -> bool:
    """The request's number is in ``requests``, and the draw falls within ``share``."""
    if match.requests is not None:
        first, last = match.requests
        if seen < first or (last is not None and seen > last):
            return False
    return match.share is None or draw < match.share


def _window_end(rule: Rule, first: float) -> float | None:
    """When the rule stops answering by the clock: ``lasts`` after its first answer, or ``before``."""
    ends = [
        end for end in (first + rule.lasts if rule.lasts is not None else None, rule.match.before) if end is not None
    ]
    return min(ends) if ends else None


def _decision(rule: Rule, facts: Facts, end: float | None, now: float) -> Decision | None:
    answer = rule.answer
    headers = answer.headers
    if answer.retry_after is not None:
        headers = (("Retry-After", str(answer.retry_after)), *headers)
    if answer.rate_limits:
        return _limited(rule, facts, end, now) if 200 <= facts.natural_status < 300 else None
    if answer.status is None:
        return Decision(rule, None, headers, None, answer.delay, answer.drop)
    response = scripted(answer.status, answer.body, headers, facts.body_size, rule.match.larger_than)
    return Decision(rule, response.status, response.headers, response.body, answer.delay, answer.drop)


def _limited(rule: Rule, facts: Facts, end: float | None, now: float) -> Decision | None:
    """A rate-limit rule's answer: None when Relay would drop none of the request's items."""
    answer = rule.answer

    def limited(category: str) -> bool:
        return any(category in limit.categories or not limit.categories for limit in answer.rate_limits)

    dropped = enforced(facts.endpoint, facts.entries, limited)
    if not any(dropped):
        return None
    if facts.endpoint in NEVER_429:  # Relay drops it and answers as if it took it
        return Decision(rule, None, answer.headers, None, answer.delay)
    left = DEFAULT_LIMIT if end is None else max(1, math.ceil(end - now))
    limits = tuple((limit, left if limit.seconds is None else limit.seconds) for limit in answer.rate_limits)
    header = (RATE_LIMITS_HEADER, rate_limits_header(limits))
    if not all(dropped):  # the rest is taken: the natural answer, with the header
        given = () if answer.retry_after is None else (("Retry-After", str(answer.retry_after)),)
        return Decision(rule, None, (*given, header, *answer.headers), None, answer.delay, partial=True)
    retry_after = answer.retry_after if answer.retry_after is not None else max(seconds for _, seconds in limits)
    headers = (("Retry-After", str(retry_after)), header, *answer.headers)
    response = scripted(answer.status or 429, answer.body, headers)
    return Decision(rule, response.status, response.headers, response.body, answer.delay)
