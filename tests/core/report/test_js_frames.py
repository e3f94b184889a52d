"""The check behind the report's ``Frames`` interface: per release, in-app frames resolved."""

from __future__ import annotations

import uuid

from sentry_mirror.core.report.js_frames import ReportFrames
from sentry_mirror.core.report.view import RecordView
from tests.factories import make_artifact_bundle, make_event_record, make_js_event, make_upload
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
