"""Fixtures: a real mirror on 127.0.0.1 port 0 writing real snapshot files, and a CLI runner."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sentry_sdk
from hypothesis import settings

from sentry_mirror.core import ingest
from sentry_mirror.core.record import Record
from sentry_mirror.core.script import Script
from sentry_mirror.io.recorder import Recorder
from sentry_mirror.io.server import Running, Timeouts, create_app, serve
from sentry_mirror.io.snapshot import iter_records
from tests.bugsink import bugsink  # noqa: F401  (the session's Bugsink, for every test module)
from tests.jsbuild import js_builds  # noqa: F401  (the esbuild-built app of the source map tests)


@pytest.fixture(autouse=True)
def _sentry_sdk_scopes_cleared() -> Any:
    """What a test sets on sentry-sdk's scopes (a user, extras, tags) stays out of the next
    test's events: the SDK's global and isolation scopes live as long as the process."""
    yield
    for scope in (sentry_sdk.get_global_scope(), sentry_sdk.get_isolation_scope(), sentry_sdk.get_current_scope()):
        scope.clear()


# In CI the property tests draw the same examples every run, so a landing never depends on
# the luck of the draw; elsewhere each run explores new ones (and keeps what failed).
settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
    settings.load_profile("ci")


@dataclass
class Mirror:
    """A running listener: where to send, and what it wrote."""

    running: Running
    recorder: Recorder
    directory: Path

    @property
    def port(self) -> int:
        return self.running.port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def dsn(self, key: str = "mirror", project: int = 1) -> str:
        return f"http://{key}@127.0.0.1:{self.port}/{project}"

    def records(self) -> list[Record]:
        warnings: list[str] = []
        records = list(iter_records([self.directory], on_warning=warnings.append))
        assert [] == warnings
        return records


@pytest.fixture
async def start_mirror(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Mirror]]]:
    """A factory: start a mirror with a given ``ingest.Config``, web API repositories,
    timeouts, scripted answers and recorder options.

    Every mirror it started is stopped, and its snapshot closed, after the test.
    """
    started: list[Mirror] = []

    async def start(
        config: ingest.Config = ingest.Config(),
        repos: tuple[str, ...] = (),
        *,
        timeouts: Timeouts = Timeouts(),
        script: Script | None = None,
        **recorder_options: Any,
    ) -> Mirror:
        directory = tmp_path / f"snapshots-{len(started)}"
        recorder = Recorder(directory, **recorder_options)
        await recorder.start()
        app = create_app(recorder, config, timeouts=timeouts, repos=repos, script=script)
        running = await serve(app, "127.0.0.1", 0)
        started.append(Mirror(running, recorder, directory))
        return started[-1]

    yield start
    for m in started:
        await m.running.stop()
        await m.recorder.close()


@pytest.fixture
async def mirror(start_mirror: Callable[..., Awaitable[Mirror]]) -> Mirror:
    """A mirror with the default configuration (any key, default limits)."""
    return await start_mirror()
