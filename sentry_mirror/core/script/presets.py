"""Ready-made scripts: ``listen --scenario NAME[:VALUE]`` (docs/scripts.md).

Each scenario is one or two rules; its name in records and the banner is the spec as
given (``outage:30s``) and its source ``scenario outage:30s``."""

from __future__ import annotations

from collections.abc import Callable

from sentry_mirror.core.script.model import Answer, Match, RateLimit, Rule
from sentry_mirror.core.units import parse_duration, parse_size
from sentry_mirror.errors import ScriptError

#: Scenario name -> what it answers (``--help``, docs/scripts.md).
SCENARIOS: dict[str, str] = {
    "rate-limit-transactions": "[:60s] 429 with X-Sentry-Rate-Limits for the transaction category, for 60 s "
    "from the first transaction (other items taken, with the header)",
    "rate-limit-all": "[:60s] 429 with X-Sentry-Rate-Limits for every category (client reports still taken), for 60 s",
    "outage": "[:30s] 503 with Relay's error body and no Retry-After for 30 s from the start, then healthy",
    "slow": "[:2s] every answer after a delay of 2 s",
    "too-large": "[:100KiB] 413 for bodies over 100 KiB (decoded)",
    "flaky": "[:0.2] this share of requests (seeded by --seed) gets a 500",
}
_DEFAULTS = {
    "rate-limit-transactions": "60s",
    "rate-limit-all": "60s",
    "outage": "30s",
    "slow": "2s",
    "too-large": "100KiB",
    "flaky": "0.2",
}


def scenario(spec: str) -> tuple[Rule, ...]:
    """The rules of ``NAME[:VALUE]``; ScriptError for an unknown name or a bad value."""
    name, _, value = spec.strip().partition(":")
    make = _MAKERS.get(name.strip())
    if make is None:
        raise ScriptError(f"unknown scenario {name!r} (known: {', '.join(SCENARIOS)})")
    text = value.strip() or _DEFAULTS[name.strip()]
    try:
        return (make(text, spec.strip(), f"scenario {spec.strip()}"),)
    except ValueError as exc:
        raise ScriptError(f"scenario {spec.strip()}: {exc}") from None


def _seconds(text: str) -> float:
    seconds = parse_duration(text)
    if seconds <= 0:
        raise ValueError(f"{text!r}: the time must be above 0")
    return seconds


def _rate_limit(categories: tuple[str, ...], match: Match) -> Callable[[str, str, str], Rule]:
    def make(text: str, name: str, source: str) -> Rule:
        limit = RateLimit(categories, None, "organization", "quota_exceeded")
        return Rule(name, match, Answer(status=429, rate_limits=(limit,)), lasts=_seconds(text), source=source)

    return make


def _outage(text: str, name: str, source: str) -> Rule:
    return Rule(name, Match(before=_seconds(text)), Answer(status=503), source=source)


def _slow(text: str, name: str, source: str) -> Rule:
    return Rule(name, Match(), Answer(delay=_seconds(text)), source=source)


def _too_large(text: str, name: str, source: str) -> Rule:
    return Rule(name, Match(larger_than=parse_size(text)), Answer(status=413), source=source)


def _flaky(text: str, name: str, source: str) -> Rule:
    try:
        share = float(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a share from 0 to 1, like 0.2") from None
    if not 0 <= share <= 1:
        raise ValueError(f"{text!r} is not a share from 0 to 1, like 0.2")
    return Rule(name, Match(share=share), Answer(status=500), source=source)


_MAKERS: dict[str, Callable[[str, str, str], Rule]] = {
    "rate-limit-transactions": _rate_limit(("transaction",), Match(categories=frozenset({"transaction"}))),
    "rate-limit-all": _rate_limit((), Match()),
    "outage": _outage,
    "slow": _slow,
    "too-large": _too_large,
    "flaky": _flaky,
}
