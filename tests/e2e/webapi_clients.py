"""Running the real clients of the web API and the CLI's readers in the end-to-end tests:
sentry-cli with ``SENTRY_URL`` pointing at a listener, ``sentry-mirror`` as a process."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from tests.conformance.clients import NODE_MODULES, need_node, run

SENTRY_CLI = NODE_MODULES / ".bin" / "sentry-cli"
ROOT = Path(__file__).parent.parent.parent  # the repository

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


def upload_records(mirror: Any) -> list[dict[str, Any]]:
    """The listener's upload records (what assemble calls put together), in order."""
    return [r.data for r in mirror.records() if r.data["endpoint"] == "upload"]


async def sentry_mirror_json(*args: str) -> dict[str, Any]:
    """A reading command of the CLI (a real process) with JSON output."""
    ran = await run([sys.executable, "-m", "sentry_mirror", *args], cwd=ROOT, timeout=60)
    assert 0 == ran.returncode, ran.stderr
    out: dict[str, Any] = json.loads(ran.stdout)
    return out
