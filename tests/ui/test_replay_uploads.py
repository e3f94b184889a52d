"""``replay`` and the records of sentry-cli's web API: web API requests and uploads are not
sent to the target's DSN as ingestion requests (counted and said); ``--uploads`` sends the
uploaded files through the target's own chunk protocol (a stub on 127.0.0.1 and the real
Bugsink).

The command runs its own event loop, so it is invoked in a thread while the target keeps
serving on the test's loop.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
from collections.abc import Awaitable, Callable
from contextlib import closing
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner

from sentry_mirror.io.snapshot import SnapshotWriter
from sentry_mirror.ui.cli import cli
from tests.bugsink import Bugsink
from tests.factories import T0, make_artifact_bundle, make_record, make_request, make_upload
from tests.io.test_reupload import TOKEN, ChunkServer, serving
from tests.stubs import Stub, stubs  # noqa: F401  (the fixture)
from tests.ui.test_inspect import event_envelope

ENV = {"COLUMNS": "200", "NO_COLOR": "1"}
KEY = "fedcba9876543210fedcba9876543210"
DEBUG_ID = "c4f5a6b7-0000-4000-8000-00000000abcd"
TOKEN_ENV = {"SENTRY_MIRROR_API_TOKEN": TOKEN}


async def run(*args: str, env: dict[str, str] | None = None) -> Any:
    result = await asyncio.to_thread(CliRunner().invoke, cli, list(args), env={**ENV, **(env or {})})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def write(path: Path, records: list[dict[str, Any]]) -> Path:
    with path.open("wb") as fo:
        writer = SnapshotWriter(fo)
        writer.write(records)
        writer.close()
    return path


def bundle() -> bytes:
    return make_artifact_bundle(
        {
            "~/app.min.js": ("minified_source", b"function a(){throw new Error('x')}\n", {"debug-id": DEBUG_ID}),
            "~/app.min.js.map": ("source_map", b'{"version":3,"sources":[],"mappings":""}', {"debug-id": DEBUG_ID}),
        },
        org="acme",
    )


def capture(directory: Path, body: bytes | None = None) -> Path:
    """A snapshot of a CI run and an app: sentry-cli's web API calls (chunk-upload options,
    a release, the assemble call), the upload record, and one event envelope."""
    event = make_record(
        make_request(path="/api/42/envelope/", body=event_envelope("a" * 32)), received_at=T0 + timedelta(seconds=3)
    )
    api = [
        make_record(
            id=f"{n:032x}",
            path=path,
            endpoint=endpoint,
            method=method,
            received_at=T0 + timedelta(seconds=n / 10),
            response={"status": 200, "headers": [], "body": "{}", "body_base64": False},
        )
        for n, (method, path, endpoint) in enumerate(
            [
                ("GET", "/api/0/organizations/acme/chunk-upload/", "api_chunk_upload"),
                ("POST", "/api/0/organizations/acme/releases/", "api_releases"),
                ("POST", "/api/0/organizations/acme/artifactbundle/assemble/", "api_artifact_assemble"),
            ],
            start=1,
        )
    ]
    upload = {
        **make_upload(body if body is not None else bundle(), projects=["web"]),
        "received_at": api[2]["received_at"],
    }
    return write(directory / "2026-11-23T10-00-00Z-listener-1.jsonl.zst", [*api, upload, event])


async def test_web_api_requests_and_uploads_are_not_sent_as_ingestion_requests(
    tmp_path: Path,
    stubs: Callable[..., Awaitable[Stub]],  # noqa: F811
) -> None:
    target = await stubs(body=orjson.dumps({"id": "a" * 32}))
    snapshot = capture(tmp_path)
    result = await run("replay", str(snapshot), "--to", target.dsn(KEY, 7))
    assert 0 == result.exit_code, result.output
    assert ["/api/7/envelope/"] == [path.partition("?")[0] for _, path, _, _ in target.received]
    assert "web API requests not replayed: 3; uploads: 1 (use --uploads)" in result.output
    assert "1 request(s)" in result.output

    as_json = await run("replay", str(snapshot), "--to", target.dsn(KEY, 7), "--json")
    lines = [orjson.loads(line) for line in as_json.stdout.splitlines()]
    assert {"not_replayed": {"web_api": 3, "uploads": 1}} == lines[-1]
    assert ["envelope"] == [line["endpoint"] for line in lines[:-1]]


async def test_dry_run_says_what_is_not_replayed(tmp_path: Path, unused_tcp_port: int) -> None:
    result = await run(
        "replay", str(capture(tmp_path)), "--to", f"http://{KEY}@127.0.0.1:{unused_tcp_port}/7", "--dry-run"
    )
    assert 0 == result.exit_code, result.output
    assert "dry run: would send 1 request(s)" in result.output
    assert "web API requests not replayed: 3; uploads: 1 (use --uploads)" in result.output
    dsn = f"http://{KEY}@127.0.0.1:{unused_tcp_port}/7"
    result = await run("replay", str(capture(tmp_path)), "--to", dsn, "--dry-run", "--uploads", env=TOKEN_ENV)
    assert 0 == result.exit_code, result.output  # nothing sent: the port is closed
    assert "web API requests not replayed: 3; uploads: 1 (--uploads would send them)" in result.output


# ------------------------------------------------------------------ --uploads


async def test_uploads_go_through_the_candidates_chunk_protocol_before_the_events(
    tmp_path: Path,
    stubs: Callable[..., Awaitable[Stub]],  # noqa: F811
) -> None:
    target = await stubs(body=orjson.dumps({"id": "a" * 32}))
    server = ChunkServer()
    body = bundle()
    async with serving(server):
        args = ["replay", str(capture(tmp_path, body)), "--to", target.dsn(KEY, 7), "--uploads"]
        result = await run(*args, "--api-url", server.url, "--api-project", "other/app", env=TOKEN_ENV)
        assert 0 == result.exit_code, result.output
        assert body == server.files[hashlib.sha1(body).hexdigest()]
        assert ["app"] == server.assemble_calls[0]["projects"]
        assert server.paths[0] == "GET /api/0/organizations/other/chunk-upload/"
        assert "1 upload(s): 1 uploaded, 0 already there, 0 accepted but not confirmed, 0 failed" in result.output
        assert "web API requests not replayed: 3; uploads: 1 (re-uploaded with --uploads)" in result.output
        assert 1 == len(target.received)  # the event; the upload went to the API
        assert TOKEN not in result.output

        as_json = await run(*args, "--api-url", server.url, "--json", env=TOKEN_ENV)
        assert 0 == as_json.exit_code, as_json.output
        last = orjson.loads(as_json.stdout.splitlines()[-2])  # then the not_replayed line
        assert {"uploaded": 0, "already_there": 1, "accepted": 0, "failed": 0} == last["uploads"]["outcomes"]
        assert ["acme"] == [u["org"] for u in last["uploads"]["uploads"]]  # as recorded without --api-project


async def test_a_failed_upload_fails_the_replay_unless_failures_are_allowed(
    tmp_path: Path,
    stubs: Callable[..., Awaitable[Stub]],  # noqa: F811
) -> None:
    target = await stubs(body=orjson.dumps({"id": "a" * 32}))
    server = ChunkServer(assemble_states=["error", "error"])
    async with serving(server):
        args = ["replay", str(capture(tmp_path)), "--to", target.dsn(KEY, 7), "--uploads", "--api-url", server.url]
        result = await run(*args, env=TOKEN_ENV)
        assert 1 == result.exit_code, result.output
        assert "failed: bad bundle" in result.output
        assert 0 == (await run(*args, "--allow-failures", env=TOKEN_ENV)).exit_code


async def test_the_upload_options_go_with_uploads(tmp_path: Path, unused_tcp_port: int) -> None:
    dsn = f"http://{KEY}@127.0.0.1:{unused_tcp_port}/7"
    result = await run("replay", str(capture(tmp_path)), "--to", dsn, "--api-org", "acme")
    assert 2 == result.exit_code and "--api-org goes with --uploads" in result.output
    result = await run(
        "replay", str(capture(tmp_path)), "--to", dsn, "--uploads", "--api-org", "a", "--api-project", "b/c"
    )
    assert 2 == result.exit_code and "two organizations" in result.output
    result = await run("replay", str(capture(tmp_path)), "--to", dsn, "--uploads", env={"SENTRY_MIRROR_API_TOKEN": ""})
    assert 3 == result.exit_code and "SENTRY_MIRROR_API_TOKEN" in result.output


async def test_uploads_into_the_real_bugsink(tmp_path: Path, bugsink: Bugsink) -> None:
    """Bugsink takes an artifact bundle as sentry-cli sends it (a token from create_auth_token,
    a project named by its slug) and stores each file with a debug id for the project. It
    answers the assemble call after the chunks ``created`` and, asked again, ``not_found``
    (it assembled the bundle and deleted the chunks): accepted, not confirmed."""
    project_id, dsn = bugsink.project("reupload web")
    token = bugsink.manage("create_auth_token").split()[-1]
    result = await run(
        "replay",
        str(capture(tmp_path)),
        "--to",
        dsn,
        "--uploads",
        "--api-project",
        "any/reupload-web",
        env={"SENTRY_MIRROR_API_TOKEN": token},
    )
    assert 0 == result.exit_code, result.output
    assert "answered created, then not_found when asked again" in result.output
    assert token not in result.output
    with closing(sqlite3.connect(bugsink.directory / "db.sqlite3")) as db:
        stored = set(
            db.execute("SELECT debug_id, file_type FROM files_filemetadata WHERE project_id = ?", (project_id,))
        )
    debug_id = DEBUG_ID.replace("-", "")  # as Bugsink keeps a UUID
    assert {(debug_id, "minified_source"), (debug_id, "source_map")} == stored
