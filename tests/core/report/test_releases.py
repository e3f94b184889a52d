"""The ``releases`` section: releases in events, the web API calls sentry-cli makes (bodies
as its ``src/api/mod.rs`` serialises them), upload records, mismatches, bounds and merging."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sentry_mirror.core import record, report
from sentry_mirror.core.report import release_row, releases, uploads
from sentry_mirror.core.report.bounded import OTHER
from sentry_mirror.core.report.view import RecordView
from sentry_mirror.core.sourcemaps.events import Event
from tests.factories import (
    T0,
    make_api_record,
    make_artifact_bundle,
    make_envelope,
    make_event,
    make_record,
    make_request,
    make_upload,
)

DEBUG_ID = "c941d872-b1c4-4e0b-9b6e-8b3a2c4d5e6f"


def event_record(
    release: str | None = "1.0", *, platform: str = "javascript", minutes: int = 0, **event: Any
) -> dict[str, Any]:
    payload = make_event(platform=platform, **event)
    if release is not None:
        payload["release"] = release
    else:
        payload.pop("release", None)
    body = make_envelope(items=[({"type": "event"}, payload)])
    return make_record(make_request(body=body), id=record.new_id(), received_at=T0 + timedelta(minutes=minutes))


def api_record(
    endpoint: str, method: str, path: str, body: Any, *, status: int = 200, release: str | None = None
) -> dict[str, Any]:
    return make_api_record(endpoint, method, path, body, status=status, release=release)


def new_release(version: str, **fields: Any) -> dict[str, Any]:
    """``sentry-cli releases new VERSION`` (``NewRelease``)."""
    body = {"version": version, "projects": ["web"], **fields}
    return api_record("api_releases", "POST", "/api/0/organizations/acme/releases/", body, status=201)


def put_release(version: str, body: Any, **kwargs: Any) -> dict[str, Any]:
    """``set-commits`` / ``finalize`` (``UpdatedRelease``, PUT on the release)."""
    return api_record(
        "api_release", "PUT", f"/api/0/organizations/acme/releases/{version}/", body, release=version, **kwargs
    )


def deploy(version: str, environment: str = "production", **fields: Any) -> dict[str, Any]:
    body = {"environment": environment, "name": None, "url": None, "dateStarted": None, "dateFinished": None, **fields}
    path = f"/api/0/organizations/acme/releases/{version}/deploys/"
    return api_record("api_deploys", "POST", path, body, status=201, release=version)


def bundle_upload(release: str | None = "1.0", debug_id: str | None = DEBUG_ID, **upload: Any) -> dict[str, Any]:
    headers = {"debug-id": debug_id} if debug_id else {}
    files = {
        "~/app.min.js": (
            "minified_source",
            b"function a(){throw new Error}",
            {**headers, "sourcemap": "app.min.js.map"},
        ),
        "~/app.min.js.map": ("source_map", b'{"version":3}', headers),
    }
    attributes = {"org": "acme", **({"release": release} if release else {})}
    return make_upload(make_artifact_bundle(files, **attributes), release=release, **upload)


def sourcemap_image(debug_id: str) -> dict[str, Any]:
    """``debug_meta`` giving the events' file (``~/app.min.js``) ``debug_id``."""
    return {"images": [{"type": "sourcemap", "code_file": "~/app.min.js", "debug_id": debug_id}]}


def section(records: list[dict[str, Any]], frames: releases.Frames | None = None) -> dict[str, Any]:
    aggregator = releases.Releases(frames)
    for data in records:
        aggregator.add(RecordView(data))
    return aggregator.result()


def row(data: Mapping[str, Any], version: str) -> dict[str, Any]:
    return next(r for r in data["releases"] if r["version"] == version)


# ---------------------------------------------------------------- events


