"""Grouping events into issues (Sentry's way and the other strategies), comparing
strategies, and transaction percentiles; the last tests run on the committed sample
snapshot that examples/python_shop.py produced."""

from __future__ import annotations

import base64
import hashlib
import itertools
import re
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from ipaddress import IPv6Address
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sentry_mirror.core import envelope, grouping, patterns, record
from sentry_mirror.core.grouping import (
    NO_FINGERPRINT,
    NO_GROUPING_INFO,
    Flow,
    PairComparison,
    Sample,
    compare,
    components,
    culprit,
    duration_ms,
    events_of,
    get_strategy,
    group_hash,
    group_records,
    group_transactions,
    normalize,
    normalize_function,
    normalize_message,
)
from tests.factories import PROJECT, QUERY_AUTH, make_envelope, make_multipart, make_record, make_request

SAMPLE = Path(__file__).parents[3] / "snapshots" / "sample-python.jsonl.zst"
T0 = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
_ids = itertools.count(1)


# ---------------------------------------------------------------- builders


def frame(
    function: str | None, module: str | None = "app.shop", lineno: int = 10, in_app: bool = True, **extra: Any
) -> dict[str, Any]:
    result: dict[str, Any] = {"function": function, "module": module, "lineno": lineno, "in_app": in_app, **extra}
    return {key: value for key, value in result.items() if value is not None}


def exc(kind: str, value: str, *frames: dict[str, Any], **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = {"type": kind, "value": value, **extra}
    if frames:
        result["stacktrace"] = {"frames": list(frames)}
    return result


def error(*exceptions: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """An error event with a fresh event id; ``exceptions`` oldest first."""
    event: dict[str, Any] = {"event_id": f"{next(_ids):032x}", "platform": "python", "level": "error"}
    if exceptions:
        event["exception"] = {"values": list(exceptions)}
    event.update(overrides)
    return event


def message(text: str, **overrides: Any) -> dict[str, Any]:
    return error(message=text, **overrides)


def rec(event: dict[str, Any], *, at: float = 0) -> dict[str, Any]:
    """A record of an envelope carrying ``event`` (an error, or a transaction by its ``type``),
    received ``at`` seconds after T0."""
    kind = "transaction" if event.get("type") == "transaction" else "event"
    return make_record(
        make_request(body=make_envelope({}, [({"type": kind}, event)])),
        received_at=T0 + timedelta(seconds=at),
        remote_addr="198.51.100.9:50000",
        id=f"{next(_ids):032x}",
    )


def short(*values: str) -> str:
    return group_hash(values)[:12]


KEY_ERROR = exc("KeyError", "7", frame("capture", lineno=53), frame("load_basket", lineno=29))


# ---------------------------------------------------------------- the cases the issue names


def test_the_same_error_twice_is_one_group() -> None:
    first, second = error(KEY_ERROR), error(KEY_ERROR)
    groups = group_records([rec(first, at=0), rec(second, at=5)])
    assert [(2, (first["event_id"], second["event_id"]), T0, T0 + timedelta(seconds=5))] == [
        (g.count, g.event_ids, g.first_seen, g.last_seen) for g in groups
    ]
    assert ("type:KeyError", "frame:app.shop:capture", "frame:app.shop:load_basket") == groups[0].components


def test_a_different_line_of_the_same_function_is_the_same_group() -> None:
    one = error(exc("PaymentDeclined", "card ending 0000 declined", frame("charge", lineno=39, context_line="raise A")))
    other = error(
        exc("PaymentDeclined", "amount 250000 over the limit", frame("charge", lineno=41, context_line="raise B"))
    )
    assert [2] == [g.count for g in group_records([rec(one), rec(other)])]


def test_a_different_exception_type_is_a_different_group() -> None:
    events = [error(KEY_ERROR), error(exc("IndexError", "7", *KEY_ERROR["stacktrace"]["frames"])), error(KEY_ERROR)]
    groups = group_records([rec(event, at=i) for i, event in enumerate(events)])
    assert [("KeyError: 7", 2), ("IndexError: 7", 1)] == [(g.title, g.count) for g in groups]


# ---------------------------------------------------------------- fingerprints

DEFAULT = ("type:KeyError", "frame:app.shop:capture", "frame:app.shop:load_basket")


@pytest.mark.parametrize(
    ("fingerprint", "expected"),
    [
        (["payments"], ("fingerprint:payments",)),
        (["payments", 42], ("fingerprint:payments", "fingerprint:42")),
        (["{{ default }}", "eu"], (*DEFAULT, "fingerprint:eu")),
        (["{{default}}", "eu"], (*DEFAULT, "fingerprint:eu")),
        (["{{ default }}"], DEFAULT),
        (["{{default}}"], DEFAULT),
        ([], DEFAULT),
        ("not a list", DEFAULT),
        (
            ["{{ transaction }}", "{{ error.type }}", "{{ value }}", "{{ function }}", "{{ module }}", "{{ level }}"],
            (
                "fingerprint:POST /checkout",
                "fingerprint:KeyError",
                "fingerprint:7",
                "fingerprint:load_basket",
                "fingerprint:app.shop",
                "fingerprint:error",
            ),
        ),
        (
            ["{{ tags.region }}", "{{ tags.missing }}", "{{ logger }}", "{{ unknown }}"],
            (
                "fingerprint:eu-west",
                "fingerprint:<no-value-for-tag-missing>",
                "fingerprint:<no-logger>",
                "fingerprint:{{ unknown }}",
            ),
        ),
    ],
)
def test_an_explicit_fingerprint_wins(fingerprint: Any, expected: tuple[str, ...]) -> None:
    event = error(KEY_ERROR, fingerprint=fingerprint, transaction="POST /checkout", tags={"region": "eu-west"})
    assert expected == components(event)


def test_a_fingerprint_merges_different_errors_and_splits_a_default_group() -> None:
    merged = [error(KEY_ERROR, fingerprint=["db"]), error(exc("ValueError", "x", frame("parse")), fingerprint=["db"])]
    split = [error(KEY_ERROR, fingerprint=["{{ default }}", region]) for region in ("eu", "us", "eu")]
    groups = group_records([rec(event, at=i) for i, event in enumerate(merged + split)])
    assert [(2, ("fingerprint:db",)), (2, (*DEFAULT, "fingerprint:eu")), (1, (*DEFAULT, "fingerprint:us"))] == [
        (g.count, g.components) for g in groups
    ]


# ---------------------------------------------------------------- messages


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("payment provider slow: 2300 ms for order 1001", "payment provider slow: <int> ms for order <int>"),
        ("took 2300ms, -5 left, ratio 0.75", "took <int>ms, <int> left, ratio <float>"),
        ("webhook aa242a56-e6e6-4b3c-ba0d-0d6853489a2f retried 3 times", "webhook <uuid> retried <int> times"),
        ("trace 6E3BF7FB643747F7AB5497E6BC5D170C lost", "trace <hex> lost"),
        ("object at 0x7f1f5ca7c680 is gone", "object at <hex> is gone"),
        ("no route to 203.0.113.7:8080.", "no route to <ip>:<int>."),
        ("peer 2001:db8::ff00:42:8329 and ::1 and fe80::1%eth0", "peer <ip> and <ip> and <ip>%eth0"),
        ("mail to jane.doe+shop@example.co.uk bounced", "mail to <email> bounced"),
        ("at 2026-11-23T11:29:04.365529Z and 2026-11-23 11:29:04+01:00", "at <date> and <date>"),
        ("on 2026-11-23 at 11:29:04", "on <date> at <time>"),
        ("expired Mon, 23 Nov 2026 11:29:04 GMT", "expired <date>"),
        ("v2 of sha256 module a1b2c3 in std::vector", "v2 of sha256 module a1b2c3 in std::vector"),
        ("deadbeefcafe is a word, deadbeef12 is not", "deadbeefcafe is a word, <hex> is not"),
        ("  padded 7  ", "padded <int>"),
    ],
)
def test_message_normalisation(text: str, expected: str) -> None:
    assert expected == normalize_message(text)


