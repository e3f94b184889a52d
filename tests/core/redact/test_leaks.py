"""Planted personal data in the places review C found it kept, redacted by both engines, and
the output bytes searched for every planted string (core/redact: body, payload, forms,
sweep)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from sentry_mirror.core import envelope
from sentry_mirror.core.redact import BodyRedactor, Pseudonyms, RelayEngine
from tests.factories import make_envelope, make_event
from tests.helpers import require_relay

EMAIL = "jane.doe@example.com"
IP = "203.0.113.77"
SECRETS = ("hunter2pass", "sk_live_abc", "zz9secret", "SECRETTOKEN123", "abc123secret", "u-48213", "janedoe")


@pytest.fixture(params=["builtin", "relay"])
def parts(request: pytest.FixtureRequest) -> BodyRedactor:
    if request.param == "relay":
        require_relay()
        return BodyRedactor(Pseudonyms(b"k" * 32), relay=RelayEngine())
    return BodyRedactor(Pseudonyms(b"k" * 32))


def leaks(out: bytes | Any, *planted: str) -> list[str]:
    data = out if isinstance(out, bytes) else orjson.dumps(out)
    return [value for value in planted if value.encode() in data]


def planted_event() -> dict[str, Any]:
    return make_event(
        user={"id": "u-48213", "username": "janedoe"},
        extra={"password": "hunter2pass", "api_key": "sk_live_abc"},
        request={"cookies": {"sessionid": "zz9secret"}},
    )


def test_a_json_item_that_does_not_parse_goes_whole_and_says_so(parts: BodyRedactor) -> None:
    body = make_envelope(None, [({"type": "event"}, orjson.dumps(planted_event()) + b" garbage")])
    out = parts.envelope(body)
    assert [] == leaks(out, *SECRETS)
    item = envelope.parse(out).items[0]
    assert len(item.payload) == len(orjson.dumps(planted_event()) + b" garbage")  # a placeholder as long
    assert 1 == parts.names.kinds["unparsed"]


def test_an_envelope_cut_short_goes_whole(parts: BodyRedactor) -> None:
    body = make_envelope(
        None, [({"type": "event"}, planted_event()), ({"type": "attachment", "length": 10000}, b"x" * 100)]
    )
    assert [] == leaks(parts.body("envelope", body[:-60], readable=True), *SECRETS)
    assert 1 == parts.names.kinds["unparsed"]


def test_text_keeps_no_value_written_after_a_secrets_key(parts: BodyRedactor) -> None:
    line = f"login@none:1|c|#password:hunter2pass,user_id:u-48213,mail:{EMAIL}".encode()
    out = parts.envelope(make_envelope(None, [({"type": "statsd"}, line)]))
    assert [] == leaks(out, "hunter2pass", "u-48213", EMAIL)
    assert b"login@none:1|c|#password:" in out  # the line keeps its shape


def test_query_strings_cookies_and_forms_sent_as_strings_are_read_as_pairs(parts: BodyRedactor) -> None:
    event = make_event(
        request={
            "url": "https://shop.test/checkout?token=SECRETTOKEN123&page=2",
            "query_string": "token=SECRETTOKEN123&x=1",
            "cookies": "session=abc123secret; theme=dark",
            "data": f"email={EMAIL}&password=hunter2pass",
        },
        breadcrumbs={"values": [{"data": {"url": "/api/x?password=hunter2pass"}}]},
    )
    out = parts.payload(event, "event")
    assert [] == leaks(out, "SECRETTOKEN123", "abc123secret", "hunter2pass", EMAIL)
    request = out["request"]
    assert request["query_string"].endswith("&x=1") and "theme=" in request["cookies"]
    assert request["url"].startswith("https://shop.test/checkout?token=") and request["url"].endswith("&page=2")
    assert isinstance(request["data"], str) and request["data"].startswith("email=")


def test_a_string_with_nothing_in_it_is_kept_byte_for_byte(parts: BodyRedactor) -> None:
    request = {"query_string": "a=1&b=%20x+y", "cookies": "theme=dark;lang=fr", "data": "q=plain+text"}
    out = parts.payload(make_event(request=dict(request)), "event")
    assert request["query_string"] == out["request"]["query_string"]
    assert request["data"] == out["request"]["data"]


def test_keys_holding_personal_data_are_renamed_and_kept_apart(parts: BodyRedactor) -> None:
    frames = [{"vars": {"users_by_email": {EMAIL: "x", EMAIL.upper(): "y", "other": 1}}}]
    event = make_event(
        exception={"values": [{"type": "E", "stacktrace": {"frames": frames}}]},
        extra={"nested": {f"ip_{IP}": 1}},
    )
    out = parts.payload(event, "event")
    assert [] == leaks(out, EMAIL, EMAIL.upper(), IP)
    kept = out["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"]["users_by_email"]
    assert 3 == len(kept) and sorted(kept.values(), key=str) == sorted(["x", "y", 1], key=str)


def test_header_names_and_item_header_keys_are_redacted(parts: BodyRedactor) -> None:
    from sentry_mirror.core.redact import http

    headers = http.pairs(
        [(f"X-Custom-{EMAIL}", "v"), ("Referer", "https://x.test/?token=SECRETTOKEN123")],
        parts.names,
        parts.scanner,
        "headers",
    )
    assert [] == leaks(headers, EMAIL, "SECRETTOKEN123")
    body = make_envelope(None, [({"type": "attachment", EMAIL: "k"}, b"data")])
    assert [] == leaks(parts.envelope(body), EMAIL)


def test_sdk_and_modules_are_searched_for_addresses_but_versions_kept(parts: BodyRedactor) -> None:
    event = make_event(
        sdk={"name": f"sdk-{EMAIL}", "version": "1.2.3.4"}, modules={"pkg": "1.2.3.4", f"/home/jane/{EMAIL}": "1"}
    )
    out = parts.payload(event, "event")
    assert [] == leaks(out, EMAIL, "/home/jane")
    assert "1.2.3.4" == out["sdk"]["version"] == out["modules"]["pkg"]


def test_deep_values_and_long_strings_are_looked_at(parts: BodyRedactor) -> None:
    deep: Any = {"password": "hunter2pass", "mail": EMAIL}
    for _ in range(40):
        deep = {"a": deep}
    out = parts.json_or_text(orjson.dumps({"extra": deep}), "event")
    assert [] == leaks(out, "hunter2pass", EMAIL)
    out = parts.payload({"message": "x" * 5000 + f" contact {EMAIL} from {IP}"}, "event")
    assert [] == leaks(out, EMAIL, IP)


def test_a_large_attachments_upload_goes_whole(parts: BodyRedactor) -> None:
    body = f"Patient: Jane Doe\npassword=hunter2pass\nmail {EMAIL}\n".encode()
    out = parts.body("tus_upload", body, readable=True)
    assert len(body) == len(out) and [] == leaks(out, "Jane Doe", "hunter2pass", EMAIL)


def test_relays_finding_in_a_legacy_message_is_mapped_back() -> None:
    """Relay remarks a top-level ``message`` at ``logentry.formatted`` (its normaliser renames
    it): the redactor replaces it where it is."""
    require_relay()
    parts = BodyRedactor(Pseudonyms(b"k" * 32), relay=RelayEngine())
    assert [] == leaks(parts.payload({"message": "card 4111111111110000"}, "event"), "4111111111110000")


RULES = (
    '{"rules": {"names": {"type": "pattern", "pattern": "Jane Doe", "redaction": {"method": "replace",'
    ' "text": "[name]"}}}, "applications": {"$string": ["names"]}}'
)


def test_a_projects_rules_reach_what_relay_does_not_see() -> None:
    require_relay()
    from sentry_mirror.core.redact import http

    parts = BodyRedactor(Pseudonyms(b"k" * 32), relay=RelayEngine(RULES))
    report = {"event_id": "c" * 32, "name": "x", "comments": "I am Jane Doe"}
    feedback = {"contexts": {"feedback": {"message": "from Jane Doe"}}}
    logs = {"items": [{"body": "hi Jane Doe", "attributes": {}}]}
    out = [parts.payload(report, "user_report"), parts.payload(feedback, "feedback"), parts.payload(logs, "log")]
    out.append(http.pairs([("X-Name", "Jane Doe")], parts.names, parts.scanner, "headers"))
    out.append(parts.payload({"message": "hi Jane Doe"}, "event"))
    assert [] == leaks(out, "Jane Doe")
    assert "I am <personal:" in out[0]["comments"]


def test_an_address_under_an_auth_like_key_keeps_its_kind(parts: BodyRedactor) -> None:
    """``author_email`` reads as an auth key to the detectors; the value is an address, and
    gets the address's pseudonym (it joins with the same address elsewhere)."""
    out = parts.payload({"commits": [{"author_email": EMAIL}], "user": {"email": EMAIL}}, "api_releases")
    assert out["commits"][0]["author_email"] == out["user"]["email"]


