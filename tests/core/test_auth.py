"""DSNs and the request-level auth forms, with Relay's statuses and wording."""

from __future__ import annotations

import base64

import hypothesis
import pytest
from hypothesis import strategies as st

from sentry_mirror.core.auth import Auth, AuthError, Dsn, header, header_index, masked, parse_dsn, request_auth
from sentry_mirror.errors import MirrorError
from tests.factories import KEY, OTHER_KEY


def basic(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    ("text", "expected", "envelope_url"),
    [
        pytest.param(
            f"https://{KEY}@o1.ingest.sentry.io/42",
            Dsn("https", KEY, "o1.ingest.sentry.io", "42"),
            "https://o1.ingest.sentry.io/api/42/envelope/",
            id="saas",
        ),
        pytest.param(
            f"https://{KEY}:secret@sentry.example.com/7",
            Dsn("https", KEY, "sentry.example.com", "7", secret="secret"),
            "https://sentry.example.com/api/7/envelope/",
            id="with-secret",
        ),
        pytest.param(
            "http://mirror@127.0.0.1:9000/1",
            Dsn("http", "mirror", "127.0.0.1", "1", port=9000),
            "http://127.0.0.1:9000/api/1/envelope/",
            id="with-port",
        ),
        pytest.param(
            f"https://{KEY}@example.com/sentry/sub/5",
            Dsn("https", KEY, "example.com", "5", path="/sentry/sub"),
            "https://example.com/sentry/sub/api/5/envelope/",
            id="with-path-prefix",
        ),
        pytest.param(
            "http://k@[::1]:9000/3",
            Dsn("http", "k", "[::1]", "3", port=9000),
            "http://[::1]:9000/api/3/envelope/",
            id="ipv6",
        ),
        pytest.param(
            f"  https://{KEY}@o1.ingest.sentry.io/42\n",
            Dsn("https", KEY, "o1.ingest.sentry.io", "42"),
            "https://o1.ingest.sentry.io/api/42/envelope/",
            id="surrounding-whitespace",
        ),
    ],
)
def test_parse_dsn(text: str, expected: Dsn, envelope_url: str) -> None:
    """A DSN parses to its parts and gives the envelope endpoint URL; str() writes it back."""
    dsn = parse_dsn(text)

    assert (expected, envelope_url, text.strip()) == (dsn, dsn.envelope_url, str(dsn))


@pytest.mark.parametrize(
    "text",
    [
        "",
        "not a dsn",
        "ftp://k@example.com/1",
        "https://example.com/1",
        "https://k@example.com/",
        "https://k@example.com",
        "https://k@:80/1",
        "https://k@example.com:notaport/1",
        "https://k@[::1/1",
    ],
)
def test_parse_dsn_invalid(text: str) -> None:
    """Anything without scheme, key, host and project id is a MirrorError that names the input
    (its key masked)."""
    with pytest.raises(MirrorError) as info:
        parse_dsn(text)

    assert str(info.value).startswith(f"invalid DSN {masked(text)!r}: ")
    assert "@" not in text or "k@" not in str(info.value)


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (f"https://{KEY}@example.com/", "'https://***@example.com/'"),
        (f"https://{KEY}:{OTHER_KEY}@example.com:notaport/1", "'https://***@example.com:notaport/1': the port is"),
        (f"https://{KEY}:{OTHER_KEY[:8]}/{OTHER_KEY[8:]}@example.com/1", None),  # a secret holding a slash
        (f"ftp://{KEY}:{OTHER_KEY}@example.com/1", "'ftp://***@example.com/1'"),
        (f"{KEY}@example.com/1", "'***@example.com/1'"),
        (f"https://{KEY}@[::1/1", "'https://***@[::1/1'"),
    ],
)
def test_an_invalid_dsn_is_named_without_its_key_or_secret(text: str, shown: str | None) -> None:
    with pytest.raises(MirrorError) as info:
        parse_dsn(text)
    message = str(info.value)
    assert KEY not in message and OTHER_KEY[:8] not in message and OTHER_KEY[8:] not in message, message
    assert shown is None or shown in message, message


