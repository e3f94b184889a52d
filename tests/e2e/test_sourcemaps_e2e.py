"""Source maps end to end (issue 15), with real parts only.

A small app (``sourcemaps_app/``: three modules of named functions calling each other, one
throwing) is bundled and minified with source maps by the real esbuild, once per session,
for node and for the browser; ``sentry-cli sourcemaps inject`` (the real one) writes debug
ids into the bundles and maps (``sourcemaps_build.py``). The real sentry-cli uploads the
builds to a real listener (``SENTRY_URL``: the listener's web API), the app runs under
@sentry/node (a node process) and @sentry/browser (headless chromium) and sends its error
to the same listener, and ``sentry-mirror sourcemaps check`` (a process of the CLI) reads
the snapshot. The truth is the app's source: each line marked ``// frame:NAME`` is where one
in-app frame must resolve (file, line, column, function, the line's text). Then what does
not resolve, each case named by its outcome, and a CI release pipeline (``releases new``,
``set-commits``, ``sourcemaps upload``, ``finalize``, ``deploys new``) as the snapshot and
the report tell it.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import sqlite3
import sys
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import aiohttp
import pytest
import zstandard

from sentry_mirror.core import envelope
from tests.bugsink import Bugsink
from tests.conformance.clients import JS_DIR, NODE_MODULES, need_chromium, need_node, run, serve_directory
from tests.e2e.sourcemaps_build import Build, build
from tests.e2e.webapi_clients import ROOT, TOKEN, sentry_cli, sentry_mirror_json, upload_records

# ------------------------------------------------------------------ builds (once per session)


@pytest.fixture(scope="session")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Build]:
    """Every build the tests use, by name."""
    need_node("esbuild", "@sentry/cli", "@sentry/node", "@sentry/browser")
    root = tmp_path_factory.mktemp("sourcemaps")
    made = [
        build(root, "node", "node", label="first"),
        build(root, "node-second", "node", label="second"),
        build(root, "node-plain", "node", label="first", inject=False),
        build(root, "node-no-content", "node", label="first", sources_content=False),
        build(root, "browser", "browser", label="first"),
        build(root, "browser-plain", "browser", label="first", inject=False),
        build(root, "browser-split", "browser-split", label="first"),
    ]
    return {b.name: b for b in made}


# ------------------------------------------------------------------ running the app


async def run_node_app(build_: Build, dsn: str, release: str, tmp_path: Path) -> dict[str, Any]:
    """Run the node build once; its report (event id, flushed)."""
    node = need_node("@sentry/node")
    report = tmp_path / f"{build_.name}-report.json"
    ran = await run(
        [node, str(build_.bundle), dsn, release, str(report)],
        cwd=build_.directory,
        env={"NODE_PATH": str(NODE_MODULES)},
    )
    assert 0 == ran.returncode, ran.stderr
    assert "" == ran.stderr.strip()
    out: dict[str, Any] = json.loads(report.read_text())
    assert out["flushed"] is True
    return out


async def run_browser_app(build_: Build, dsn: str, release: str, tmp_path: Path, dist: str = "") -> dict[str, Any]:
    """Open the browser build's page in headless chromium once; the page's report."""
    chromium = need_chromium()
    node = need_node("playwright-core")
    origin, runner = await serve_directory(build_.directory)
    try:
        query = "&".join(f"{k}={quote(v, safe='')}" for k, v in (("dsn", dsn), ("release", release), ("dist", dist)))
        url = f"{origin}/index.html?{query}"
        report = tmp_path / f"{build_.name}-browser.json"
        profile = tmp_path / f"{build_.name}-profile"
        driver = JS_DIR / "browser_driver.js"  # the conformance tests' driver, page global "e2e"
        ran = await run([node, str(driver), chromium, str(profile), url, str(report), "e2e"], timeout=60)
        assert 0 == ran.returncode, ran.stderr
    finally:
        await runner.cleanup()
    browser: dict[str, Any] = json.loads(report.read_text())
    assert [] == [c for c in browser["console"] if c[0] not in ("log", "info", "debug")]
    assert [] == browser["page_errors"]
    assert [] == browser["failed_requests"]
    page: dict[str, Any] = browser["page"]
    assert page["flushed"] is True
    page["origin"] = origin
    return page


def recorded_events(mirror: Any) -> list[dict[str, Any]]:
    """The events in the listener's snapshot (envelope event items)."""
    return [
        item.json()
        for record in mirror.records()
        if record.data["endpoint"] == "envelope"
        for item in envelope.parse(record.body).items
        if item.type == "event"
    ]


