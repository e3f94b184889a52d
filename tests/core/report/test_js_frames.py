"""The check behind the report's ``Frames`` interface: per release, in-app frames resolved."""

from __future__ import annotations

import uuid

import pytest

from sentry_mirror.core.report import js_frames
from sentry_mirror.core.report.js_frames import ReportFrames
from sentry_mirror.core.report.view import RecordView
from tests.factories import (
    make_api_record,
    make_artifact_bundle,
    make_event,
    make_event_record,
    make_js_event,
    make_upload,
)
from tests.jsbuild import Builds

PATH = "/srv/app/dist/app.min.js"


def test_per_release_counts_in_app_frames_resolved(js_builds: Builds) -> None:
    built = js_builds.main
    debug_id = str(uuid.UUID(int=3))
    files = {
        "~" + PATH: ("minified_source", built.minified, {"debug-id": debug_id, "sourcemap": "app.min.js.map"}),
        "~" + PATH + ".map": ("source_map", built.map, {"debug-id": debug_id}),
    }
    one, two = ReportFrames(), ReportFrames()
    one.add(RecordView(make_upload(make_artifact_bundle(files), release="web@1")))
    one.add(RecordView(make_event_record(make_js_event(PATH, built.positions, debug_id=debug_id, release="web@1"))))
    two.add(RecordView(make_event_record(make_js_event(PATH, [(1, 2)], release="web@2"))))
    two.add(RecordView(make_event_record(make_js_event(PATH, [(1, 2)], in_app=False))))
    one.merge(two)
    frames = len(built.positions)
    assert dict(one.per_release()) == {"web@1": (frames, frames), "web@2": (0, 1)}
    assert one.check.result().to_json()["releases"][0] == {
        "release": "web@1", "in_app_frames": frames, "in_app_resolved": frames}  # fmt: skip


def bundle_for(release: str) -> RecordView:
    """An upload record for ``release`` (its file is not the events' one: nothing resolves)."""
    files = {"~/other.min.js": ("minified_source", b"x", {})}
    return RecordView(make_upload(make_artifact_bundle(files), release=release))


def js_event(release: str | None, **overrides: object) -> RecordView:
    return RecordView(make_event_record(make_js_event(PATH, [(1, 2), (1, 9)], release=release, **overrides)))


def test_events_wait_for_the_first_upload_or_api_record() -> None:
    """Events read before sentry-cli's traffic are checked once it comes (any order, the
    same figures); with none, they are dropped."""
    before, after = ReportFrames(), ReportFrames()
    before.add(js_event("web@1"))
    assert (1, 0, False) == (len(before.pending), before.check.events, before.ci)
    before.add(bundle_for("web@1"))
    assert ([], 1, True) == (before.pending, before.check.events, before.ci)
    after.add(bundle_for("web@1"))
    after.add(js_event("web@1"))
    assert {"web@1": (0, 2)} == dict(before.per_release()) == dict(after.per_release())
    api = ReportFrames()
    api.add(js_event("web@1"))
    api.add(RecordView(make_api_record("api_releases", "POST", "/api/0/organizations/acme/releases/", {})))
    assert {"web@1": (0, 2)} == dict(api.per_release())


def test_events_with_no_javascript_frame_do_not_wait() -> None:
    frames = ReportFrames()
    frames.add(RecordView(make_event_record(make_event(release="py@1"))))
    frames.add(RecordView(make_event_record(make_event(platform={"not": "a string"}))))
    assert [] == frames.pending


def test_past_the_buffer_events_are_counted_not_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(js_frames, "MAX_PENDING", 2)
    frames = ReportFrames()
    for _ in range(5):
        frames.add(js_event("web@1"))
    assert (2, 3) == (len(frames.pending), frames.unchecked)
    frames.add(bundle_for("web@1"))
    frames.add(js_event("web@1"))
    assert ({"web@1": (0, 6)}, 3) == (dict(frames.per_release()), frames.unchecked)


@pytest.mark.parametrize("cut", range(5))
def test_merge_equals_one_pass(cut: int) -> None:
    views = [js_event("web@1"), js_event("web@2"), bundle_for("web@1"), js_event("web@1"), js_event(None)]
    whole, first, second = ReportFrames(), ReportFrames(), ReportFrames()
    for view in views:
        whole.add(view)
    for view in views[:cut]:
        first.add(view)
    for view in views[cut:]:
        second.add(view)
    first.merge(second)
    assert first.ci and [] == first.pending
    assert dict(whole.per_release()) == dict(first.per_release())
    assert [e.release for e in whole.check.listed] == [e.release for e in first.check.listed]


def test_events_waiting_for_sentry_cli_are_kept_as_the_check_reads_them_not_whole() -> None:
    """Before the first upload or web API record, an event waits as its frames and images (a
    few fields), not as its payload: a 100 KB breadcrumb is not kept."""
    from sentry_mirror.core.sourcemaps.events import Event

    event = make_js_event(PATH, [(1, 2)], release="web@1")
    event["breadcrumbs"] = {"values": [{"message": "x" * 100_000}]}
    frames = ReportFrames()
    frames.add(RecordView(make_event_record(event)))
    frames.add(RecordView(make_event_record(make_js_event(PATH, [], release="web@1"))))  # nothing to check
    [waiting] = frames.pending
    assert isinstance(waiting, Event) and "x" * 100 not in repr(waiting)
