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


def _at(data: dict[str, Any], when: str) -> dict[str, Any]:
    return {**data, "received_at": when}


@pytest.mark.parametrize("order", ["stale_first", "stale_last", "merged"])
def test_the_most_recent_upload_of_a_release_wins(js_builds: Builds, order: str) -> None:
    """Sentry takes the most recent bundle for a URL (-date_last_modified): a stale upload
    received earlier loses whatever order the snapshots are read in."""
    stale = _at(make_upload(bundle(js_builds.other, None), release="web@1"), "2026-05-01T10:00:00.000000Z")
    fresh = _at(make_upload(bundle(js_builds.main, None), release="web@1"), "2026-05-01T11:00:00.000000Z")
    event = make_event_record(make_js_event(PATH, js_builds.main.positions, release="web@1"))
    if order == "merged":
        one, two = SourcemapCheck(), SourcemapCheck()
        one.add(stale)
        two.add(event)
        two.add(fresh)
        one.merge(two)
        result = one.result()
    else:
        result = check(*((stale, fresh) if order == "stale_first" else (fresh, stale)), event)
    assert outcomes(result) == {"resolved": len(js_builds.main.positions)}


@pytest.mark.parametrize("order", ["stale_first", "stale_last"])
def test_the_most_recent_upload_of_a_debug_id_wins(js_builds: Builds, order: str) -> None:
    stale = _at(make_upload(bundle(js_builds.other)), "2026-05-01T10:00:00.000000Z")
    fresh = _at(make_upload(bundle(js_builds.main)), "2026-05-01T11:00:00.000000Z")
    event = make_event_record(make_js_event(PATH, js_builds.main.positions, debug_id=DEBUG_ID))
    result = check(*((stale, fresh) if order == "stale_first" else (fresh, stale)), event)
    assert outcomes(result) == {"resolved": len(js_builds.main.positions)}


def test_a_file_uploaded_with_another_dist_is_a_dist_mismatch(js_builds: Builds) -> None:
    event = make_js_event(PATH, js_builds.main.positions, release="web@1", dist="8")
    result = check(make_upload(bundle(js_builds.main, None), release="web@1", dist="7"), make_event_record(event))
    assert outcomes(result) == {"dist_mismatch": len(js_builds.main.positions)}
    assert result.examples[0].frame.detail == "uploaded with dist '7'; the event has '8': pass --dist"


def test_a_missing_or_zero_column_is_column_one_as_symbolicator_reads_it() -> None:
    """Symbolicator looks up ``colno.unwrap_or_default().saturating_sub(1)`` (0-based): a
    missing column, 0 and 1 are the same first column. (symbolic's Python ``lookup`` takes
    1-based columns and must not be given 0: it wraps to the end of the line.)"""
    minified = b"boom();\n"
    sourcemap = b'{"version":3,"sources":["src/a.js"],"sourcesContent":["  boom();\\n"],"names":[],"mappings":"AAAE"}'
    data = make_artifact_bundle({URL: ("minified_source", minified, {"sourcemap": "app.min.js.map"}),
                                 URL + ".map": ("source_map", sourcemap, {})})  # fmt: skip
    event = make_js_event(PATH, [(1, 1), (1, 0), (1, 1)], release="web@1")
    del event["exception"]["values"][0]["stacktrace"]["frames"][0]["colno"]
    rows = check(make_upload(data, release="web@1"), make_event_record(event)).event_rows[0].frames
    assert [frame.outcome for frame in rows] == ["resolved"] * 3
    assert {(f.original.file, f.original.line, f.original.column) for f in rows if f.original} == {("src/a.js", 1, 3)}


def test_a_map_without_sources_content_takes_context_from_the_uploaded_source(js_builds: Builds) -> None:
    """Symbolicator falls back to the bundle's ``source`` file named by the map."""
    import json

    from sentry_mirror.core.sourcemaps.index import join_url
    from tests.jsbuild import APP

    built = js_builds.bare
    files: dict[str, Any] = {
        URL: ("minified_source", built.minified, {"debug-id": DEBUG_ID, "sourcemap": "app.min.js.map"}),
        URL + ".map": ("source_map", built.map, {"debug-id": DEBUG_ID}),
    }
    for name in json.loads(built.map)["sources"]:
        files[join_url(URL + ".map", name)] = ("source", (APP / name.rsplit("/", 1)[-1]).read_bytes(), {})
    event = make_js_event(PATH, built.positions, debug_id=DEBUG_ID)
    result = check(make_upload(make_artifact_bundle(files)), make_event_record(event))
    assert outcomes(result) == {"resolved": len(built.positions)}
    innermost = result.event_rows[0].frames[-1].original
    assert innermost is not None and innermost.context_line is not None
    source = (APP / "util.js").read_text().splitlines()
    assert innermost.context_line == source[innermost.line - 1] and EXPECTED[0][1] in innermost.context_line
    assert innermost.pre_context == tuple(source[max(0, innermost.line - 6) : innermost.line - 1])
    assert innermost.post_context == tuple(source[innermost.line : innermost.line + 5])


