"""Scripts from TOML: every key, and every mistake refused with its line and reason."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentry_mirror.core.script import parse
from sentry_mirror.core.script.model import Answer, Match, RateLimit, Rule, Script
from sentry_mirror.errors import ExitCode, ScriptError

FULL = """\
seed = 7  # for share

[[rule]]
name = "limit transactions"
category = ["transaction", "span"]
requests = "1-5"
lasts = "60s"
rate_limits = [{ categories = ["transaction"], scope = "organization", reason = "quota_exceeded" }]
retry_after = 60

[[rule]]
endpoint = "store"
item_type = "event"
project = 42
sdk = ["sentry.python", "sentry.javascript"]
after = "10s"
before = "1m"
larger_than = "1KiB"
share = 0.5
times = 3
status = 503
headers = { "X-Custom" = "1" }
body = "down"
delay = "250ms"

[[rule]]
requests = "3-"
drop = true
"""


def test_every_key_is_read() -> None:
    script = parse(FULL, "answers.toml")
    limit = RateLimit(("transaction",), None, "organization", "quota_exceeded")
    assert (
        Script(
            (
                Rule(
                    "limit transactions",
                    Match(categories=frozenset({"transaction", "span"}), requests=(1, 5)),
                    Answer(status=429, rate_limits=(limit,), retry_after=60),
                    lasts=60.0,
                    source="answers.toml:3",
                ),
                Rule(
                    "rule 2",
                    Match(
                        endpoints=frozenset({"store"}),
                        item_types=frozenset({"event"}),
                        projects=frozenset({"42"}),
                        sdks=("sentry.python", "sentry.javascript"),
                        after=10.0,
                        before=60.0,
                        larger_than=1024,
                        share=0.5,
                    ),
                    Answer(status=503, headers=(("X-Custom", "1"),), body=b"down", delay=0.25),
                    times=3,
                    source="answers.toml:11",
                ),
                Rule("rule 3", Match(requests=(3, None)), Answer(drop=True), source="answers.toml:26"),
            ),
            seed=7,
        )
        == script
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3", (3, 3)),
        ("3-", (3, None)),
        ("1-5", (1, 5)),
        (" 2 - 4 ", (2, 4)),
    ],
)
def test_request_ranges(text: str, expected: tuple[int, int | None]) -> None:
    assert expected == parse(f'[[rule]]\nrequests = "{text}"\nstatus = 500\n', "s").rules[0].match.requests


def test_a_rate_limit_with_every_category_and_its_own_seconds() -> None:
    (rule,) = parse("[[rule]]\nrate_limits = [{ seconds = 5 }]\nstatus = 200\n", "s").rules
    assert (RateLimit((), 5), 200) == (rule.answer.rate_limits[0], rule.answer.status)


#: (script, the line in the error, words of the reason): one per class of mistake.
BAD = [
    ("[[rule]]\nstatus = 503\nstauts = 503\n", 3, "unknown key 'stauts'"),
    ("[[rule]]\nstatus = 503\nname = 5\n", 3, "name: must be text, not a number"),
    ("[[rule]]\nstatus = '503'\n", 2, "status: must be a whole number, not text"),
    ("[[rule]]\nstatus = 700\n", 2, "status: 700 is outside 200-599"),
    ("[[rule]]\nstatus = 99\n", 2, "status: 99 is outside 200-599"),
    ("[[rule]]\nstatus = 101\n", 2, "status: 101 is an interim status, not an answer (a status is 200-599)"),
    ("[[rule]]\nendpoint = 'stores'\nstatus = 500\n", 2, "unknown endpoint 'stores'"),
    (
        "[[rule]]\nstatus = 500\n\n[[rule]]\ncategory = 'transactoin'\nstatus = 429\n",
        5,
        "unknown category 'transactoin'",
    ),
    ("[[rule]]\nrate_limits = [{ categories = ['erorr'] }]\n", 2, "unknown category 'erorr'"),
    ("[[rule]]\nstatus = 500\nitem_type = ['event', 'evnt']\n", 3, "unknown item type 'evnt' (known: attachment, "),
    ("[[rule]]\nrate_limits = [{ scope = 'a:b' }]\n", 2, "the scope must be a word"),
    ("[[rule]]\nrate_limits = [{ time = 5 }]\n", 2, "unknown key 'time' in a rate limit"),
    ("[[rule]]\ndelay = '5 parsecs'\n", 2, "delay: '5 parsecs' is not a duration"),
    ("[[rule]]\ndelay = -1\n", 2, "delay: -1 is not a duration from 0 on"),
    ("[[rule]]\nlasts = true\nstatus = 429\n", 2, "lasts: must be a duration"),
    ("[[rule]]\nlarger_than = '5 bushels'\nstatus = 413\n", 2, "larger_than: '5 bushels' is not a size"),
    ("[[rule]]\nlarger_than = '5ib'\nstatus = 413\n", 2, "is not a size"),
    ("[[rule]]\nlarger_than = '" + "9" * 400 + "'\nstatus = 413\n", 2, "larger_than: '999"),
    ("[[rule]]\nstatus = 413\nlarger_than = '" + "9" * 400 + "'\n", 3, "is too big a size"),
    ("[[rule]]\ndelay = '" + "9" * 30 + "'\n", 2, "is too long a duration"),
    ("[[rule]]\nshare = 1.5\nstatus = 500\n", 2, "share: must be a number from 0 to 1"),
    ("[[rule]]\nrequests = '5-2'\nstatus = 500\n", 2, "is not a range of requests"),
    ("[[rule]]\nrequests = '0'\nstatus = 500\n", 2, "is not a range of requests"),
    ("[[rule]]\nrequests = 'first'\nstatus = 500\n", 2, "must be a request number or range"),
    ("[[rule]]\ntimes = 0\nstatus = 500\n", 2, "times: 0 is outside"),
    ("[[rule]]\nheaders = { 'Bad Name' = '1' }\nstatus = 500\n", 2, "is not a header name"),
    ('[[rule]]\nheaders = { "X-A" = "a\\nb" }\nstatus = 500\n', 2, "must be text on one line"),
    ('[[rule]]\nheaders = { "X-A" = "a\\u000bb" }\nstatus = 500\n', 2, "without control characters"),
    ('[[rule]]\nheaders = { "X-A" = "a\\u007f" }\nstatus = 500\n', 2, "without control characters"),
    ('[[rule]]\nheaders = { "Content-Length" = "abc" }\nstatus = 500\n', 2, "'Content-Length' frames the answer"),
    ('[[rule]]\nbody = "hi"\nheaders = { "content-length" = "0" }\nstatus = 200\n', 3, "frames the answer"),
    ('[[rule]]\nheaders = { "Transfer-Encoding" = "chunked" }\nstatus = 200\n', 2, "frames the answer"),
    ('[[rule]]\nheaders = { "Connection" = "close" }\nstatus = 200\n', 2, "frames the answer"),
    ('[[rule]]\nheaders = { "Upgrade" = "h2c" }\nstatus = 200\n', 2, "frames the answer"),
    ('[[rule]]\nheaders = { "Proxy-Authenticate" = "x" }\nstatus = 200\n', 2, "frames the answer"),
    ("[[rule]]\ndrop = 'yes'\n", 2, "drop: must be true or false"),
    ("x = 1\n[[rule]]\nstatus = 500\n", 1, "unknown key 'x'"),
    ("seed = 'a'\n[[rule]]\nstatus = 500\n", 1, "seed must be a whole number"),
    ("[[rule]]\nname = 'nothing'\nendpoint = 'store'\n", 1, "empty rule"),
    ("[[rule]]\n", 1, "empty rule"),
    ("# only a comment\n\n[[rule]]\ndrop = true\nbody = 'x'\n", 3, "drop closes the connection"),
    ("[[rule]]\ndrop = true\nstatus = 500\n", 1, "drop closes the connection"),
    ("[[rule]]\nbody = 'x'\n", 1, "body goes with a status"),
    ("[[rule]]\nafter = '10s'\nbefore = '5s'\nstatus = 500\n", 1, "before (5 s) must be later than after (10 s)"),
    ("[[rule]]\nstatus = 500\ndelay =\n", 3, "not valid TOML"),
    ("[[rule]]\nstatus = 500\n[[rule]\n", 3, "not valid TOML"),
    ("seed = 1\n", 1, "has no [[rule]]"),
    ("[rule]\nstatus = 500\n", 1, "must be [[rule]] tables"),
    ("[[rule]]\nstatus = 200\n\n[meta]\nx = 1\n", 4, "unknown key 'meta'"),
    ("[[rule]]\nstatus = 200\n[[rules]]\nstatus = 1\n", 3, "unknown key 'rules'"),
    ('[[rule]]\nstatus = 500\nbody = """\n[[rule]]\n"""\n[[rule]]\nstatus = 700\n', 7, "rule 2: status: 700"),
    ('[[rule]]\nstatus = 500\nbody = """a\\"""\n[[rule]]\n"""\n[[rule]]\nstatus = 700\n', 7, "rule 2: status"),
    ("[[rule]]\nstatus = 500\nbody = '''a\\'''\n[[rule]]\nstatus = 700\n", 5, "rule 2: status: 700"),
    ("[[rule]] # first\nstatus = 200\n\n[[rule]]   # second\nstatus = 700\n", 5, "rule 2: status: 700"),
    ('[[rule]]\nstatus = 200\n[rule.headers] # c\n"X Y" = "1"\n', 3, "'X Y' is not a header name"),
    (
        "[[rule]]\nstatus = 429\n[[rule.rate_limits]]\ncategories = ['transaction']\n"
        "[[rule.rate_limits]] # the second\ncategories = ['nope']\n",
        5,
        "unknown category 'nope'",
    ),
]


