"""The built-in personal-data detector and Sentry's default scrubbing rules."""

from __future__ import annotations

import pytest
import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from sentry_mirror.core import patterns, pii
from sentry_mirror.core.pii import detect
from sentry_mirror.core.pii.pseudonym import is_pseudonym
from tests.helpers import require_relay


def kinds(payload: object, item_type: str = "event") -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for finding in pii.scan(payload, item_type):
        found.setdefault(finding.path, set()).add(finding.kind)
    return found


def test_luhn_and_iban_checksums() -> None:
    assert pii.luhn("4242424242424242") and not pii.luhn("4242424242424241")
    assert pii.iban_valid("GB82 WEST 1234 5698 7654 32") and pii.iban_valid("DE89370400440532013000")
    assert not pii.iban_valid("GB82WEST12345698765433") and not pii.iban_valid("XX00")


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("mail jane.doe+x@example.co.uk now", "email"),
        ("/reset?email=jane.doe%40example.com&ref=mail", "email"),
        ("from 203.0.113.7 via proxy", "ip"),
        ("client 2001:db8::8a2e:370:7334", "ip"),
        ("card 4242 4242 4242 4242 declined", "credit_card"),
        ("card 4242-4242-4242-4242", "credit_card"),
        ("pay to DE89 3704 0044 0532 0130 00", "iban"),
        ("Authorization: Bearer abcdefghijklmnop123", "auth_token"),
        ("eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl", "auth_token"),
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIE...", "pem_key"),
        ("postgres://app:hunter2@db.internal:5432/shop", "url_credentials"),
        ("/home/jane/app/main.py", "user_path"),
        ("C:\\Users\\jane\\app\\main.py", "user_path"),
        ("/Users/jane/src/app.js", "user_path"),
    ],
)
def test_value_kinds(text: str, kind: str) -> None:
    assert kind in {k for k, _ in pii.value_kinds(text)}


@pytest.mark.parametrize(
    "text",
    [
        "4242424242424241",  # fails Luhn
        "dc24501af6254997901073296b52289a",  # a hex id with a Luhn-valid digit run
        "Mozilla/5.0 Chrome/120.0.0.0 Safari/537.36",  # a version, not an address
        "127.0.0.1:9001",  # loopback is nobody's personal data
        "10:00:01",
        "GB82WEST12345698765433",  # bad IBAN check digits
        "/home/runner/work/app.py",  # a CI runner, not a person
        "/home/node/app/dist/index.js",  # the node image's user
        "plain words only",
        "sentry-release=shop%401.4.2",  # a version after an encoded "@"
        "token validation failed, bearer expired",  # words after the schemes' names, not credentials
    ],
)
def test_no_false_positives(text: str) -> None:
    assert [] == list(pii.value_kinds(text))


def test_url_credentials_are_not_also_an_email() -> None:
    """The "@" ending ``scheme://user:password@host`` is not an e-mail address's; an address
    elsewhere in the same value still is one."""
    assert [("url_credentials", "https://admin:pw@")] == list(pii.value_kinds("https://admin:pw@host.example.com/x"))
    assert [("url_credentials", "postgres://app:hunter2@"), ("email", "bob@example.org")] == list(
        pii.value_kinds("postgres://app:hunter2@db.example.com/shop, ask bob@example.org")
    )
    assert {"extra.dsn": {"url_credentials"}} == kinds({"extra": {"dsn": "https://admin:pw@host.example.com"}})


def test_keys_paths_and_pairs() -> None:
    event = {
        "user": {"email": "jane@example.com", "ip_address": "203.0.113.7"},
        "request": {
            "headers": [["Cookie", "sessionid=abc"], ["Authorization", "Basic dXNlcjpwYXNzd29yZA=="]],
            "cookies": {"sessionid": "abc123", "theme": "dark"},
            "data": {"password": "hunter2", "api_key": "k-123"},
        },
        "exception": {
            "values": [
                {"stacktrace": {"frames": [{"filename": "/home/jane/a.py", "vars": {"card": "4242424242424242"}}]}}
            ]
        },
        "contexts": {"runtime": {"version": "11.0.0.1"}},
    }
    assert {
        "user.email": {"email"},
        "user.ip_address": {"ip"},
        "request.headers.Cookie": {"cookie"},
        "request.headers.Authorization": {"auth_token"},
        "request.cookies.sessionid": {"cookie", "session_id"},
        "request.cookies.theme": {"cookie"},
        "request.data.password": {"password"},
        "request.data.api_key": {"password"},
        "exception.values[].stacktrace.frames[].filename": {"user_path"},
        "exception.values[].stacktrace.frames[].vars.card": {"credit_card"},
    } == kinds(event)