@hypothesis.given(
    key=st.text("0123456789abcdef", min_size=8),
    rest=st.text(st.characters(codec="ascii", exclude_characters="@")),
    scheme=st.sampled_from(["https://", "http://", "ftp://", ""]),
)
def test_no_invalid_dsn_error_shows_what_comes_before_the_at(key: str, rest: str, scheme: str) -> None:
    hypothesis.assume(key not in rest and key not in scheme)
    text = f"{scheme}{key}@{rest}"
    try:
        parse_dsn(text)
    except MirrorError as exc:
        assert key not in str(exc), str(exc)
        assert repr(masked(text)) in str(exc)


@pytest.mark.parametrize(
    ("headers", "query", "path_key", "expected"),
    [
        pytest.param(
            [("X-Sentry-Auth", f"Sentry sentry_key={KEY}, sentry_version=7, sentry_client=sentry.python/2.19.0")],
            "",
            None,
            Auth("x-sentry-auth", KEY, sentry_version="7", sentry_client="sentry.python/2.19.0"),
            id="x-sentry-auth",
        ),
        pytest.param(
            [("x-sentry-auth", f"sentry sentry_key = {KEY} ,sentry_secret=s,sentry_timestamp=1,other=1")],
            "",
            None,
            Auth("x-sentry-auth", KEY),
            id="x-sentry-auth-lower-case-spaces-extras",
        ),
        pytest.param(
            [("Authorization", f"Sentry sentry_key={KEY}, sentry_version=7")],
            "",
            None,
            Auth("authorization", KEY, sentry_version="7"),
            id="authorization-sentry",
        ),
        pytest.param([("Authorization", basic(f"{KEY}:"))], "", None, Auth("basic", KEY), id="basic"),
        pytest.param([("Authorization", basic(f"{KEY}:secret"))], "", None, Auth("basic", KEY), id="basic-with-secret"),
        pytest.param(
            [],
            f"sentry_version=7&sentry_key={KEY}&sentry_client=sentry.javascript.browser%2F10.0.0",
            None,
            Auth("query", KEY, sentry_version="7", sentry_client="sentry.javascript.browser/10.0.0"),
            id="query",
        ),
        pytest.param([], "", KEY, Auth("path", KEY), id="path"),
        pytest.param(
            [], f"sentry_key={KEY}&sentry_version=7.0", None, Auth("query", KEY, sentry_version="7.0"), id="version-7.0"
        ),
        pytest.param(
            [], f"sentry_key={KEY}&sentry_version=6", None, Auth("query", KEY, sentry_version="6"), id="version-6"
        ),
        pytest.param([], "", None, None, id="none"),
        pytest.param([], "foo=1&bar=2", None, None, id="query-without-sentry"),
        pytest.param([("X-Sentry-Auth", "Bearer abc")], "", None, None, id="x-sentry-auth-not-sentry-ignored"),
        pytest.param([("Authorization", "Bearer abc")], "", None, None, id="authorization-bearer-ignored"),
        pytest.param([("Authorization", "Basic !!!")], "", None, None, id="basic-not-base64-ignored"),
        pytest.param([("Authorization", basic(KEY))], "", None, None, id="basic-without-colon-ignored"),
        pytest.param([("Authorization", basic(":secret"))], "", None, None, id="basic-empty-key-ignored"),
        pytest.param(
            [("Authorization", "Bearer abc")],
            f"sentry_key={KEY}",
            None,
            Auth("query", KEY),
            id="bearer-and-query",
        ),
    ],
)
def test_request_auth(headers: list[tuple[str, str]], query: str, path_key: str | None, expected: Auth | None) -> None:
    """Each auth form gives the key, version and client it carries; non-Sentry values count as none."""
    assert expected == request_auth(headers, query, path_key)
    assert expected == request_auth(header_index(headers), query, path_key)


