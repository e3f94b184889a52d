"""``SourcemapCheck`` against a real esbuild build: every in-app frame V8 reported resolves to
the original file, line and function; each way to fail is its own outcome."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from sentry_mirror.core.sourcemaps import SourcemapCheck
from sentry_mirror.core.sourcemaps import check as check_module
from sentry_mirror.core.sourcemaps.result import CheckResult
from tests.factories import make_artifact_bundle, make_event_record, make_js_event, make_upload
from tests.jsbuild import EXPECTED, Builds, Built, expected_line

PATH = "/srv/app/dist/app.min.js"
URL = "~/srv/app/dist/app.min.js"
DEBUG_ID = str(uuid.UUID(int=1))
OTHER_ID = str(uuid.UUID(int=2))


def bundle(built: Built, debug_id: str | None = DEBUG_ID, *, with_map: bool = True, **attributes: str) -> bytes:
    ids = {"debug-id": debug_id} if debug_id else {}
    files: dict[str, Any] = {URL: ("minified_source", built.minified, {**ids, "sourcemap": "app.min.js.map"})}
    if with_map:
        files[URL + ".map"] = ("source_map", built.map, ids)
    return make_artifact_bundle(files, **attributes)


def check(*records: dict[str, Any]) -> CheckResult:
    checker = SourcemapCheck()
    for record in records:
        checker.add(record)
    return checker.result()


def outcomes(result: CheckResult) -> dict[str, int]:
    return {name: n for name, n in result.totals.outcomes.items() if n}


def test_v8_columns_are_one_based_as_symbolic_takes_them(js_builds: Builds) -> None:
    line, column = js_builds.main.positions[0]
    text = js_builds.main.minified.decode().splitlines()[line - 1]
    assert text.index("new Error") + 1 == column


@pytest.mark.parametrize("by", ["debug_id", "release"])
def test_every_in_app_frame_resolves_to_the_original(js_builds: Builds, by: str) -> None:
    built = js_builds.main
    debug_id = DEBUG_ID if by == "debug_id" else None
    event = make_js_event(PATH, built.positions, debug_id=debug_id, release="web@1")
    upload = make_upload(bundle(built, debug_id), release=None if debug_id else "web@1")
    result = check(upload, make_event_record(event))
    assert result.totals.in_app_frames == len(built.positions)
    assert result.totals.in_app_outcomes.get("resolved") == len(built.positions)
    frames = list(reversed(result.event_rows[0].frames))  # innermost first, as V8 lists them
    for frame, (file, text, function) in zip(frames, EXPECTED, strict=False):
        assert frame.original is not None and frame.via == by
        assert frame.original.file is not None and frame.original.file.endswith(f"app/{file}")
        assert frame.original.line == expected_line(file, text)
        assert frame.original.function == function
        assert frame.original.context_line is not None and text in frame.original.context_line
    assert result.in_app_resolved_share == 1.0


def test_a_bundle_read_after_its_events_still_serves_them(js_builds: Builds) -> None:
    event = make_js_event(PATH, js_builds.main.positions, debug_id=DEBUG_ID)
    result = check(make_event_record(event), make_upload(bundle(js_builds.main)))
    assert outcomes(result) == {"resolved": len(js_builds.main.positions)}


def test_merge_adds_what_another_check_read(js_builds: Builds) -> None:
    event = make_js_event(PATH, js_builds.main.positions, debug_id=DEBUG_ID)
    one, two = SourcemapCheck(), SourcemapCheck()
    one.add(make_event_record(event))
    two.add(make_upload(bundle(js_builds.main)))
    two.add(make_event_record(event))
    one.merge(two)
    assert outcomes(one.result()) == {"resolved": 2 * len(js_builds.main.positions)}


def test_a_map_without_sources_content_resolves_without_context(js_builds: Builds) -> None:
    event = make_js_event(PATH, js_builds.bare.positions, debug_id=DEBUG_ID)
    result = check(make_upload(bundle(js_builds.bare)), make_event_record(event))
    assert outcomes(result) == {"no_sources_content": len(js_builds.bare.positions)}
    assert result.totals.in_app_resolved == len(js_builds.bare.positions)
    first = result.event_rows[0].frames[-1].original
    assert first is not None and first.line == expected_line(*EXPECTED[0][:2])


def test_stale_maps_of_another_build_are_named(js_builds: Builds) -> None:
    event = make_js_event(PATH, js_builds.other.positions, debug_id=OTHER_ID, release="web@1")
    result = check(make_upload(bundle(js_builds.main), release="web@1"), make_event_record(event))
    assert outcomes(result) == {"debug_id_not_in_bundle": len(js_builds.other.positions)}
    assert result.examples[0].outcome == "debug_id_not_in_bundle" and result.examples[0].in_app


def test_no_bundle_for_the_debug_id(js_builds: Builds) -> None:
    event = make_js_event(PATH, js_builds.main.positions, debug_id=OTHER_ID)
    result = check(make_upload(bundle(js_builds.main)), make_event_record(event))
    assert outcomes(result) == {"no_bundle_for_debug_id": len(js_builds.main.positions)}


def test_bundle_with_debug_ids_and_an_event_without(js_builds: Builds) -> None:
    event = make_js_event(PATH, js_builds.main.positions)
    result = check(make_upload(bundle(js_builds.main)), make_event_record(event))
    assert outcomes(result) == {"debug_id_not_in_event": len(js_builds.main.positions)}


def test_bundle_without_debug_ids_and_events_without_release(js_builds: Builds) -> None:
    event = make_js_event(PATH, js_builds.main.positions)
    result = check(make_upload(bundle(js_builds.main, None), release="web@1"), make_event_record(event))
    assert outcomes(result) == {"no_release": len(js_builds.main.positions)}


def test_no_upload_for_the_release(js_builds: Builds) -> None:
    event = make_js_event(PATH, js_builds.main.positions, release="web@2")
    result = check(make_upload(bundle(js_builds.main, None), release="web@1"), make_event_record(event))
    assert outcomes(result) == {"no_upload_for_release": len(js_builds.main.positions)}


def test_a_file_missing_from_the_release(js_builds: Builds) -> None:
    event = make_js_event("/srv/app/dist/other.js", js_builds.main.positions, release="web@1")
    result = check(make_upload(bundle(js_builds.main, None), release="web@1"), make_event_record(event))
    assert outcomes(result) == {"file_missing": len(js_builds.main.positions)}


def test_a_map_missing_from_the_bundle(js_builds: Builds) -> None:
    event = make_js_event(PATH, js_builds.main.positions, debug_id=DEBUG_ID)
    result = check(make_upload(bundle(js_builds.main, with_map=False)), make_event_record(event))
    assert outcomes(result) == {"map_missing": len(js_builds.main.positions)}


@pytest.mark.parametrize("position", [(999, 1), (1, 100_000), (0, 1), (1, -5), (2**40, 2**40)])
def test_positions_past_the_file_are_out_of_range(js_builds: Builds, position: tuple[int, int]) -> None:
    event = make_js_event(PATH, [position], debug_id=DEBUG_ID)
    result = check(make_upload(bundle(js_builds.main)), make_event_record(event))
    assert outcomes(result) == {"position_out_of_range": 1}


def test_a_map_symbolic_refuses_is_map_invalid(js_builds: Builds) -> None:
    broken = Built(js_builds.main.minified, b"{not json", js_builds.main.positions)
    event = make_js_event(PATH, broken.positions, debug_id=DEBUG_ID)
    result = check(make_upload(bundle(broken)), make_event_record(event))
    assert outcomes(result) == {"map_invalid": len(broken.positions)}


def test_in_app_frames_are_counted_apart(js_builds: Builds) -> None:
    event = make_js_event(PATH, js_builds.main.positions, debug_id=OTHER_ID, in_app=False)
    result = check(make_event_record(event))
    assert result.totals.frames == len(js_builds.main.positions)
    assert result.totals.in_app_frames == 0 and result.in_app_resolved_share is None


def test_native_images_are_matched_against_debug_files() -> None:
    known, unknown = str(uuid.UUID(int=10)), str(uuid.UUID(int=11))
    images = [{"type": "elf", "debug_id": known.upper(), "code_file": "/lib/a.so"},
              {"type": "macho", "debug_id": unknown, "code_file": "/lib/b.dylib"}]  # fmt: skip
    event = {**make_js_event(PATH, []), "platform": "native", "debug_meta": {"images": images}}
    result = check(make_upload(b"\x7fELF", kind="debug_file", debug_id=known, name="a.so"), make_event_record(event))
    assert (result.native.images, result.native.matched, result.native.missing) == (2, 1, 1)
    assert result.native.missing_examples == ((unknown, "/lib/b.dylib"),)


def test_events_past_the_listed_ones_are_counted_per_distinct_stack(
    js_builds: Builds, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(check_module, "MAX_EVENT_ROWS", 1)
    built = js_builds.main
    checker = SourcemapCheck()
    checker.add(make_upload(bundle(built)))
    for number in range(5):
        event = make_js_event(PATH, built.positions, debug_id=DEBUG_ID, event_id=f"{number:032x}")
        checker.add(make_event_record(event))
    checker.add(make_event_record(make_js_event("/srv/app/dist/gone.js", [(1, 1)], event_id="f" * 32)))
    assert len(checker.listed) == 1 and sorted(checker.others.values()) == [1, 4]
    result = checker.result()
    assert (result.js_events, len(result.event_rows)) == (6, 1)
    assert outcomes(result) == {"resolved": 5 * len(built.positions), "no_release": 1}
    assert [(e.outcome, e.count, e.event_id) for e in result.examples] == [("no_release", 1, None)]


def test_a_bundle_uploaded_for_two_releases_is_read_once(js_builds: Builds) -> None:
    data = bundle(js_builds.main, None)
    checker = SourcemapCheck()
    checker.add(make_upload(data, release="web@1"))
    checker.add(make_upload(data, release="web@2"))
    first, second = checker.index.bundles.values()
    assert first is second
    for release in ("web@1", "web@2"):
        checker.add(make_event_record(make_js_event(PATH, js_builds.main.positions, release=release)))
    assert outcomes(checker.result()) == {"resolved": 2 * len(js_builds.main.positions)}


def test_node_frames_with_only_a_filename_find_their_debug_id(js_builds: Builds) -> None:
    event = make_js_event(PATH, js_builds.main.positions, debug_id=DEBUG_ID)
    for frame in event["exception"]["values"][0]["stacktrace"]["frames"]:
        del frame["abs_path"]  # as @sentry/node sends them
    result = check(make_upload(bundle(js_builds.main)), make_event_record(event))
    assert outcomes(result) == {"resolved": len(js_builds.main.positions)}
    assert {frame.via for frame in result.event_rows[0].frames} == {"debug_id"}


def test_frames_without_a_file_to_look_up_are_skipped_not_unresolved(js_builds: Builds) -> None:
    event = make_js_event(PATH, js_builds.main.positions, debug_id=DEBUG_ID)
    frames = event["exception"]["values"][0]["stacktrace"]["frames"]
    frames.insert(0, {"filename": "node:internal/modules/cjs/loader", "lineno": 1091, "colno": 12, "in_app": False})
    frames.insert(0, {"filename": "<anonymous>", "lineno": 1, "colno": 1, "in_app": True})
    result = check(make_upload(bundle(js_builds.main)), make_event_record(event))
    assert outcomes(result) == {"resolved": len(js_builds.main.positions), "skipped": 2}
    assert (result.totals.in_app_unresolved, result.in_app_resolved_share, result.examples) == (0, 1.0, ())