def in_app_frames(event: dict[str, Any]) -> list[dict[str, Any]]:
    (exception,) = event["exception"]["values"]
    return [f for f in exception["stacktrace"]["frames"] if f.get("in_app")]


# ------------------------------------------------------------------ what the SDKs send


def assert_frames_point_into_the_bundle(build_: Build, event: dict[str, Any], base_url: str) -> None:
    """Every in-app frame is a position in the minified file it should be in (``base_url``
    and the file's name), and an independent reading of that position agrees: a call frame
    sits on a call (of the next, inner, frame's minified function when both are in one
    file; across files the callee is a local name), the innermost one on the ``new Error``
    it threw."""
    frames = in_app_frames(event)
    expected = build_.expected_frames()
    assert len(expected) == len(frames)
    pairs = zip(frames, [*frames[1:], None], expected, [*expected[1:], None], strict=True)
    for outer, inner, want, callee_want in pairs:
        assert base_url + want.output == outer["abs_path" if "abs_path" in outer else "filename"]
        lines = (build_.directory / want.output).read_text().splitlines()
        text = lines[outer["lineno"] - 1][outer["colno"] - 1 :]
        if inner is None:
            assert text.startswith("new Error("), text[:40]
            continue
        call = re.match(r"([\w$]{1,2})\(", text)  # minified
        assert call is not None, text[:40]
        if callee_want is not None and callee_want.output == want.output:
            assert inner["function"].rsplit(".", 1)[-1] == call.group(1), text[:40]


def assert_debug_meta(build_: Build, event: dict[str, Any], base_url: str) -> None:
    """One ``sourcemap`` image per built file, with the debug id inject wrote into it."""
    images = event.get("debug_meta", {}).get("images", [])
    assert sorted(
        (
            {"type": "sourcemap", "code_file": base_url + name, "debug_id": debug_id}
            for name, debug_id in build_.debug_ids.items()
        ),
        key=str,
    ) == sorted(images, key=str)


async def test_node_app_sends_minified_frames_and_the_injected_debug_id(
    mirror: Any, builds: dict[str, Build], tmp_path: Path
) -> None:
    for name in ("node", "node-plain"):
        build_ = builds[name]
        sent = await run_node_app(build_, mirror.dsn(), "shop@1.0.0", tmp_path)
        (event,) = [e for e in recorded_events(mirror) if e["event_id"] == sent["event_id"]]
        assert "shop@1.0.0" == event["release"]
        assert f"no price for plum ({build_.label})" == event["exception"]["values"][0]["value"]
        assert_frames_point_into_the_bundle(build_, event, f"{build_.directory}/")
        assert_debug_meta(build_, event, f"{build_.directory}/")


async def test_browser_app_sends_minified_frames_and_the_injected_debug_id(
    mirror: Any, builds: dict[str, Build], tmp_path: Path
) -> None:
    for name in ("browser", "browser-plain", "browser-split"):
        build_ = builds[name]
        page = await run_browser_app(build_, mirror.dsn(), "shop-web@1.0.0", tmp_path)
        (event,) = [e for e in recorded_events(mirror) if e["event_id"] == page["event_id"]]
        assert "shop-web@1.0.0" == event["release"]
        assert "127.0.0.1" == urlsplit(page["origin"]).hostname
        assert_frames_point_into_the_bundle(build_, event, page["origin"] + "/")
        assert_debug_meta(build_, event, page["origin"] + "/")


# ------------------------------------------------------------------ sentry-cli against the listener

# ------------------------------------------------------------------ sentry-mirror sourcemaps check


async def sourcemaps_check(mirror: Any, exit_code: int = 0) -> dict[str, Any]:
    """``sentry-mirror sourcemaps check --json --fail-on unresolved`` (a real process of the
    CLI) on the listener's snapshot; it must exit with ``exit_code``."""
    argv = [sys.executable, "-m", "sentry_mirror", "sourcemaps", "check", "--json", "--fail-on", "unresolved"]
    ran = await run([*argv, str(mirror.directory)], cwd=ROOT, timeout=60)
    assert exit_code == ran.returncode, ran.stderr
    out: dict[str, Any] = json.loads(ran.stdout)
    return out