@given(st.integers(), st.uuids(), st.ip_addresses().filter(lambda ip: any(c.isdigit() for c in str(ip))))
@settings(max_examples=50, deadline=None)
@example(0, UUID("e3e70682-c209-4cac-629f-6fbed82c07cd"), IPv6Address("::f0:10:10a0:0"))  # a time-like run inside IPv6
def test_messages_that_differ_only_in_variable_parts_group_together(number: int, uuid: Any, ip: Any) -> None:
    assert "job <uuid> for <ip> failed <int> times" == normalize_message(f"job {uuid} for {ip} failed {number} times")


WORDS = ["order", "v2", "sha256", "2300ms", "-5", "1.5", "0x1f", "deadbeef12", "std::vector", "a1b2c3", "11:29:04"]
WORDS += ["2026-11-23", "2026-11-23T11:29:04Z", "Mon, 23 Nov 2026 11:29:04 GMT", "jane@example.com", "::1", "10.0.0.1"]
TOKENS = st.one_of(
    st.sampled_from(WORDS),
    st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(str),
    st.uuids().map(str),
    st.uuids().map(lambda uuid: uuid.hex),
    st.ip_addresses().map(str),
    st.emails(),
)


@given(st.lists(st.tuples(TOKENS, st.sampled_from([" ", ", ", ": ", "/", "=", " ("])), max_size=8))
@settings(max_examples=200, deadline=None)
@example([("::a0:0:0:1:0:0", ": ")])  # no address ends cleanly; once the zeros are <int>, "::a0:" did
def test_normalisation_is_idempotent(parts: list[tuple[str, str]]) -> None:
    once = normalize_message("".join(token + separator for token, separator in parts))
    assert once == normalize_message(once)


def every_pattern(text: str) -> str:
    """normalize_message without its shortcuts: every pattern over the whole text, in order."""
    for pattern, placeholder in [
        (patterns.UUID, "<uuid>"),
        (patterns.EMAIL_LIKE, "<email>"),
        (patterns.ISO_DATE, "<date>"),
        (patterns.HTTP_DATE, "<date>"),
        (patterns.IPV6_LIKE, normalize._ipv6),
        (patterns.CLOCK_TIME, "<time>"),
        (patterns.IPV4_LIKE, "<ip>"),
        (patterns.HEX_LITERAL, "<hex>"),
        (patterns.HEX_ID, "<hex>"),
        (patterns.NUMBER, normalize._number),
    ]:
        text = pattern.sub(placeholder, text)
    return text.strip()


SEPARATORS = st.sampled_from([" ", ", ", ": ", ":", ".", "-", "@", ""])