def test_a_text_body_at_an_unknown_endpoint_goes_whole(parts: BodyRedactor) -> None:
    body = b"name: Jane Doe\nnote: call me\n"
    assert [] == leaks(parts.body("unknown", body, readable=True), "Jane Doe")
    assert parts.body("unknown", b'{"a": 1}', readable=True) == b'{"a":1}'  # JSON is read


def test_span_and_breadcrumb_query_strings_are_read_as_pairs(parts: BodyRedactor) -> None:
    """sentry-python's ``http.query`` and OTel's ``url.query`` hold a query without its ``?``."""
    event = make_event(
        spans=[{"data": {"http.query": "token=SECRETTOKEN123&page=2", "url.query": "api_key=sk_live_abc"}}],
        breadcrumbs={"values": [{"data": {"http.query": "password=hunter2pass", "query": "session=zz9secret"}}]},
    )
    out = parts.payload(event, "transaction")
    assert [] == leaks(out, "SECRETTOKEN123", "sk_live_abc", "hunter2pass", "zz9secret")
    assert out["spans"][0]["data"]["http.query"].endswith("&page=2")


def test_a_urls_fragment_is_read_as_pairs(parts: BodyRedactor) -> None:
    """The OAuth implicit flow hands its tokens over in the fragment."""
    url = "https://app.test/cb#access_token=SECRETTOKEN123&state=x"
    event = make_event(request={"url": url}, breadcrumbs={"values": [{"data": {"to": "/cb?a=1#token=zz9secret"}}]})
    out = parts.payload(event, "event")
    assert [] == leaks(out, "SECRETTOKEN123", "zz9secret")
    assert out["request"]["url"].startswith("https://app.test/cb#access_token=") and out["request"]["url"].endswith(
        "&state=x"
    )