def test_masks_never_show_the_data() -> None:
    assert "j***@***.com" == pii.mask("email", "jane@example.com")
    assert "************4242" == pii.mask("credit_card", "4242 4242 4242 4242")
    assert "203.x.x.x" == pii.mask("ip", "203.0.113.7")
    assert "/home/<user>" == pii.mask("user_path", "/home/jane/app.py")
    assert "postgres://***:***@db/x" == pii.mask("url_credentials", "postgres://app:hunter2@db/x")
    assert "Bearer ***" == pii.mask("auth_token", "Bearer abcdefghijk")
    assert "*** (6 chars)" == pii.mask("password", "secret")
    assert "b***@***.org" == pii.mask("email", "bob%40example.org")


def test_sentry_default_scrubbing() -> None:
    rule = pii.sentry_default_rule
    # @password: keys (and values) in fields the schema marks as personal
    assert "@password:filter" == rule("request.data.password", "password", "data", "hunter2")
    assert "@password:filter" == rule("extra.auth", "auth", "extra", "x")
    assert "@creditcard:filter" == rule("extra.card", "card", "extra", "4242424242424242")
    assert "@iban:filter" == rule("user.data.iban", "iban", "data", "DE89370400440532013000")
    assert "@pemkey:filter" == rule("extra.key", "key", "extra", "-----BEGIN PRIVATE KEY-----\nAAA")
    assert "@urlauth:legacy" == rule("extra.dsn", "dsn", "extra", "postgres://a:b@host/db")
    assert None is rule("extra.cwd", "cwd", "extra", "/home/jane/app")  # the reference says so, Relay does not
    assert None is rule("contexts.os.x", "x", "os", "4242424242424242")
    assert "@cookies:filter" == rule("request.cookies.sessionid", "sessionid", "cookies", "abc")
    assert "@password:filter" == rule("exception.values[].stacktrace.frames[].vars.token", "token", "vars", "abc")
    # emails and IPs are kept by default (e-mails replaced only in log messages)
    assert None is rule("user.email", "email", "user", "jane@example.com")
    assert None is rule("user.ip_address", "ip_address", "user", "203.0.113.7")
    assert "@email:replace" == rule("logentry.formatted", "formatted", "logentry", "mail jane@example.com")
    assert "@email:replace" == rule("items[].body", "body", "items", "mail jane@example.com", "log")
    # exclusions and fields the schema does not mark as personal
    assert None is rule("exception.values[].value", "value", "values", "card 4242424242424242")
    assert None is rule("exception.values[].stacktrace.frames[].abs_path", "abs_path", "frames", "/home/jane/a.py")
    assert None is rule("debug_meta.images[].code_file", "code_file", "images", "/home/jane/lib.so")
    assert None is rule("tags.card", "card", "tags", "4242424242424242")


def test_scan_reports_rule_per_finding() -> None:
    findings = list(pii.scan({"extra": {"card": "4242424242424242"}, "user": {"email": "a@b.io"}}))
    assert {("extra.card", "credit_card", "@creditcard:filter"), ("user.email", "email", None)} == {
        (f.path, f.kind, f.scrubbed_by) for f in findings
    }


# ---------------------------------------------------------------- both engines on the same events

EVENTS = [
    {
        "user": {"email": "jane@example.com", "ip_address": "203.0.113.7", "data": {"card": "4242424242424242"}},
        "request": {
            "cookies": {"sessionid": "abc", "theme": "dark"},
            "headers": {"Authorization": "Bearer abcdefghijkl"},
        },
        "extra": {
            "password": "hunter2",
            "card": "4242 4242 4242 4242",
            "iban": "DE89370400440532013000",
            "pem": "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----",
            "dsn": "postgres://app:hunter2@db/shop",
            "cwd": "/home/jane/app",
        },
        "logentry": {"formatted": "mail jane@example.com"},
        "tags": {"card": "4242424242424242"},
        "contexts": {"os": {"name": "4242424242424242"}},
        "exception": {
            "values": [
                {
                    "type": "E",
                    "value": "card 4242424242424242",
                    "stacktrace": {
                        "frames": [
                            {
                                "function": "f",
                                "abs_path": "/home/jane/a.py",
                                "vars": {"token": "abc", "args": [1, "4242424242424242"]},
                            }
                        ]
                    },
                }
            ]
        },
    },
]


