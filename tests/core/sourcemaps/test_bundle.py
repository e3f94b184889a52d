"""Reading artifact bundles: sentry-cli's layout, and hostile bytes as a BundleError or an
outcome, never a traceback."""

from __future__ import annotations

import io
import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentry_mirror.core.sourcemaps import BundleError, SourcemapCheck, normalize_debug_id, read_bundle
from sentry_mirror.core.sourcemaps import bundle as bundle_module
from sentry_mirror.core.sourcemaps.bundle import Contents
from tests.factories import make_artifact_bundle, make_event_record, make_js_event, make_upload

DEBUG_ID = str(uuid.UUID(int=7))


def test_reads_files_urls_types_and_headers_of_a_sentry_cli_bundle() -> None:
    data = make_artifact_bundle(
        {
            "~/app.min.js": ("minified_source", b"f();", {"debug-id": DEBUG_ID.upper(), "Sourcemap": "app.min.js.map"}),
            "~/app.min.js.map": ("source_map", b"{}", {"debug-id": DEBUG_ID}),
        },
        org="acme",
        release="web@1",
        dist="7",
        debug_id=DEBUG_ID,
    )
    assert data.startswith(b"SYSB")
    bundle = read_bundle(data, "c" * 40)
    assert (bundle.release, bundle.dist, bundle.debug_id, bundle.checksum) == ("web@1", "7", DEBUG_ID, "c" * 40)
    minified, mapped = bundle.files
    assert (minified.url, minified.type, minified.debug_id, minified.sourcemap) == (
        "~/app.min.js", "minified_source", DEBUG_ID, "app.min.js.map")  # fmt: skip
    assert (mapped.type, Contents().get(mapped), mapped.sourcemap) == ("source_map", b"{}", None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0000000000000000000000000000000A", "00000000-0000-0000-0000-00000000000a"),
        ("00000000-0000-0000-0000-00000000000A-0", "00000000-0000-0000-0000-00000000000a"),
        ("00000000-0000-0000-0000-00000000000a-1f", "00000000-0000-0000-0000-00000000000a-1f"),
        ("", None),
        (None, None),
        ("not-an-id", "not-an-id"),
    ],
)
def test_debug_ids_compare_as_sentry_compares_them(value: Any, expected: str | None) -> None:
    assert normalize_debug_id(value) == expected


def _zip(entries: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in entries.items():
            archive.writestr(name, content)
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"not a zip", "not a zip"),
        (_zip({"a.txt": b"x"}), "no manifest.json"),
        (_zip({"manifest.json": b"{nope"}), "not JSON"),
        (_zip({"manifest.json": b"[1]"}), "not a JSON object"),
    ],
)
def test_damaged_bundles_say_what_is_wrong(data: bytes, reason: str) -> None:
    with pytest.raises(BundleError, match=reason):
        read_bundle(data)


def test_a_bundle_too_big_once_inflated_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle_module, "MAX_BYTES", 1000)
    data = make_artifact_bundle({"~/a.js": ("minified_source", b"a" * 5000, {})})
    with pytest.raises(BundleError, match="once inflated"):
        read_bundle(data)


def test_a_damaged_upload_is_a_warning_and_its_frames_an_outcome() -> None:
    checker = SourcemapCheck()
    checker.add(make_upload(b"PK\x03\x04 damaged", release="web@1"))
    checker.add(make_event_record(make_js_event("/srv/a.js", [(1, 2)], release="web@1")))
    result = checker.result()
    assert len(result.warnings) == 1 and "not a zip" in result.warnings[0]
    assert result.totals.outcomes["no_upload_for_release"] == 1


