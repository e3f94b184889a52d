"""Web API routing: which endpoint a path is, and the record's title."""

from __future__ import annotations

import tracemalloc

from sentry_mirror.core.webapi import routes


def test_the_index_and_the_routes_sentry_cli_calls() -> None:
    assert ("api_index", {}) == routes.route("/api/0/")[:2]
    name, params, methods = routes.route("/api/0/organizations/my%20org/releases/1.0%2B1/deploys/")
    assert ("api_deploys", {"org": "my org", "version": "1.0+1"}, {"GET", "POST"}) == (name, dict(params), methods)
    assert "api_unknown" == routes.route("/api/0/organizations/acme/nothing/")[0]


def test_long_paths_are_not_kept_after_routing() -> None:
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for n in range(20):
            routes.route(f"/api/0/organizations/acme/releases/{n}{'v' * (1 << 20)}/")
        kept = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert kept < 4 << 20, kept  # 20 paths of 1 MiB: none held


def test_titles_are_clipped_as_event_titles_are() -> None:
    title = routes.title("api_release", "PUT", "v" * 1_000_000, "note")
    assert title.startswith("update release vvv") and len(title) <= 200