@pytest.mark.parametrize("event", EVENTS)
def test_builtin_rules_agree_with_sentry_relay(event: dict[str, object]) -> None:
    """Where the built-in detector finds personal data, it predicts exactly what Sentry's own
    scrubber (sentry-relay, when installed) removes; where it does not, Relay removes nothing
    more than what the findings cover."""
    require_relay()
    relay = pii.relay_rules(event)  # type: ignore[arg-type]
    builtin = {f.path: f.scrubbed_by for f in pii.scan(event)}
    disagreements = {
        path: (rule, relay.get(path)) for path, rule in builtin.items() if (rule is None) != (relay.get(path) is None)
    }
    assert {} == disagreements
    assert {
        "request.headers.Authorization": "@bearer:filter",
        "request.cookies.sessionid": "@anything:filter",
    }.items() <= relay.items()
    assert set(relay) <= set(builtin)


def test_numbers() -> None:
    """Timestamps and counts are not cards, even when they pass Luhn; a JSON number is a card
    only under a card's key (design 19: a card-shaped number elsewhere, once flagged, is an id)."""
    assert {} == kinds({"timestamp": 1763894400123, "start": 1763894400123456, "n": 4242424242424242.0})
    assert {} == kinds({"extra": {"n": 4242424242424242}})
    assert {"extra.card_number": {"credit_card"}} == kinds({"extra": {"card_number": 4242424242424242}})
    assert {"extra.cc": {"credit_card"}} == kinds({"extra": {"cc": 4242424242424242}})


# ---------------------------------------------------------------- remembering does not change answers

import re  # noqa: E402

from hypothesis import example, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


def plain_value_kinds(text: str) -> list[tuple[str, str]]:
    """value_kinds without its shortcuts: every pattern searched on every text (the oracle)."""
    text = text[: pii.MAX_SCAN]
    found: list[tuple[str, str]] = []
    credentials = list(patterns.URL_AUTH.finditer(text))
    if credentials:
        found.append(("url_credentials", credentials[0].group()))
    taken = {m.end() - 1 for m in credentials}
    addresses = [m.group() for m in patterns.EMAIL.finditer(text) if m.start() + m.group().index("@") not in taken]
    found += [("email", address) for address in addresses + [m.group() for m in patterns.EMAIL_ENCODED.finditer(text)]][
        :1
    ]
    ipv4 = [m.group() for m in patterns.IPV4.finditer(text)] if not detect._RELEASE.fullmatch(text) else []
    if ipv4:
        found += [("ip", ip) for ip in ipv4 if not ip.startswith(detect._NOT_PERSONAL_IPS)][:1]
    else:
        found += [("ip", m.group()) for m in patterns.IPV6.finditer(text) if detect._is_ipv6(m.group())][:1]
    found += [("credit_card", card.group()) for card in detect.cards(text) if detect.issued(card.group())][:1]
    found += [("ssn", m.group()) for m in patterns.US_SSN.finditer(text)][:1]
    found += [("iban", m.group()) for m in patterns.IBAN.finditer(text) if pii.iban_valid(m.group())][:1]
    tokens = [m for m in patterns.BEARER.finditer(text) if detect.secret(m.group())]
    token = tokens[0] if tokens else patterns.JWT.search(text)
    if token:
        found.append(("auth_token", token.group()))
    if patterns.PEM.search(text):
        found.append(("pem_key", patterns.PEM.search(text).group()))  # type: ignore[union-attr]
    homes = [m.group() for m in patterns.USER_PATH.finditer(text) if detect.personal_user(m)]
    found += [("user_path", home) for home in homes][:1]
    return found