def test_events_per_release() -> None:
    data = section(
        [
            event_record("1.0", minutes=2, environment="production", dist="7"),
            event_record("1.0", minutes=1, environment="staging", platform="python"),
            event_record("2.0", minutes=3),
            event_record(None),
            event_record(None, platform="python"),
        ]
    )
    one = row(data, "1.0")
    assert (5, 2, 2, 1) == (
        data["events"],
        one["events"],
        data["mismatches"]["events_without_release"],
        one["js_events"],
    )
    assert 1 == data["mismatches"]["js_events_without_release"]
    assert (record.format_time(T0 + timedelta(minutes=1)), record.format_time(T0 + timedelta(minutes=2))) == (
        one["first_seen"],
        one["last_seen"],
    )
    assert {"production": 1, "staging": 1} == one["environments"] and {"7": 1} == one["dists"]
    assert ["1.0", "2.0"] == [r["version"] for r in data["releases"]]  # most events first
    assert 2 == data["release_count"]


def test_only_error_events_with_javascript_frames_need_an_upload() -> None:
    """Browser transactions and feedback count as events, never as events needing a map
    (``sourcemaps check`` reads only error events' frames); nor does an error event with no
    stack trace."""
    transaction = {"type": "transaction", "platform": "javascript", "release": "1.0", "transaction": "/"}
    feedback = {"type": "feedback", "platform": "javascript", "release": "1.0", "contexts": {}}
    records = [
        make_record(make_request(body=make_envelope(items=[({"type": kind}, payload)])), id=record.new_id())
        for kind, payload in (("transaction", transaction), ("feedback", feedback))
    ]
    records.append(event_record("1.0", exception=None, message="no stack"))
    records.append(event_record(None, exception=None, message="no stack"))
    data = section(records)
    assert (4, 3, 0) == (data["events"], row(data, "1.0")["events"], row(data, "1.0")["js_events"])
    assert (0, 0) == (data["mismatches"]["events_no_upload"]["count"], data["mismatches"]["js_events_without_release"])
    assert "1 release, no JavaScript events" == data["answer"]


def test_refused_events_are_not_read() -> None:
    refused = {**event_record("1.0"), "response": {"status": 429, "headers": [], "body": "", "body_base64": False}}
    assert 0 == section([refused])["events"]


def test_summary_release_when_the_event_does_not_decode() -> None:
    broken = {
        **event_record("1.0"),
        "body": "not an envelope",
        "summary": {"release": "9.9", "items": [{"type": "event"}]},
    }
    assert 1 == row(section([broken]), "9.9")["events"]


# ---------------------------------------------------------------- web API


def test_release_commits_finalize_and_deploys() -> None:
    refs = [{"repository": "acme/web", "commit": "a" * 40, "previousCommit": None}]
    data = section(
        [
            new_release("1.0", projects=["web", 42]),
            put_release("1.0", {"refs": refs}),
            put_release("1.0", {"projects": ["web"], "dateReleased": "2026-12-03T10:00:00Z"}),
            deploy("1.0", name="deploy 1", url="https://example.com"),
            deploy("1.0", environment="staging"),
            new_release("2.0"),
        ]
    )
    one = row(data, "1.0")
    assert (1, 2, ["42", "web"]) == (one["created"], one["updates"], one["projects"])
    assert "2026-12-03T10:00:00Z" == one["finalized"] and ["acme/web"] == one["repositories"]
    assert [{"repository": "acme/web", "commit": "a" * 40, "previous": None}] == one["refs"]
    assert 2 == one["deploy_count"] and ["production", "staging"] == [d["environment"] for d in one["deploys"]]
    assert ("deploy 1", "https://example.com") == (one["deploys"][0]["name"], one["deploys"][0]["url"])
    assert {"count": 1, "versions": ["2.0"]} == data["mismatches"]["not_finalized"]
    assert {"POST api_releases": 2, "PUT api_release": 2, "POST api_deploys": 2} == data["api"]["by_endpoint"]


