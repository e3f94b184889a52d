"""``multipart``: minidump and attachment uploads split byte-exact."""

from __future__ import annotations

import pytest

from sentry_mirror.core.multipart import MultipartError, Part, content_type_params, event_of, is_event_name, parse
from tests.factories import make_multipart


def test_content_type_params() -> None:
    assert ("multipart/form-data", {"boundary": "b-1", "charset": "utf-8"}) == content_type_params(
        'Multipart/Form-Data; boundary="b-1";CHARSET=utf-8'
    )
    assert ("", {}) == content_type_params("")


def test_parts_come_back_byte_exact() -> None:
    dump = b"MDMP\r\n\r\n\x00\xff--not-the-boundary\r\n"
    body, content_type = make_multipart(("upload_file_minidump", "crash.dmp", dump), ("sentry", None, b'{"a":1}'))
    assert [
        Part("upload_file_minidump", "crash.dmp", "application/octet-stream", dump),
        Part("sentry", None, None, b'{"a":1}'),
    ] == parse(body, content_type)


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (b"", "application/octet-stream", "no multipart/form-data boundary"),
        (b"", "multipart/form-data", "no multipart/form-data boundary"),
        (
            b"--b\r\nContent-Disposition: form-data; name=x\r\n\r\ndata\r\n",
            "multipart/form-data; boundary=b",
            "missing closing boundary",
        ),
        (b"--b\r\nno headers here\r\n--b--\r\n", "multipart/form-data; boundary=b", "part without headers"),
    ],
)
def test_what_is_not_multipart_is_an_error(body: bytes, content_type: str, message: str) -> None:
    with pytest.raises(MultipartError, match=message):
        parse(body, content_type)


def test_the_event_is_the_sentry_field_merged_with_the_bracket_fields_in_order() -> None:
    body, content_type = make_multipart(
        ("upload_file_minidump", "crash.dmp", b"MDMP"),
        ("sentry", None, b'{"release":"a@1","tags":{"x":"1"},"user":{"email":"bob@example.com"}}'),
        ("sentry[tags][y]", None, b"2"),
        ("sentry[release]", None, b"b@2"),
        ("sentry", "sentry.json", b'{"release":"a file is no field"}'),
        ("other", None, b"kept apart"),
    )
    event = event_of(parse(body, content_type))
    assert event == {"release": "b@2", "tags": {"x": "1", "y": "2"}, "user": {"email": "bob@example.com"}}


def test_an_upload_without_event_fields_has_no_event() -> None:
    body, content_type = make_multipart(("upload_file_minidump", "crash.dmp", b"MDMP"), ("sentry[]x", None, b"1"))
    assert event_of(parse(body, content_type)) is None
    assert is_event_name("sentry[a][b]") and is_event_name("sentry")
    assert not is_event_name("sentry[a]b") and not is_event_name("sentryx")


def test_a_sentry_field_that_is_no_json_object_adds_nothing() -> None:
    body, content_type = make_multipart(("sentry", None, b"[1, 2]"), ("sentry", None, b'{"level": NaN}'))
    event = event_of(parse(body, content_type))
    assert event is not None and list(event) == ["level"]  # NaN read as the SDKs send it