def event_row(report: dict[str, Any], event_id: str) -> dict[str, Any]:
    (row,) = [r for r in report["event_rows"] if r["event_id"] == event_id]
    return row


def in_app_rows(row: dict[str, Any]) -> list[dict[str, Any]]:
    return [frame for frame in row["frames"] if frame["in_app"]]


def assert_resolves_to_the_source(build_: Build, row: dict[str, Any], outcome: str, via: str) -> None:
    """Every in-app frame of the event resolves to the line of the source marked for it: the
    file, line, column, function and (with sources content) the line's text."""
    frames = in_app_rows(row)
    expected = build_.expected_frames()
    assert {outcome: len(expected)} == row["in_app_outcomes"]
    for frame, want in zip(frames, expected, strict=True):
        assert (outcome, via) == (frame["outcome"], frame["via"]), frame
        assert build_.debug_ids.get(want.output) == frame["debug_id"]
        original = frame["original"]
        assert (build_.sources + want.file, want.line, want.column) == (
            original["file"],
            original["line"],
            original["column"],
        )
        assert want.function == original["function"]
        if outcome == "resolved":
            # (symbolic keeps the line's newline; Sentry's context_line has none)
            assert want.text == original["context_line"]  # as Sentry shows it: no line break
        else:
            assert original["context_line"] is None


async def upload(mirror: Any, tmp_path: Path, build_: Build, *options: str) -> dict[str, Any]:
    """``sentry-cli sourcemaps upload`` of a build; the one upload record it made."""
    before = len(upload_records(mirror))
    await sentry_cli(mirror, tmp_path, "sourcemaps", "upload", *options, str(build_.directory))
    records = upload_records(mirror)
    assert before + 1 == len(records)
    record = records[-1]
    assert "artifact_bundle" == record["upload"]["kind"]
    files = {(item["type"], item["headers"]["url"]): item["headers"]["debug_id"] for item in record["summary"]["items"]}
    prefix = options[options.index("--url-prefix") + 1] if "--url-prefix" in options else "~"
    built = {f.name for f in build_.directory.glob("*.js")}
    expected = {("minified_source", f"{prefix}/{name}"): build_.debug_ids.get(name) for name in built}
    expected.update({("source_map", f"{prefix}/{name}.map"): build_.debug_ids.get(name) for name in built})
    assert expected == files
    return record


RELEASE = "shop@1.0.0"
VIA = {"debug_id": (), "release": ("--release", RELEASE)}


@pytest.mark.parametrize("via", ["debug_id", "release"])
async def test_node_frames_resolve_to_the_source(
    mirror: Any, builds: dict[str, Build], tmp_path: Path, via: str
) -> None:
    """Uploaded with debug ids (no release), or plain with --release and a URL prefix that
    matches the path node reports (``~/`` + the absolute path)."""
    build_ = builds["node" if via == "debug_id" else "node-plain"]
    prefix = () if via == "debug_id" else ("--url-prefix", f"~{build_.directory}")
    record = await upload(mirror, tmp_path, build_, *VIA[via], *prefix)
    assert (RELEASE if via == "release" else None) == record["upload"]["release"]
    sent = await run_node_app(build_, mirror.dsn(), RELEASE, tmp_path)
    report = await sourcemaps_check(mirror)
    row = event_row(report, sent["event_id"])
    assert_resolves_to_the_source(build_, row, "resolved", via)
    assert 1.0 == report["totals"]["in_app_resolved_share"]
    assert 0 == report["totals"]["in_app_unresolved"]
    # node's own frames (node:internal/...) have no file to look up: skipped, not unresolved.
    internal = [frame for frame in row["frames"] if not frame["in_app"]]
    assert internal
    assert {"skipped"} == {frame["outcome"] for frame in internal}
    assert all(frame["abs_path"].startswith("node:internal/") for frame in internal)


