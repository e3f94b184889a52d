"""``replay --uploads``, the pure part: the candidate's chunk options, the chunking, the
requests as sentry-cli makes them, and what each assemble answer means."""

from __future__ import annotations

import gzip
import hashlib
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from sentry_mirror.core.replay.uploads import (
    ACCEPTED,
    ALREADY_THERE,
    FAILED,
    UPLOADED,
    AssembleState,
    ChunkOptions,
    UploadResult,
    UploadSummary,
    assemble_call,
    assemble_state,
    batches,
    destination,
    first_outcome,
    multipart,
    poll_outcome,
    split,
)

#: What Bugsink 2.6.1 answers (files/views.py), the fields sentry-cli reads.
BUGSINK_OPTIONS = {
    "url": "http://127.0.0.1:8000/api/0/organizations/acme/chunk-upload/",
    "chunkSize": 2097152,
    "maxRequestSize": 2097152,
    "maxFileSize": 1048576000,
    "concurrency": 1,
    "chunksPerRequest": 1,
    "hashAlgorithm": "sha1",
    "compression": ["gzip"],
    "accept": ["release_files", "sources", "artifact_bundles", "debug_files"],
}


def sha1(data: bytes) -> str:
    return hashlib.sha1(data).hexdigest()


def test_chunk_options_as_bugsink_answers_them() -> None:
    options = ChunkOptions.parse(BUGSINK_OPTIONS)
    assert (2097152, 1, 2097152, 1, True) == (
        options.chunk_size,
        options.chunks_per_request,
        options.max_request_size,
        options.concurrency,
        options.gzip,
    )
    assert options.accept is not None and "artifact_bundles" in options.accept
    assert 1048576000 == options.max_file_size and 0 == options.max_wait


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"url": None}, "no url"),
        ({"hashAlgorithm": "sha256"}, "not sha1"),
        ({"chunkSize": 0}, "chunkSize"),
        ({"chunksPerRequest": "4"}, "chunksPerRequest"),
        ({"concurrency": True}, "concurrency"),
    ],
)
def test_chunk_options_sentry_cli_could_not_use_are_refused(change: dict[str, Any], said: str) -> None:
    with pytest.raises(ValueError, match=said):
        ChunkOptions.parse({**BUGSINK_OPTIONS, **change})


def test_no_compression_listed_means_plain_chunks() -> None:
    assert not ChunkOptions.parse({**BUGSINK_OPTIONS, "compression": []}).gzip
    assert ChunkOptions.parse({k: v for k, v in BUGSINK_OPTIONS.items() if k != "accept"}).accept is None


@given(st.binary(max_size=300), st.integers(min_value=1, max_value=64))
def test_split_chunks_put_back_together_are_the_file(data: bytes, size: int) -> None:
    chunked = split(data, size)
    assert sha1(data) == chunked.checksum
    pieces = [chunked.piece(data, n) for n in range(len(chunked.chunks))]
    assert data == b"".join(pieces)
    assert [sha1(p) for p in pieces] == list(chunked.chunks)
    assert all(len(p) == size for p in pieces[:-1])


def test_pieces_are_the_wanted_chunks_once_each_in_file_order() -> None:
    data = b"aaaabbbbaaaacc"
    chunked = split(data, 4)
    assert [(sha1(b"aaaa"), b"aaaa"), (sha1(b"cc"), b"cc")] == chunked.pieces(data, [sha1(b"cc"), sha1(b"aaaa")])


def test_batches_as_sentry_cli_makes_them() -> None:
    chunks = [(str(n), b"x" * size) for n, size in enumerate([4, 4, 4, 10, 1])]
    assert [["0", "1"], ["2"], ["3"], ["4"]] == [[c for c, _ in b] for b in batches(chunks, 8, 5)]
    assert [["0"], ["1"], ["2"], ["3"], ["4"]] == [[c for c, _ in b] for b in batches(chunks, 100, 1)]
    assert [] == batches([], 8, 2)


@pytest.mark.parametrize("compress", [False, True])
def test_multipart_parts_are_named_by_the_chunks_sha1(compress: bool) -> None:
    from email.parser import BytesParser
    from email.policy import HTTP

    chunks = [(sha1(b"one"), b"one"), (sha1(b"two"), b"two")]
    content_type, body = multipart(chunks, compress, "b0undary")
    message = BytesParser(policy=HTTP).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + body)
    parts = list(message.iter_parts())  # type: ignore[attr-defined]
    names = [(p.get_param("name", header="content-disposition"), p.get_filename()) for p in parts]
    field = "file_gzip" if compress else "file"
    assert [(field, chunks[0][0]), (field, chunks[1][0])] == names
    payloads = [p.get_payload(decode=True) for p in parts]
    assert [b"one", b"two"] == ([gzip.decompress(p) for p in payloads] if compress else payloads)


def bundle_upload(**fields: Any) -> dict[str, Any]:
    return {"kind": "artifact_bundle", "org": "acme", "project": None, "projects": ["web"], **fields}


