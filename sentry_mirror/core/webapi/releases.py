"""Releases, their commits and deploys, and the organisation's repositories, answered from
what this listener was told (releases created in this run), as Sentry's
``OrganizationReleasesEndpoint``, ``OrganizationReleaseDetailsEndpoint`` and
``ReleaseDeploysEndpoint`` answer: each handler takes a read-only view of the releases and
returns the answer and the change to make (the caller applies it).

sentry-cli reads of a release (``ReleaseInfo``): ``version``, ``dateCreated`` (required),
``dateReleased``, ``lastEvent``, ``newGroups``, ``projects`` (``slug``, ``name``) and
``lastCommit`` (``id``); of a deploy: ``environment``, ``name``, ``url``, ``dateStarted``,
``dateFinished``; of a repository: ``id``, ``name``, ``url``, ``provider`` (``id``, ``name``),
``status``, ``dateCreated``."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sentry_mirror.core import bounds, lenient
from sentry_mirror.core.webapi.routes import ApiAnswer

#: Sentry's 404 detail (DRF's NotFound / ResourceDoesNotExist).
NOT_FOUND = "The requested resource does not exist"
#: A release as kept: its answer fields, plus ``commits`` and ``deploys`` lists.
Release = Mapping[str, Any]
#: Sentry's longest release version (``ReleaseSerializer``).
MAX_VERSION = 200
#: What a listener keeps at most: releases (the oldest let go), commits and refs a release,
#: deploys a release (the oldest let go), projects a release; a list answer's length (Sentry's page).
MAX_RELEASES = 1000
MAX_COMMITS = 1000
MAX_DEPLOYS = 100
MAX_PROJECTS = 100
PAGE = 100


def _kept(value: Any) -> Any:
    """A scalar field as kept: strings cut to :data:`~sentry_mirror.core.bounds.MAX_HEADER_STRING`,
    anything but a string, number, boolean or null dropped."""
    if isinstance(value, str):
        return value if len(value) <= bounds.MAX_HEADER_STRING else value[: bounds.MAX_HEADER_STRING] + "…"
    return value if value is None or isinstance(value, (bool, int, float)) else None


def _objects(values: list[Any], limit: int) -> list[dict[str, Any]]:
    """At most ``limit`` of the JSON objects in ``values``, each cut as summaries cut headers."""
    return [bounds.header(v)[0] for v in values if isinstance(v, dict)][:limit]


@dataclass(frozen=True)
class Change:
    """Put ``release`` (None: delete) under ``(org, version)``."""

    org: str
    version: str
    release: dict[str, Any] | None


def not_found() -> ApiAnswer:
    return ApiAnswer(404, {"detail": NOT_FOUND})


def _body(body: bytes) -> dict[str, Any] | ApiAnswer:
    data = lenient.loads_or_none(body) if body else {}
    return data if isinstance(data, dict) else ApiAnswer(400, {"detail": "Invalid json body: expected a JSON object"})


def _release_and_body(
    org: str, version: str, body: bytes, releases: Mapping[tuple[str, str], Release]
) -> tuple[Release, dict[str, Any]] | ApiAnswer:
    """The release a PUT or deploy names and its JSON body; else Sentry's 404 or 400."""
    existing = releases.get((org, version))
    if existing is None:
        return not_found()
    data = _body(body)
    return data if isinstance(data, ApiAnswer) else (existing, data)


def public(release: Release) -> dict[str, Any]:
    """The release as Sentry answers it (without the deploy list kept beside it)."""
    commits = release.get("commits", [])
    deploys = release.get("deploys", [])
    return {
        **{k: v for k, v in release.items() if k not in ("commits", "deploys")},
        "commitCount": len(commits),
        "lastCommit": commits[-1] if commits else None,
        "deployCount": len(deploys),
        "lastDeploy": deploys[-1] if deploys else None,
    }


def _projects(value: Any) -> list[dict[str, Any]]:
    slugs = [str(_kept(s)) for s in value[:MAX_PROJECTS]] if isinstance(value, list) else []
    return [{"slug": s, "name": s, "id": s, "platform": None, "newGroups": 0} for s in slugs]


