"""The engine: which rule answers a request, and with what."""

from __future__ import annotations

import orjson
from hypothesis import given
from hypothesis import strategies as st

from sentry_mirror.core.script import Engine, Facts, parse, scenario
from sentry_mirror.core.script.answers import OVERLOADED, RATE_LIMITED
from sentry_mirror.core.script.model import Answer, Match, RateLimit, Rule, Script

ERROR = Facts("envelope", ("event",), "1", "sentry.python/2.0.0", 100)
TRANSACTION = Facts("envelope", ("transaction",), "1", "sentry.python/2.0.0", 100)
BOTH = Facts("envelope", ("transaction", "session"), "1", "sentry.python/2.0.0", 100)
REPORT = Facts("envelope", ("client_report",), "1", "sentry.python/2.0.0", 100)


def engine(text: str) -> Engine:
    return Engine(parse(text, "s.toml"))


def header(decision: object, name: str) -> str | None:
    headers = getattr(decision, "headers", ())
    return next((value for key, value in headers if key.lower() == name.lower()), None)


def test_no_rule_matches_the_natural_answer() -> None:
    assert engine("[[rule]]\nendpoint = 'store'\nstatus = 500\n").decide(ERROR, 0) is None


def test_the_first_matching_rule_wins() -> None:
    decide = engine("[[rule]]\nname = 'a'\nstatus = 500\n[[rule]]\nname = 'b'\nstatus = 503\n").decide
    decision = decide(ERROR, 0)
    assert decision is not None and ("a", 500) == (decision.rule.name, decision.status)


def test_every_condition_must_hold() -> None:
    text = "[[rule]]\nendpoint = 'envelope'\nitem_type = 'event'\nproject = 1\nsdk = 'sentry.python'\nstatus = 500\n"
    decide = engine(text).decide
    assert decide(ERROR, 0) is not None
    assert decide(Facts("store", (), "1", "sentry.python/2"), 0) is None
    assert decide(Facts("envelope", ("event",), "2", "sentry.python/2"), 0) is None
    assert decide(Facts("envelope", ("event",), "1", "sentry.javascript.node/9"), 0) is None
    assert decide(TRANSACTION, 0) is None


def test_a_category_matches_items_and_endpoints() -> None:
    decide = engine("[[rule]]\ncategory = 'error'\nstatus = 500\n").decide
    assert decide(Facts("store"), 0) is not None  # store counts as error
    assert decide(Facts("security"), 0) is None


def test_requests_count_the_requests_meeting_the_other_conditions() -> None:
    decide = engine("[[rule]]\nitem_type = 'event'\nrequests = '2-3'\nstatus = 500\n").decide
    got = [decide(facts, 0) is not None for facts in (ERROR, TRANSACTION, ERROR, ERROR, TRANSACTION, ERROR)]
    assert [False, False, True, True, False, False] == got


def test_requests_counts_even_what_an_earlier_rule_answered() -> None:
    decide = engine("[[rule]]\nrequests = '1'\nstatus = 503\n[[rule]]\nrequests = '2'\nstatus = 500\n").decide
    assert [503, 500, None] == [getattr(decide(ERROR, 0), "status", None) for _ in range(3)]


def test_an_open_range_runs_on() -> None:
    decide = engine("[[rule]]\nrequests = '3-'\nstatus = 500\n").decide
    assert [False, False, True, True, True] == [decide(ERROR, 0) is not None for _ in range(5)]


def test_after_and_before_are_seconds_since_the_start() -> None:
    decide = engine("[[rule]]\nafter = '10s'\nbefore = '20s'\nstatus = 500\n").decide
    assert [False, True, True, False] == [decide(ERROR, now) is not None for now in (9.9, 10, 19.9, 20)]


def test_lasts_counts_from_the_first_answer_then_never_again() -> None:
    decide = engine("[[rule]]\nitem_type = 'transaction'\nlasts = '60s'\nstatus = 500\n").decide
    assert decide(ERROR, 5) is None
    assert [True, True, False, False] == [decide(TRANSACTION, now) is not None for now in (100, 159.9, 160, 500)]