async def test_uploads_and_events_in_separate_snapshots(
    start_mirror: Any, builds: dict[str, Build], tmp_path: Path
) -> None:
    """CI uploads through one listener run, the app sends through another: the check reads
    both snapshots (the upload records hold the bundles; no chunk store is needed)."""
    build_ = builds["node"]
    ci, app = await start_mirror(), await start_mirror()
    await upload(ci, tmp_path, build_)
    sent = await run_node_app(build_, app.dsn(), RELEASE, tmp_path)
    argv = [sys.executable, "-m", "sentry_mirror", "sourcemaps", "check", "--json", "--fail-on", "unresolved"]
    alone = await run([*argv, str(app.directory)], cwd=ROOT, timeout=60)
    assert 1 == alone.returncode
    row = event_row(json.loads(alone.stdout), sent["event_id"])
    assert {"no_bundle_for_debug_id": len(build_.expected_frames())} == row["in_app_outcomes"]
    shutil.rmtree(ci.directory / "chunks")
    ran = await run([*argv, str(ci.directory), str(app.directory)], cwd=ROOT, timeout=60)
    assert 0 == ran.returncode, ran.stderr
    assert_resolves_to_the_source(build_, event_row(json.loads(ran.stdout), sent["event_id"]), "resolved", "debug_id")


async def test_a_ci_rerun_uploads_the_same_build_once(mirror: Any, builds: dict[str, Build], tmp_path: Path) -> None:
    """The same bundle uploaded again (a re-run job) is already assembled: the listener says
    so at once, sentry-cli sends no chunk, no second upload record is written, and the
    frames resolve as before."""
    build_ = builds["node"]
    await upload(mirror, tmp_path, build_)
    first_run = len(mirror.records())
    await sentry_cli(mirror, tmp_path, "sourcemaps", "upload", str(build_.directory))
    rerun = [r.data for r in mirror.records()[first_run:]]
    assert {("GET", "api_chunk_upload"), ("POST", "api_artifact_assemble")} == {
        (r["method"], r["endpoint"]) for r in rerun
    }
    assembled = [json.loads(r["response"]["body"]) for r in rerun if r["endpoint"] == "api_artifact_assemble"]
    assert {("ok", ())} == {(answer["state"], tuple(answer["missingChunks"])) for answer in assembled}
    assert 1 == len(upload_records(mirror))
    sent = await run_node_app(build_, mirror.dsn(), RELEASE, tmp_path)
    report = await sourcemaps_check(mirror)
    assert 1 == len(report["bundles"])
    assert_resolves_to_the_source(build_, event_row(report, sent["event_id"]), "resolved", "debug_id")


@pytest.mark.parametrize(
    ("name", "via"), [("browser", "debug_id"), ("browser-plain", "release"), ("browser-split", "debug_id")]
)
async def test_browser_frames_resolve_to_the_source(
    mirror: Any, builds: dict[str, Build], tmp_path: Path, name: str, via: str
) -> None:
    """The page's script is at ``http://127.0.0.1:PORT/app.min.js``: the default URL prefix
    ``~/`` matches it on any host. By release, with a dist too (the SDK's and the upload's).
    Split in two files, each frame is found by its own file's debug id."""
    build_ = builds[name]
    dist = "" if via == "debug_id" else "web-7"
    record = await upload(mirror, tmp_path, build_, *VIA[via], *(("--dist", dist) if dist else ()))
    assert (dist or None) == record["upload"]["dist"]
    page = await run_browser_app(build_, mirror.dsn(), RELEASE, tmp_path, dist)
    report = await sourcemaps_check(mirror)
    row = event_row(report, page["event_id"])
    assert (dist or None) == row["dist"]
    assert_resolves_to_the_source(build_, row, "resolved", via)
    assert 1.0 == report["totals"]["in_app_resolved_share"]


# ------------------------------------------------------------------ what does not resolve, by name

#: Each case: the build uploaded and its upload options, the build run and the release it
#: sends ("" for none). ``~{run}`` stands for the run build's directory (the path node
#: reports), so that the uploaded file's URL matches the running file's.
NEGATIVE = {
    # Maps uploaded for another build of the same release and URL (stale): the running file's
    # debug id is in no bundle, the release's file has the first build's.
    "debug_id_not_in_bundle": ("node", ("--release", RELEASE, "--url-prefix", "~{run}"), "node-second", RELEASE),
    # Stale again, without a release: nothing has the running build's debug id.
    "no_bundle_for_debug_id": ("node", (), "node-second", ""),
    # The injected build was uploaded, the files deployed are the ones from before inject.
    "debug_id_not_in_event": ("node", ("--release", RELEASE, "--url-prefix", "~{run}"), "node-plain", ""),
    # A bundle without debug ids, uploaded for a release, and events without a release.
    "no_release": ("node-plain", ("--release", RELEASE, "--url-prefix", "~{run}"), "node-plain", ""),
    # The release has a bundle, but not at the URL the frames give.
    "file_missing": ("node-plain", ("--release", RELEASE, "--url-prefix", "~/elsewhere"), "node-plain", RELEASE),
}


