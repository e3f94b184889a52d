"""Assemble requests (artifact bundles, debug files) and their answers."""

from __future__ import annotations

import hashlib

import orjson
import pytest

from sentry_mirror.core.webapi import assemble

A, B = hashlib.sha1(b"a").hexdigest(), hashlib.sha1(b"b").hexdigest()


def test_an_artifact_request_as_sentry_cli_sends_it() -> None:
    sent = {"checksum": A, "chunks": [A, B], "projects": ["web"], "version": "1.0", "dist": "7"}
    assembly = assemble.parse_artifact(orjson.dumps(sent), 10)
    assert ("artifact_bundle", A, (A, B), ("web",), "1.0", "7") == (
        assembly.kind, assembly.checksum, assembly.chunks, assembly.projects, assembly.version, assembly.dist
    )  # fmt: skip


@pytest.mark.parametrize(
    ("sent", "detail"),
    [
        (b"not json", "Invalid json body"),
        (b"[]", "Invalid json body"),
        (orjson.dumps({"checksum": A, "chunks": [A]}), assemble.NO_PROJECTS),
        (orjson.dumps({"checksum": "zz", "chunks": [A], "projects": ["web"]}), "checksum"),
        (orjson.dumps({"checksum": A, "chunks": ["../x"], "projects": ["web"]}), "chunks"),
        (orjson.dumps({"checksum": A, "chunks": [A], "projects": ["web"], "version": 3}), "version"),
    ],
)
def test_artifact_refusals(sent: bytes, detail: str) -> None:
    with pytest.raises(assemble.AssembleError, match=detail):
        assemble.parse_artifact(sent, 10)


def test_debug_files_and_a_proguard_mapping_get_their_debug_ids() -> None:
    uuid = "05df37df-c557-5eb4-af6b-42c022e7cdf5"
    sent = {
        A: {"name": "app", "debug_id": "5f70c280-e772-ba56-5ca5-b7f878042c33", "chunks": [A]},
        B: {"name": f"/proguard/{uuid}.txt", "chunks": [B]},
    }
    files = assemble.parse_difs(orjson.dumps(sent), 10)
    assert [("app", "5f70c280-e772-ba56-5ca5-b7f878042c33"), (f"/proguard/{uuid}.txt", uuid)] == [
        (f.name, f.debug_id) for f in files
    ]


@pytest.mark.parametrize("sent", [{"nothex": {"name": "x", "chunks": []}}, {A: {"chunks": [A]}}, {A: []}, []])
def test_dif_refusals(sent: object) -> None:
    with pytest.raises(assemble.AssembleError):
        assemble.parse_difs(orjson.dumps(sent), 10)


def test_missing_chunks_in_order_each_once() -> None:
    assembly = assemble.Assembly("debug_file", A, (B, A, B), name="x")
    assert [B] == assemble.missing(assembly, {A: 1, B: None})
    assert [] == assemble.missing(assembly, {A: 1, B: 2})
    assert 5 == assemble.size(assembly, {A: 1, B: 2})  # a repeated chunk counts each time


@pytest.mark.parametrize("artifact", [True, False])
def test_more_chunks_than_a_file_of_the_maximum_size_has_are_refused(artifact: bool) -> None:
    chunk_list = [A] * 1_000_000  # a few bytes a name: nothing is looked at past the count
    sent = (
        {"checksum": A, "chunks": chunk_list, "projects": ["web"]}
        if artifact
        else {A: {"name": "x", "chunks": chunk_list}}
    )
    with pytest.raises(assemble.AssembleError, match="more than a file of the maximum size has"):
        (assemble.parse_artifact if artifact else assemble.parse_difs)(orjson.dumps(sent), 33)


def test_the_dif_answer_has_what_sentry_cli_prints() -> None:
    assembly = assemble.Assembly("debug_file", A, (A,), name="app", debug_id=None)
    reply = assemble.dif_answer(assembly, 10, 1, "2026-01-01T00:00:00.000000Z")
    assert ("ok", [], "app", "any", A) == (
        reply["state"], reply["missingChunks"], reply["dif"]["objectName"], reply["dif"]["cpuName"], reply["dif"]["sha1"]
    )  # fmt: skip