@pytest.mark.parametrize(
    ("headers", "query", "path_key", "status", "message"),
    [
        pytest.param(
            [("X-Sentry-Auth", f"Sentry sentry_key={KEY}")],
            f"sentry_key={KEY}",
            None,
            401,
            "multiple authorization payloads detected",
            id="header-and-query-same-key",
        ),
        pytest.param(
            [("X-Sentry-Auth", f"Sentry sentry_key={KEY}"), ("Authorization", f"Sentry sentry_key={KEY}")],
            "",
            None,
            401,
            "multiple authorization payloads detected",
            id="x-sentry-auth-and-authorization",
        ),
        pytest.param(
            [("X-Sentry-Auth", f"Sentry sentry_key={KEY}"), ("Authorization", basic(f"{OTHER_KEY}:"))],
            "",
            None,
            401,
            "multiple authorization payloads detected",
            id="x-sentry-auth-and-basic",
        ),
        pytest.param(
            [], f"sentry_key={KEY}", KEY, 401, "multiple authorization payloads detected", id="query-and-path"
        ),
        pytest.param(
            [("X-Sentry-Auth", f"Sentry sentry_key={KEY}")],
            "sentry_key=broken&sentry_version=x",
            None,
            401,
            "multiple authorization payloads detected",
            id="second-source-not-parsed",
        ),
        pytest.param(
            [("X-Sentry-Auth", "Sentry sentry_version=7")],
            f"sentry_key={KEY}",
            None,
            401,
            "bad x-sentry-auth header",
            id="first-source-broken",
        ),
        pytest.param(
            [("X-Sentry-Auth", "Sentry sentry_version=7")], "", None, 401, "bad x-sentry-auth header", id="no-key"
        ),
        pytest.param(
            [("X-Sentry-Auth", "Sentry sentry_key=")], "", None, 401, "bad x-sentry-auth header", id="empty-key"
        ),
        pytest.param(
            [("X-Sentry-Auth", "Sentry ")], "", None, 401, "bad x-sentry-auth header", id="nothing-after-sentry"
        ),
        pytest.param(
            [("Authorization", f"Sentry sentry_key={KEY}, sentry_version=seven")],
            "",
            None,
            401,
            "bad x-sentry-auth header",
            id="version-not-a-number",
        ),
        pytest.param(
            [], f"sentry_key={KEY}&sentry_version=", None, 401, "bad x-sentry-auth header", id="version-empty"
        ),
        pytest.param(
            [], f"sentry_key={KEY}&sentry_version=99999", None, 401, "bad x-sentry-auth header", id="version-over-u16"
        ),
        pytest.param([], "sentry_version=7", None, 401, "bad x-sentry-auth header", id="query-without-key"),
        pytest.param(
            [], f"sentry_key={KEY}&sentry_version=8", None, 400, "unsupported protocol version (8)", id="version-8"
        ),
        pytest.param(
            [("X-Sentry-Auth", f"Sentry sentry_key={KEY}, sentry_version=10.2")],
            "",
            None,
            400,
            "unsupported protocol version (10)",
            id="version-10.2",
        ),
    ],
)
def test_request_auth_rejected(
    headers: list[tuple[str, str]], query: str, path_key: str | None, status: int, message: str
) -> None:
    """Malformed, doubled and too-new auth is refused with Relay's status and detail."""
    for given in (headers, header_index(headers)):
        with pytest.raises(AuthError) as info:
            request_auth(given, query, path_key)

        assert (status, message) == (info.value.status, str(info.value))


def test_header_lookup() -> None:
    """header() finds the first header of a name, ignoring case; None when absent; alike in
    the pairs and in their index."""
    headers = [("Content-Type", "a"), ("content-type", "b")]

    for given in (headers, header_index(headers)):
        assert ("a", None) == (header(given, "CONTENT-TYPE"), header(given, "origin"))


def test_auth_to_dict() -> None:
    """Auth.to_dict gives the record's auth object, every field present."""
    auth = Auth("query", KEY, sentry_version="7", sentry_client="x/1")

    expected = {"form": "query", "public_key": KEY, "sentry_version": "7", "sentry_client": "x/1", "dsn": None}
    assert expected == auth.to_dict()