@given(st.lists(st.tuples(TOKENS | st.text(max_size=12), SEPARATORS), max_size=8))
@settings(max_examples=300, deadline=None)
def test_the_shortcuts_change_nothing(parts: list[tuple[str, str]]) -> None:
    """Patterns are skipped when the text lacks what they need: same result as running them all."""
    text = "".join(token + separator for token, separator in parts)
    assert every_pattern(text) == normalize_message(text)


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (message("order 1001 failed"), ("message:order <int> failed",)),
        (
            error(logentry={"message": "order %s failed", "params": [1001], "formatted": "order 1001 failed"}),
            ("message:order %s failed",),
        ),
        (error(logentry={"formatted": "order 1001 failed"}), ("message:order <int> failed",)),
        (
            error(message={"message": "order {id} failed", "formatted": "order 7 failed"}),
            ("message:order {id} failed",),
        ),
        (error(), (NO_GROUPING_INFO,)),
    ],
    ids=["message-string", "logentry-template", "logentry-formatted", "legacy-message-object", "nothing"],
)
def test_message_events_group_by_the_template_else_the_normalised_text(
    event: dict[str, Any], expected: tuple[str, ...]
) -> None:
    assert expected == components(event)


# ---------------------------------------------------------------- stack traces


def test_only_in_app_frames_contribute_when_there_are_some() -> None:
    library = frame("request", module="requests.api", in_app=False)
    one = error(exc("KeyError", "x", library, frame("handler", lineno=3)))
    other = error(exc("KeyError", "y", frame("get", module="urllib3", in_app=False), frame("handler", lineno=9)))
    assert ("type:KeyError", "frame:app.shop:handler") == components(one) == components(other)


def test_without_in_app_frames_all_frames_contribute() -> None:
    one = error(
        exc(
            "KeyError",
            "x",
            frame("request", module="requests.api", in_app=False),
            frame("get", module="dict", in_app=False),
        )
    )
    other = error(
        exc(
            "KeyError",
            "x",
            frame("send", module="requests.api", in_app=False),
            frame("get", module="dict", in_app=False),
        )
    )
    assert ("type:KeyError", "frame:requests.api:request", "frame:dict:get") == components(one)
    assert [1, 1] == [g.count for g in group_records([rec(one), rec(other)])]


def test_without_frames_the_type_and_normalised_value_contribute() -> None:
    event = error(exc("ValueError", "invalid literal for int() with base 10: 'x7'"))
    assert ("type:ValueError", "value:invalid literal for int() with base <int>: 'x7'") == components(event)


def test_frame_fields_that_are_not_text_count_as_missing() -> None:
    """A list or an object where a module, file, function or platform belongs (odd SDKs,
    hand-written events) neither crashes grouping nor contributes."""
    odd = {"module": ["app"], "filename": {"a": 1}, "function": ["x"], "platform": {}, "in_app": True}
    event = error(exc("ValueError", "bad", odd, frame("checkout")))
    assert ("type:ValueError", "frame:app.shop:checkout") == components(event)


def test_chained_exceptions_contribute_in_order() -> None:
    cause = exc("KeyError", "3", frame("checkout", lineno=46), frame("load_basket", lineno=29))
    raised = exc("RuntimeError", "checkout failed for basket 3", frame("capture"), frame("checkout", lineno=48))
    no_frames = exc("OSError", "disk 2 full")
    synthetic = exc("SIGSEGV", "address 0x0", frame("main"), mechanism={"type": "signalhandler", "synthetic": True})
    assert (
        "type:KeyError",
        "frame:app.shop:checkout",
        "frame:app.shop:load_basket",
        "type:RuntimeError",
        "frame:app.shop:capture",
        "frame:app.shop:checkout",
        "type:OSError",
        "value:disk <int> full",
        "frame:app.shop:main",
    ) == components(error(cause, raised, no_frames, synthetic))
    alone = error(raised)
    assert components(alone) != components(error(cause, raised))


def test_frames_use_the_file_name_without_a_module_and_collapse_direct_recursion() -> None:
    frames = [
        frame("walk", module=None, filename="src/Tree.py"),
        frame("walk", module=None, abs_path="C:\\code\\src\\Tree.py", lineno=12),
        frame("onClick", module=None, filename="https://cdn.example/app.js"),
        frame(None, module=None, filename="<anonymous>"),
        frame("<unknown>", module=None),
    ]
    assert ("type:TypeError", "frame:tree.py:walk", "frame::onClick") == components(
        error(exc("TypeError", "x", *frames))
    )


@pytest.mark.parametrize(
    ("name", "platform", "expected"),
    [
        ("load_basket", "python", "load_basket"),
        ("<lambda>", "python", "<lambda>"),
        ("<genexpr>", "python", "<genexpr>"),
        ("main.<locals>.<lambda>", "python", "main.<locals>.<lambda>"),
        ("<function handler at 0x7f1f5ca7c680>", "python", "<function handler>"),
        ("lambda$main$0", "java", "<lambda>"),
        ("{closure}", "php", "<lambda>"),
        ("Object.<anonymous>", "javascript", "<lambda>"),
        ("Object.handleClick", "javascript", "handleClick"),
        ("access$000", "java", "access"),
        (
            "_app_views_welcome_index_html_erb___2787412465765478324_70204426318960",
            "ruby",
            "_app_views_welcome_index_html_erb__",
        ),
        ("step_2", "python", "step_2"),
        ("main.main.func1.2", "go", "main.main.func"),
        ("<Main>b__0_1", "csharp", "<Main>b__"),
        ("std::vector<int>::push_back(int const&)", "native", "std::vector::push_back"),
        ("int main(int, char**)", "native", "main"),
        ("-[AppDelegate crash:]", "cocoa", "-[AppDelegate crash:]"),
        ("<redacted>", "python", None),
        ("?", "native", None),
        (None, "python", None),
    ],
)
def test_function_normalisation(name: str | None, platform: str, expected: str | None) -> None:
    assert expected == normalize_function(name, platform)


