"""One release of the ``releases`` section (:mod:`.releases`): what its events, the web API
calls naming it and the artifact bundles uploaded for it say, bounded and mergeable.

Web API bodies are read as sentry-cli sends them (``src/api/mod.rs``: ``NewRelease``,
``UpdatedRelease`` with ``refs`` of ``{"repository", "commit", "previousCommit"}`` and
``commits`` of ``{"id", "repository", ...}``, ``Deploy`` of ``{"environment", "name", "url",
"dateStarted", "dateFinished"}``); a field of another type is ignored.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from sentry_mirror.core.report.bounded import Capped, Json, by_count
from sentry_mirror.core.report.uploads import Upload, text

#: Environments, dists, projects, repositories, refs, deploys and event debug ids kept per release.
MAX_PER_RELEASE = 50


class Release:
    """One release's figures."""

    __slots__ = ("bundle_debug_ids", "bundle_dists", "bundle_files", "bundles", "commits", "created", "debug_ids",
                 "deploy_count", "deploys", "dists", "environments", "events", "finalized", "first", "js_events",
                 "last", "projects", "refs", "repositories", "set_commits", "updates")  # fmt: skip

    def __init__(self) -> None:
        self.events = self.js_events = self.created = self.updates = self.deploy_count = 0
        self.bundles = self.bundle_debug_ids = self.commits = 0
        self.first: str | None = None
        self.last: str | None = None
        self.environments = Capped(MAX_PER_RELEASE)
        self.dists = Capped(MAX_PER_RELEASE)
        self.bundle_dists = Capped(MAX_PER_RELEASE)
        self.bundle_files = Capped(MAX_PER_RELEASE)
        self.projects = Capped(MAX_PER_RELEASE)
        self.debug_ids: dict[str, None] = {}  # in the order met
        self.finalized: str | None = None
        self.set_commits = False
        self.refs: list[Json] = []
        self.repositories = Capped(MAX_PER_RELEASE)
        self.deploys: list[Json] = []

    # ------------------------------------------------------------ feeding

    def event(self, event: Mapping[str, Any], received: str, js: bool, debug_ids: Iterable[str]) -> None:
        self.events += 1
        self.js_events += js
        self._seen(received or None, received or None)
        environment, dist = text(event.get("environment"), 64), text(event.get("dist"), 64)
        if environment:
            self.environments.add(environment)
        if dist:
            self.dists.add(dist)
        for ident in debug_ids:
            if len(self.debug_ids) < MAX_PER_RELEASE:
                self.debug_ids[ident] = None

    def _seen(self, first: str | None, last: str | None) -> None:
        if first is not None and (self.first is None or first < self.first):
            self.first = first
        if last is not None and (self.last is None or last > self.last):
            self.last = last

    def update(self, body: Mapping[str, Any], *, created: bool) -> None:
        """A release created (``api_releases`` POST) or updated (``api_release`` PUT)."""
        if created:
            self.created += 1
        else:
            self.updates += 1
        projects = body.get("projects")
        for project in projects if isinstance(projects, list) else ():
            if isinstance(project, str | int) and not isinstance(project, bool):
                self.projects.add(str(project)[:100])
        released = text(body.get("dateReleased"), 64)
        if released:
            self.finalized = released
        refs, commits = body.get("refs"), body.get("commits")
        if isinstance(refs, list) or isinstance(commits, list):
            self._commits(refs if isinstance(refs, list) else [], commits if isinstance(commits, list) else [])

    def _commits(self, refs: list[Any], commits: list[Any]) -> None:
        """``set-commits``: the refs and commits replace those set before (as Sentry's)."""
        self.set_commits = True
        self.refs = []
        self.repositories = Capped(MAX_PER_RELEASE)
        self.commits = 0
        for ref in refs:
            if not isinstance(ref, dict):
                continue
            repository = text(ref.get("repository"))
            if repository:
                self.repositories.add(repository)
            if len(self.refs) < MAX_PER_RELEASE:
                self.refs.append(
                    {
                        "repository": repository,
                        "commit": text(ref.get("commit")),
                        "previous": text(ref.get("previousCommit")),
                    }
                )
        for commit in commits:
            if isinstance(commit, dict) and text(commit.get("id")):
                self.commits += 1
                repository = text(commit.get("repository"))
                if repository:
                    self.repositories.add(repository)

    def deploy(self, body: Mapping[str, Any]) -> None:
        """An ``api_deploys`` POST."""
        self.deploy_count += 1
        if len(self.deploys) < MAX_PER_RELEASE:
            self.deploys.append(
                {
                    "environment": text(body.get("environment"), 64),
                    "name": text(body.get("name")),
                    "url": text(body.get("url"), 1000),
                    "finished": text(body.get("dateFinished"), 64),
                }
            )

    def bundle(self, upload: Upload) -> None:
        self.bundles += 1
        self.bundle_dists.add(upload.dist)
        for file in upload.files:
            self.bundle_files.add(file.type)
            self.bundle_debug_ids += file.debug_id is not None

    # ------------------------------------------------------------ merge and result

    def merge(self, other: Release) -> None:
        """Add ``other``'s figures (its records read after this one's)."""
        for name in ("events", "js_events", "created", "updates", "deploy_count", "bundles", "bundle_debug_ids"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self._seen(other.first, other.last)
        for name in ("environments", "dists", "bundle_dists", "bundle_files", "projects"):
            getattr(self, name).merge(getattr(other, name))
        for ident in other.debug_ids:
            if len(self.debug_ids) < MAX_PER_RELEASE:
                self.debug_ids[ident] = None
        self.finalized = other.finalized or self.finalized
        if other.set_commits:  # the later set-commits replaces the earlier
            self.set_commits, self.refs, self.commits = True, list(other.refs), other.commits
            self.repositories = Capped(MAX_PER_RELEASE)
            self.repositories.merge(other.repositories)
        self.deploys += other.deploys[: MAX_PER_RELEASE - len(self.deploys)]

    def has_upload(self, uploaded: set[str]) -> bool:
        """A bundle names the release, or holds a debug id its events carry."""
        return bool(self.bundles) or not uploaded.isdisjoint(self.debug_ids)

    def to_json(self, uploaded: set[str]) -> Json:
        return {
            "events": self.events,
            "js_events": self.js_events,
            "first_seen": self.first,
            "last_seen": self.last,
            "environments": by_count(self.environments),
            "dists": by_count(self.dists),
            "created": self.created,
            "updates": self.updates,
            "projects": sorted(self.projects),
            "finalized": self.finalized,
            "refs": self.refs,
            "commits": self.commits,
            "repositories": sorted(self.repositories),
            "deploys": self.deploys,
            "deploy_count": self.deploy_count,
            "bundles": self.bundles,
            "bundle_dists": by_count(self.bundle_dists),
            "bundle_files": by_count(self.bundle_files),
            "bundle_debug_ids": self.bundle_debug_ids,
            "has_upload": self.has_upload(uploaded),
        }