#: Characters the detectors look for, so random texts hit them (and their near misses) often.
TEXT = st.text(alphabet="0123456789 .:-@/\\abcdefxyzABDEFGKRTUXYZ=+eyJ_ıſ\nBEGIN", max_size=60)
PIECE_LIST = [
    "4242 4242 4242 4242", "203.0.113.7", "2001:db8::1", "::1", "1:2:3:4:5:6:7:8", "DE89370400440532013000",
    "Bearer abcdefghijk", "BEARER  x.y.z_abcdef", "baſic dXNlcjpwYXNz", "basıc dXNlcjpwYXNz", "token=abcdefghij",
    "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl", "-----BEGIN PRIVATE KEY-----", "https://admin:pw@host.example.com",
    "jane@example.com", "jane%40example.com", "dc24501af625499790107329b6c52289", "2026-11-23T11:46:17.783201Z", "2026-11-23T11:46:17.123456789+05:00",
    "2026-11-23T11:46:17.4222222222222+05:00", "tokenabcdefghij", "4242424242424242", "/home/jane/x", "C:\\Users\\bob\\x", "123-45-6789", "10:00:01",
]  # fmt: skip
PIECES = st.sampled_from(PIECE_LIST)


@pytest.mark.parametrize("piece", PIECE_LIST)
def test_value_kinds_shortcuts_on_each_piece(piece: str) -> None:
    for text in (piece, f"x {piece}.", piece.upper(), piece.lower()):
        assert plain_value_kinds(text) == list(pii.value_kinds(text))


@settings(max_examples=400, deadline=None)
@given(st.lists(st.one_of(TEXT, PIECES), max_size=4))
@example(["::A"])  # an IPv6 address without a digit (the shortcut once wanted one)
@example(["0", "@", "0.0.0.1"])  # a whole name@1.2.3.4 is a release, not an address
def test_value_kinds_shortcuts_find_what_every_search_finds(parts: list[str]) -> None:
    text = "".join(parts)
    assert plain_value_kinds(text) == list(pii.value_kinds(text))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(TEXT, PIECES), max_size=4), st.sampled_from([
    ("extra.x", "x", "extra", "event"), ("request.cookies.sessionid", "sessionid", "cookies", "event"),
    ("extra.password", "password", "extra", "event"), ("logentry.formatted", "formatted", "logentry", "event"),
    ("items[].body", "body", "items", "log"), ("tags.card", "card", "tags", "event"),
]))  # fmt: skip
def test_default_rule_shortcuts(parts: list[str], where: tuple[str, str, str, str]) -> None:
    """sentry_default_rule as the reference describes it, each rule tried in turn."""
    text = "".join(parts)
    path, key, parent, item_type = where
    expected: str | None = None
    if path in ("logentry.formatted", "items[].body"):
        rules = [
            ("@email:replace", patterns.EMAIL),
            ("@bearer:replace", patterns.BEARER),
            ("@usssn:replace", patterns.SSN),
        ]
        expected = next((rule for rule, pattern in rules if pattern.search(text)), None)
        if expected is None and patterns.RELAY_CARD.search(text):
            expected = "@creditcard:replace"
    elif path.startswith(("user.", "request.", "extra")):
        if parent == "cookies" and key in pii.SENSITIVE_COOKIES:
            expected = "@cookies:filter"
        elif detect.PASSWORD_KEY.search(key) or detect.PASSWORD_KEY.search(text) or re.search(r"(?i)\bbearer\s", text):
            expected = "@password:filter"
        elif patterns.RELAY_CARD.search(text):
            expected = "@creditcard:filter"
        elif any(pii.iban_valid(m.group()) for m in patterns.IBAN.finditer(text)):
            expected = "@iban:filter"
        elif patterns.PEM.search(text):
            expected = "@pemkey:filter"
        elif patterns.URL_AUTH.search(text):
            expected = "@urlauth:legacy"
        elif patterns.SSN.search(text):
            expected = "@usssn:filter"
    assert expected == pii.sentry_default_rule(path, key, parent, text, item_type)