@pytest.mark.parametrize(("text", "line", "reason"), BAD)
def test_every_mistake_names_its_line_and_reason(text: str, line: int, reason: str) -> None:
    with pytest.raises(ScriptError) as caught:
        parse(text, "answers.toml")
    assert str(caught.value).startswith(f"answers.toml:{line}: "), str(caught.value)
    assert reason in str(caught.value)
    assert ExitCode.USAGE == caught.value.exit_code


def test_the_rule_is_named_in_the_error() -> None:
    with pytest.raises(ScriptError) as caught:
        parse("[[rule]]\nname = 'slow stores'\ndelay = 'soon'\n", "answers.toml")
    assert str(caught.value).startswith("answers.toml:3: rule 'slow stores': delay: 'soon'")


def test_a_key_written_as_a_table_of_its_rule_is_found() -> None:
    with pytest.raises(ScriptError) as caught:
        parse("[[rule]]\nstatus = 500\n[[rule]]\nstatus = 500\n[rule.headers]\n'a b' = '1'\n", "s")
    assert str(caught.value).startswith("s:5: rule 2: headers: 'a b' is not a header name")


TOMLISH = st.lists(
    st.one_of(
        st.sampled_from(
            [
                *("[[rule]]", "[rule]", "seed = 3", "status = 503", "drop = true", "body = 'x'", "delay = '2s'"),
                *('body = """', '"""', "[[rule.rate_limits]] # c", "[rule.headers]", "[meta]", "# [[rule]]"),
            ]
        ),
        st.builds(
            "{} = {}".format,
            st.sampled_from(["status", "requests", "share", "category", "rate_limits", "headers", "lasts", "name"]),
            st.sampled_from(
                ["1", "'1-'", "0.5", "'error'", "[{ categories = [] }]", "{ A = '1' }", "true", "[]", "{}"]
            ),
        ),
        st.text(max_size=30),
    ),
    max_size=12,
).map("\n".join)


@given(st.one_of(TOMLISH, st.text()))
def test_arbitrary_text_raises_nothing_but_script_error(text: str) -> None:
    try:
        script = parse(text, "fuzz.toml")
    except ScriptError as exc:
        assert str(exc).startswith("fuzz.toml:")
    else:
        assert script.rules


def test_a_tab_in_a_header_value_is_kept() -> None:
    (rule,) = parse('[[rule]]\nstatus = 200\nheaders = { "X-A" = "a\\tb" }\n', "s").rules
    assert (("X-A", "a\tb"),) == rule.answer.headers


def test_item_types_are_read_in_their_canonical_spelling() -> None:
    (rule,) = parse("[[rule]]\nstatus = 500\nitem_type = ['trace-metric', 'profile_chunk_ui', 'event']\n", "s").rules
    assert frozenset({"trace_metric", "profile_chunk", "event"}) == rule.match.item_types


def test_the_ui_profile_chunk_category_is_known() -> None:
    (rule,) = parse("[[rule]]\ncategory = 'profile_chunk_ui'\nstatus = 429\n", "s").rules
    assert frozenset({"profile_chunk_ui"}) == rule.match.categories