def test_json_inside_a_string_is_redacted_and_written_back_as_json(parts: BodyRedactor) -> None:
    event = make_event(
        request={"data": '{"password": "hunter2pass", "n": 1}'},
        extra={"body": '{"api_key": "sk_live_abc", "list": [{"token": "SECRETTOKEN123"}]}', "plain": '{"a": 1}'},
        breadcrumbs={"values": [{"message": '[{"session": "zz9secret"}]'}]},
    )
    out = parts.payload(event, "event")
    assert [] == leaks(out, "hunter2pass", "sk_live_abc", "SECRETTOKEN123", "zz9secret")
    assert 1 == orjson.loads(out["request"]["data"])["n"]
    assert isinstance(orjson.loads(out["extra"]["body"])["list"], list)
    assert '{"a": 1}' == out["extra"]["plain"]  # nothing in it: kept byte for byte


def test_everything_under_a_password_key_is_replaced(parts: BodyRedactor) -> None:
    event = make_event(extra={"password": {"value": "hunter2pass", "old": ["zz9secret", 12345]}, "n": {"a": "1"}})
    out = parts.payload(event, "event")
    assert [] == leaks(out, "hunter2pass", "zz9secret", "12345")
    assert {"a": "1"} == out["extra"]["n"]


def test_user_ids_in_tags_and_attributes_get_the_users_pseudonyms(parts: BodyRedactor) -> None:
    event = make_event(
        user={"id": "u-48213", "username": "janedoe"},
        tags={"user.id": "u-48213", "user.username": "janedoe", "user.email": EMAIL},
    )
    out = parts.payload(event, "event")
    assert [] == leaks(out, "u-48213", "janedoe", EMAIL)
    assert out["tags"]["user.id"] == out["user"]["id"] and out["tags"]["user.username"] == out["user"]["username"]
    pairs = parts.payload(make_event(tags=[["user.id", "u-48213"], ["level", "x"]]), "event")["tags"]
    assert [out["user"]["id"], "x"] == [pairs[0][1], pairs[1][1]]
    attributes = {
        "enduser.id": {"value": "u-48213", "type": "string"},
        "http.request.header.cookie": {"value": "sid=s3cr3tcookie", "type": "string"},
        "http.request.header.authorization": {"value": "Basic c2VjcmV0OnNlY3JldA==", "type": "string"},
    }
    logs = parts.payload({"items": [{"body": "x", "attributes": attributes}]}, "log")
    assert [] == leaks(logs, "u-48213", "s3cr3tcookie", "c2VjcmV0OnNlY3JldA")
    assert out["user"]["id"] == logs["items"][0]["attributes"]["enduser.id"]["value"]


def test_a_geo_context_is_redacted_like_the_users_geo(parts: BodyRedactor) -> None:
    event = make_event(user={"geo": {"city": "Lyon"}}, contexts={"geo": {"city": "Lyon", "country_code": "FR"}})
    out = parts.payload(event, "event")
    assert [] == leaks(out, "Lyon")
    assert (
        out["contexts"]["geo"]["city"] == out["user"]["geo"]["city"] and "FR" == out["contexts"]["geo"]["country_code"]
    )


def test_an_attachments_file_name_is_pseudonymised_keeping_its_extension(parts: BodyRedactor) -> None:
    body = make_envelope(None, [({"type": "attachment", "filename": "janedoe-passport.pdf"}, b"%PDF")])
    item = envelope.parse(parts.envelope(body)).items[0]
    assert item.headers["filename"].startswith("<file:") and item.headers["filename"].endswith(">.pdf")
    assert [] == leaks(parts.envelope(body), "janedoe")


def test_phone_keys_are_the_detectors_and_numbers_under_other_keys_are_kept(parts: BodyRedactor) -> None:
    """One phone-key test (core/patterns.PHONE_KEY) for the report and the redactor."""
    event = make_event(
        spans=[{"data": {"mobile.retries": 1234567}}],
        extra={"phone_count": "123456", "user.phone": "+33 6 12 34 56 78", "mobilePhone": "0612345678"},
    )
    out = parts.payload(event, "transaction")
    assert [] == leaks(out, "+33 6 12 34 56 78", "0612345678")
    assert 1234567 == out["spans"][0]["data"]["mobile.retries"] and "123456" == out["extra"]["phone_count"]