def test_times_caps_the_answers() -> None:
    decide = engine("[[rule]]\ntimes = 2\nstatus = 500\n").decide
    assert [True, True, False] == [decide(ERROR, 0) is not None for _ in range(3)]


def test_larger_than_is_the_decoded_size() -> None:
    decide = engine("[[rule]]\nlarger_than = 100\nstatus = 413\n").decide
    assert decide(ERROR, 0) is None  # 100 bytes: not larger
    decision = decide(Facts("envelope", ("event",), body_size=101), 0)
    assert decision is not None and 413 == decision.status
    assert b"length limit exceeded: the body is over 100 bytes (101 bytes)" == decision.body


def test_share_with_a_seed_is_repeatable_and_about_right() -> None:
    text = "seed = 3\n[[rule]]\nshare = 0.25\nstatus = 500\n"
    runs = [draws(engine(text)) for _ in range(2)]
    assert runs[0] == runs[1]
    assert 60 < sum(runs[0]) < 140
    assert draws(Engine(Script(parse(text, "s").rules, seed=4))) != runs[0]


def draws(chooser: Engine) -> list[bool]:
    return [chooser.decide(ERROR, 0) is not None for _ in range(400)]


def test_a_full_rate_limit_is_a_429_with_retry_after_and_the_header() -> None:
    decision = Engine(Script(scenario("rate-limit-transactions:60s"))).decide(TRANSACTION, 10)
    assert decision is not None
    assert (429, False) == (decision.status, decision.partial)
    assert "60" == header(decision, "Retry-After")
    assert "60:transaction:organization:quota_exceeded" == header(decision, "X-Sentry-Rate-Limits")
    assert {"detail": RATE_LIMITED} == orjson.loads(decision.body or b"")
    assert "*" == header(decision, "Access-Control-Allow-Origin")


def test_the_stated_seconds_count_down_the_window() -> None:
    decide = Engine(Script(scenario("rate-limit-transactions:60s"))).decide
    decide(TRANSACTION, 10)
    assert "20" == header(decide(TRANSACTION, 50.5), "Retry-After")
    assert "1:transaction:organization:quota_exceeded" == header(decide(TRANSACTION, 69.9), "X-Sentry-Rate-Limits")
    assert decide(TRANSACTION, 70) is None


def test_a_partial_rate_limit_keeps_the_natural_answer_and_adds_the_header() -> None:
    decision = Engine(Script(scenario("rate-limit-transactions"))).decide(BOTH, 0)
    assert decision is not None
    assert (None, True, None) == (decision.status, decision.partial, header(decision, "Retry-After"))
    assert "60:transaction:organization:quota_exceeded" == header(decision, "X-Sentry-Rate-Limits")


def test_client_reports_are_never_limited() -> None:
    decide = Engine(Script(scenario("rate-limit-all"))).decide
    assert decide(REPORT, 0) is None
    with_report = decide(Facts("envelope", ("event", "client_report")), 0)
    assert with_report is not None and with_report.partial
    everything = decide(ERROR, 0)
    assert everything is not None and "60::organization:quota_exceeded" == header(everything, "X-Sentry-Rate-Limits")


def test_a_request_relay_refuses_anyway_is_not_rate_limited() -> None:
    decide = Engine(Script(scenario("rate-limit-all"))).decide
    assert decide(Facts("envelope", ("event",), natural_status=401), 0) is None
    assert decide(Facts("envelope", ("event",), natural_status=202), 0) is not None


def test_a_rate_limit_rule_that_limits_nothing_of_a_request_lets_the_next_rule_answer() -> None:
    text = "[[rule]]\nrate_limits = [{ categories = ['transaction'] }]\n[[rule]]\nstatus = 503\n"
    decision = engine(text).decide(ERROR, 0)
    assert decision is not None and 503 == decision.status


def test_a_rate_limit_states_its_own_seconds_and_status() -> None:
    text = "[[rule]]\nrate_limits = [{ seconds = 5, scope = 'key' }, { categories = ['error'], seconds = 9 }]\nstatus = 200\n"
    decision = engine(text).decide(ERROR, 0)
    assert decision is not None and 200 == decision.status
    assert "5::key, 9:error:organization" == header(decision, "X-Sentry-Rate-Limits")
    assert "9" == header(decision, "Retry-After")


