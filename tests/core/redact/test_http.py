"""Headers, query strings, DSNs, the record's auth and envelope headers (core/redact/http.py)."""

from __future__ import annotations

import re

from sentry_mirror.core import pii
from sentry_mirror.core.auth import parse_sentry_header
from sentry_mirror.core.redact import Pseudonyms, forms, http

KEY = b"k" * 32
PUBLIC = "0123456789abcdef0123456789abcdef"


def names() -> Pseudonyms:
    return Pseudonyms(KEY)


def test_headers_lose_keys_cookies_tokens_and_addresses_and_keep_the_rest() -> None:
    pseudonyms = names()
    headers = [
        ("X-Sentry-Auth", f"Sentry sentry_key={PUBLIC}, sentry_version=7, sentry_client=sentry.python/2.0"),
        ("Cookie", "sessionid=abc123; theme=dark"),
        ("Set-Cookie", "sid=xyz; Path=/; HttpOnly"),
        ("Authorization", "Bearer abcdefghijklmnopqrstu"),
        ("X-Forwarded-For", "203.0.113.7, 198.51.100.2"),
        ("X-Real-IP", "203.0.113.7"),
        ("From", "jane@example.com"),
        ("Content-Type", "application/x-sentry-envelope"),
    ]
    out = dict(http.pairs(headers, pseudonyms, pii.Scanner(exhaustive=True), "headers"))
    auth = out["X-Sentry-Auth"]
    assert PUBLIC not in auth and "sentry_version=7, sentry_client=sentry.python/2.0" in auth
    assert re.fullmatch(r"[0-9a-f]{32}", re.search(r"sentry_key=(\w+)", auth).group(1))  # type: ignore[union-attr]
    assert re.fullmatch(r"sessionid=<cookie:\w{12}>; theme=<cookie:\w{12}>", out["Cookie"])
    assert re.fullmatch(r"sid=<cookie:\w{12}>; Path=/; HttpOnly", out["Set-Cookie"])
    assert "abcdefghijklmnopqrstu" not in out["Authorization"]
    assert "203.0.113.7" not in out["X-Forwarded-For"] and "198.51.100.2" not in out["X-Forwarded-For"]
    assert out["X-Real-IP"].startswith("198.1")
    assert out["From"].startswith("<email:")
    assert "application/x-sentry-envelope" == out["Content-Type"]
    left = {(f.path, f.kind) for f in pii.scan({"headers": [list(pair) for pair in out.items()]}, "headers")}
    # a cookie header is a cookie by its name (its values are pseudonyms, its names kept for
    # a replay), and X-Sentry-Auth a password by its name (its key is a pseudonym, the rest
    # is the SDK's name and protocol version)
    assert {
        ("headers.Cookie", "cookie"),
        ("headers.Set-Cookie", "cookie"),
        ("headers.X-Sentry-Auth", "password"),
    } >= left


def test_the_same_key_gets_the_same_pseudonym_in_every_place() -> None:
    pseudonyms = names()
    query = forms.query(f"sentry_key={PUBLIC}&sentry_version=7", pseudonyms, pii.Scanner(exhaustive=True))
    header = http.pairs(
        [("X-Sentry-Auth", f"Sentry sentry_key={PUBLIC}")], pseudonyms, pii.Scanner(exhaustive=True), "headers"
    )
    dsn = http.dsn(f"https://{PUBLIC}@o1.ingest.example/42", pseudonyms)
    token = pseudonyms.public_key(PUBLIC)
    assert f"sentry_key={token}&sentry_version=7" == query
    assert f"Sentry sentry_key={token}" == header[0][1]
    assert f"https://{token}@o1.ingest.example/42" == dsn
    assert token == parse_sentry_header(header[0][1]).public_key


def test_a_query_is_written_anew_only_when_something_in_it_changes() -> None:
    odd = "a=1&&b=%zz&c"
    assert odd == forms.query(odd, names(), pii.Scanner(exhaustive=True))
    out = forms.query("email=jane%40example.com&page=2", names(), pii.Scanner(exhaustive=True))
    assert out.startswith("email=%3Cemail%3A") and out.endswith("&page=2")


def test_a_dsn_secret_and_the_auth_record() -> None:
    pseudonyms = names()
    auth = http.auth(
        {"form": "x-sentry-auth", "public_key": PUBLIC, "dsn": f"https://{PUBLIC}:s3cret@h/1", "sentry_client": "x"},
        pseudonyms,
    )
    assert PUBLIC not in str(auth) and "s3cret" not in str(auth)
    assert "x" == auth["sentry_client"] and "x-sentry-auth" == auth["form"]
    assert http.auth(None, pseudonyms) is None


def test_envelope_header_trace_user_and_keys() -> None:
    header = {
        "event_id": "a" * 32,
        "dsn": f"https://{PUBLIC}@o1.ingest.example/42",
        "trace": {"public_key": PUBLIC, "user_id": "u-17", "user_segment": "vip", "trace_id": "b" * 32},
    }
    out = http.envelope_header(header, names())
    assert PUBLIC not in str(out) and "u-17" not in str(out) and "vip" not in str(out)
    assert "b" * 32 == out["trace"]["trace_id"] and "a" * 32 == out["event_id"]
    assert PUBLIC == header["trace"]["public_key"]  # the original is not changed
