"""Which web API endpoint a path is (the routes sentry-cli calls), and the answer type.

Only paths that cannot be ingestion paths are web API paths: ``/api/0/envelope/`` is project
0's envelope endpoint, ``/api/0/organizations/...`` is Sentry's web API."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any
from urllib.parse import unquote

from sentry_mirror.core.summary import clip

_ORG = r"(?P<org>[^/]+)"
_PROJECT = r"(?P<project>[^/]+)"
_VERSION = r"(?P<version>[^/]+)"
_ROUTES: tuple[tuple[str, re.Pattern[str], frozenset[str]], ...] = tuple(
    (name, re.compile(pattern + r"/?$"), frozenset(methods))
    for name, pattern, methods in (
        ("api_index", r"^/api/0", {"GET"}),
        ("api_chunk_upload", rf"^/api/0/organizations/{_ORG}/chunk-upload", {"GET", "POST"}),
        ("api_artifact_assemble", rf"^/api/0/organizations/{_ORG}/artifactbundle/assemble", {"POST"}),
        ("api_dif_assemble", rf"^/api/0/projects/{_ORG}/{_PROJECT}/files/difs/assemble", {"POST"}),
        ("api_releases", rf"^/api/0/organizations/{_ORG}/releases", {"GET", "POST"}),
        ("api_releases", rf"^/api/0/projects/{_ORG}/{_PROJECT}/releases", {"GET", "POST"}),
        ("api_release", rf"^/api/0/organizations/{_ORG}/releases/{_VERSION}", {"GET", "PUT", "DELETE"}),
        ("api_release", rf"^/api/0/projects/{_ORG}/{_PROJECT}/releases/{_VERSION}", {"GET", "PUT", "DELETE"}),
        ("api_release_commits", rf"^/api/0/organizations/{_ORG}/releases/{_VERSION}/commits", {"GET"}),
        (
            "api_previous_with_commits",
            rf"^/api/0/organizations/{_ORG}/releases/{_VERSION}/previous-with-commits",
            {"GET"},
        ),
        ("api_deploys", rf"^/api/0/organizations/{_ORG}/releases/{_VERSION}/deploys", {"GET", "POST"}),
        ("api_repos", rf"^/api/0/organizations/{_ORG}/repos", {"GET"}),
    )
)
#: Where the web API lives; any other path under these is ``api_unknown`` (404 as Sentry).
PREFIXES = ("/api/0/organizations/", "/api/0/projects/")


@dataclass(frozen=True)
class ApiAnswer:
    """A web API answer: status, a JSON-able body (None: no body), extra headers."""

    status: int
    body: Any = None
    headers: tuple[tuple[str, str], ...] = ()


def is_api(path: str) -> bool:
    """True for a web API path (never for an ingestion path such as ``/api/0/envelope/``)."""
    return path.startswith(PREFIXES) or path.rstrip("/") == "/api/0"


def route(path: str) -> tuple[str, Mapping[str, str], frozenset[str]]:
    """(endpoint name, path parameters URL-decoded, allowed methods) of a web API path;
    ``api_unknown`` when none matches. Not cached: a path can be a megabyte long."""
    for name, pattern, methods in _ROUTES:
        match = pattern.match(path)
        if match:
            return name, MappingProxyType({k: unquote(v) for k, v in match.groupdict().items()}), methods
    return "api_unknown", MappingProxyType({}), frozenset()


_ACTIONS = {
    ("api_index", "GET"): "check the token",
    ("api_chunk_upload", "GET"): "chunk upload options",
    ("api_chunk_upload", "POST"): "upload chunks",
    ("api_artifact_assemble", "POST"): "assemble artifact bundle",
    ("api_dif_assemble", "POST"): "assemble debug files",
    ("api_releases", "GET"): "list releases",
    ("api_releases", "POST"): "new release",
    ("api_release", "GET"): "get release",
    ("api_release", "PUT"): "update release",
    ("api_release", "DELETE"): "delete release",
    ("api_release_commits", "GET"): "release commits",
    ("api_previous_with_commits", "GET"): "previous release with commits",
    ("api_deploys", "GET"): "list deploys",
    ("api_deploys", "POST"): "new deploy",
    ("api_repos", "GET"): "list repositories",
}


def title(name: str, method: str, release: str | None, note: str | None = None) -> str:
    """What a web API record is, for ``inspect`` and the live line: ``new release 1.0.0``,
    ``upload chunks: 3 chunks``, ``assemble artifact bundle: ok``; clipped as event titles are."""
    action = _ACTIONS.get((name, method), f"{method} {name}")
    text = f"{action} {release}" if release else action
    return clip(f"{text}: {note}" if note else text)