def test_what_sentry_cli_sends() -> None:
    """The bodies sentry-cli 3.8 sent a capture server for ``releases new 1.0``,
    ``set-commits 1.0 --commit acme/web@SHA`` (which posts the release again first: Sentry's
    POST is create-or-get), ``finalize 1.0`` and ``deploys new -e production -n d1``."""
    sha = "a" * 40
    root = "/api/0/organizations/acme/releases/"
    data = section(
        [
            api_record("api_releases", "POST", root, '{"version":"1.0","projects":["web"],"dateStarted":"2026-12-03T09:44:16.272811311Z"}', status=201),
            api_record("api_repos", "GET", "/api/0/organizations/acme/repos/", ""),
            api_record("api_releases", "POST", root, '{"version":"1.0","projects":["web"]}', status=201),
            put_release("1.0", f'{{"refs":[{{"repository":"acme/web","commit":"{sha}","previousCommit":null}}]}}'),
            put_release("1.0", '{"projects":["web"],"dateReleased":"2026-12-03T09:44:16.430107957Z"}'),
            api_record("api_deploys", "POST", root + "1.0/deploys/", '{"environment":"production","name":"d1","url":null,"dateStarted":null,"dateFinished":"2026-12-03T09:44:16.506423752Z"}', status=201, release="1.0"),
        ]
    )  # fmt: skip
    one = row(data, "1.0")
    assert (2, 2, ["web"], "2026-12-03T09:44:16.430107957Z") == (
        one["created"],
        one["updates"],
        one["projects"],
        one["finalized"],
    )
    assert [{"repository": "acme/web", "commit": sha, "previous": None}] == one["refs"]
    assert [
        {"environment": "production", "name": "d1", "url": None, "finished": "2026-12-03T09:44:16.506423752Z"}
    ] == one["deploys"]
    assert (6, 0, 0) == (data["api"]["requests"], data["api"]["refused"], data["mismatches"]["not_finalized"]["count"])


def test_set_commits_replaces_the_commits_set_before() -> None:
    commits = [
        {"id": "b" * 40, "repository": "acme/api", "patch_set": [], "timestamp": "2026-12-03T10:00:00+00:00"}
    ] * 3
    first = put_release("1.0", {"refs": [{"repository": "acme/web", "commit": "a" * 40}]})
    data = section([first, put_release("1.0", {"commits": commits})])
    one = row(data, "1.0")
    assert (3, [], ["acme/api"]) == (one["commits"], one["refs"], one["repositories"])


def test_a_release_created_finalized_is_finalized() -> None:
    data = section([new_release("1.0", dateReleased="2026-12-03T10:00:00Z")])
    assert 0 == data["mismatches"]["not_finalized"]["count"]


def test_refused_api_calls_are_counted_not_applied() -> None:
    data = section(
        [api_record("api_releases", "POST", "/api/0/organizations/acme/releases/", {"version": "1"}, status=401)]
    )
    assert (1, 1, []) == (data["api"]["requests"], data["api"]["refused"], data["releases"])


def test_the_release_from_the_path_when_the_record_names_none() -> None:
    data = section([{**put_release("v%201", {"dateReleased": "2026-12-03T10:00:00Z"}), "api": None}])
    assert "2026-12-03T10:00:00Z" == row(data, "v 1")["finalized"]


# ---------------------------------------------------------------- uploads


def test_bundles_and_debug_files() -> None:
    data = section(
        [
            bundle_upload("1.0", dist="7"),
            bundle_upload(None, debug_id="D2"),
            make_upload(b"\x7fELF...", kind="debug_file", name="app.debug", debug_id="ABCD-1"),
        ]
    )
    bundles = data["bundles"]
    assert (2, 1, 0) == (bundles["count"], bundles["without_release"], bundles["unreadable"])
    assert {"minified_source": 2, "source_map": 2} == bundles["files_by_type"] and 2 == bundles["debug_ids"]
    one = row(data, "1.0")
    assert (1, {"7": 1}, 2) == (one["bundles"], one["bundle_dists"], one["bundle_debug_ids"])
    files = data["debug_files"]
    assert (1, 7) == (files["count"], files["bytes"])
    assert [{"name": "app.debug", "debug_id": "abcd-1", "size": 7, "kind": "debug_file"}] == files["files"]


def test_the_summary_items_are_read_before_the_body() -> None:
    listed = bundle_upload("1.0")
    listed["summary"]["items"] = [
        {"type": "source", "size": 3, "headers": {"type": "source", "url": "~/a.ts", "debug_id": None}}
    ]
    assert {"source": 1} == section([listed])["bundles"]["files_by_type"]


