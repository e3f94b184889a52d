"""The real sentry-cli against ``listen --workers 2``: every sentry-cli command is its own
process and connections, so the kernel gives them to either worker; the release it made, the
chunks it uploaded and the bundle it assembled must all be known whatever worker it reaches
(the first worker answers the web API for all: io/api_relay.py)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import signal
from pathlib import Path
from types import SimpleNamespace

from sentry_mirror.io.snapshot import iter_records
from tests.conformance.test_sentry_cli_api import _body, _bundle, _checksums, _cli
from tests.io.test_workers import _no_listener_left, start  # noqa: F401  (the fixture stops a listener left)


async def test_releases_deploys_and_source_maps_across_two_workers(tmp_path: Path) -> None:
    dist = await _bundle(tmp_path, "app")
    running = start(tmp_path / "snapshots", "--quiet", "--repo", "acme/web")
    mirror = SimpleNamespace(url=running.url)
    await _cli(mirror, tmp_path, "releases", "new", "1.0.0")
    await _cli(mirror, tmp_path, "releases", "set-commits", "1.0.0", "--commit", "acme/web@0123456789abcdef")
    await _cli(mirror, tmp_path, "releases", "finalize", "1.0.0")
    await _cli(mirror, tmp_path, "deploys", "new", "--release", "1.0.0", "-e", "production")
    info = await _cli(mirror, tmp_path, "releases", "info", "1.0.0")
    await _cli(mirror, tmp_path, "sourcemaps", "inject", str(dist))
    uploaded = await _cli(mirror, tmp_path, "sourcemaps", "upload", "--release", "1.0.0", str(dist))
    running.process.send_signal(signal.SIGTERM)
    assert 0 == await asyncio.to_thread(running.finish)
    first = running.pids[0]
    records = [r.data for r in iter_records(sorted((tmp_path / "snapshots").glob(f"*-{first}.jsonl.zst")))]
    elsewhere = [r.data for r in iter_records([tmp_path / "snapshots"])]
    assert len(records) == len(elsewhere), "every web API record is in the first worker's file"
    assert all(r["response"]["status"] < 400 for r in records), [(r["path"], r["response"]) for r in records]
    assert "1.0.0" in info.stdout
    [upload] = [r for r in records if r["endpoint"] == "upload"]
    assert _checksums(uploaded.stderr)[-1] == hashlib.sha1(_body(upload)).hexdigest()
    deploys = [r for r in records if r["endpoint"] == "api_deploys"]
    assert [201] == [r["response"]["status"] for r in deploys]
    finalized = [json.loads(_body(r)) for r in records if r["endpoint"] == "api_release" and r["method"] == "PUT"]
    assert any("dateReleased" in body for body in finalized)