_atoms = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=30))
_scalars = st.one_of(_atoms, st.lists(_atoms, max_size=2), st.dictionaries(st.text(max_size=3), _atoms, max_size=2))
_header = st.one_of(_scalars, st.sampled_from([DEBUG_ID, "a.js.map", "data:application/json;base64,e30="]))
_manifest_file = st.fixed_dictionaries(
    {
        "url": st.one_of(_scalars, st.sampled_from(["~/srv/a.js", "~/srv/a.js.map"])),
        "type": st.sampled_from(["minified_source", "source_map", "source", 3]),
    },
    optional={"headers": st.one_of(_scalars, st.dictionaries(st.sampled_from(["debug-id", "Sourcemap"]), _header))},
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    files=st.dictionaries(st.text("abc/._-~ é", min_size=1, max_size=12), _manifest_file, max_size=4),
    contents=st.lists(
        st.one_of(
            st.binary(max_size=200),
            st.sampled_from(
                [b"f();\n//# sourceMappingURL=a.js.map", b'{"version":3,"sources":[],"mappings":";;AAAA"}']
            ),
        ),
        min_size=4,
        max_size=4,
    ),
    positions=st.lists(st.tuples(_scalars, _scalars), max_size=4),
    debug_id=st.one_of(st.none(), st.just(DEBUG_ID), st.text(max_size=40)),
    cut=st.integers(0, 400),
)
def test_hostile_bundles_and_frames_never_raise(
    files: dict[str, Any], contents: list[bytes], positions: list[Any], debug_id: str | None, cut: int
) -> None:
    entries = {name: contents[i % 4] for i, name in enumerate(files)}
    data = _zip({**entries, "manifest.json": json.dumps({"files": files}, default=str).encode()})
    frames = [{"abs_path": "/srv/a.js", "lineno": line, "colno": col, "in_app": True} for line, col in positions]
    event = make_js_event("/srv/a.js", [], debug_id=debug_id, release="web@1")
    event["exception"]["values"][0]["stacktrace"]["frames"] = frames
    checker = SourcemapCheck()
    checker.add(make_upload(data[: len(data) - cut] if cut % 3 else data, release="web@1"))
    checker.add(make_event_record(event))
    result = checker.result()
    assert sum(result.totals.outcomes.values()) == len(frames)
    result.to_json()


def test_reads_a_bundle_real_sentry_cli_uploaded() -> None:
    """``sentry-cli sourcemaps inject`` then ``sourcemaps upload --release web@1`` (sentry-cli
    3.8.0, an esbuild build of a two-file app) against a stub of the chunk protocol: the
    assembled file as it arrived."""
    data = (Path(__file__).parents[2] / "data" / "sourcemaps" / "sentry-cli-3.8.0-bundle.zip").read_bytes()
    bundle = read_bundle(data)
    assert (bundle.release, bundle.dist, bundle.debug_id) == ("web@1", None, "1724a1eb-9502-58b6-b388-9ef80ea50c32")
    assert [(f.path, f.url, f.type, f.debug_id, f.sourcemap) for f in bundle.files] == [
        (
            "files/_/_/app.min.js",
            "~/app.min.js",
            "minified_source",
            "e123a29f-3f74-5572-a397-7c4d3b45ea4c",
            "app.min.js.map",
        ),
        ("files/_/_/app.min.js.map", "~/app.min.js.map", "source_map", "e123a29f-3f74-5572-a397-7c4d3b45ea4c", None),
    ]
    lines = Contents().get(bundle.files[0]).decode().splitlines()
    line = next(number for number, text in enumerate(lines, 1) if "new Error" in text)
    column = lines[line - 1].index("new Error") + 1
    checker = SourcemapCheck()
    checker.add(make_upload(data, release="web@1"))
    for debug_id in (bundle.files[0].debug_id, None):
        event = make_js_event("https://example.com/app.min.js", [(line, column)], debug_id=debug_id, release="web@1")
        checker.add(make_event_record(event))
    found = []
    for row in checker.result().event_rows:
        (frame,) = row.frames
        assert frame.original is not None
        found.append((frame.via, frame.original.file, frame.original.line, frame.original.function))
    assert found == [("debug_id", "../src/util.js", 3, "parseConfig"), ("release", "../src/util.js", 3, "parseConfig")]