def test_the_manifest_release_when_the_record_names_none() -> None:
    files = {"~/a.js": ("minified_source", b"x", {})}
    upload = make_upload(make_artifact_bundle(files, release="3.0", dist="2"))
    parsed = uploads.read_upload(upload)
    assert ("3.0", "2", (uploads.UploadFile("minified_source", "~/a.js", None),)) == (
        parsed.release,
        parsed.dist,
        parsed.files,
    )


@pytest.mark.parametrize(
    "written", [DEBUG_ID.replace("-", ""), DEBUG_ID.upper() + "-0", DEBUG_ID.replace("-", "").upper() + "0"]
)
def test_a_debug_id_is_compared_as_sentry_compares_it(written: str) -> None:
    """Without dashes, upper case, with an age of 0: the same debug id, on either side."""
    by_event = section([event_record("1.0", debug_meta=sourcemap_image(written)), bundle_upload(None)])
    assert row(by_event, "1.0")["has_upload"] and 0 == by_event["mismatches"]["events_no_upload"]["count"]
    listed = bundle_upload(None)
    listed["summary"]["items"] = [{"type": "minified_source", "headers": {"url": "~/app.min.js", "debug_id": written}}]
    by_summary = section([event_record("1.0", debug_meta=sourcemap_image(DEBUG_ID)), listed])
    assert row(by_summary, "1.0")["has_upload"]
    debug_file = uploads.read_upload(make_upload(b"MZ", kind="debug_file", debug_id=written))
    assert DEBUG_ID == debug_file.debug_id


def test_another_debug_id_is_no_upload() -> None:
    other = "d941d872-b1c4-4e0b-9b6e-8b3a2c4d5e6f"
    data = section([event_record("1.0", debug_meta=sourcemap_image(other)), bundle_upload(None)])
    assert not row(data, "1.0")["has_upload"]


# ---------------------------------------------------------------- mismatches and the answer


def test_mismatches() -> None:
    data = section(
        [
            event_record("1.0"),  # JS, no bundle
            event_record("2.0"),
            bundle_upload("2.0"),
            event_record("3.0", debug_meta=sourcemap_image(DEBUG_ID.upper())),
            bundle_upload(None),  # 3.0's debug id, no release
            event_record("4.0", platform="python"),  # needs no source map
            bundle_upload("5.0"),  # no event
        ]
    )
    mismatches = data["mismatches"]
    assert {"count": 1, "versions": ["1.0"]} == mismatches["events_no_upload"]
    assert {"count": 1, "versions": ["5.0"]} == mismatches["uploads_no_events"]
    assert row(data, "3.0")["has_upload"] and not row(data, "1.0")["has_upload"]
    assert "1 release has events but no upload; 1 release has uploads but no events" == data["answer"]


def test_answer_lines() -> None:
    assert "no releases, uploads or release API calls in these snapshots" == section([])["answer"]
    assert (
        "every release with JavaScript events has an upload"
        == section([event_record("1"), bundle_upload("1")])["answer"]
    )
    two = section([event_record("1"), event_record("2"), event_record(None), event_record(None), bundle_upload("3")])
    assert (
        "2 releases have events but no upload; 1 release has uploads but no events; 2 JS events have no release"
        == two["answer"]
    )
    assert "1 release, no JavaScript events" == section([event_record("1", platform="python")])["answer"]


class Resolved:
    """A :class:`~releases.Frames` standing in for the ``sourcemaps check`` aggregator:
    every in-app frame of release ``good`` resolves, none other does."""

    def __init__(self) -> None:
        self.frames: dict[str | None, tuple[int, int]] = {}
        self.unchecked = 0

    def add(self, view: RecordView) -> None:
        """Uploads and web API records: nothing to count here."""

    def add_read(self, event: Event | None) -> None:
        if event is not None:
            done, total = self.frames.get(event.release, (0, 0))
            self.frames[event.release] = (done + 10 * (event.release == "good"), total + 10)

    def merge(self, other: Resolved) -> None:
        for release, (done, total) in other.frames.items():
            mine = self.frames.get(release, (0, 0))
            self.frames[release] = (mine[0] + done, mine[1] + total)

    def per_release(self) -> Mapping[str | None, tuple[int, int]]:
        return self.frames


