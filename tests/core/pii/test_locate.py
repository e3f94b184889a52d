"""Where personal data is: the exact place of each finding in a payload (``pii.locate``) and
the pieces of one string that are personal data (``pii.spans``), for ``export --redact``."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentry_mirror.core import pii
from sentry_mirror.core.pii.pseudonym import pseudonym
from tests.core.pii.test_pii import PIECES, TEXT

EVENT: dict[str, Any] = {
    "user": {"email": "jane@example.com", "ip_address": "203.0.113.7", "username": "jane"},
    "request": {
        "headers": [["Cookie", "sessionid=abc"], ["Accept", "*/*"], ["X-Forwarded-For", "203.0.113.9"]],
        "cookies": {"sessionid": "abc123"},
    },
    "extra": {"cards": ["none", "4242 4242 4242 4242"], "nested": [[{"password": "hunter2"}]]},
    "exception": {"values": [{"stacktrace": {"frames": [{"filename": "/home/jane/a.py"}]}}]},
}


def at(payload: Any, location: pii.Location) -> Any:
    for step in location:
        payload = payload[step]
    return payload


def test_each_finding_has_the_exact_place_of_its_value() -> None:
    found = {(location, f.path, f.kind) for location, f in pii.locate(EVENT)}
    assert {
        (("user", "email"), "user.email", "email"),
        (("user", "ip_address"), "user.ip_address", "ip"),
        (("request", "headers", 0, 1), "request.headers.Cookie", "cookie"),
        (("request", "headers", 2, 1), "request.headers.X-Forwarded-For", "ip"),
        (("request", "cookies", "sessionid"), "request.cookies.sessionid", "cookie"),
        (("request", "cookies", "sessionid"), "request.cookies.sessionid", "session_id"),
        (("extra", "cards", 1), "extra.cards[]", "credit_card"),
        (("extra", "nested", 0, 0, "password"), "extra.nested[][].password", "password"),
        (("exception", "values", 0, "stacktrace", "frames", 0, "filename"),
         "exception.values[].stacktrace.frames[].filename", "user_path"),
    } == found  # fmt: skip
    for location, finding in pii.locate(EVENT):
        assert isinstance(at(EVENT, location), str)
        assert finding.example != at(EVENT, location) or (finding.kind == "password" and "*" in finding.example)


def test_locate_finds_what_scan_finds_in_the_same_order() -> None:
    scanner = pii.Scanner()
    assert list(pii.scan(EVENT, "event")) == [f for _, f in pii.locate(EVENT, "event", scanner)]
    assert list(pii.scan(EVENT, "event")) == [f for _, f in pii.locate(EVENT, "event", scanner)]  # remembered


def test_spans_are_every_piece_of_personal_data_in_a_string() -> None:
    text = "mail jane@example.com, bob@example.org from 203.0.113.7 (127.0.0.1) in /home/jane/x; 4242-4242-4242-4242"
    found = [(text[start:end], kind) for start, end, kind in pii.spans(text)]
    assert [
        ("jane@example.com", "email"),
        ("bob@example.org", "email"),
        ("203.0.113.7", "ip"),
        ("jane", "user_path"),  # the user's name: the path keeps its shape
        ("4242-4242-4242-4242", "credit_card"),
    ] == found
    assert [] == pii.spans("plain words") == pii.spans("dc24501af6254997901073296b52289a")
    assert [(0, 9, "ip")] == pii.spans("192.0.2.1")


def test_spans_beyond_the_scanned_prefix_and_without_overlaps() -> None:
    text = "x" * (pii.MAX_SCAN + 10) + " jane@example.com"
    assert [(pii.MAX_SCAN + 11, len(text), "email")] == pii.spans(text)
    text = "postgres://app:hunter2@db.example.com/x /Users/jane@example.com/y"
    # the user's name is also an address: one span, the longer at one start (then the first kind met)
    assert [("postgres://app:hunter2@", "url_credentials"), ("jane@example.com", "email")] == [
        (text[start:end], kind) for start, end, kind in pii.spans(text)
    ]


def test_pseudonyms_are_no_ones_data() -> None:
    key = b"k" * 32
    ip, email = pseudonym(key, "ip", "203.0.113.7"), pseudonym(key, "email", "jane@example.com")
    user = pseudonym(key, "user_path", "jane")
    assert [] == pii.spans(f"from {ip} by {email} in /home/{user}/x")
    assert [] == list(pii.scan({"user": {"ip_address": ip, "email": email}, "extra": {"password": email}}))
    assert [(5, 16, "ip")] == pii.spans(f"from 203.0.113.7 and {ip}")
    assert [(len(ip) + 10, len(ip) + 21, "ip")] == pii.spans(f"from {ip} and 203.0.113.7")


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(TEXT, PIECES), max_size=4))
def test_pseudonyms_put_in_place_of_the_spans_are_not_found(parts: list[str]) -> None:
    """What a redactor does with spans: the pseudonyms put in their place are never found.
    (Something else may be: a pseudonym glued to digits can complete a card number, ``1-1::``
    to ``1-2001:2::…``, or end a run of digits that hid one; a redactor checks its result.)"""
    text = "".join(parts)
    out, last = [], 0
    for start, end, kind in pii.spans(text):
        out += [text[last:start], pseudonym(b"k" * 32, kind, text[start:end])]
        last = end
    redacted = "".join([*out, text[last:]])
    tokens = [out[n] for n in range(1, len(out), 2)]
    assert not [redacted[start:end] for start, end, _ in pii.spans(redacted) if redacted[start:end] in tokens]


def _nested(depth: int, inner: Any) -> Any:
    for index in range(depth):
        inner = {"a": inner} if index % 2 else [inner]
    return inner


def test_the_report_walk_stops_at_max_depth_and_the_exhaustive_one_goes_everywhere() -> None:
    planted = {"password": "hunter2pass", "mail": "jane.doe@example.com"}
    for depth in (pii.MAX_DEPTH + 8, 5_000):
        payload = {"extra": _nested(depth, planted)}
        assert list(pii.locate(payload)) == []  # the report's bound
        found = {(location, f.kind) for location, f in pii.locate(payload, exhaustive=True)}
        assert {kind for _, kind in found} == {"password", "email"}
        for location, _ in found:
            assert at(payload, location) in planted.values()
        paths = {f.path for _, f in pii.locate(payload, scanner=pii.Scanner(exhaustive=True))}
        assert all(len(path) < 200 and pii.DEEP in path for path in paths)  # past MAX_DEPTH: short paths
        assert {path.rsplit(".", 1)[-1] for path in paths} == {"password", "mail"}


def test_the_exhaustive_walk_searches_every_string_whole() -> None:
    text = "x" * (pii.MAX_SCAN + 900) + " contact jane.doe@example.com from 203.0.113.77"
    assert list(pii.locate({"message": text})) == []
    kinds = {f.kind for _, f in pii.locate({"message": text}, exhaustive=True)}
    assert kinds == {"email", "ip"}
    assert [kind for _, _, kind in pii.spans(text)] == ["email", "ip"]  # spans read the whole string


def test_an_exhaustive_walk_asks_for_an_exhaustive_scanner() -> None:
    with pytest.raises(ValueError, match="exhaustive"):
        list(pii.locate({}, scanner=pii.Scanner(), exhaustive=True))


def test_an_exhaustive_walk_reads_the_sdk_and_modules_as_software() -> None:
    """The report skips ``sdk`` and ``modules``; a redactor cannot: there, an e-mail is still
    one, while versions (``1.2.3.4``) and build numbers are no IP address or card."""
    payload = {
        "sdk": {"name": "sdk-jane.doe@example.com", "version": "1.2.3.4", "packages": [{"name": "x", "v": "1.2.3.4"}]},
        "modules": {"jane.doe@example.com-lib": "1.0.0.0", "build": "4111 1111 1111 1111"},
    }
    assert list(pii.locate(payload)) == []
    found = [(location, f.kind) for location, f in pii.locate(payload, exhaustive=True)]
    assert found == [(("sdk", "name"), "email")]


_KEY_BODY = (
    "MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\nKUpRKfFLfRYC9AIKjbJTWit+CqvjWYzvQwECAwEAAQ"
)


@pytest.mark.parametrize(
    "text",
    [
        f"loaded -----BEGIN RSA PRIVATE KEY-----\n{_KEY_BODY}\n-----END RSA PRIVATE KEY----- ok",
        f"-----BEGIN PRIVATE KEY-----\\n{_KEY_BODY}",  # no END (a cut log line), newlines escaped
    ],
)
def test_a_pem_keys_span_is_the_whole_block(text: str) -> None:
    """The key's body is the secret: its span runs from BEGIN to END (or to the text's end)."""
    [(start, end, kind)] = pii.spans(text)
    assert kind == "pem_key" and text[start:].startswith("-----BEGIN")
    assert _KEY_BODY[20:40] in text[start:end] and text[end:] in (" ok", "")
    [(location, finding)] = pii.locate({"extra": {"cfg": text}})
    assert (location, finding.kind) == (("extra", "cfg"), "pem_key")