def test_a_scanner_carried_across_payloads_gives_the_same_findings(monkeypatch: pytest.MonkeyPatch) -> None:
    """Paths and values remembered (even with every bound hit) never change what is found."""
    payloads = [
        {
            "user": {"email": f"u{n % 3}@example.com", "ip_address": "203.0.113.7"},
            "extra": {"card": "4242 4242 4242 4242", "n": n, f"k{n}": "Bearer abcdefghijkl"},
            "request": {"headers": [["Cookie", "sessionid=abc"], ["X-Id", str(n)]]},
        }
        for n in range(40)
    ]

    def findings(scanner: pii.Scanner | None) -> list[list[pii.Finding]]:
        return [list(pii.scan(payload, "event", scanner)) for payload in payloads]

    fresh = findings(None)
    assert fresh == findings(pii.Scanner())
    monkeypatch.setattr("sentry_mirror.core.pii.scanner.MAX_SITES", 5)
    monkeypatch.setattr("sentry_mirror.core.pii.scanner.CACHE_SIZE", 3)
    monkeypatch.setattr("sentry_mirror.core.pii.scanner._CACHE_TRIAL", 2)
    scanner = pii.Scanner()
    assert fresh == findings(scanner)
    assert scanner.sites == 5 and scanner.cached <= 3


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(TEXT, PIECES), max_size=3), st.sampled_from([
    ("event", ["user", "email"]), ("event", ["extra", "password"]), ("event", ["request", "cookies", "sid"]),
    ("event", ["contexts", "trace", "trace_id"]), ("event", ["event_id"]), ("log", ["items"]),
    ("event", ["contexts", "runtime", "version"]), ("event", ["logentry", "formatted"]),
]))  # fmt: skip
@example(["198.18.0.0"], ("event", ["user", "email"]))  # a pseudonym's address
@example(["<password:0123456789ab>"], ("event", ["extra", "password"]))
def test_a_site_finds_what_the_rules_say(parts: list[str], where: tuple[str, list[str]]) -> None:
    """Site.findings (path decisions made once, values remembered) against the functions it
    stands for: key_kinds, value_kinds (IPs and cards not under a version key, no bare card
    or IBAN under an id's key) and sentry_default_rule."""
    text = "".join(parts)
    item_type, keys = where
    site = pii.Scanner().root(item_type)
    for key in keys:
        site = site.child(key)  # type: ignore[assignment]
    if keys == ["items"]:
        site = site.element().child("body")  # type: ignore[assignment]
    rule = pii.sentry_default_rule(site.path, site.key, site.parent, text, item_type)
    expected: dict[str, tuple[str, str, str | None]] = {}
    if text and not is_pseudonym(text):  # a pseudonym (export --redact) is no one's data, whatever its key
        for kind in pii.key_kinds(site.key, site.parent, text):
            expected[kind] = (kind, pii.mask(kind, text), rule)
        for kind, found in pii.value_kinds(text, is_pseudonym):
            bare = found == text and text.isalnum()
            if kind in ("credit_card", "iban") and site.key in ("trace_id", "event_id", "sid") and bare:
                continue  # an id's bare digits are not a card
            if kind not in expected and not (kind in ("ip", "credit_card") and site.key == "version"):
                expected[kind] = (kind, pii.mask(kind, found), rule)
    assert tuple(expected.values()) == site.findings(text) == site.findings(text)


# ---------------------------------------------------------------- what is not personal data


def test_ids_times_and_counts_are_not_cards() -> None:
    """Luhn-valid digits in a profile's thread ids, a span's ``thread.id``, addresses, hashes
    and times are not card numbers (as seen in real sentry-python captures)."""
    luhn_valid = "140702602303168"  # a thread id from a real profile, passing Luhn
    assert pii.luhn(luhn_valid)
    profile = {
        "profile": {"samples": [{"thread_id": luhn_valid, "elapsed_since_start_ns": "4242424242424242"}]},
        "transaction": {"active_thread_id": "4242424242424242"},
        "frames": [{"instruction_addr": "4242424242424242"}],
    }
    event = {
        "contexts": {"trace": {"data": {"thread.id": "4242424242424242"}}},
        "spans": [{"data": {"thread.id": "4242424242424242", "db.rows_count": "4242424242424242"}}],
        "extra": {"sha1": "4242424242424242", "request_hash": "4242424242424242", "created_at": "4242424242424242"},
        "user": {"id": "4242424242424242"},
    }
    assert {} == kinds(profile, "profile") == kinds(event)
    # a card's key wins over an id's, and text is still read
    assert {"extra.card_id": {"credit_card"}, "extra.note": {"credit_card"}} == kinds(
        {"extra": {"card_id": "4242424242424242", "note": "thread 4242 4242 4242 4242"}}
    )