def _member_offset(data: bytes, name: str) -> int:
    """Where ``name``'s compressed bytes start in the bundle ``data`` (after the SYSB header)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(name)
    local = info.header_offset  # zipfile counts the SYSB header in
    name_length, extra_length = (
        int.from_bytes(data[local + 26 : local + 28], "little"),
        int.from_bytes(data[local + 28 : local + 30], "little"),
    )
    return local + 30 + name_length + extra_length


def _js_bundle() -> bytes:
    return make_artifact_bundle(
        {
            "~/srv/a.js": ("minified_source", b"f();\n" * 200, {"sourcemap": "a.js.map"}),
            "~/srv/a.js.map": ("source_map", b'{"version":3,"sources":["a"],"mappings":"AAAA"}' * 20, {}),
        }
    )


def _check_of(data: bytes, frames: list[dict[str, Any]]) -> Any:
    event = make_js_event("/srv/a.js", [], release="web@1")
    event["exception"]["values"][0]["stacktrace"]["frames"] = frames
    checker = SourcemapCheck()
    checker.add(make_upload(data, release="web@1"))
    checker.add(make_event_record(event))
    return checker.result()


def test_a_zip_of_an_unknown_version_is_a_bundle_error() -> None:
    data = bytearray(_js_bundle())
    central = data.index(b"PK\x01\x02")
    data[central + 6] = 0xFF  # "version needed to extract": zipfile raises NotImplementedError
    with pytest.raises(BundleError, match="not a zip"):
        read_bundle(bytes(data))
    result = _check_of(bytes(data), [{"abs_path": "/srv/a.js", "lineno": 1, "colno": 1, "in_app": True}])
    assert "not a zip" in result.warnings[0] and result.totals.outcomes["no_upload_for_release"] == 1


def test_a_damaged_deflate_stream_is_an_outcome_and_a_warning() -> None:
    data = bytearray(_js_bundle())
    data[_member_offset(bytes(data), "files/_/_/srv/a.js")] = 0xFF  # block type 3: zlib.error
    result = _check_of(bytes(data), [{"abs_path": "/srv/a.js", "lineno": 1, "colno": 1, "in_app": True}])
    assert result.totals.outcomes["file_unreadable"] == 1
    assert any("unreadable" in warning for warning in result.warnings)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flips=st.lists(st.tuples(st.integers(0, 10_000), st.integers(1, 255)), min_size=1, max_size=6))
def test_byte_flips_anywhere_in_a_bundle_never_raise(flips: list[tuple[int, int]]) -> None:
    data = bytearray(_js_bundle())
    for at, mask in flips:
        data[at % len(data)] ^= mask
    frames = [{"abs_path": "/srv/a.js", "lineno": line, "colno": 1, "in_app": True} for line in (1, 2, 300)]
    result = _check_of(bytes(data), frames)
    assert sum(result.totals.outcomes.values()) == 3
    result.to_json()


def test_bundles_no_frame_needs_are_not_inflated() -> None:
    import tracemalloc

    bomb = make_artifact_bundle({"~/srv/big.js": ("minified_source", bytes(48 << 20), {})})
    assert len(bomb) < 1 << 20
    checker = SourcemapCheck()
    tracemalloc.start()
    for release in ("web@1", "web@2", "web@3", "web@4"):
        checker.add(make_upload(bomb, release=release))
    checker.add(make_event_record(make_js_event("/srv/other.js", [(1, 1)], release="web@1")))
    result = checker.result()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert result.totals.outcomes["file_missing"] == 1
    assert peak < 16 << 20, f"{peak >> 20} MiB"


def test_a_file_past_its_cap_or_the_total_budget_is_unreadable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle_module, "MAX_FILE", 3000)
    monkeypatch.setattr(bundle_module, "MAX_TOTAL", 4000)
    files = {
        f"~/srv/{name}.js": ("minified_source", b"f();\n" * 500 * size, {})
        for name, size in (("big", 2), ("one", 1), ("two", 1))
    }
    checker = SourcemapCheck()
    checker.add(make_upload(make_artifact_bundle(files), release="web@1"))
    for name in ("big", "one", "two"):
        checker.add(make_event_record(make_js_event(f"/srv/{name}.js", [(1, 1)], release="web@1")))
    rows = checker.result().event_rows
    assert [(row.frames[0].outcome, row.frames[0].detail) for row in rows] == [
        ("file_unreadable", "~/srv/big.js: 5,000 bytes once inflated, more than 3,000"),
        ("map_missing", "no sourcemap header or sourceMappingURL"),
        ("file_unreadable", "~/srv/two.js: past the 4,000 bytes all files read may take"),
    ]


def test_lists_and_objects_as_positions_are_no_position() -> None:
    frames = [{"abs_path": "/srv/a.js", "lineno": [1], "colno": {"a": 1}, "in_app": True},
              {"abs_path": "/srv/a.js", "lineno": True, "colno": 1, "in_app": True}]  # fmt: skip
    result = _check_of(_js_bundle(), frames)
    assert result.totals.outcomes["no_position"] == 2
    assert [frame.lineno for frame in result.event_rows[0].frames] == [None, None]