@pytest.mark.parametrize("outcome", sorted(NEGATIVE))
async def test_frames_that_cannot_resolve_are_named(
    mirror: Any, builds: dict[str, Build], tmp_path: Path, outcome: str
) -> None:
    uploaded, options, ran, release = NEGATIVE[outcome]
    running = builds[ran]
    await upload(mirror, tmp_path, builds[uploaded], *(o.replace("{run}", str(running.directory)) for o in options))
    sent = await run_node_app(running, mirror.dsn(), release, tmp_path)
    report = await sourcemaps_check(mirror, exit_code=1)  # --fail-on unresolved
    row = event_row(report, sent["event_id"])
    frames = in_app_rows(row)
    assert len(running.expected_frames()) == len(frames)
    assert {outcome: len(frames)} == row["in_app_outcomes"]
    assert {outcome} == {frame["outcome"] for frame in frames}
    assert [None] * len(frames) == [frame["original"] for frame in frames]
    assert len(frames) == report["totals"]["in_app_outcomes"][outcome]
    assert 0 == report["totals"]["in_app_resolved"]
    assert len(frames) == report["totals"]["in_app_unresolved"]
    assert outcome in {example["outcome"] for example in report["examples"] if example["in_app"]}
    # The terminal (as a CI log shows it, 80 columns) and the HTML page name it too.
    page = tmp_path / "check.html"
    argv = [sys.executable, "-m", "sentry_mirror", "sourcemaps", "check", "--html", str(page), str(mirror.directory)]
    ran = await run(argv, cwd=ROOT, env={"COLUMNS": "80", "NO_COLOR": "1"})
    assert 0 == ran.returncode, ran.stderr
    assert re.search(rf"^{outcome} +{len(frames)} +{len(frames)} ", ran.stdout, re.MULTILINE), ran.stdout
    unresolved = ran.stdout.split("\ndistinct unresolved frames\n")[1]
    assert re.search(rf"^{outcome} ", unresolved, re.MULTILINE), unresolved  # whole, not folded
    assert outcome in page.read_text()
    # The report's releases section counts the same frames.
    summary = await sentry_mirror_json("report", "--format", "json", "--section", "releases", str(mirror.directory))
    assert {"resolved": 0, "total": len(frames), "share": 0.0, "unchecked": 0} == summary["releases"]["frames"]
    assert summary["releases"]["answer"].startswith("0% of in-app JS frames resolve")


async def test_a_map_without_sources_content_resolves_without_context(
    mirror: Any, builds: dict[str, Build], tmp_path: Path
) -> None:
    """File, line and function still resolve (so --fail-on unresolved passes); the lines
    around them cannot be shown."""
    build_ = builds["node-no-content"]
    assert "sourcesContent" not in json.loads(build_.source_map.read_text())
    await upload(mirror, tmp_path, build_)
    sent = await run_node_app(build_, mirror.dsn(), RELEASE, tmp_path)
    report = await sourcemaps_check(mirror)
    row = event_row(report, sent["event_id"])
    assert_resolves_to_the_source(build_, row, "no_sources_content", "debug_id")
    assert "no_sources_content" in {example["outcome"] for example in report["examples"]}


# ------------------------------------------------------------------ a CI release pipeline

SHA = "4f2c1d0b9a8e7f6a5b4c3d2e1f0a9b8c7d6e5f40"