def test_generated_names_and_addresses_do_not_split_a_group() -> None:
    java = [
        error(
            exc("NPE", "", frame("lambda$run$0", module="com.shop.Cart$$Lambda$14/0x0000000800c03000")), platform="java"
        ),
        error(
            exc("NPE", "", frame("lambda$run$1", module="com.shop.Cart$$Lambda$15/0x0000000800c04000")), platform="java"
        ),
        error(
            exc("NPE", "", frame("invoke", module="jdk.internal.reflect.GeneratedMethodAccessor123")), platform="java"
        ),
        error(exc("NPE", "", frame("invoke", module="jdk.internal.reflect.GeneratedMethodAccessor7")), platform="java"),
    ]
    assert [
        ("type:NPE", "frame:com.shop.Cart$$Lambda:<lambda>"),
        ("type:NPE", "frame:jdk.internal.reflect.GeneratedMethodAccessor:invoke"),
    ] == [g.components for g in group_records(rec(event, at=i) for i, event in enumerate(java))]


def test_an_event_stack_trace_or_its_single_thread_groups_a_message() -> None:
    threads = {"values": [{"id": 1, "stacktrace": {"frames": [frame("tick", in_app=False), frame("report")]}}]}
    assert ("frame:app.shop:report",) == components(message("slow 7", threads=threads))
    assert ("frame:app.shop:tick",) == components(message("slow 7", stacktrace={"frames": [frame("tick")]}))
    two = {"values": [threads["values"][0], {"id": 2, "stacktrace": {"frames": [frame("idle")]}}]}
    assert ("message:slow <int>",) == components(message("slow 7", threads=two))


def test_a_native_exception_uses_its_thread_stack_trace() -> None:
    threads = {
        "values": [
            {"id": 9, "crashed": True, "stacktrace": {"frames": [frame("main", module=None, filename="main.c")]}}
        ]
    }
    event = error(exc("EXC_BAD_ACCESS", "at 0x0", thread_id=9), threads=threads, platform="native")
    assert ("type:EXC_BAD_ACCESS", "frame:main.c:main") == components(event)


# ---------------------------------------------------------------- strategies


CHAINED = error(
    exc("KeyError", "3", frame("load_basket")),
    exc("RuntimeError", "checkout failed for basket 3", frame("checkout")),
    fingerprint=["checkout", "{{ default }}"],
)


@pytest.mark.parametrize(
    ("strategy", "event", "expected"),
    [
        (
            "sentry",
            CHAINED,
            (
                "fingerprint:checkout",
                "type:KeyError",
                "frame:app.shop:load_basket",
                "type:RuntimeError",
                "frame:app.shop:checkout",
            ),
        ),
        ("type", CHAINED, ("type:KeyError", "type:RuntimeError")),
        ("type", message("order 7 failed"), ("message:order <int> failed",)),
        ("type", error(), (NO_GROUPING_INFO,)),
        ("message", CHAINED, ("message:checkout failed for basket <int>",)),
        ("message", message("order 7 failed"), ("message:order <int> failed",)),
        ("message", error(exc("StopIteration", "")), ("message:StopIteration",)),
        ("message", error(), (NO_GROUPING_INFO,)),
        (
            "fingerprint",
            CHAINED,
            (
                "fingerprint:checkout",
                "type:KeyError",
                "frame:app.shop:load_basket",
                "type:RuntimeError",
                "frame:app.shop:checkout",
            ),
        ),
        ("fingerprint", error(KEY_ERROR), (NO_FINGERPRINT,)),
        ("fingerprint", error(KEY_ERROR, fingerprint=["{{ default }}"]), (NO_FINGERPRINT,)),
    ],
)
def test_strategies(strategy: str, event: dict[str, Any], expected: tuple[str, ...]) -> None:
    assert expected == components(event, strategy)


def test_strategy_registry() -> None:
    assert ["sentry", "type", "message", "fingerprint"] == list(grouping.STRATEGIES)
    with pytest.raises(
        ValueError, match="unknown grouping strategy 'nope' \\(choose from: sentry, type, message, fingerprint\\)"
    ):
        get_strategy("nope")
    records = [rec(error(KEY_ERROR), at=0), rec(message("x", level="info"), at=1)]
    by_level = [g.components for g in group_records(records, lambda event: (event["level"],))]
    assert [("error",), ("info",)] == by_level


def test_group_hash_is_md5_of_the_components_joined_with_nul() -> None:
    assert hashlib.md5(b"type:KeyError\x00frame:a:b").hexdigest() == group_hash(("type:KeyError", "frame:a:b"))
    assert group_hash(("ab", "c")) != group_hash(("a", "bc"))


# ---------------------------------------------------------------- what a group holds


