"""The TUS upload endpoint (``tus_upload``): resumable chunks, deferred lengths, what the
record keeps, and hostile requests (headers, paths, bodies) never crashing and never
answered with more than a bounded echo of what was sent."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

from hypothesis import given, settings
from hypothesis import strategies as st

from sentry_mirror.core.ingest import Config, handle
from sentry_mirror.core.ingest.model import Request
from sentry_mirror.core.ratelimits import record_categories
from tests.factories import QUERY_AUTH, make_record, make_request

OFFSET = "application/offset+octet-stream"
TUS = ("Tus-Resumable", "1.0.0")


def _create(length: int) -> str:
    outcome = handle(make_request(path="/api/42/upload/", body=b"", headers=[TUS, ("Upload-Length", str(length))]))
    assert 201 == outcome.response.status
    assert () == outcome.items  # a creation carries no data
    return dict(outcome.response.headers)["Location"]


def _patch(location: str, offset: int, data: bytes) -> Request:
    parts = urlsplit(location)
    headers = [TUS, ("Content-Type", OFFSET), ("Upload-Offset", str(offset))]
    return make_request(
        method="PATCH", path=parts.path, query=f"{parts.query}&{QUERY_AUTH}", headers=headers, body=data
    )


def test_an_upload_in_two_chunks_ends_at_a_final_location() -> None:
    """As Relay's resumable uploads: each PATCH answers the new offset and the next location,
    which names the upload (``upload_id``) until it is complete."""
    location = _create(11)
    assert "upload_id" in parse_qs(urlsplit(location).query)
    first = handle(_patch(location, 0, b"hello"))
    assert 204 == first.response.status
    headers = dict(first.response.headers)
    assert "5" == headers["Upload-Offset"]
    assert "upload_id" in parse_qs(urlsplit(headers["Location"]).query)
    second = handle(_patch(headers["Location"], 5, b" world"))
    final = dict(second.response.headers)
    assert (204, "11") == (second.response.status, final["Upload-Offset"])
    assert {"upload_length": ["11"]}.items() <= parse_qs(urlsplit(final["Location"]).query).items()
    assert "upload_id" not in parse_qs(urlsplit(final["Location"]).query)
    assert urlsplit(final["Location"]).path == urlsplit(location).path
    assert [{"type": "attachment", "size": 6, "headers": {
        "type": "attachment", "content_type": OFFSET, "upload_offset": 5, "upload_length": 11}}] == list(second.items)  # fmt: skip


def test_the_record_names_the_endpoint_and_the_attachment_category() -> None:
    data = make_record(_patch(_create(3), 0, b"abc"))
    assert ("tus_upload", 204) == (data["endpoint"], data["response"]["status"])
    assert ("attachment",) == record_categories(data)
    assert "abc" == data["body"]


def test_creation_with_upload_must_carry_the_whole_file() -> None:
    """Relay's first version took the data in the POST: the whole announced length."""
    headers = [TUS, ("Upload-Length", "5"), ("Content-Type", OFFSET)]
    whole = handle(make_request(path="/api/42/upload/", body=b"hello", headers=headers))
    assert (201, "5") == (whole.response.status, dict(whole.response.headers)["Upload-Offset"])
    short = handle(make_request(path="/api/42/upload/", body=b"hell", headers=headers))
    assert 400 == short.response.status
    assert ["stream shorter than lower bound: received 4 < 5"] == json.loads(short.response.body)["causes"]


def test_patch_needs_the_offset_content_type() -> None:
    request = _patch(_create(3), 0, b"abc")
    request = make_request(
        method="PATCH", path=request.path, query=request.query, headers=[TUS, ("Upload-Offset", "0")], body=b"abc"
    )
    outcome = handle(request)
    assert 400 == outcome.response.status
    assert "1.0.0" == dict(outcome.response.headers)["Tus-Resumable"]
    assert "TUS protocol error: expected Content-Type" in json.loads(outcome.response.body)["detail"]


