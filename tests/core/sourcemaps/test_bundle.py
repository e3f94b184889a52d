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
    assert (mapped.type, mapped.content, mapped.sourcemap) == ("source_map", b"{}", None)


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


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**63), 2**63 - 1), st.text(max_size=30))
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
    lines = bundle.files[0].content.decode().splitlines()
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
