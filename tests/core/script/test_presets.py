"""The scenarios: each one's rule, default and given values, bad names and values."""

from __future__ import annotations

import pytest

from sentry_mirror.core.script import SCENARIOS, Engine, Facts, describe, scenario
from sentry_mirror.core.script.model import Answer, Match, RateLimit, Rule, Script
from sentry_mirror.errors import ScriptError

ERROR = Facts("envelope", ("event",), "1", "sentry.python/2.0.0", 100)


def test_rate_limit_transactions() -> None:
    limit = RateLimit(("transaction",), None, "organization", "quota_exceeded")
    assert (
        Rule(
            "rate-limit-transactions",
            Match(categories=frozenset({"transaction"})),
            Answer(status=429, rate_limits=(limit,)),
            lasts=60.0,
            source="scenario rate-limit-transactions",
        ),
    ) == scenario("rate-limit-transactions")
    assert 90.0 == scenario("rate-limit-transactions:90s")[0].lasts


def test_rate_limit_all() -> None:
    (rule,) = scenario("rate-limit-all:2m")
    assert (Match(), 120.0, ((),)) == (rule.match, rule.lasts, tuple(r.categories for r in rule.answer.rate_limits))


def test_outage_is_a_503_from_the_start_then_healthy() -> None:
    (rule,) = scenario("outage:10s")
    assert (Match(before=10.0), Answer(status=503), "scenario outage:10s") == (rule.match, rule.answer, rule.source)
    assert 30.0 == scenario("outage")[0].match.before


def test_slow_keeps_the_natural_answer() -> None:
    assert Answer(delay=0.25) == scenario("slow:250ms")[0].answer
    assert 2.0 == scenario("slow")[0].answer.delay


def test_too_large() -> None:
    (rule,) = scenario("too-large")
    assert (Match(larger_than=100 * 1024), 413) == (rule.match, rule.answer.status)
    assert 1_000_000 == scenario("too-large:1MB")[0].match.larger_than


def test_flaky_answers_500_to_its_share() -> None:
    (rule,) = scenario("flaky:0.5")
    assert (Match(share=0.5), 500) == (rule.match, rule.answer.status)
    chooser = Engine(Script(scenario("flaky:0.5"), seed=1))
    answered = [chooser.decide(ERROR, 0) is not None for _ in range(200)]
    assert 60 < sum(answered) < 140
    assert 0.2 == scenario("flaky")[0].match.share


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("meltdown", "unknown scenario 'meltdown' (known: rate-limit-transactions, "),
        ("outage:soon", "scenario outage:soon: 'soon' is not a duration"),
        ("outage:0s", "scenario outage:0s: '0s': the time must be above 0"),
        ("too-large:huge", "scenario too-large:huge: 'huge' is not a size"),
        ("flaky:2", "scenario flaky:2: '2' is not a share from 0 to 1"),
        ("flaky:often", "scenario flaky:often: 'often' is not a share"),
        ("flaky:nan", "'nan' is not a share from 0 to 1"),
        ("flaky:1e400", "'1e400' is not a share from 0 to 1"),
        ("slow:" + "9" * 30, "is too long a duration"),
        ("outage:" + "9" * 400, "is too long a duration"),
        ("rate-limit-all:" + "9" * 400 + "d", "is too long a duration"),
        ("too-large:" + "9" * 400, "is too big a size"),
        ("too-large:99999999TiB", "is too big a size"),
    ],
)
def test_bad_names_and_values_are_refused(spec: str, reason: str) -> None:
    with pytest.raises(ScriptError) as caught:
        scenario(spec)
    assert reason in str(caught.value)


def test_every_scenario_is_described_and_made() -> None:
    for name in SCENARIOS:
        (rule,) = scenario(name)
        assert (name, f"scenario {name}") == (rule.name, rule.source)
        assert describe(rule)


def test_describe_says_what_and_when() -> None:
    assert "429 with rate limits on transaction (category transaction, for 60 s from its first answer)" == describe(
        scenario("rate-limit-transactions")[0]
    )
    assert "answers 503 (until 30 s)" == describe(scenario("outage")[0])
    assert "answers as Relay after 2 s" == describe(scenario("slow")[0])
