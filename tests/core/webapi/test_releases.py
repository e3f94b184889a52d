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


def test_the_current_release_is_found_in_its_own_org() -> None:
    other = releases.create("other", None, orjson.dumps({"version": "1.0"}), {}, NOW)[1]
    assert other is not None and other.release is not None
    known = {("other", "1.0"): other.release, **made("0.9"), **made("1.0")}
    known["acme", "0.9"] = {**known["acme", "0.9"], "commits": [{"id": "abc"}]}
    # another org's 1.0 came first: acme's 1.0 still has 0.9 before it
    assert {"id": "abc"} == releases.previous_with_commits("acme", "1.0", known).body["lastCommit"]


def test_a_version_longer_than_sentrys_is_refused() -> None:
    reply, change = releases.create("acme", None, orjson.dumps({"version": "v" * 201}), {}, NOW)
    assert (400, None) == (reply.status, change) and "200" in reply.body["version"][0]


def test_what_a_release_keeps_is_bounded() -> None:
    known = made()
    sent = {"commits": [{"id": str(n), "message": "m" * 100_000} for n in range(5000)], "url": "u" * 100_000}
    _, change = releases.update("acme", "1.0", orjson.dumps(sent), known)
    assert change is not None and change.release is not None
    kept = change.release
    assert releases.MAX_COMMITS == len(kept["commits"])
    assert len(kept["url"]) <= 1025 and all(len(c["message"]) <= 1025 for c in kept["commits"])
    known["acme", "1.0"] = kept
    for _ in range(releases.MAX_DEPLOYS + 5):
        _, change = releases.deploy("acme", "1.0", orjson.dumps({"environment": "prod"}), known, NOW)
        assert change is not None and change.release is not None
        known["acme", "1.0"] = change.release
    deploys = known["acme", "1.0"]["deploys"]
    assert releases.MAX_DEPLOYS == len(deploys) and str(releases.MAX_DEPLOYS + 5) == deploys[-1]["id"]


def test_the_oldest_releases_are_let_go() -> None:
    known = {("acme", str(n)): {"version": str(n)} for n in range(releases.MAX_RELEASES + 3)}
    assert 3 == releases.trim(known)
    assert releases.MAX_RELEASES == len(known) and ("acme", "0") not in known and ("acme", "3") in known
