"""Shared by the conformance tests: real non-Python Sentry clients against a real listener.

The JavaScript clients (@sentry/node, @sentry/browser bundled with esbuild, @sentry/cli)
are pinned in ``tests/conformance/js/package-lock.json`` and installed by ``.ci/run`` with
``npm ci --prefix tests/conformance/js``; the browser is Debian's ``chromium``. Outside CI
a missing piece skips the test with what to install; in CI (``CI=true``) it fails.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import json
import os
import re
import shutil
import subprocess
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

JS_DIR = Path(__file__).parent / "js"
NODE_MODULES = JS_DIR / "node_modules"
NPM_CI = "npm ci --prefix tests/conformance/js"
SENTRY_CLI = NODE_MODULES / ".bin" / "sentry-cli"


def sentry_cli_env(url: str, home: Path, token: str, org: str, project: str) -> dict[str, str]:
    """The environment of a real sentry-cli pointed at a listener (``SENTRY_URL``): no
    ~/.sentryclirc (``HOME``), no .env, no update check, no colours."""
    return {
        "HOME": str(home),
        "SENTRY_URL": url,
        "SENTRY_AUTH_TOKEN": token,
        "SENTRY_ORG": org,
        "SENTRY_PROJECT": project,
        "SENTRY_LOAD_DOTENV": "0",
        "SENTRY_DISABLE_UPDATE_CHECK": "true",
        "NO_COLOR": "1",
    }


def _missing(what: str, install: str) -> None:
    message = f"{what} is not installed; install it with: {install}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (required in CI: .ci/run must install it)")
    pytest.skip(message)


@functools.cache
def _node_version(node: str) -> tuple[int, ...]:
    out = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout
    return tuple(int(part) for part in re.findall(r"\d+", out)[:3])


def need_node(*packages: str) -> str:
    """The ``node`` executable (20.19 or newer, as @sentry/node 11 requires), with the given
    npm packages installed in ``tests/conformance/js``."""
    node = shutil.which("node")
    if node is None or _node_version(node) < (20, 19):
        _missing("node 20.19 or newer", f"node and npm from https://nodejs.org (or your distribution), then {NPM_CI}")
    assert node is not None
    for package in packages:
        if not (NODE_MODULES / package / "package.json").is_file():
            _missing(f"the npm package {package}", NPM_CI)
    return node


def need_chromium() -> str:
    """Debian's headless-capable ``chromium`` (never a browser downloaded by a test tool)."""
    for name in ("chromium", "chromium-browser"):
        path = shutil.which(name)
        if path:
            return path
    _missing("chromium", "apt-get install -y chromium (as root)")
    raise AssertionError("unreachable")


def installed_version(package: str) -> str:
    return str(json.loads((NODE_MODULES / package / "package.json").read_text())["version"])


def pinned_version(package: str) -> str:
    """The exact version package.json pins (the lock file pins the rest of the tree)."""
    return str(json.loads((JS_DIR / "package.json").read_text())["dependencies"][package])


#: Not passed to clients: their own Sentry settings, and proxies (the Node transport would
#: send to an ``http_proxy`` instead of the listener).
_UNWANTED_ENV = re.compile(r"^(SENTRY_.*|SENTRYCLI_.*|NODE_OPTIONS|https?_proxy|all_proxy|no_proxy)$", re.IGNORECASE)


@dataclass
class Ran:
    returncode: int
    stdout: str
    stderr: str


async def run(
    argv: Sequence[str], *, timeout: float = 60, env: dict[str, str] | None = None, cwd: Path = JS_DIR
) -> Ran:
    """Run a client process without blocking the event loop that serves the listener."""
    proc = await start(argv, env=env, cwd=cwd)
    return await finish(proc, timeout=timeout)


async def start(
    argv: Sequence[str], *, env: dict[str, str] | None = None, cwd: Path = JS_DIR, stdin: int = subprocess.DEVNULL
) -> asyncio.subprocess.Process:
    """Start a client process (stdout and stderr piped) without the unwanted environment."""
    inherited = {k: v for k, v in os.environ.items() if not _UNWANTED_ENV.match(k)}
    return await asyncio.create_subprocess_exec(
        *argv,
        cwd=cwd,
        env={**inherited, **(env or {})},
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


async def finish(proc: asyncio.subprocess.Process, *, timeout: float = 60, stdin: bytes | None = None) -> Ran:
    """Wait for a started client process (giving it ``stdin``); killed after ``timeout``."""
    try:
        out, err = await asyncio.wait_for(proc.communicate(stdin), timeout)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode is not None
    return Ran(proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


def decode_wire(body: bytes, encoding: str | None) -> bytes:
    """What the listener should have recorded for a body sent with this Content-Encoding."""
    if encoding in (None, "", "identity"):
        return body
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    raise AssertionError(f"unexpected Content-Encoding from the client: {encoding!r}")


def header(pairs: list[list[str]], name: str) -> str | None:
    """A header of a record (``[name, value]`` pairs, as received)."""
    values = [v for k, v in pairs if k.lower() == name.lower()]
    assert len(values) <= 1, (name, values)
    return values[0] if values else None


def envelope_json_items(body: bytes) -> list[tuple[dict[str, Any], Any]]:
    """The (item header, parsed payload) pairs of an envelope's JSON items."""
    from sentry_mirror.core import envelope

    out = []
    for item in envelope.parse(body).items:
        if item.type != "attachment":
            out.append((item.headers, item.json()))
    return out


async def serve_directory(directory: Path) -> tuple[str, web.AppRunner]:
    """``directory``'s files over HTTP on a loopback port of their own: (origin, the runner
    to clean up)."""
    app = web.Application()
    app.router.add_static("/", directory)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return f"http://127.0.0.1:{port}", runner