def test_only_card_issuers_digits_are_cards() -> None:
    """A card number starts with 2 to 6 (ISO/IEC 7812): timestamps and thread ids in free
    text start with a 1."""
    assert pii.luhn("1764761234566") and pii.luhn("140702602303168")
    assert [] == list(pii.value_kinds("thread 140702602303168 at 1764761234566"))
    assert [("credit_card", "5555555555554444")] == list(pii.value_kinds("mc 5555555555554444"))


def test_pseudonyms_are_never_personal_data() -> None:
    """A value export --redact wrote (a token, an address of the pseudonym ranges) is no one's,
    whatever key it sits under; real data beside one in a string still is."""
    event = {
        "user": {"email": "<email:5f2c09a1b3de>", "ip_address": "198.18.7.9"},
        "request": {"cookies": {"sessionid": "<session_id:0123456789ab>"}},
        "extra": {"password": "<password:0123456789ab>", "note": "from 198.19.0.1 and 203.0.113.7"},
    }
    assert {"extra.note": {"ip"}} == kinds(event)


def test_placeholders_sdks_write_are_not_personal_data() -> None:
    """What the SDKs send in place of a value they filtered holds nothing, whatever its key."""
    event = {
        "request": {"headers": {"Cookie": "[Filtered]", "Authorization": "[Filtered]"}},
        "exception": {"values": [{"stacktrace": {"frames": [{"vars": {"password": "[Filtered]", "token": "****"}}]}}]},
        "extra": {"environ": {"HTTP_COOKIE": "sessionid=abc123; theme=dark"}},
    }
    assert {"extra.environ.HTTP_COOKIE": {"cookie"}} == kinds(event)


def test_versions_are_not_ip_addresses() -> None:
    """A four-part version (.NET's 1.0.0.0) under a release, dist or version key, or in a
    ``package@version`` release, is no IP address; an address elsewhere still is."""
    event = {
        "release": "app@1.2.3.4",
        "dist": "1.0.0.0",
        "contexts": {"trace": {"release": "my.app@v10.2.3.4+build.5"}, "runtime": {"build_version": "4.0.30319.42"}},
        "extra": {"tag": "billing@2.0.0.1", "ip": "203.0.113.7", "log": "ssh deploy@203.0.113.7 failed"},
        "sdk": {"name": "sentry.dotnet", "version": "4.1.2.0"},
    }
    log = {"items": [{"attributes": {"sentry.release": {"value": "app@1.2.3.4", "type": "string"}}}]}
    assert {"extra.ip": {"ip"}, "extra.log": {"ip"}} == kinds(event)
    assert {} == kinds(log, "log")
    assert [] == pii.spans("app@1.2.3.4") and [(11, 22, "ip")] == pii.spans("ssh deploy@203.0.113.7")


def _real_sdk_payloads(release: str, dist: str) -> list[tuple[dict[str, object], str]]:
    """What the real sentry-python sends for a message and a transaction with ``release``."""
    sent: list[Envelope] = []

    class Keep(Transport):
        def capture_envelope(self, envelope: Envelope) -> None:
            sent.append(envelope)

    sentry_sdk.init(dsn="https://public@127.0.0.1:9/1", release=release, dist=dist, transport=Keep,
                    traces_sample_rate=1.0)  # fmt: skip
    try:
        sentry_sdk.capture_message("checkout failed")
        with sentry_sdk.start_transaction(name="checkout"):
            pass
        sentry_sdk.flush()
    finally:
        sentry_sdk.init()  # no DSN: the global client goes back to doing nothing
    return [(item.payload.json, item.type) for envelope in sent for item in envelope.items if item.payload.json]


@pytest.mark.parametrize("engine", [pii.ENGINE, pii.RELAY_ENGINE])
def test_a_real_sdks_four_part_release_is_no_ip(engine: str) -> None:
    payloads = _real_sdk_payloads("app@1.2.3.4", "1.0.0.0")
    events = [(payload, item_type) for payload, item_type in payloads if item_type in ("event", "transaction")]
    assert {"event", "transaction"} == {item_type for _, item_type in events}
    assert all(payload["release"] == "app@1.2.3.4" for payload, _ in events)
    if engine == pii.ENGINE:
        assert [] == [(item_type, f.path) for payload, item_type in payloads for f in pii.scan(payload, item_type)]
    else:
        require_relay()
        judged = [pii.relay_scan(payload, item_type) for payload, item_type in payloads]
        assert [] == [(j.findings, j.relay_only) for j in judged if j.findings or j.relay_only]