def test_the_share_of_frames_that_resolve() -> None:
    records = [
        *(event_record("good") for _ in range(47)),
        *(event_record("bad") for _ in range(3)),
        bundle_upload("good"),
    ]
    data = section(records, Resolved())
    assert {"resolved": 470, "total": 500, "share": 0.94, "unchecked": 0} == data["frames"]
    assert {"resolved": 0, "total": 30, "share": 0.0} == row(data, "bad")["frames"]
    assert "94% of in-app JS frames resolve; 1 release has events but no upload" == data["answer"]
    assert None is section(records)["frames"] and None is row(section(records), "bad")["frames"]


def test_a_share_never_rounds_to_all() -> None:
    records = [
        *(event_record("good") for _ in range(999)),
        event_record("bad"),
        bundle_upload("good"),
        bundle_upload("bad"),
    ]
    assert section(records, Resolved())["answer"].startswith("99% of in-app JS frames resolve")


# ---------------------------------------------------------------- the report


def test_the_section_is_present_only_with_upload_or_api_records() -> None:
    events = [event_record("1.0")]
    assert "releases" not in report.build_report(events).to_json()["sections"]
    built = report.build_report([*events, new_release("1.0")]).to_json()
    assert "releases" == built["sections"][-1] and 1 == built["releases"]["release_count"]
    assert "releases" in report.build_report([bundle_upload()], ["releases"]).to_json()["sections"]


def test_the_releases_aggregator_only_when_its_section_is_wanted() -> None:
    """``--section traffic`` pays nothing for releases (nor for the source map check)."""
    assert "releases" not in report.ReportBuilder(sections=["traffic"]).sections
    assert None is report.ReportBuilder(sections=["traffic", "pii"]).releases
    assert "releases" in report.ReportBuilder().sections
    built = report.build_report([event_record("1.0"), bundle_upload("1.0")], ["traffic"]).to_json()
    assert ["traffic"] == built["sections"]


MIXED = [
    new_release("1.0"),
    event_record("1.0", environment="production", minutes=3),
    bundle_upload("1.0"),
    put_release("1.0", {"refs": [{"repository": "acme/web", "commit": "a" * 40}]}),
    event_record("2.0", minutes=1, debug_meta=sourcemap_image("e1")),
    put_release("1.0", {"commits": [{"id": "c" * 40, "repository": "acme/api"}]}),
    deploy("1.0"),
    event_record(None),
    bundle_upload(None, debug_id="E1"),
    make_upload(b"MZ", kind="debug_file", name="app.pdb"),
    put_release("2.0", {"dateReleased": "2026-12-03T10:00:00Z"}),
    event_record("3.0", minutes=9),
]


@pytest.mark.parametrize("cut", range(len(MIXED) + 1))
def test_merge_equals_one_pass(cut: int) -> None:
    first, second = releases.Releases(Resolved()), releases.Releases(Resolved())
    for data in MIXED[:cut]:
        first.add(RecordView(data))
    for data in MIXED[cut:]:
        second.add(RecordView(data))
    first.merge(second)
    assert section(MIXED, Resolved()) == first.result()


