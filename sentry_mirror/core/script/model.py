"""What a script says: rules, each a match and an answer (docs/scripts.md).

Frozen values only: :mod:`.parse` makes them from TOML, :mod:`.presets` from a scenario
name, and :mod:`.engine` decides with them, request by request."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RateLimit:
    """One entry of ``X-Sentry-Rate-Limits``."""

    categories: tuple[str, ...]  # () = every category
    seconds: int | None = None  # None: what is left of the rule's window, rounded up; 60 without one
    scope: str = "organization"
    reason: str | None = None  # e.g. "quota_exceeded"


@dataclass(frozen=True)
class Match:
    """Which requests a rule answers: every condition given must hold; None = any."""

    endpoints: frozenset[str] | None = None  # record endpoint names: envelope, store, ...
    item_types: frozenset[str] | None = None  # any item of these types
    categories: frozenset[str] | None = None  # any item in these data categories (core/ratelimits.py)
    projects: frozenset[str] | None = None  # project id as in the record
    sdks: tuple[str, ...] | None = None  # SDK name prefixes: "sentry.python", "sentry.javascript"
    requests: tuple[int, int | None] | None = None  # the Nth..Mth request matching the other conditions (1-based)
    after: float | None = None  # seconds since the listener started
    before: float | None = None
    larger_than: int | None = None  # decoded body size in bytes
    share: float | None = None  # 0..1: this share of matching requests (seeded random)


@dataclass(frozen=True)
class Answer:
    """What a rule answers. ``status`` None: the natural answer (Relay's), with the
    headers added and the delay or drop applied."""

    status: int | None = None
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes | None = None  # None: Relay's body for the status ({"detail": ...} for errors)
    rate_limits: tuple[RateLimit, ...] = ()  # -> X-Sentry-Rate-Limits (and Retry-After on 429)
    retry_after: int | None = None  # Retry-After seconds
    delay: float = 0.0  # seconds before answering (after the record is on disk)
    drop: bool = False  # close the connection without an answer


@dataclass(frozen=True)
class Rule:
    name: str  # the script's `name`, else "rule N"; a preset's is the scenario spec
    match: Match
    answer: Answer
    lasts: float | None = None  # once it first matched, active this many seconds, then never again
    times: int | None = None  # fires at most this many times
    source: str = ""  # "FILE:LINE" of its [[rule]] table, or "scenario outage:30s"


@dataclass(frozen=True)
class Script:
    rules: tuple[Rule, ...]
    seed: int = 0


def describe(rule: Rule) -> str:
    """What a rule answers and when, in a few words (the listener's banner)."""
    answer, match = rule.answer, rule.match
    if answer.drop:
        what = "drops the connection"
    elif answer.rate_limits:
        limited = ", ".join(";".join(limit.categories) or "every category" for limit in answer.rate_limits)
        what = f"{answer.status or 429} with rate limits on {limited}"
    elif answer.status is not None:
        what = f"answers {answer.status}"
    else:
        what = "answers as Relay"
    if answer.delay:
        what += f" after {answer.delay:g} s"
    when = [
        f"{name} {'/'.join(sorted(values))}"
        for name, values in (
            ("endpoint", match.endpoints),
            ("item type", match.item_types),
            ("category", match.categories),
        )
        if values
    ]
    if match.projects:
        when.append(f"project {'/'.join(sorted(match.projects))}")
    if match.sdks:
        when.append(f"SDK {'/'.join(match.sdks)}")
    if match.requests is not None:
        first, last = match.requests
        when.append(f"requests {first}-{'' if last is None else last}")
    if match.larger_than is not None:
        when.append(f"bodies over {match.larger_than} bytes")
    if match.share is not None:
        when.append(f"{match.share:.0%} of requests")
    if match.after is not None:
        when.append(f"from {match.after:g} s")
    if match.before is not None:
        when.append(f"until {match.before:g} s")
    if rule.lasts is not None:
        when.append(f"for {rule.lasts:g} s from its first answer")
    if rule.times is not None:
        when.append(f"{rule.times} time(s) at most")
    return what + (f" ({', '.join(when)})" if when else "")