def test_group_aggregates() -> None:
    def keyed(**overrides: Any) -> dict[str, Any]:
        defaults = {"release": "shop@1", "environment": "prod", "sdk": {"name": "sentry.python", "version": "2.75.0"}}
        return error(KEY_ERROR, **{**defaults, **overrides})

    events = [
        keyed(user={"id": "42", "email": "jane@example.com"}),
        keyed(user={"id": "42"}, level="warning", release="shop@2"),
        keyed(user={"email": "bob@example.com"}, environment="staging", platform="other"),
        keyed(user={"ip_address": "{{auto}}"}, level="warning"),
        keyed(user={"ip_address": "198.51.100.9"}, sdk={"name": "sentry.python.flask"}),
        keyed(level="fatal"),
    ]
    records = [rec(event, at=at) for event, at in zip(events, (3, 1, 2, 4, 5, 6), strict=True)]
    [group] = group_records(records, max_ids=2)
    assert (
        grouping.Group(
            short_id=short(*DEFAULT),
            hash=group_hash(DEFAULT),
            components=DEFAULT,
            count=6,
            users=3,  # id 42 twice; bob; the {{auto}} IP is the peer's, the same as the explicit one
            first_seen=T0 + timedelta(seconds=1),
            last_seen=T0 + timedelta(seconds=6),
            level="error",  # 3 errors, 2 warnings, 1 fatal
            title="KeyError: 7",
            culprit="app.shop in load_basket",
            sdks=("sentry.python.flask", "sentry.python/2.75.0"),
            platforms=("other", "python"),
            releases=("shop@1", "shop@2"),
            environments=("prod", "staging"),
            event_ids=(events[0]["event_id"], events[1]["event_id"]),
            record_ids=(records[0]["id"], records[1]["id"]),
        )
        == group
    )


def test_level_is_the_most_common_then_the_most_severe() -> None:
    def level_of(*levels: str) -> str:
        return group_records([rec(error(KEY_ERROR, level=level)) for level in levels])[0].level

    assert ("info", "fatal", "warning", "error") == (
        level_of("info", "info", "fatal"),
        level_of("info", "fatal"),
        level_of("warn", "WARNING", "error"),
        level_of("", "debug", "error"),
    )


def test_group_to_dict_is_json_ready() -> None:
    [group] = group_records([rec(error(KEY_ERROR, event_id="ab" * 16))])
    data = orjson.loads(orjson.dumps(group.to_dict()))
    assert {
        "short_id": short(*DEFAULT),
        "first_seen": "2026-11-23T10:00:00.000000Z",
        "components": list(DEFAULT),
        "event_ids": ["ab" * 16],
        "culprit": "app.shop in load_basket",
    } == {key: data[key] for key in ("short_id", "first_seen", "components", "event_ids", "culprit")}


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        (error(KEY_ERROR), "app.shop in load_basket"),
        (error(exc("E", "x", frame("a"), frame("lib", module="requests", in_app=False))), "app.shop in a"),
        (
            error(
                exc("E", "x", frame("lib", module="requests", in_app=False)), culprit="views.cart", transaction="GET /"
            ),
            "views.cart",
        ),
        (error(exc("E", "x", frame("lib", module="requests", in_app=False)), transaction="GET /"), "GET /"),
        (error(exc("E", "x", frame("lib", module=None, filename="x.py", in_app=False))), "x.py in lib"),
        (message("m", stacktrace={"frames": [frame("report")]}), "app.shop in report"),
        (message("m"), None),
    ],
)
def test_culprit(event: dict[str, Any], expected: str | None) -> None:
    assert expected == culprit(event)


def test_event_ids_are_bounded_and_the_records_are_read_once() -> None:
    records = (rec(error(KEY_ERROR), at=i) for i in range(30))
    [group] = group_records(records, max_ids=5)
    assert (30, 5, 5) == (group.count, len(group.event_ids), len(group.record_ids))


# ---------------------------------------------------------------- the events a record carries


def test_events_of_an_envelope() -> None:
    event, transaction = error(KEY_ERROR), {"type": "transaction", "transaction": "GET /", "spans": []}
    body = make_envelope(
        {},
        [
            ({"type": "attachment"}, b"\x00\xff"),
            ({"type": "event"}, orjson.dumps(event)),
            ({"type": "transaction"}, orjson.dumps(transaction)),
            ({"type": "event"}, b"not json"),
            ({"type": "event"}, b"[1, 2]"),
            ({"type": "session"}, b'{"status": "ok"}'),
        ],
    )
    entry = make_record(make_request(body=body))
    assert [(event, "event"), (transaction, "transaction")] == list(events_of(entry))
    assert [(event, "event")] == list(events_of(record.Record(entry), {"event"}))
    assert [] == list(
        events_of(make_record(make_request(body=make_envelope({}, [({"type": "session"}, {"status": "ok"})]))))
    )


def test_events_of_store_bodies() -> None:
    event = error(KEY_ERROR)
    raw = orjson.dumps(event)
    store = f"/api/{PROJECT}/store/"
    entries = [
        make_record(make_request(path=store, body=raw)),
        make_record(make_request(path=store, body=base64.b64encode(raw))),
        make_record(make_request(path=store, body=base64.b64encode(zlib.compress(raw)))),
        make_record(make_request(path=store, body=b"", query=f"{QUERY_AUTH}&sentry_data={raw.decode()}", method="GET")),
        make_record(
            make_request(
                path=store,
                body=make_envelope({}, [({"type": "event"}, event)]),
                headers=[("Content-Type", "application/x-sentry-envelope")],
            )
        ),
        make_record(make_request(path=store, body=b'{"bad": NaN, "exception": 1}')),
    ]
    assert [[(event, "event")]] * 5 == [list(events_of(entry)) for entry in entries[:5]]
    [(nan_event, kind)] = list(events_of(entries[5]))
    assert ("event", 1, True) == (kind, nan_event["exception"], nan_event["bad"] != nan_event["bad"])
    transaction = {"type": "transaction", "transaction": "GET /"}
    assert [(transaction, "transaction")] == list(
        events_of(make_record(make_request(path=store, body=orjson.dumps(transaction))))
    )