def test_the_artifact_bundle_assemble_call() -> None:
    chunked = split(b"0123456789", 4)
    upload = bundle_upload(release="1.0", dist="7")
    path, body = assemble_call(upload, chunked, destination(upload))
    assert "/api/0/organizations/acme/artifactbundle/assemble/" == path
    assert {
        "checksum": chunked.checksum,
        "chunks": list(chunked.chunks),
        "projects": ["web"],
        "version": "1.0",
        "dist": "7",
    } == orjson.loads(body)
    # no release: no version (sentry-cli leaves it out), and the org and project mapped
    upload = bundle_upload()
    path, body = assemble_call(upload, chunked, destination(upload, "other", "app"))
    assert "/api/0/organizations/other/artifactbundle/assemble/" == path
    assert {"checksum", "chunks", "projects"} == set(orjson.loads(body)) and ["app"] == orjson.loads(body)["projects"]


def test_the_debug_file_assemble_call() -> None:
    chunked = split(b"\x7fELF....", 4)
    upload = {"kind": "debug_file", "org": "acme", "project": "native", "projects": ["native"], "name": "app.so"}
    upload["debug_id"] = "0ab1c2d3-0000-0000-0000-000000000001"
    path, body = assemble_call(upload, chunked, destination(upload))
    assert "/api/0/projects/acme/native/files/difs/assemble/" == path
    assert {
        chunked.checksum: {"name": "app.so", "debug_id": upload["debug_id"], "chunks": list(chunked.chunks)}
    } == orjson.loads(body)
    with pytest.raises(ValueError, match="--api-project"):
        assemble_call(upload, chunked, destination({**upload, "project": None, "projects": []}))


def test_an_upload_without_an_org_needs_one_named() -> None:
    with pytest.raises(ValueError, match="--api-org"):
        destination(bundle_upload(org=None))
    assert "named" == destination(bundle_upload(org=None), org="named").org


def test_assemble_answers() -> None:
    assert AssembleState("not_found", ("ab",)) == assemble_state(
        "artifact_bundle", "x", {"state": "not_found", "missingChunks": ["AB"]}
    )
    assert AssembleState("error", (), "bad zip") == assemble_state(
        "debug_file", "x", {"x": {"state": "error", "missingChunks": [], "detail": "bad zip"}}
    )
    for wrong in ({"state": "done"}, {"y": {"state": "ok"}}, [], {"state": "ok", "missingChunks": "ab"}):
        with pytest.raises(ValueError):
            assemble_state("debug_file" if "y" in wrong else "artifact_bundle", "x", wrong)


def test_what_each_answer_means() -> None:
    created, missing = AssembleState("created"), AssembleState("not_found", ("ab",))
    assert ALREADY_THERE == first_outcome(AssembleState("ok"))
    assert FAILED == first_outcome(AssembleState("error"))
    assert first_outcome(missing) is None and first_outcome(created) is None
    assert (UPLOADED, None) == poll_outcome(missing, AssembleState("ok"))
    assert (FAILED, "bad") == poll_outcome(missing, AssembleState("error", (), "bad"))
    assert poll_outcome(missing, AssembleState("assembling")) is None
    assert ACCEPTED == (poll_outcome(created, missing) or ("",))[0]  # Bugsink: assembled, chunks dropped
    assert FAILED == (poll_outcome(missing, missing) or ("",))[0]


def test_the_summary_counts_outcomes() -> None:
    summary = UploadSummary("Bugsink")
    for outcome in (UPLOADED, FAILED, UPLOADED):
        summary.add(UploadResult("r", "artifact_bundle", None, "c", 3, outcome=outcome))
    assert 1 == summary.failed
    data = summary.to_dict()
    assert {"uploaded": 2, "already_there": 0, "accepted": 0, "failed": 1} == data["outcomes"]
    assert "failed" == data["uploads"][1]["outcome"]


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3),
    max_leaves=8,
)


@given(st.dictionaries(st.sampled_from([*BUGSINK_OPTIONS, "maxWait", "x"]), _JSON, max_size=4))
def test_any_options_answer_is_read_or_refused_with_a_reason(value: dict[str, Any]) -> None:
    try:
        options = ChunkOptions.parse({**BUGSINK_OPTIONS, **value})
    except ValueError as exc:
        assert str(exc)
    else:
        assert options.chunk_size >= 1 and options.concurrency >= 1 and options.url


_ANSWER = st.dictionaries(st.sampled_from(["state", "missingChunks", "detail", "x"]), _JSON, max_size=4) | _JSON


@given(_ANSWER, st.sampled_from(["artifact_bundle", "debug_file"]))
def test_any_assemble_answer_is_read_or_refused_with_a_reason(value: Any, kind: str) -> None:
    for answer in (value, {"x": value}):
        try:
            state = assemble_state(kind, "x", answer)
        except ValueError as exc:
            assert str(exc)
        else:
            assert state.state in {"ok", "error", "not_found", "created", "assembling"}
            assert all(isinstance(m, str) for m in state.missing)
