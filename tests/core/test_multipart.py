"""``multipart``: minidump and attachment uploads split byte-exact."""

from __future__ import annotations

import pytest

from sentry_mirror.core.multipart import MultipartError, Part, content_type_params, parse
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