async def test_a_ci_release_pipeline_is_recorded_and_reported(
    start_mirror: Any, builds: dict[str, Build], tmp_path: Path
) -> None:
    """What a CI job runs, in its order, each command exiting 0; then the app's event."""
    mirror = await start_mirror(repos=("acme/shop",))
    build_ = builds["node-plain"]
    await sentry_cli(mirror, tmp_path, "releases", "new", RELEASE)
    await sentry_cli(mirror, tmp_path, "releases", "set-commits", RELEASE, "--commit", f"acme/shop@{SHA}")
    await upload(mirror, tmp_path, build_, "--release", RELEASE, "--url-prefix", f"~{build_.directory}", "--wait")
    await sentry_cli(mirror, tmp_path, "releases", "finalize", RELEASE)
    await sentry_cli(mirror, tmp_path, "deploys", "new", "--release", RELEASE, "-e", "production", "-n", "ci-42")
    sent = await run_node_app(build_, mirror.dsn(), RELEASE, tmp_path)

    report = await sourcemaps_check(mirror)
    assert_resolves_to_the_source(build_, event_row(report, sent["event_id"]), "resolved", "release")

    # Each command left its web API records (accepted, as Sentry answers), in order.
    records = [r.data for r in mirror.records()]
    calls = [(r["method"], r["endpoint"], r["response"]["status"]) for r in records if r["endpoint"] != "upload"]
    assert [
        ("POST", "api_releases", 201),  # releases new
        ("GET", "api_repos", 200),  # set-commits: the repository named must exist
        ("POST", "api_releases", 208),  # set-commits makes sure the release exists
        ("PUT", "api_release", 200),  # set-commits: the refs
        ("GET", "api_chunk_upload", 200),  # sourcemaps upload: the server's chunk options
        ("POST", "api_artifact_assemble", 200),  # assembled? no: the chunk is missing
        ("POST", "api_chunk_upload", 200),
        ("POST", "api_artifact_assemble", 200),  # now assembled
        ("PUT", "api_release", 200),  # releases finalize
        ("POST", "api_deploys", 201),  # deploys new
        ("POST", "envelope", 200),  # the app's error
    ] == calls
    api = [r for r in records if r["endpoint"].startswith("api_")]
    assert {"acme"} == {r["api"]["org"] for r in api}
    bodies = [json.loads(r["body"]) for r in api if r["endpoint"] in ("api_release", "api_deploys")]
    assert [{"repository": "acme/shop", "commit": SHA}] == [
        {k: ref[k] for k in ("repository", "commit")} for ref in bodies[0]["refs"]
    ]
    assert "dateReleased" in bodies[1]
    assert ("production", "ci-42") == (bodies[2]["environment"], bodies[2]["name"])
    for r in api:
        assert {"form": "bearer", "token": r["auth"]["token"]} == r["auth"]
        assert r["auth"]["token"].startswith("redacted:")
    assembles = [json.loads(r["response"]["body"]) for r in records if r["endpoint"] == "api_artifact_assemble"]
    assert ["not_found", "ok"] == [answer["state"] for answer in assembles]
    assert 1 == len(assembles[0]["missingChunks"])
    written = b"".join(snapshot_bytes(mirror))
    assert b'"api_deploys"' in written  # the token's hash is there, the token itself never
    assert TOKEN.encode() not in written

    # What the report says today: the endpoints, and the event's release.
    summary = await sentry_mirror_json("report", "--format", "json", str(mirror.directory))
    assert {
        "api_releases": 2,
        "api_repos": 1,
        "api_release": 2,
        "api_chunk_upload": 2,
        "api_artifact_assemble": 2,
        "api_deploys": 1,
        "upload": 1,
        "envelope": 1,
    } == summary["traffic"]["by_endpoint"]
    assert {RELEASE: 1} == summary["sourcemaps"]["releases"]
    assert "releases" in summary["sections"]
    assert_releases_section(summary["releases"], len(build_.expected_frames()))


def assert_releases_section(section: dict[str, Any], frames: int) -> None:
    """The pipeline above as the report's "Releases and uploads" section tells it, with the
    share of in-app frames that resolve (the app's ``frames``, all of them) and its answer."""
    (row,) = section["releases"]
    assert (RELEASE, 1, 1, True) == (row["version"], row["events"], row["bundles"], row["has_upload"])
    assert row["finalized"] is not None
    assert [{"repository": "acme/shop", "commit": SHA, "previous": None}] == row["refs"]
    assert [("production", "ci-42")] == [(d["environment"], d["name"]) for d in row["deploys"]]
    assert {"minified_source": 1, "source_map": 1} == row["bundle_files"]
    assert 0 == section["mismatches"]["events_no_upload"]["count"]
    assert 0 == section["mismatches"]["not_finalized"]["count"]
    assert {"resolved": frames, "total": frames, "share": 1.0, "unchecked": 0} == section["frames"]
    assert {"resolved": frames, "total": frames, "share": 1.0} == row["frames"]
    assert "100% of in-app JS frames resolve; every release with JavaScript events has an upload" == section["answer"]