def test_an_inline_map_is_parsed_once_per_file(js_builds: Builds, monkeypatch: pytest.MonkeyPatch) -> None:
    import base64

    import symbolic.sourcemapcache

    from sentry_mirror.core.sourcemaps import resolve as resolve_module

    built = js_builds.main
    inline = b"\n//# sourceMappingURL=data:application/json;base64," + base64.b64encode(built.map)
    minified = built.minified.split(b"//# sourceMappingURL=")[0].rstrip(b"\n") + inline
    data = make_artifact_bundle({URL: ("minified_source", minified, {})})
    built_caches = []

    class Counting:
        @staticmethod
        def from_bytes(source: bytes, sourcemap: bytes) -> Any:
            built_caches.append(1)
            return symbolic.sourcemapcache.SourceMapCache.from_bytes(source, sourcemap)

    monkeypatch.setattr(resolve_module, "load_symbolic", lambda: type("M", (), {"SourceMapCache": Counting}))
    checker = SourcemapCheck()
    checker.add(make_upload(data, release="web@1"))
    for column in range(40, 70):  # distinct frames: each one a lookup
        checker.add(make_event_record(make_js_event(PATH, [(built.positions[0][0], column)], release="web@1")))
    result = checker.result()
    assert result.totals.resolved == 30 and len(built_caches) == 1


def test_frames_without_in_app_count_as_the_sdk_would_mark_them(js_builds: Builds) -> None:
    """@sentry/node's rule: in-app unless in node_modules/ or node's own."""
    event = make_js_event(PATH, js_builds.main.positions, debug_id=OTHER_ID)
    frames = event["exception"]["values"][0]["stacktrace"]["frames"]
    frames.append({"filename": "/srv/app/node_modules/lib/index.js", "lineno": 1, "colno": 1})
    frames.append({"filename": "node:internal/process/task_queues", "lineno": 1, "colno": 1})
    for frame in frames:
        frame.pop("in_app", None)
    result = check(make_event_record(event))
    assert [frame.in_app for frame in result.event_rows[0].frames] == [True] * len(js_builds.main.positions) + [
        False,
        False,
    ]
    assert result.totals.in_app_unresolved == len(js_builds.main.positions)


def test_native_images_count_once_and_only_those_frames_point_into_are_missing() -> None:
    app, system, known = (str(uuid.UUID(int=n)) for n in (20, 21, 22))
    images = [{"type": "elf", "debug_id": app, "code_file": "/srv/app", "image_addr": "0x1000", "image_size": 4096},
              {"type": "elf", "debug_id": system, "code_file": "/lib/libc.so", "image_addr": "0x9000", "image_size": 4096},
              {"type": "elf", "debug_id": known, "code_file": "/srv/lib.so", "image_addr": "0x20000", "image_size": 16}]  # fmt: skip
    frames = [{"instruction_addr": "0x1010"}, {"instruction_addr": "0x20004"}]
    event = {**make_js_event(PATH, []), "platform": "native", "debug_meta": {"images": images}}
    event["exception"]["values"][0]["stacktrace"]["frames"] = frames
    debug_file = make_upload(b"\x7fELF", kind="debug_file", debug_id=known, name="lib.so")
    result = check(debug_file, *(make_event_record({**event, "event_id": f"{n:032x}"}) for n in range(3)))
    native = result.native
    assert (native.images, native.matched, native.missing, native.unreferenced) == (3, 1, 1, 1)
    assert native.missing_examples == ((app, "/srv/app"),)


def test_the_share_is_rounded_down_never_100_while_a_frame_fails() -> None:
    from sentry_mirror.core.sourcemaps.result import resolved_percent

    assert ("99%", "100%", "0%", "-") == (
        resolved_percent(999, 1000),
        resolved_percent(7, 7),
        resolved_percent(0, 3),
        resolved_percent(0, 0),
    )


def test_sources_of_a_release_serve_only_that_releases_events_whatever_the_order(js_builds: Builds) -> None:
    """The map's bundle lacks the sources; the release ``web@1`` uploaded them: its event gets
    context lines, an event without a release does not, read in either order."""
    import json

    from sentry_mirror.core.sourcemaps.index import join_url
    from tests.jsbuild import APP

    built = js_builds.bare
    mapped = {
        URL: ("minified_source", built.minified, {"debug-id": DEBUG_ID, "sourcemap": "app.min.js.map"}),
        URL + ".map": ("source_map", built.map, {"debug-id": DEBUG_ID}),
    }
    sources = {
        join_url(URL + ".map", name): ("source", (APP / name.rsplit("/", 1)[-1]).read_bytes(), {})
        for name in json.loads(built.map)["sources"]
    }
    uploads = [make_upload(make_artifact_bundle(mapped)), make_upload(make_artifact_bundle(sources), release="web@1")]
    released = make_event_record(make_js_event(PATH, built.positions, debug_id=DEBUG_ID, release="web@1"))
    bare = make_event_record(make_js_event(PATH, built.positions, debug_id=DEBUG_ID))
    for events in ([bare, released], [released, bare]):
        rows = check(*uploads, *events).event_rows
        assert {("web@1", "resolved"), (None, "no_sources_content")} == {
            (row.release, outcome) for row in rows for outcome in row.outcomes
        }