def test_an_answer_without_status_keeps_the_natural_one() -> None:
    decision = engine("[[rule]]\ndelay = '2s'\nretry_after = 7\nheaders = { X-A = '1' }\n").decide(ERROR, 0)
    assert decision is not None
    assert (None, None, 2.0) == (decision.status, decision.body, decision.delay)
    assert (("Retry-After", "7"), ("X-A", "1")) == decision.headers


def test_a_503_is_relays_and_a_given_body_is_sent() -> None:
    decide = engine("[[rule]]\nrequests = '1'\nstatus = 503\n[[rule]]\nstatus = 418\nbody = 'teapot'\n").decide
    first, second = decide(ERROR, 0), decide(ERROR, 0)
    assert first is not None and {"detail": OVERLOADED} == orjson.loads(first.body or b"")
    assert header(first, "Retry-After") is None
    assert second is not None and (418, b"teapot") == (second.status, second.body)


def test_a_drop() -> None:
    decision = engine("[[rule]]\ndrop = true\ndelay = 1\n").decide(ERROR, 0)
    assert decision is not None and (True, 1.0) == (decision.drop, decision.delay)


def test_items_that_depend_on_a_limited_event_go_with_it() -> None:
    # Relay drops the items that require the event (attachments, profiles, user reports,
    # form data) and the spans with a limited event: nothing is left, a 429, not a partial 200
    decide = Engine(Script(scenario("rate-limit-transactions"))).decide
    for types in [("transaction", "profile"), ("transaction", "attachment"), ("transaction", "span")]:
        decision = decide(Facts("envelope", types), 0)
        assert decision is not None and (429, False) == (decision.status, decision.partial), types
    errors = engine("[[rule]]\nrate_limits = [{ categories = ['error'] }]\n").decide
    for types in [("event", "attachment", "user_report"), ("event", "form_data")]:
        decision = errors(Facts("envelope", types), 0)
        assert decision is not None and 429 == decision.status, types


def test_independent_items_beside_a_limited_event_make_a_partial_answer() -> None:
    decide = Engine(Script(scenario("rate-limit-transactions"))).decide
    for types in [("transaction", "profile", "session"), ("transaction", "log"), ("transaction", "check_in")]:
        decision = decide(Facts("envelope", types), 0)
        assert decision is not None and (None, True) == (decision.status, decision.partial), types


def test_a_profile_without_its_transaction_is_limited_with_transactions() -> None:
    decide = engine("[[rule]]\nrate_limits = [{ categories = ['transaction'] }]\n").decide
    decision = decide(Facts("envelope", ("profile",)), 0)
    assert decision is not None and 429 == decision.status
    assert decide(Facts("envelope", ("event", "profile")), 0) is None  # its event is taken: so is it


def test_an_attachment_limit_keeps_a_crash_attachment_and_drops_a_plain_one() -> None:
    decide = engine("[[rule]]\nrate_limits = [{ categories = ['attachment'] }]\n").decide
    minidump = {"type": "attachment", "headers": {"attachment_type": "event.minidump"}}
    plain = {"type": "attachment", "headers": {"attachment_type": "event.attachment"}}
    assert decide(Facts("envelope", items=(minidump,)), 0) is None
    decision = decide(Facts("envelope", items=({"type": "event"}, plain)), 0)
    assert decision is not None and decision.partial


def test_a_span_attachment_goes_with_the_spans_limit() -> None:
    decide = engine("[[rule]]\nrate_limits = [{ categories = ['span'] }]\n").decide
    trace = "application/vnd.sentry.trace-attachment"
    of_span = {"type": "attachment", "headers": {"content_type": trace, "span_id": "b0e6f15b45c36b12"}}
    of_trace = {"type": "attachment", "headers": {"content_type": trace, "span_id": None}}
    decision = decide(Facts("envelope", items=({"type": "span"}, of_span)), 0)
    assert decision is not None and 429 == decision.status
    assert decide(Facts("envelope", items=(of_trace,)), 0) is None