def snapshot_bytes(mirror: Any) -> list[bytes]:
    """The listener's snapshot files, decompressed (zstd frames, possibly several)."""
    out = []
    for path in sorted(mirror.directory.glob("*.zst")):
        with zstandard.ZstdDecompressor().stream_reader(path.read_bytes(), read_across_frames=True) as reader:
            out.append(reader.read())
    return out


# ------------------------------------------------------------------ the prediction, in the new home

FRAME_HEADER = re.compile(
    r"^### (?P<file>\S+):(?P<line>\d+)(?: in `(?P<function>[^`]*)`)? \[(?P<scope>in-app|external)\]", re.M
)


async def bugsink_events(bugsink: Bugsink, project_id: int) -> list[tuple[str, str]]:
    """(Bugsink's own id, the event id) of the project's events, once it has digested them."""
    for _ in range(100):
        with closing(sqlite3.connect(bugsink.directory / "db.sqlite3")) as db:
            rows = list(db.execute("SELECT id, event_id FROM events_event WHERE project_id = ?", (project_id,)))
        if rows:
            return [(str(pk), str(event_id).replace("-", "")) for pk, event_id in rows]
        await asyncio.sleep(0.1)
    raise AssertionError("Bugsink stored no event")


@pytest.mark.parametrize("name", ["node", "browser-split"])
async def test_what_the_check_predicts_is_what_bugsink_shows(
    mirror: Any, builds: dict[str, Build], tmp_path: Path, bugsink: Bugsink, name: str
) -> None:
    """The migration question, answered before moving: the check says every in-app frame
    resolves; replayed into the real Bugsink (``replay --uploads``: the bundle through
    Bugsink's chunk protocol, then the event), the stack trace Bugsink renders shows the same
    original files and lines (Bugsink's own rendering: its stack trace API, in Markdown).
    Not the function names: Bugsink 2.6.1 names a frame by the source map's name at the
    position (the callee: ``priceOf`` for the call in ``totalOf``), Sentry and the check by
    the enclosing function."""
    build_ = builds[name]
    await upload(mirror, tmp_path, build_)
    app = run_node_app if build_.platform == "node" else run_browser_app
    sent = await app(build_, mirror.dsn(), RELEASE, tmp_path)
    report = await sourcemaps_check(mirror)
    assert_resolves_to_the_source(build_, event_row(report, sent["event_id"]), "resolved", "debug_id")

    project_id, dsn = bugsink.project(f"e2e sourcemaps {uuid.uuid4().hex[:8]}")
    with closing(sqlite3.connect(bugsink.directory / "db.sqlite3")) as db:
        (slug,) = db.execute("SELECT slug FROM projects_project WHERE id = ?", (project_id,)).fetchone()
    token = bugsink.manage("create_auth_token").split()[-1]
    argv = [sys.executable, "-m", "sentry_mirror", "replay", str(mirror.directory), "--to", dsn, "--uploads"]
    ran = await run([*argv, "--api-project", f"any/{slug}"], cwd=ROOT, env={"SENTRY_MIRROR_API_TOKEN": token})
    assert 0 == ran.returncode, (ran.stdout, ran.stderr)
    ((pk, event_id),) = await bugsink_events(bugsink, project_id)
    assert sent["event_id"] == event_id

    url = f"{bugsink.url}/api/canonical/0/events/{pk}/stacktrace/"
    async with aiohttp.ClientSession() as session:
        async with session.get(url, headers={"Authorization": f"Bearer {token}"}) as answer:
            assert 200 == answer.status, await answer.text()
            markdown = await answer.text()
    shown = [(m["file"], int(m["line"])) for m in FRAME_HEADER.finditer(markdown) if m["scope"] == "in-app"]
    expected = [(build_.sources + f.file, f.line) for f in build_.expected_frames()]
    assert sorted(expected) == sorted(shown), markdown