def test_events_of_skips_what_does_not_parse() -> None:
    store = f"/api/{PROJECT}/store/"
    complete = rec(error(KEY_ERROR))
    skipped = [
        make_record(make_request(body=b"not an envelope")),
        make_record(make_request(path=store, body=b"!!!not base64")),
        make_record(make_request(path=store, body=base64.b64encode(b"\x00not zlib"))),
        make_record(make_request(path=store, body=b"[1, 2]")),
        {**complete, "body_truncated": True},
        {**complete, "body_decoded": False},
        make_record(
            make_request(
                path=f"/api/{PROJECT}/security/",
                body=b'{"csp-report": {}}',
                headers=[("Content-Type", "application/csp-report")],
            )
        ),
    ]
    assert [[]] * len(skipped) == [list(events_of(entry)) for entry in skipped]
    assert [] == group_records(skipped)


# ---------------------------------------------------------------- comparing strategies


def test_compare_says_where_strategies_split_and_merge() -> None:
    # e1 and e2: the same place, different values; e3: the same value, another function
    events = [
        error(exc("KeyError", "a", frame("load"))),
        error(exc("KeyError", "b", frame("load"))),
        error(exc("KeyError", "a", frame("other"))),
    ]
    result = compare([rec(event, at=i) for i, event in enumerate(events)], ["sentry", "message", "type", "sentry"])
    load, other = short("type:KeyError", "frame:app.shop:load"), short("type:KeyError", "frame:app.shop:other")
    value_a, value_b, kind = short("message:a"), short("message:b"), short("type:KeyError")
    assert ("sentry", "message", "type") == result.strategies
    assert {"sentry": 2, "message": 2, "type": 1} == result.counts
    assert {name: [(g.short_id, g.count) for g in groups] for name, groups in result.groups.items()} == {
        "sentry": [(load, 2), (other, 1)],
        "message": [(value_a, 2), (value_b, 1)],
        "type": [(kind, 3)],
    }
    assert (
        PairComparison(
            "sentry",
            "message",
            (Flow(load, value_a, 1), Flow(load, value_b, 1), Flow(other, value_a, 1)),
            (load,),
            (value_a,),
        ),
        PairComparison("sentry", "type", (Flow(load, kind, 2), Flow(other, kind, 1)), (), (kind,)),
        PairComparison("message", "type", (Flow(value_a, kind, 2), Flow(value_b, kind, 1)), (), (kind,)),
    ) == result.pairs
    assert ((value_a, 1), (value_b, 1)) == result.pair("sentry", "message").targets(load)
    with pytest.raises(ValueError, match="two or more different strategies"):
        compare([], ["sentry", "sentry"])


# ---------------------------------------------------------------- transactions


def transaction(name: str, op: str | None, start: Any, end: Any) -> dict[str, Any]:
    contexts = {"trace": {"op": op}} if op else {}
    return {
        "type": "transaction",
        "transaction": name,
        "start_timestamp": start,
        "timestamp": end,
        "contexts": contexts,
    }


def test_transaction_percentiles() -> None:
    base = 1777629600.0
    durations = [40, 10, 100, 30, 20]  # ms; sorted 10 20 30 40 100
    records = [
        rec(transaction("GET /cart", "http.server", base, base + ms / 1000), at=i) for i, ms in enumerate(durations)
    ]
    records += [
        rec(transaction("GET /cart", "http.server", "2026-11-23T11:29:04.365529Z", None), at=10),  # no duration
        rec(transaction("GET /cart", "task", "2026-11-23T11:29:04.365529Z", "2026-11-23T11:29:04.395981Z"), at=11),
        rec(transaction("", None, base, base - 1), at=12),  # ends before it starts
        rec(error(KEY_ERROR), at=13),
    ]
    assert [
        grouping.TransactionGroup("GET /cart", "http.server", 6, 5, 30.0, 88.0, T0, T0 + timedelta(seconds=10)),
        grouping.TransactionGroup(
            "<unnamed transaction>", None, 1, 0, None, None, T0 + timedelta(seconds=12), T0 + timedelta(seconds=12)
        ),
        grouping.TransactionGroup(
            "GET /cart", "task", 1, 1, 30.452, 30.452, T0 + timedelta(seconds=11), T0 + timedelta(seconds=11)
        ),
    ] == group_transactions(records)


def test_past_the_group_limit_new_groups_share_one_other_group() -> None:
    """Memory stays bounded on input where every event is its own group: the first groups
    are kept apart, the events of later ones are counted together, and none is lost."""
    kinds = ["KeyError", "ValueError", "OSError", "TypeError", "KeyError", "IndexError"]
    records = [rec(error(exc(kind, "x", frame("checkout"))), at=n) for n, kind in enumerate(kinds)]
    groups = group_records(records, max_groups=3)

    # KeyError twice, then the others (TypeError, IndexError), then ValueError and OSError
    assert [2, 2, 1, 1] == [g.count for g in groups]
    other = groups[1]
    assert (grouping.OTHER_GROUPS, ("(other)",), "the events of further groups (over 3)") == (
        other.short_id,
        other.components,
        other.title,
    )
    assert sum(g.count for g in groups) == len(kinds)
    four = {g.short_id: g.count for g in group_records(records, max_groups=4)}
    assert (5, 1) == (len(four), four[grouping.OTHER_GROUPS])  # IndexError, the fifth kind
    assert grouping.OTHER_GROUPS not in {g.short_id for g in group_records(records, max_groups=5)}