def test_relay_never_answers_429_on_minidump_unreal_and_cron() -> None:
    decide = Engine(Script(scenario("rate-limit-all"))).decide
    for endpoint in ("minidump", "unreal", "cron"):
        decision = decide(Facts(endpoint), 0)
        assert decision is not None and (None, False) == (decision.status, decision.partial), endpoint
        assert header(decision, "X-Sentry-Rate-Limits") is None and header(decision, "Retry-After") is None
    assert getattr(decide(Facts("store"), 0), "status", None) == 429


def test_categories_read_the_item_headers_as_the_records_do() -> None:
    # one home for categories (core/ratelimits): a UI platform's profile chunk is profile_chunk_ui
    chunk = {"type": "profile_chunk", "headers": {"platform": "android"}}
    decide = engine("[[rule]]\nrate_limits = [{ categories = ['profile_chunk'] }]\n").decide
    assert decide(Facts("envelope", ("profile_chunk",), items=(chunk,)), 0) is None
    ui_limit = Answer(rate_limits=(RateLimit(("profile_chunk_ui",)),))
    ui = Engine(Script((Rule("r", Match(), ui_limit),))).decide
    decision = ui(Facts("envelope", ("profile_chunk",), items=(chunk,)), 0)
    assert decision is not None and 429 == decision.status
    assert ("profile_chunk_ui",) == Facts("envelope", ("profile_chunk",), items=(chunk,)).categories


def test_item_types_match_as_the_mirror_counts_them() -> None:
    rule = Rule("r", Match(item_types=frozenset({"trace_metric"})), Answer(status=500))
    assert Engine(Script((rule,))).decide(Facts("envelope", ("trace-metric",)), 0) is not None


def test_a_partial_rate_limit_keeps_the_scripts_retry_after() -> None:
    text = "[[rule]]\nrate_limits = [{ categories = ['transaction'] }]\nretry_after = 30\n"
    decision = engine(text).decide(BOTH, 0)
    assert decision is not None and decision.partial
    assert "30" == header(decision, "Retry-After")


FACTS = st.builds(
    Facts,
    st.sampled_from(["envelope", "store", "tunnel", "security", "unknown", "cron", "minidump"]),
    st.lists(
        st.sampled_from(["event", "transaction", "client_report", "span", "log", "profile", "attachment", "x", ""]),
        max_size=4,
    ).map(tuple),
    st.one_of(st.none(), st.sampled_from(["1", "2"])),
    st.one_of(st.none(), st.text(max_size=20)),
    st.integers(0, 10**9),
    st.sampled_from([200, 202, 400, 413, 500]),
)
RULES = st.lists(
    st.builds(
        Rule,
        st.just("r"),
        st.builds(
            Match,
            requests=st.one_of(st.none(), st.tuples(st.integers(1, 5), st.one_of(st.none(), st.integers(5, 9)))),
            before=st.one_of(st.none(), st.floats(0, 100)),
            larger_than=st.one_of(st.none(), st.integers(0, 1000)),
            share=st.one_of(st.none(), st.floats(0, 1)),
            categories=st.one_of(st.none(), st.just(frozenset({"transaction"}))),
        ),
        st.builds(
            Answer,
            status=st.one_of(st.none(), st.integers(100, 599)),
            rate_limits=st.lists(
                st.builds(
                    RateLimit,
                    st.sampled_from([(), ("error",), ("transaction", "span")]),
                    st.none() | st.integers(0, 99),
                ),
                max_size=2,
            ).map(tuple),
            delay=st.floats(0, 5),
        ),
        lasts=st.one_of(st.none(), st.floats(0, 100)),
        times=st.one_of(st.none(), st.integers(1, 3)),
    ),
    min_size=1,
    max_size=4,
)


@given(RULES, st.lists(st.tuples(FACTS, st.floats(0, 200)), max_size=20), st.integers())
def test_arbitrary_facts_never_crash_the_engine(
    rules: list[Rule], requests: list[tuple[Facts, float]], seed: int
) -> None:
    decide = Engine(Script(tuple(rules), seed)).decide
    for facts, now in sorted(requests, key=lambda pair: pair[1]):
        decision = decide(facts, now)
        if decision is not None and decision.status is not None:
            assert 100 <= decision.status <= 599 and isinstance(decision.body, bytes)