def create(
    org: str, project: str | None, body: bytes, releases: Mapping[tuple[str, str], Release], now: str
) -> tuple[ApiAnswer, Change | None]:
    """POST releases: 201 with the new release, 208 with the existing one (as Sentry)."""
    data = _body(body)
    if isinstance(data, ApiAnswer):
        return data, None
    version = data.get("version")
    if not isinstance(version, str) or not version.strip():
        return ApiAnswer(400, {"version": ["This field is required."]}), None
    if len(version) > MAX_VERSION:
        return ApiAnswer(400, {"version": [f"Ensure this field has no more than {MAX_VERSION} characters."]}), None
    existing = releases.get((org, version))
    if existing is not None:
        return ApiAnswer(208, public(existing)), None
    projects = data.get("projects") or ([project] if project else [])
    release: dict[str, Any] = {
        "version": version,
        "shortVersion": version,
        "ref": _kept(data.get("ref")),
        "url": _kept(data.get("url")),
        "dateCreated": now,
        "dateStarted": _kept(data.get("dateStarted")),
        "dateReleased": _kept(data.get("dateReleased")),
        "lastEvent": None,
        "firstEvent": None,
        "newGroups": 0,
        "data": {},
        "authors": [],
        "owner": None,
        "projects": _projects(projects),
        "commits": [],
        "deploys": [],
    }
    return ApiAnswer(201, public(release)), Change(org, version, release)


def _commits(data: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """The commits a PUT sets: ``commits`` as sent, or one per ``refs`` head (Sentry fetches
    the range from the provider; the mirror keeps the head it was given)."""
    if isinstance(data.get("commits"), list):
        sent = data["commits"][:MAX_COMMITS]
        return _objects([c if isinstance(c, dict) else {"id": _kept(str(c))} for c in sent], MAX_COMMITS)
    if isinstance(data.get("refs"), list):
        heads = _objects(data["refs"], MAX_COMMITS)
        return [{"id": _kept(str(r.get("commit"))), "repository": _kept(r.get("repository"))} for r in heads]
    return None


def update(
    org: str, version: str, body: bytes, releases: Mapping[tuple[str, str], Release]
) -> tuple[ApiAnswer, Change | None]:
    """PUT a release: ``dateReleased`` (finalize), ``url``, ``refs``/``commits`` (set-commits), ``projects``."""
    found = _release_and_body(org, version, body, releases)
    if isinstance(found, ApiAnswer):
        return found, None
    existing, data = found
    release = dict(existing)
    for field in ("dateReleased", "url", "ref", "status", "dateStarted"):
        if field in data:
            release[field] = _kept(data[field])
    if isinstance(data.get("projects"), list):
        release["projects"] = _projects(data["projects"])
    commits = _commits(data)
    if commits is not None:
        release["commits"] = commits
    if isinstance(data.get("refs"), list):
        release["refs"] = _objects(data["refs"], MAX_COMMITS)
    return ApiAnswer(200, public(release)), Change(org, version, release)


def deploy(
    org: str, version: str, body: bytes, releases: Mapping[tuple[str, str], Release], now: str
) -> tuple[ApiAnswer, Change | None]:
    """POST a deploy of a release: 201 with it; ``environment`` is required."""
    found = _release_and_body(org, version, body, releases)
    if isinstance(found, ApiAnswer):
        return found, None
    existing, data = found
    environment = data.get("environment")
    if not isinstance(environment, str) or not environment:
        return ApiAnswer(400, {"environment": ["This field is required."]}), None
    deploys = list(existing.get("deploys", []))
    made = {
        "id": str(int(deploys[-1]["id"]) + 1 if deploys else 1),
        "environment": _kept(environment),
        "name": _kept(data.get("name")),
        "url": _kept(data.get("url")),
        "dateStarted": _kept(data.get("dateStarted")),
        "dateFinished": _kept(data.get("dateFinished")) or now,
    }
    kept = [*deploys, made][-MAX_DEPLOYS:]  # the oldest let go
    return ApiAnswer(201, made), Change(org, version, {**existing, "deploys": kept})


def previous_with_commits(org: str, version: str, releases: Mapping[tuple[str, str], Release]) -> ApiAnswer:
    """The release made before ``version`` that has commits, or ``{}`` (what sentry-cli reads as none)."""
    if (org, version) not in releases:
        return not_found()
    earlier = None
    for (owner, name), release in releases.items():  # in creation order
        if (owner, name) == (org, version):
            break
        if owner == org and release.get("commits"):
            earlier = release
    return ApiAnswer(200, public(earlier) if earlier else {})


def repositories(names: list[str], created: str) -> list[dict[str, Any]]:
    """The organisation's repositories as Sentry lists them."""
    return [
        {
            "id": str(number),
            "name": name,
            "url": None,
            "provider": {"id": "integrations:mirror", "name": "sentry-mirror"},
            "status": "active",
            "dateCreated": created,
            "integrationId": None,
            "externalSlug": name,
        }
        for number, name in enumerate(names, 1)
    ]


def trim(releases: dict[tuple[str, str], Any]) -> int:
    """Let the oldest releases go past :data:`MAX_RELEASES`; how many went."""
    extra = max(len(releases) - MAX_RELEASES, 0)
    for key in list(releases)[:extra]:
        del releases[key]
    return extra
