"""Running the real clients of the web API and the CLI's readers in the end-to-end tests:
sentry-cli with ``SENTRY_URL`` pointing at a listener, ``sentry-mirror`` as a process."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.conformance.clients import SENTRY_CLI, need_node, run, sentry_cli_env

ROOT = Path(__file__).parent.parent.parent  # the repository

TOKEN = "sntrys_e2e-secret-token-0123456789"
ORG, PROJECT = "acme", "shop"


async def sentry_cli(mirror: Any, tmp_path: Path, *args: str) -> str:
    """Run the real sentry-cli with SENTRY_URL pointing at the listener; it must exit 0."""
    need_node("@sentry/cli")
    env = sentry_cli_env(mirror.url, tmp_path, TOKEN, ORG, PROJECT)
    ran = await run([str(SENTRY_CLI), *args], env=env, cwd=tmp_path, timeout=60)
    assert 0 == ran.returncode, (args, ran.stdout, ran.stderr)
    return ran.stdout


def upload_records(mirror: Any) -> list[dict[str, Any]]:
    """The listener's upload records (what assemble calls put together), in order."""
    return [r.data for r in mirror.records() if r.data["endpoint"] == "upload"]


async def sentry_mirror_json(*args: str) -> dict[str, Any]:
    """A reading command of the CLI (a real process) with JSON output."""
    ran = await run([sys.executable, "-m", "sentry_mirror", *args], cwd=ROOT, timeout=60)
    assert 0 == ran.returncode, ran.stderr
    out: dict[str, Any] = json.loads(ran.stdout)
    return out
