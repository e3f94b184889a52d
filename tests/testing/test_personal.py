"""assert_no_personal_data: the report's detectors, field paths and masked examples, never the value."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import sentry_sdk

from sentry_mirror.core import pii
from sentry_mirror.core.lenient import loads_or_none
from sentry_mirror.errors import MirrorError
from sentry_mirror.testing import Mirror
from tests.factories import make_envelope, make_event, make_multipart
from tests.helpers import require_relay

EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    with Mirror(tmp_path) as running:
        yield running


def send_event(mirror: Mirror, **fields: object) -> None:
    body = make_envelope(items=[({"type": "event"}, make_event(**fields))])
    request = urllib.request.Request(f"http://127.0.0.1:{mirror.port}/api/1/envelope/?sentry_key=k", data=body)
    urllib.request.urlopen(request, timeout=5).close()


def test_clean_events_pass(mirror: Mirror) -> None:
    send_event(mirror, message="nothing personal")
    mirror.assert_no_personal_data()


def test_a_finding_fails_with_path_kind_and_masked_example(mirror: Mirror) -> None:
    send_event(mirror, user={"email": EMAIL}, extra={"card": CARD})
    with pytest.raises(AssertionError) as failed:
        mirror.assert_no_personal_data()
    message = str(failed.value)
    assert message.startswith("personal data in 2 field(s) of what the SDKs sent")
    assert "event  user.email  email  " in message
    assert "event  extra.card  credit_card  " in message
    assert EMAIL not in message and CARD not in message and "1111 1111" not in message


def test_rules_choose_the_kinds(mirror: Mirror) -> None:
    send_event(mirror, user={"email": EMAIL})
    mirror.assert_no_personal_data(rules={"credit_card", "ip"})
    with pytest.raises(AssertionError, match=r"user\.email"):
        mirror.assert_no_personal_data(rules=["email"])


def test_an_unknown_kind_names_the_known_ones(mirror: Mirror) -> None:
    with pytest.raises(ValueError, match=r"unknown personal-data kinds: phone \(known: email, ip, "):
        mirror.assert_no_personal_data(rules={"phone"})
    with pytest.raises(ValueError, match="unknown personal-data engine 'presidio'"):
        mirror.assert_no_personal_data(engine="presidio")


def test_reset_forgets_earlier_findings(mirror: Mirror) -> None:
    send_event(mirror, user={"email": EMAIL})
    mirror.reset()
    mirror.assert_no_personal_data()


def test_the_relay_engine_says_what_sentry_scrubs_or_needs_sentry_relay(mirror: Mirror) -> None:
    send_event(mirror, extra={"password": "hunter2"})
    if not pii.relay_available():
        with pytest.raises(MirrorError, match="pip install sentry-relay"):
            mirror.assert_no_personal_data(engine="relay")
        return
    with pytest.raises(AssertionError, match=r"extra.password  password  .*Sentry's default scrubbing: @password"):
        mirror.assert_no_personal_data(engine="relay")


def test_a_payload_relay_refuses_gets_the_builtin_answer(mirror: Mirror) -> None:
    require_relay()
    payload = b'{"extra": {"contact": "%s", "ratio": NaN}}' % EMAIL.encode()  # read, but no JSON for Relay
    with pytest.raises(Exception, match="expected value"):  # sentry_relay.InvalidJsonError
        pii.relay_rules(loads_or_none(payload))
    body = make_envelope(items=[({"type": "event"}, payload)])
    request = urllib.request.Request(f"http://127.0.0.1:{mirror.port}/api/1/envelope/?sentry_key=k", data=body)
    urllib.request.urlopen(request, timeout=5).close()
    with pytest.raises(AssertionError, match=r"event  extra\.contact  email  "):
        mirror.assert_no_personal_data(engine="relay")


def test_hostile_field_paths_are_shown_escaped_on_one_line(mirror: Mirror) -> None:
    send_event(mirror, extra={"\x1b[31mkey\nE  fake": EMAIL})
    with pytest.raises(AssertionError) as failed:
        mirror.assert_no_personal_data()
    message = str(failed.value)
    assert "\x1b" not in message and 2 == len(message.splitlines())
    assert "extra.\\x1b[31mkey\\nE  fake  email" in message


def test_editing_what_events_gave_changes_nothing_checked(mirror: Mirror) -> None:
    send_event(mirror, user={"email": EMAIL})
    del mirror.events()[0]["user"]  # a test strips what it does not compare
    assert {"email": EMAIL} == mirror.events()[0]["user"]
    for item in mirror.items():
        item.json.clear()
    with pytest.raises(AssertionError, match=r"user\.email"):
        mirror.assert_no_personal_data()


#: Code "living" in a developer's home directory: the SDK sends each frame's file path.
HOME_CODE = """
def checkout():
    raise ValueError("out of stock")

try:
    checkout()
except ValueError:
    sentry_sdk.capture_exception()
"""


def test_the_sdk_sending_your_home_directory_in_frames_passes_unless_asked(mirror: Mirror) -> None:
    sentry_sdk.init(dsn=mirror.dsn, default_integrations=False, release="app@1")
    try:
        exec(compile(HOME_CODE, "/home/alice/shop/app.py", "exec"), {"sentry_sdk": sentry_sdk})
        sentry_sdk.flush()
    finally:
        sentry_sdk.init()
    (event,) = mirror.wait_for(type="event")
    frames = event.json["exception"]["values"][0]["stacktrace"]["frames"]
    assert "/home/alice/shop/app.py" in [frame.get("abs_path") for frame in frames]
    mirror.assert_no_personal_data()
    with pytest.raises(AssertionError, match=r"stacktrace\.frames\[\]\.abs_path  user_path  "):
        mirror.assert_no_personal_data(rules={"user_path"})


def test_the_report_and_the_assertion_both_see_the_event_of_a_minidump_upload(mirror: Mirror) -> None:
    body, content_type = make_multipart(
        ("upload_file_minidump", "crash.dmp", b"MDMP" + b"\0" * 28),
        ("sentry", None, orjson.dumps({"release": "a@1", "user": {"email": EMAIL}})),
    )
    url = f"http://127.0.0.1:{mirror.port}/api/1/minidump/?sentry_key=k"
    request = urllib.request.Request(url, data=body, headers={"Content-Type": content_type})
    urllib.request.urlopen(request, timeout=5).close()
    mirror.wait_for(type="event")
    with pytest.raises(AssertionError, match=r"event  user\.email  email  "):
        mirror.assert_no_personal_data()
    found = mirror.report(["pii"])["pii"]
    assert (1, {"email": 1}) == (found["payloads"], found["kinds"])
    assert [("event", "user.email")] == [(field["item_type"], field["path"]) for field in found["fields"]]
