"""Hostile input at the pure web API parts: they answer (or refuse with their own error),
never raise anything else."""

from __future__ import annotations

import hashlib

import orjson
from hypothesis import given
from hypothesis import strategies as st

from sentry_mirror.core.webapi import assemble, auth, chunks, releases, routes, uploads

_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=42), inner, max_size=4),
    max_leaves=12,
)
_BODY = st.binary(max_size=300) | _JSONISH.map(orjson.dumps)
_SHA = st.sampled_from([hashlib.sha1(b"a").hexdigest(), hashlib.sha1(b"b").hexdigest()])
_FILES = st.dictionaries(_SHA | st.text(max_size=41), _JSONISH, max_size=3).map(orjson.dumps)


@given(st.text(max_size=80), st.binary(max_size=400))
def test_chunk_parsing(content_type: str, body: bytes) -> None:
    try:
        chunks.parse(content_type, body, chunks.limits(1 << 16))
    except chunks.ChunkError as exc:
        assert 400 == exc.status and exc.detail


@given(
    st.sampled_from(["multipart/form-data; boundary=x"]),
    st.lists(
        st.tuples(st.sampled_from(["file", "file_gzip", "f"]), _SHA | st.text(max_size=5), st.binary(max_size=40)),
        max_size=4,
    ),
)
def test_chunk_parts(content_type: str, parts: list[tuple[str, str, bytes]]) -> None:
    body = (
        b"".join(
            b'--x\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n\r\n%s\r\n'
            % (n.encode(), f.encode("utf-8", "replace"), d)
            for n, f, d in parts
        )
        + b"--x--\r\n"
    )
    try:
        found = chunks.parse(content_type, body, chunks.limits(1 << 16))
    except chunks.ChunkError as exc:
        assert exc.detail
    else:
        assert all(hashlib.sha1(c.data).hexdigest() == c.checksum for c in found)


@given(_BODY | _FILES)
def test_assemble_parsing(body: bytes) -> None:
    for parse in (assemble.parse_artifact, assemble.parse_difs):
        try:
            for assembly in parse(body, 4) if parse is assemble.parse_difs else [parse(body, 4)]:
                assert chunks.is_checksum(assembly.checksum) and all(chunks.is_checksum(c) for c in assembly.chunks)
        except assemble.AssembleError as exc:
            assert exc.detail


@given(st.binary(max_size=400))
def test_bundle_reading(data: bytes) -> None:
    items, manifest = uploads.bundle_items(b"PK\x03\x04" + data)
    assert isinstance(items, list) and isinstance(manifest, dict)


@given(_BODY, st.text(max_size=10))
def test_release_handlers(body: bytes, version: str) -> None:
    known = {}
    reply, change = releases.create("acme", "web", body, known, "now")
    assert reply.status in (201, 400)
    if change is not None and change.release is not None:
        known[change.org, change.version] = change.release
    for answered in (
        releases.update("acme", version, body, known)[0],
        releases.deploy("acme", version, body, known, "now")[0],
        releases.previous_with_commits("acme", version, known),
    ):
        assert answered.status in (200, 201, 400, 404)
        orjson.dumps(answered.body)


@given(st.text(max_size=120), st.text(max_size=60))
def test_routes_and_tokens(path: str, value: str) -> None:
    name, params, _ = routes.route(path)
    assert name.startswith("api_") and all(isinstance(v, str) for v in params.values())
    redacted = auth.redact_headers((("Authorization", value),))
    token = value.strip().partition(" ")[2].strip() or value.strip()
    if len(token) > 8 and not token.startswith(auth.REDACTED):
        assert token not in redacted[0][1]
