"""The URL rule (Symbolicator's candidate URLs, ``~/`` for any host) and joining map URLs."""

from __future__ import annotations

import pytest

from sentry_mirror.core.sourcemaps.bundle import Bundle, BundleFile
from sentry_mirror.core.sourcemaps.index import Index, candidate_urls, join_url


@pytest.mark.parametrize(
    ("abs_path", "expected"),
    [
        ("https://cdn.example.com/js/app.js", ["https://cdn.example.com/js/app.js", "~/js/app.js"]),
        (
            "https://cdn.example.com/js/app.js?v=2#x",
            [
                "https://cdn.example.com/js/app.js?v=2",
                "https://cdn.example.com/js/app.js",
                "~/js/app.js?v=2",
                "~/js/app.js",
            ],
        ),
        ("app:///dist/app.js", ["app:///dist/app.js", "~/dist/app.js"]),
        ("/srv/app/dist/app.js", ["/srv/app/dist/app.js", "~/srv/app/dist/app.js"]),
        ("~/dist/app.js", ["~/dist/app.js"]),
        ("<anonymous>", ["<anonymous>"]),
    ],
)
def test_candidate_urls(abs_path: str, expected: list[str]) -> None:
    assert candidate_urls(abs_path) == expected


@pytest.mark.parametrize(
    ("base", "reference", "expected"),
    [
        ("~/dist/app.min.js", "app.min.js.map", "~/dist/app.min.js.map"),
        ("~/dist/app.min.js", "../maps/app.map", "~/maps/app.map"),
        ("https://cdn.example.com/js/app.js", "app.js.map", "https://cdn.example.com/js/app.js.map"),
        ("~/dist/app.min.js", "https://maps.example.com/a.map", "https://maps.example.com/a.map"),
    ],
)
def test_join_url(base: str, reference: str, expected: str) -> None:
    assert join_url(base, reference) == expected


def test_release_and_dist_must_both_match() -> None:
    file = BundleFile("files/_/_/app.js", "~/app.js", "minified_source", None, None, 0, "files/_/_/app.js")
    index = Index()
    index.add_bundle(Bundle("c", (file,), release="web@1", dist="7"), None, None)
    assert index.release_file("web@1", "7", "https://example.com/app.js") is file
    assert index.release_file("web@1", None, "https://example.com/app.js") is None
    assert index.release_file("web@2", "7", "https://example.com/app.js") is None


def test_each_bundle_is_held_once() -> None:
    bundle = Bundle("c", (BundleFile("p", "~/a.js", "minified_source", None, None, 0, "p"),))
    index, other = Index(), Index()
    index.add_bundle(bundle, "web@1", None)
    other.add_bundle(bundle, "web@1", None)
    index.merge(other)
    assert list(index.bundles) == [("c", "web@1", None)]
