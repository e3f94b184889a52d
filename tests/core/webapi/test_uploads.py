"""Upload records: what a bundle's manifest says, one item per file; a debug file's one item."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from sentry_mirror.core import record
from sentry_mirror.core.webapi import assemble, uploads
from tests.factories import make_artifact_bundle

REQUEST = {"id": "a" * 32, "path": "/api/0/organizations/acme/artifactbundle/assemble/", "remote_addr": "127.0.0.1:1"}


def test_a_bundle_lists_its_manifest_files() -> None:
    bundle = make_artifact_bundle(
        {
            "~/app.min.js": ("minified_source", b"x()", {"debug-id": "d1", "sourcemap": "app.min.js.map"}),
            "~/app.min.js.map": ("source_map", b"{}", {"Debug-Id": "d1"}),
        },
        release="1.0",
    )
    sha = hashlib.sha1(bundle).hexdigest()
    assembly = assemble.Assembly("artifact_bundle", sha, (sha,), projects=("web",))
    entry = uploads.build(
        bundle, assembly, request=REQUEST, org="acme", project=None, answer=b'{"state":"ok"}',
        received_at=datetime.now(UTC),
    )  # fmt: skip
    assert [("minified_source", "~/app.min.js", "d1", 3), ("source_map", "~/app.min.js.map", "d1", 2)] == [
        (i["type"], i["headers"]["url"], i["headers"]["debug_id"], i["size"]) for i in entry["summary"]["items"]
    ]
    assert ("upload", "1.0", "1.0", REQUEST["id"]) == (
        entry["endpoint"], entry["summary"]["release"], entry["upload"]["release"], entry["upload"]["request_id"]
    )  # fmt: skip
    assert bundle == record.decode_bytes(entry["body"], entry["body_base64"])
    assert "artifact bundle 1.0: 2 files" == entry["summary"]["title"]


def test_a_file_that_is_not_a_bundle_is_still_stored() -> None:
    items, manifest = uploads.bundle_items(b"PK\x03\x04 not really a zip")
    assert ([], {}) == (items, manifest)


def test_long_urls_names_and_releases_are_cut_and_debug_ids_normalized() -> None:
    debug_id = "2B5FA5A9-D0E0-5155-8AD5-5B10C1B2A326"
    bundle = make_artifact_bundle({"~/" + "a" * 5000: ("minified_source", b"x()", {"debug-id": debug_id})})
    sha = hashlib.sha1(bundle).hexdigest()
    assembly = assemble.Assembly("artifact_bundle", sha, (sha,), projects=("web",), version="v" * 1_000_000)
    entry = uploads.build(
        bundle, assembly, request=REQUEST, org="acme", project=None, answer=b"{}", received_at=datetime.now(UTC)
    )
    [item] = entry["summary"]["items"]
    assert len(item["headers"]["url"]) <= 1025 and debug_id.lower() == item["headers"]["debug_id"]
    assert len(entry["summary"]["title"]) <= 200
    dif = uploads.debug_file_item(assemble.Assembly("debug_file", sha, (sha,), name="n" * 100_000), 1)
    assert len(dif["headers"]["name"]) <= 1025