def test_caps(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(releases, "MAX_RELEASES", 3)
    monkeypatch.setattr(releases, "SHOWN", 2)
    monkeypatch.setattr(releases, "MAX_DEBUG_FILES", 1)
    records = [event_record(str(n)) for n in range(6)]
    records += [make_upload(b"x", kind="debug_file", name=f"f{n}") for n in range(3)]
    aggregator = releases.Releases()
    for data in records:
        aggregator.add(RecordView(data))
    data = aggregator.result()
    assert (True, 3, 3) == (data["truncated"], data["release_count"], aggregator.releases[OTHER].events)
    assert ["0", "1"] == [r["version"] for r in data["releases"]]  # the first SHOWN, most events first
    assert {"count": 3, "versions": ["0", "1"]} == data["mismatches"]["events_no_upload"]  # (other) is no release
    assert (3, ["f0"]) == (data["debug_files"]["count"], [f["name"] for f in data["debug_files"]["files"]])


def test_per_release_caps() -> None:
    records = [event_record("1.0", environment=f"env{n}") for n in range(release_row.MAX_PER_RELEASE + 5)]
    records += [deploy("1.0") for _ in range(release_row.MAX_PER_RELEASE + 5)]
    one = row(section(records), "1.0")
    assert release_row.MAX_PER_RELEASE == len(one["environments"]) == len(one["deploys"])
    assert release_row.MAX_PER_RELEASE + 5 == one["deploy_count"]


# ---------------------------------------------------------------- hostile records


def _zip(manifest: bytes) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as bundle:
        bundle.writestr("manifest.json", manifest)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "body",
    [b"not a zip", _zip(b"not json"), _zip(b"[1, 2]"), _zip(b'{"files": 3}'), b"PK\x03\x04broken"],
    ids=["not-zip", "not-json", "not-object", "files-not-object", "broken-zip"],
)
def test_unreadable_bundles(body: bytes) -> None:
    data = section([make_upload(body, release="1.0")])
    assert (1, 1, {}) == (data["bundles"]["count"], data["bundles"]["unreadable"], data["bundles"]["files_by_type"])


def test_manifest_entries_of_the_wrong_type() -> None:
    manifest = orjson.dumps({"files": {"a": 3, "b": {"type": 4, "url": [], "headers": {"debug-id": 5}}}, "release": 7})
    parsed = uploads.read_upload(make_upload(_zip(manifest)))
    assert (None, (), False) == (parsed.release, parsed.files, parsed.readable)


@pytest.mark.parametrize(
    "body",
    ["not json", "[1]", '{"version": 3}', '{"version": "", "projects": "web", "dateReleased": 5}', '{"refs": "x"}',
     '{"refs": [1, {"repository": 2}], "commits": [null, {"id": 3}]}', '{"version": "1.0", "projects": [true, 1.5, {}]}'],
)  # fmt: skip
def test_hostile_api_bodies(body: str) -> None:
    records = [
        api_record("api_releases", "POST", "/api/0/organizations/acme/releases/", body, status=201),
        put_release("1.0", body),
        deploy("1.0") | {"body": body},
    ]
    data = section(records)
    assert 3 == data["api"]["requests"]


def test_a_huge_api_body_is_not_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(releases, "MAX_API_BODY", 10)
    data = section([new_release("1.0")])
    assert ([], 1) == (data["releases"], data["api"]["requests"])


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
_KEYS = st.sampled_from(["version", "projects", "refs", "commits", "dateReleased", "environment", "name", "url", "release",
                         "dist", "platform", "debug_meta", "files", "kind", "debug_id"])  # fmt: skip
_BODIES = st.dictionaries(_KEYS, _VALUES, max_size=6)


@st.composite
def hostile_records(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["api_releases", "api_release", "api_deploys", "upload", "event"]))
    body = draw(_BODIES)
    if kind == "event":
        return event_record(**{k: v for k, v in body.items() if k not in ("platform", "release")}) | {
            "summary": {"release": draw(_VALUES), "items": draw(st.lists(_VALUES, max_size=3))}
        }
    if kind == "upload":
        content = draw(st.binary(max_size=50) | st.builds(lambda b: _zip(orjson.dumps(b)), _BODIES))
        return make_upload(
            content, **{k: v for k, v in body.items() if k in ("release", "dist", "kind", "debug_id", "name")}
        )
    method = {"api_releases": "POST", "api_release": "PUT", "api_deploys": "POST"}[kind]
    data = api_record(kind, method, draw(st.text(max_size=40)), orjson.dumps(body).decode())
    return data | {"api": draw(_VALUES)}


@settings(max_examples=150, deadline=None)
@given(st.lists(hostile_records(), max_size=6), st.integers(min_value=0, max_value=6))
def test_hostile_records_never_raise(records: list[dict[str, Any]], cut: int) -> None:
    whole = section(records)
    first, second = releases.Releases(), releases.Releases()
    for data in records[:cut]:
        first.add(RecordView(data))
    for data in records[cut:]:
        second.add(RecordView(data))
    first.merge(second)
    assert whole == first.result()
    assert orjson.loads(orjson.dumps(whole)) == whole and isinstance(whole["answer"], str)