def test_an_offset_past_the_u64_range_is_refused() -> None:
    """Relay's offsets are u64: a chunk ending at or past 2**64 is a 400, not a 204 beyond it."""
    location = urlsplit(_create(3))
    headers = [TUS, ("Content-Type", OFFSET), ("Upload-Offset", str(2**64 - 1))]
    request = make_request(method="PATCH", path=location.path, query=QUERY_AUTH, headers=headers, body=b"abc")
    outcome = handle(request)
    assert 400 == outcome.response.status
    assert "1.0.0" == dict(outcome.response.headers)["Tus-Resumable"]
    assert "Upload-Offset" not in dict(outcome.response.headers)


def test_a_length_that_is_not_u64_is_refused_not_read_as_none() -> None:
    location = urlsplit(_create(3))
    headers = [TUS, ("Content-Type", OFFSET), ("Upload-Offset", "0")]
    for length in ("-1", "abc", str(2**64)):
        query = f"upload_length={length}&{QUERY_AUTH}"
        outcome = handle(make_request(method="PATCH", path=location.path, query=query, headers=headers, body=b"abc"))
        assert 400 == outcome.response.status, length
        assert "TUS protocol error: expected upload_length" in json.loads(outcome.response.body)["detail"]
    without = handle(make_request(method="PATCH", path=location.path, query=QUERY_AUTH, headers=headers, body=b"abc"))
    assert 204 == without.response.status  # no length at all: a deferred one


def test_other_methods_are_refused() -> None:
    for method, path in (("GET", "/api/42/upload/"), ("PATCH", "/api/42/upload/"), ("POST", "/api/42/upload/k/")):
        assert 405 == handle(make_request(method=method, path=path, body=b"")).response.status


def test_a_hostile_upload_key_is_quoted_in_the_location() -> None:
    outcome = handle(_patch("/api/42/upload/a\r\nSet-Cookie: x/?upload_length=1", 0, b"x"))
    location = dict(outcome.response.headers)["Location"]
    assert "\r" not in location and "\n" not in location and " " not in location
    assert location.startswith("/api/42/upload/a") and "Set-Cookie%3A%20x/?" in location


def test_the_body_is_bounded_like_every_body() -> None:
    outcome = handle(_patch(_create(100), 0, b"x" * 100), Config(max_body=64))
    assert 413 == outcome.response.status


_TEXT = st.text(st.characters(codec="latin-1", exclude_characters="\r\n"), max_size=300)
_NUMBERS = st.one_of(_TEXT, st.integers(-(2**70), 2**70).map(str), st.sampled_from(["0", "1", "+5", "1.0.0"]))
_HEADERS = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "Tus-Resumable",
                "Upload-Length",
                "Upload-Defer-Length",
                "Upload-Offset",
                "Content-Type",
                "Upload-Metadata",
            ]
        ),
        _NUMBERS,
    ),
    max_size=8,
)


@settings(max_examples=300, deadline=None)
@given(
    method=st.sampled_from(["POST", "PATCH", "HEAD", "OPTIONS", "PUT"]),
    key=st.one_of(st.none(), st.text(max_size=80).filter(lambda k: "/" not in k and k)),
    query=_TEXT,
    headers=_HEADERS,
    body=st.binary(max_size=2048),
)
def test_hostile_tus_requests_never_crash_and_stay_bounded(
    method: str, key: str | None, query: str, headers: list[tuple[str, str]], body: bytes
) -> None:
    path = "/api/42/upload/" + (f"{key}/" if key else "")
    outcome = handle(make_request(method=method, path=path, query=f"{query}&{QUERY_AUTH}", headers=headers, body=body))
    response = outcome.response
    assert response.status in (200, 201, 204, 400, 404, 405, 413)
    assert len(response.body) < 2048
    for name, value in response.headers:
        assert "\r" not in value and "\n" not in value
        assert len(value) < 1024, name
    assert len(outcome.items) <= 1
    if response.status in (201, 204):
        assert urlsplit(dict(response.headers)["Location"]).path.startswith("/api/42/upload/")


def test_titles_say_what_each_request_did() -> None:
    location = _create(11)
    assert "upload 5 bytes at 0 of 11" == handle(_patch(location, 0, b"hello")).facts.title
    assert "upload 6 bytes at 5 of 11 (complete)" == handle(_patch(location, 5, b" world")).facts.title
    created = handle(make_request(path="/api/42/upload/", body=b"", headers=[TUS, ("Upload-Defer-Length", "1")]))
    assert "upload created (deferred length)" == created.facts.title
