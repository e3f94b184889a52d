"""``replay --ca-file``: an HTTPS candidate with a private CA (trustme) is verified, never trusted blindly."""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sentry_mirror.ui.cli import cli
from tests.stubs import Stub, stubs  # noqa: F401  (the fixture)

SAMPLE = Path(__file__).resolve().parent.parent.parent / "snapshots" / "sample-python.jsonl.zst"


async def _replay(*args: str) -> Any:
    runner = CliRunner()
    return await asyncio.to_thread(runner.invoke, cli, ["replay", str(SAMPLE), *args], env={"COLUMNS": "200"})


async def test_an_https_target_is_verified_with_ca_file_and_refused_without(
    stubs: Callable[..., Awaitable[Stub]],  # noqa: F811
    tmp_path: Path,
) -> None:
    trustme = pytest.importorskip("trustme") if os.environ.get("CI") != "true" else __import__("trustme")
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    target = await stubs(ssl_context=server_context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    args = ("--to", target.dsn(), "--item-type", "event", "--limit", "2", "--ignore-rate-limits")
    trusted = await _replay(*args, "--ca-file", str(ca_file), "--allow-failures")  # the stub's ids are its own
    assert 0 == trusted.exit_code, trusted.output
    assert "2 accepted" in trusted.output
    assert 2 == len(target.received)
    refused = await _replay(*args)
    assert 1 == refused.exit_code, refused.output  # every request failed: certificate unknown
    assert 2 == len(target.received)
    assert "CERTIFICATE_VERIFY_FAILED" in refused.output


async def test_a_ca_file_that_is_not_pem_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate")
    result = await _replay("--to", "https://k@127.0.0.1:9/1", "--ca-file", str(bad))
    assert 3 == result.exit_code
    assert "--ca-file" in result.output and "Traceback" not in result.output
