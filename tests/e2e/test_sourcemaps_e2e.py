"""Source maps end to end (issue 15), with real parts only.

A small app (``sourcemaps_app/``: three modules of named functions calling each other, one
throwing) is bundled and minified with source maps by the real esbuild, once per session,
for node and for the browser; ``sentry-cli sourcemaps inject`` (the real one) writes debug
ids into the bundles and maps. The app runs under @sentry/node (a node process) and
@sentry/browser (headless chromium) and sends its error to a real listener. The truth is
the app's source: each line marked ``// frame:NAME`` is where one in-app frame must resolve.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import pytest
from aiohttp import web

from sentry_mirror.core import envelope
from tests.conformance.clients import NODE_MODULES, need_chromium, need_node, run
from tests.e2e.sourcemaps_build import SENTRY_CLI, Build, build

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


async def serve_directory(directory: Path) -> tuple[str, web.AppRunner]:
    app = web.Application()
    app.router.add_static("/", directory)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return f"http://127.0.0.1:{port}", runner


async def run_browser_app(build_: Build, dsn: str, release: str, tmp_path: Path) -> dict[str, Any]:
    """Open the browser build's page in headless chromium once; the page's report."""
    chromium = need_chromium()
    node = need_node("playwright-core")
    origin, runner = await serve_directory(build_.directory)
    try:
        url = f"{origin}/index.html?dsn={quote(dsn, safe='')}&release={quote(release, safe='')}"
        report = tmp_path / f"{build_.name}-browser.json"
        profile = tmp_path / f"{build_.name}-profile"
        driver = Path(__file__).parent.parent / "conformance" / "js" / "browser_driver.js"
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


def assert_frames_point_into_the_bundle(build_: Build, event: dict[str, Any], bundle_url: str) -> None:
    """Every in-app frame is a position in the minified bundle, and an independent reading
    of that position agrees: a call frame sits on the call of the next (inner) frame's
    minified function, the innermost one on the ``new Error`` it threw."""
    frames = in_app_frames(event)
    assert len(build_.expected_frames()) == len(frames)
    lines = build_.bundle.read_text().splitlines()
    for outer, inner in zip(frames, [*frames[1:], None], strict=True):
        assert bundle_url == outer["abs_path" if "abs_path" in outer else "filename"]
        text = lines[outer["lineno"] - 1][outer["colno"] - 1 :]
        if inner is None:
            assert text.startswith("new Error("), text[:40]
        else:
            callee = inner["function"].rsplit(".", 1)[-1]
            assert len(callee) <= 2  # minified
            assert text.startswith(f"{callee}("), (callee, text[:40])


def assert_debug_meta(build_: Build, event: dict[str, Any], bundle_url: str) -> None:
    images = event.get("debug_meta", {}).get("images", [])
    if build_.debug_id is None:
        assert [] == images
    else:
        assert [{"type": "sourcemap", "code_file": bundle_url, "debug_id": build_.debug_id}] == images


async def test_node_app_sends_minified_frames_and_the_injected_debug_id(
    mirror: Any, builds: dict[str, Build], tmp_path: Path
) -> None:
    for name in ("node", "node-plain"):
        build_ = builds[name]
        sent = await run_node_app(build_, mirror.dsn(), "shop@1.0.0", tmp_path)
        (event,) = [e for e in recorded_events(mirror) if e["event_id"] == sent["event_id"]]
        assert "shop@1.0.0" == event["release"]
        assert f"no price for plum ({build_.label})" == event["exception"]["values"][0]["value"]
        assert_frames_point_into_the_bundle(build_, event, str(build_.bundle))
        assert_debug_meta(build_, event, str(build_.bundle))


async def test_browser_app_sends_minified_frames_and_the_injected_debug_id(
    mirror: Any, builds: dict[str, Build], tmp_path: Path
) -> None:
    for name in ("browser", "browser-plain"):
        build_ = builds[name]
        page = await run_browser_app(build_, mirror.dsn(), "shop-web@1.0.0", tmp_path)
        (event,) = [e for e in recorded_events(mirror) if e["event_id"] == page["event_id"]]
        assert "shop-web@1.0.0" == event["release"]
        url = page["origin"] + "/app.min.js"
        assert "127.0.0.1" == urlsplit(url).hostname
        assert_frames_point_into_the_bundle(build_, event, url)
        assert_debug_meta(build_, event, url)


# ------------------------------------------------------------------ sentry-cli against the listener

TOKEN = "sntrys_e2e-secret-token-0123456789"
ORG, PROJECT = "acme", "shop"


async def sentry_cli(mirror: Any, tmp_path: Path, *args: str) -> str:
    """Run the real sentry-cli with SENTRY_URL pointing at the listener; it must exit 0."""
    need_node("@sentry/cli")
    env = {
        "HOME": str(tmp_path),  # no ~/.sentryclirc
        "SENTRY_URL": mirror.url,
        "SENTRY_AUTH_TOKEN": TOKEN,
        "SENTRY_ORG": ORG,
        "SENTRY_PROJECT": PROJECT,
        "SENTRY_LOAD_DOTENV": "0",
        "SENTRY_DISABLE_UPDATE_CHECK": "true",
        "NO_COLOR": "1",
    }
    ran = await run([str(SENTRY_CLI), *args], env=env, cwd=tmp_path, timeout=60)
    assert 0 == ran.returncode, (args, ran.stdout, ran.stderr)
    return ran.stdout
