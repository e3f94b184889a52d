"""Releases, commits, deploys and repositories as Sentry answers them."""

from __future__ import annotations

from typing import Any

import orjson

from sentry_mirror.core.webapi import releases

NOW = "2026-12-03T10:00:00.000000Z"


def made(version: str = "1.0") -> dict[tuple[str, str], Any]:
    reply, change = releases.create("acme", None, orjson.dumps({"version": version, "projects": ["web"]}), {}, NOW)
    assert 201 == reply.status and change is not None and change.release is not None
    return {("acme", version): change.release}


def test_a_new_release_has_what_sentry_cli_reads() -> None:
    release = releases.public(made()[("acme", "1.0")])
    assert ("1.0", NOW, None, 0, [{"slug": "web", "name": "web"}], None) == (
        release["version"], release["dateCreated"], release["dateReleased"], release["newGroups"],
        [{k: p[k] for k in ("slug", "name")} for p in release["projects"]], release["lastCommit"],
    )  # fmt: skip


def test_creating_twice_answers_208_and_changes_nothing() -> None:
    reply, change = releases.create("acme", None, orjson.dumps({"version": "1.0"}), made(), NOW)
    assert (208, None) == (reply.status, change)


def test_a_release_needs_a_version() -> None:
    assert 400 == releases.create("acme", None, b"{}", {}, NOW)[0].status
    assert 400 == releases.create("acme", None, b"[1]", {}, NOW)[0].status


def test_finalize_and_set_commits() -> None:
    known = made()
    reply, change = releases.update("acme", "1.0", orjson.dumps({"dateReleased": NOW}), known)
    assert NOW == reply.body["dateReleased"] and change is not None
    refs = {"refs": [{"repository": "acme/web", "commit": "abc", "previousCommit": None}]}
    reply, change = releases.update("acme", "1.0", orjson.dumps(refs), known)
    assert (1, {"id": "abc", "repository": "acme/web"}) == (reply.body["commitCount"], reply.body["lastCommit"])
    assert 404 == releases.update("acme", "2.0", b"{}", known)[0].status


def test_deploys_need_an_environment_and_a_known_release() -> None:
    known = made()
    reply, change = releases.deploy(
        "acme", "1.0", orjson.dumps({"environment": "production", "name": "ci"}), known, NOW
    )
    assert (201, "production", NOW) == (reply.status, reply.body["environment"], reply.body["dateFinished"])
    assert change is not None and change.release is not None and 1 == len(change.release["deploys"])
    assert 400 == releases.deploy("acme", "1.0", b"{}", known, NOW)[0].status
    assert 404 == releases.deploy("acme", "9", b"{}", known, NOW)[0].status


def test_previous_release_with_commits() -> None:
    known = {**made("0.9"), **made("1.0")}
    assert {} == releases.previous_with_commits("acme", "1.0", known).body
    known["acme", "0.9"] = {**known["acme", "0.9"], "commits": [{"id": "abc"}]}
    assert {"id": "abc"} == releases.previous_with_commits("acme", "1.0", known).body["lastCommit"]
    assert 404 == releases.previous_with_commits("acme", "2.0", known).status


def test_repositories_have_the_fields_sentry_cli_needs() -> None:
    [repo] = releases.repositories(["acme/web"], NOW)
    assert {"id", "name", "url", "provider", "status", "dateCreated"} <= set(repo)
    assert {"id", "name"} <= set(repo["provider"])