def test_past_the_limit_new_transaction_names_share_one_other_row() -> None:
    base = 1777629600.0
    records = [rec(transaction(f"GET /{n % 5}", "http.server", base, base + 0.01), at=n) for n in range(10)]
    names = {g.name: g.count for g in group_transactions(records, max_groups=2)}
    assert {"GET /0": 2, "GET /1": 2, grouping.OTHER_GROUPS: 6} == names


def test_transaction_durations_are_kept_in_a_bounded_reservoir() -> None:
    base = 1777629600.0
    records = [rec(transaction("GET /", "http.server", base, base + ms / 1000), at=ms) for ms in range(1, 101)]
    [group] = group_transactions(records, reservoir=10)
    assert (100, 100) == (group.count, group.durations)
    assert group.p50_ms is not None and group.p95_ms is not None and 1 <= group.p50_ms <= group.p95_ms <= 100
    assert group_transactions(records, reservoir=10) == [group]  # deterministic
    [exact] = group_transactions(records)
    assert (50.5, 95.05) == (exact.p50_ms, exact.p95_ms)


@pytest.mark.parametrize(("size", "count"), [(10, 10), (100, 1_000), (1_000, 200_000)])
def test_a_sample_keeps_a_uniform_part_of_a_long_series(size: int, count: int) -> None:
    """Every value of the series is as likely to be kept: the kept ones spread evenly over it."""
    sample = Sample(size)
    for value in range(count):
        sample.add(value)
    kept = sorted(sample.values)
    assert (count, size) == (sample.seen, len(kept)) and len(set(kept)) == size
    if count == size:
        assert list(range(count)) == kept
        return
    # within four standard deviations of what a uniform sample gives (the seed is fixed)
    tenths = Counter(value * 10 // count for value in kept)
    assert all(abs(tenths[t] - size / 10) <= 4 * (size / 10 * 0.9) ** 0.5 for t in range(10)), tenths
    spread = count / 12**0.5 / size**0.5 * (1 - size / count) ** 0.5
    assert abs(sum(kept) / size - (count - 1) / 2) <= 4 * spread


@pytest.mark.parametrize(
    ("event", "expected"),
    [
        ({"start_timestamp": 1777629600.1, "timestamp": 1777629600.35}, 250.0),
        ({"start_timestamp": "2026-11-23T11:29:04Z", "timestamp": "2026-11-23T11:29:05.000001+00:00"}, 1000.001),
        ({"start_timestamp": "2026-11-23T11:29:04", "timestamp": "1795433345.5"}, 1500.0),
        ({"start_timestamp": True, "timestamp": 2}, None),
        ({"start_timestamp": "yesterday", "timestamp": 2}, None),
        ({"timestamp": 2}, None),
        # numbers in text: as floats, bounded as numbers are (these crashed: round(inf))
        ({"start_timestamp": "inf", "timestamp": "nan"}, None),
        ({"start_timestamp": "-1e300", "timestamp": 2}, None),
        ({"start_timestamp": "  1e-3", "timestamp": "2"}, 1999.0),
        ({"start_timestamp": "2026-13-01T00:00:00Z", "timestamp": 2}, None),
    ],
)
def test_duration_ms(event: dict[str, Any], expected: float | None) -> None:
    assert expected == duration_ms(event)


# ---------------------------------------------------------------- the committed sample (examples/python_shop.py)


@pytest.fixture(scope="module")
def sample() -> list[record.Record]:
    from sentry_mirror.io.snapshot import iter_records

    return list(iter_records([SAMPLE]))


SHOP_KEY_ERROR = ("type:KeyError", "frame:__main__:capture", "frame:__main__:load_basket")
SHOP_DECLINED = ("type:PaymentDeclined", "frame:__main__:capture", "frame:__main__:charge")
SHOP_SLOW = ("message:payment provider slow: <int> ms for order <int>",)
SHOP_ZERO = ("type:ZeroDivisionError", "frame:__main__:capture", "frame:__main__:average_price")
SHOP_CHAIN = (
    "type:KeyError",
    "frame:__main__:checkout",
    "frame:__main__:load_basket",
    "type:RuntimeError",
    "frame:__main__:capture",
    "frame:__main__:checkout",
)
SHOP_WEBHOOK = ("message:webhook <uuid> retried <int> times",)


#: What each record of the sample carries, in order (a guard: the expectations below rely on it).
SAMPLE_ITEMS = [["event"]] * 3 + [["transaction"]] + [["event"]] * 6 + [["check_in"], ["session"], ["log"]]


def test_sample_groups(sample: list[record.Record]) -> None:
    assert SAMPLE_ITEMS == [r.item_types for r in sample]
    groups = group_records(sample)
    assert [
        (SHOP_KEY_ERROR, 2, "error", "__main__ in load_basket"),  # KeyError 7 and 9, from the same line
        (SHOP_DECLINED, 2, "error", "__main__ in charge"),  # raised from two lines of charge()
        (SHOP_SLOW, 2, "warning", "POST /checkout"),  # 2300 ms for order 1001, 4100 ms for order 1002
        (SHOP_ZERO, 1, "error", "__main__ in average_price"),
        (SHOP_CHAIN, 1, "error", "__main__ in checkout"),  # RuntimeError raised from KeyError
        (SHOP_WEBHOOK, 1, "info", "POST /checkout"),
    ] == [(g.components, g.count, g.level, g.culprit) for g in groups]
    titles = [g.title for g in groups]
    assert [
        "KeyError: 7",
        "PaymentDeclined: card ending 0000 declined for 2500 cents",
        "payment provider slow: 2300 ms for order 1001",
        "ZeroDivisionError: float division by zero",
        "RuntimeError: checkout failed for basket 3",
    ] == titles[:5]
    assert re.fullmatch(r"webhook [0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12} retried 3 times", titles[5])
    positions = [(0, 4), (1, 2), (7, 8), (5,), (6,), (9,)]  # which records each group's events came from
    assert [
        (
            short(*group.components),
            tuple(sample[i].event_id for i in where),
            tuple(sample[i].id for i in where),
            sample[where[0]].received_at,
            sample[where[-1]].received_at,
        )
        for group, where in zip(groups, positions, strict=True)
    ] == [(g.short_id, g.event_ids, g.record_ids, g.first_seen, g.last_seen) for g in groups]
    assert {(1, ("sentry.python.aiohttp/2.75.0",), ("python",), ("shop@1.4.2",), ("example",))} == {
        (g.users, g.sdks, g.platforms, g.releases, g.environments) for g in groups
    }


def test_sample_strategies_compared(sample: list[record.Record]) -> None:
    result = compare(sample, ["sentry", "type", "message", "fingerprint"])
    assert {"sentry": 6, "type": 6, "message": 7, "fingerprint": 1} == result.counts
    declined = short(*SHOP_DECLINED)
    card, amount = (
        short("message:card ending <int> declined for <int> cents"),
        short("message:amount <int> over the limit"),
    )
    sentry_message = result.pair("sentry", "message")
    assert ((declined,), ()) == (sentry_message.splits, sentry_message.merges)
    assert ((card, 1), (amount, 1)) == sentry_message.targets(declined)
    assert ((), ()) == (result.pair("sentry", "type").splits, result.pair("sentry", "type").merges)
    assert [
        ("type:KeyError",),
        ("type:PaymentDeclined",),
        SHOP_SLOW,
        ("type:ZeroDivisionError",),
        ("type:KeyError", "type:RuntimeError"),
        SHOP_WEBHOOK,
    ] == [g.components for g in result.groups["type"]]
    assert [(NO_FINGERPRINT,), 9] == [result.groups["fingerprint"][0].components, result.groups["fingerprint"][0].count]
    assert (short(NO_FINGERPRINT),) == result.pair("sentry", "fingerprint").merges


def test_sample_transactions(sample: list[record.Record]) -> None:
    [item] = envelope.parse(sample[3].body).items
    payload = item.json()
    took = datetime.fromisoformat(payload["timestamp"]) - datetime.fromisoformat(payload["start_timestamp"])
    ms = took / timedelta(microseconds=1) / 1000
    assert [("POST /checkout", "http.server", 1, 1, ms, ms)] == [
        (t.name, t.op, t.count, t.durations, t.p50_ms, t.p95_ms) for t in group_transactions(sample)
    ]


def test_a_huge_message_normalises_in_linear_time() -> None:
    """A 2 MB message (one long word): guards against a pattern that rescans from every
    position, which made `group` hang for hours on one big message (not a speed claim)."""
    import time

    started = time.perf_counter()
    assert "a" * 2_000_000 == normalize_message("a" * 2_000_000)
    assert time.perf_counter() - started < 30


def test_a_user_field_that_is_not_a_scalar_does_not_break_grouping() -> None:
    """`user.email` nested 1000 deep (the listener accepts it): grouped, counted by `user.id`."""
    body = b'{"message":"hello","user":{"email":' + b"[" * 1000 + b'"x"' + b"]" * 1000 + b',"id":7}}'
    data = make_record(
        make_request(path="/api/1/store/", body=body, query="sentry_key=k"),
        received_at=datetime(2026, 11, 23, tzinfo=UTC),
    )
    [group] = group_records([data])
    assert (1, 1) == (group.count, group.users)


def _upload(path: str, *parts: tuple[str, str | None, bytes]) -> dict[str, Any]:
    body, content_type = make_multipart(*parts)
    return make_record(make_request(path=path, body=body, headers=[("Content-Type", content_type)]))


def test_the_event_of_a_minidump_upload_is_read_from_its_sentry_fields() -> None:
    record = _upload(
        "/api/1/minidump/",
        ("upload_file_minidump", "crash.dmp", b"MDMP" + b"\0" * 28),
        ("sentry", None, b'{"message": "native crash", "level": "fatal"}'),
        ("sentry[tags][os]", None, b"linux"),
    )
    events = list(grouping.events_of(record))
    assert [({"message": "native crash", "level": "fatal", "tags": {"os": "linux"}}, "event")] == events
    assert [] == list(grouping.events_of(record, {"transaction"}))
    (group,) = grouping.group_records([record])
    assert "native crash" == group.title


def test_an_upload_without_sentry_fields_carries_no_event() -> None:
    path = "/api/1/events/" + "a" * 32 + "/attachments/"
    assert [] == list(grouping.events_of(_upload(path, ("a", "a.txt", b"first"), ("sentry", "x.json", b"{}"))))
    assert [] == list(grouping.events_of(_upload("/api/1/minidump/", ("upload_file_minidump", "c.dmp", b"MDMP"))))
