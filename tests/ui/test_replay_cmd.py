"""`sentry-mirror replay` through the CLI: the committed sample into a second real listener.

The command runs its own event loop, so it is invoked in a thread while the target
listener keeps serving on the test's loop.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner

from sentry_mirror.core import envelope, ingest
from sentry_mirror.io.snapshot import iter_records
from sentry_mirror.ui.cli import cli
from tests.bugsink import Bugsink
from tests.conftest import Mirror

ENV = {"COLUMNS": "200", "NO_COLOR": "1"}
REPO = Path(__file__).resolve().parent.parent.parent
SAMPLE = REPO / "snapshots" / "sample-python.jsonl.zst"
NEW_KEY = "fedcba9876543210fedcba9876543210"


def sample() -> list[dict[str, Any]]:
    return [r.data for r in iter_records([SAMPLE]) if r.data["method"] != "OPTIONS"]


async def run(*args: str) -> Any:
    result = await asyncio.to_thread(CliRunner().invoke, cli, list(args), env=ENV)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


async def test_dry_run_sends_nothing_and_says_what_it_would_send(unused_tcp_port: int) -> None:
    result = await run(
        "replay",
        str(SAMPLE),
        "--to",
        f"http://{NEW_KEY}@127.0.0.1:{unused_tcp_port}/5",
        "--dry-run",
        "--fresh-ids",
        "--shift-timestamps",
        "--speed",
        "1",
    )
    assert 0 == result.exit_code, result.output
    count = len([d for d in sample() if d["response"]["status"] < 300])
    assert f"dry run: would send {count} request(s)" in result.output
    assert f"http://127.0.0.1:{unused_tcp_port}/5 at 1x" in result.output
    assert "/api/5/envelope/" in result.output
    assert "rewritten: key" in result.output and "payload timestamps" in result.output


async def test_dry_run_json_has_one_line_per_request(unused_tcp_port: int) -> None:
    result = await run(
        "replay",
        str(SAMPLE),
        "--to",
        f"http://{NEW_KEY}@127.0.0.1:{unused_tcp_port}/5",
        "--dry-run",
        "--json",
        "--item-type",
        "transaction",
    )
    lines = [orjson.loads(line) for line in result.output.splitlines()]
    assert [["transaction"]] == [line["item_types"] for line in lines]
    assert lines[0]["url"] == f"http://127.0.0.1:{unused_tcp_port}/api/5/envelope/"
    assert [line["event_id"] for line in lines] == [
        d["summary"]["event_id"] for d in sample() if [i["type"] for i in d["summary"]["items"]] == ["transaction"]
    ]


async def test_replay_of_the_sample_into_a_second_listener(mirror: Mirror, tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    result = await run(
        "replay",
        str(SAMPLE),
        "--to",
        mirror.dsn(NEW_KEY, 5),
        "--fresh-ids",
        "--shift-timestamps",
        "--encoding",
        "gzip",
        "--results",
        str(results),
        "--concurrency",
        "1",
    )
    assert 0 == result.exit_code, result.output
    recorded = [d for d in sample() if d["response"]["status"] < 300]
    replayed = [r.data for r in mirror.records()]
    assert len(recorded) == len(replayed)
    assert {("5", NEW_KEY, "gzip", 200)} == {
        (d["project_id"], d["auth"]["public_key"], d["content_encoding"], d["response"]["status"]) for d in replayed
    }
    assert [[i["type"] for i in d["summary"]["items"]] for d in recorded] == [
        [i["type"] for i in d["summary"]["items"]] for d in replayed
    ]
    old_ids = {d["summary"]["event_id"] for d in recorded} - {None}
    new_ids = {d["summary"]["event_id"] for d in replayed} - {None}
    assert len(old_ids) == len(new_ids) and not old_ids & new_ids
    lines = [orjson.loads(line) for line in results.read_text().splitlines()]
    assert len(recorded) == len(lines)
    assert {"accepted"} == {line["outcome"] for line in lines}
    assert new_ids == {orjson.loads(line["response_body"]).get("id") for line in lines} - {None}
    assert f"{len(recorded)} request(s)" in result.output and f"{len(recorded)} accepted" in result.output
    assert "by item type" in result.output
    now = datetime.now(UTC).timestamp()
    for data in replayed:
        parsed = envelope.parse(data["body"].encode())
        for item in parsed.items:
            if item.type == "event":
                stamp = item.json()["timestamp"]
                moment = datetime.fromisoformat(stamp).timestamp() if isinstance(stamp, str) else stamp
                assert abs(moment - now) < 120


async def test_refusals_make_the_exit_status_non_zero(start_mirror: Callable[..., Awaitable[Mirror]]) -> None:
    strict = await start_mirror(ingest.Config(keys=frozenset({"a" * 32})))
    result = await run("replay", str(SAMPLE), "--to", strict.dsn(NEW_KEY, 5), "--item-type", "transaction")
    assert 1 == result.exit_code
    assert "403" in result.output
    assert "refused:" in result.output
    relaxed = await run(
        "replay", str(SAMPLE), "--to", strict.dsn(NEW_KEY, 5), "--item-type", "transaction", "--allow-failures"
    )
    assert 0 == relaxed.exit_code


async def test_json_lines_per_request(mirror: Mirror) -> None:
    result = await run("replay", str(SAMPLE), "--to", mirror.dsn(NEW_KEY, 5), "--json", "--item-type", "check_in")
    assert 0 == result.exit_code
    lines = [orjson.loads(line) for line in result.stdout.splitlines() if line.startswith("{")]
    assert ["accepted"] == [line["outcome"] for line in lines]
    assert 200 == lines[0]["status"]


async def test_requests_the_mirror_refused_are_left_out_unless_selected(mirror: Mirror, tmp_path: Path) -> None:
    from sentry_mirror.io.snapshot import SnapshotWriter
    from tests.ui.test_inspect import entry, event_envelope

    path = tmp_path / "2026-11-23T10-00-00Z-test-1.jsonl.zst"
    with path.open("wb") as fo:
        writer = SnapshotWriter(fo)
        writer.write([entry(0, event_envelope("a" * 32)), entry(1, b"not an envelope")])
        writer.close()
    result = await run("replay", str(path), "--to", mirror.dsn(NEW_KEY, 5))
    assert 0 == result.exit_code, result.output
    assert "skipped 1: refused by the mirror" in result.output
    assert 1 == len(mirror.records())
    again = await run("replay", str(path), "--to", mirror.dsn(NEW_KEY, 5), "--status", "4xx")
    assert 0 == again.exit_code, again.output  # refused as the mirror (as Sentry) refused it: no failure
    assert "400  invalid event envelope" in again.output


def _event_items(records: list[dict[str, Any]]) -> int:
    return sum(
        1 for d in records if d["response"]["status"] < 300 for i in d["summary"]["items"] if i["type"] == "event"
    )


async def test_bugsink_stores_every_replayed_event(bugsink: Bugsink, tmp_path: Path) -> None:
    """The sample with fresh ids, as Bugsink's own rate limits allow: every event stored."""
    before = set(bugsink.stored_events())
    results = tmp_path / "results.jsonl"
    result = await run(
        "replay",
        str(SAMPLE),
        "--to",
        bugsink.dsn,
        "--fresh-ids",
        "--shift-timestamps",
        "--results",
        str(results),
        "--concurrency",
        "1",
    )
    assert 0 == result.exit_code, result.output
    lines = [orjson.loads(line) for line in results.read_text().splitlines()]
    sent_events = {
        line["event_id"] for line in lines if "event" in line["item_types"] and line["outcome"] == "accepted"
    }
    assert _event_items(sample()) == len(sent_events)
    assert sent_events == set(bugsink.stored_events()) - before
    # Bugsink answers every envelope with X-Sentry-Rate-Limits for transactions and spans
    # (it stores neither): an SDK, and replay, hold them back.
    held = [line for line in lines if line["outcome"] == "held-back"]
    assert held and {"transaction"} == {t for line in held for t in line["item_types"]}


@pytest.mark.parametrize(
    ("encoding", "status", "reason"),
    [
        ("gzip", 200, None),
        ("br", 200, None),
        ("identity", 200, None),
        ("zstd", 400, "Header not UTF-8"),
        ("deflate", 400, "invalid stored block lengths"),
    ],
)
async def test_bugsink_content_encodings(bugsink: Bugsink, encoding: str, status: int, reason: str | None) -> None:
    """Bugsink takes gzip, br and identity; it answers zstd and HTTP's (zlib-wrapped) deflate with 400."""
    result = await run(
        "replay",
        str(SAMPLE),
        "--to",
        bugsink.dsn,
        "--fresh-ids",
        "--item-type",
        "event",
        "--limit",
        "1",
        "--encoding",
        encoding,
        "--json",
        "--allow-failures",
    )
    (line,) = [orjson.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    assert status == line["status"]
    if reason:
        assert reason in line["reason"]


async def test_bugsink_answers_200_to_what_it_drops(bugsink: Bugsink) -> None:
    """Everything but events is answered 200 and not stored: the accept/drop table in the README."""
    before = len(bugsink.stored_events())
    result = await run(
        "replay",
        str(SAMPLE),
        "--to",
        bugsink.dsn,
        "--fresh-ids",
        "--shift-timestamps",
        "--ignore-rate-limits",
        "--json",
    )
    assert 0 == result.exit_code, result.stdout
    lines = [orjson.loads(x) for x in result.stdout.splitlines() if x.startswith("{")]
    assert {200} == {line["status"] for line in lines}
    other = {t for line in lines for t in line["item_types"]} - {"event"}
    assert {"transaction", "session", "check_in", "log"} <= other
    assert _event_items(sample()) == len(bugsink.stored_events()) - before


async def test_ctrl_c_prints_what_was_sent_so_far(mirror: Mirror, tmp_path: Path) -> None:
    """Two requests a minute apart at --speed 1: Ctrl-C after the first prints its summary, exit 130."""
    import signal
    import sys

    from sentry_mirror.io.snapshot import SnapshotWriter
    from tests.ui.test_inspect import entry, event_envelope

    path = tmp_path / "2026-11-23T10-00-00Z-test-1.jsonl.zst"
    with path.open("wb") as fo:
        writer = SnapshotWriter(fo)
        writer.write([entry(0, event_envelope("a" * 32)), entry(1, event_envelope("b" * 32))])  # a minute apart
        writer.close()
    script = "from sentry_mirror.ui.cli import main; main()"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        script,
        "replay",
        str(path),
        "--to",
        mirror.dsn(NEW_KEY, 5),
        "--speed",
        "1",
        cwd=REPO,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, **ENV},
    )
    deadline = time.monotonic() + 30
    while not list(iter_records([mirror.directory])):  # the first request has arrived
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.2)
    process.send_signal(signal.SIGINT)
    stdout, _ = await asyncio.wait_for(process.communicate(), 30)
    assert 130 == process.returncode
    assert "interrupted: 1 request(s)" in stdout.decode()


# ------------------------------------------------------------------ a candidate answering with gigabytes

#: The answer's size: 256 MiB in CI; SENTRY_MIRROR_BIG_ANSWER=2147483648 for the 2 GB figure.
BIG_ANSWER = int(os.environ.get("SENTRY_MIRROR_BIG_ANSWER", str(256 << 20)))
#: The replay process's peak RSS allowed (it starts at about 60 MB).
RSS_BOUND = 150 << 20

#: The command, then its own peak RSS (VmHWM: ru_maxrss would carry over the forking
#: pytest process's peak across exec) on stderr, in KiB.
_MEASURED = """
import re, sys
from sentry_mirror.ui.cli import main
try:
    main()
finally:
    with open("/proc/self/status") as status:
        sys.stderr.write("\\nmaxrss=" + re.search(r"VmHWM:\\s*(\\d+) kB", status.read()).group(1) + "\\n")
"""


@pytest.mark.parametrize("framing", ["length", "chunks"])
async def test_replay_into_a_candidate_answering_with_a_huge_body_stays_small(framing: str, tmp_path: Path) -> None:
    """The whole command in its own process (its peak RSS measured by itself) against a real
    server on 127.0.0.1 streaming BIG_ANSWER bytes of answer: the replay keeps only the first
    KBs. Set SENTRY_MIRROR_BIG_ANSWER=2147483648 to measure the 2 GB case by hand."""
    import sys

    from tests.io.test_http1 import big_answer_server

    if not Path("/proc/self/status").exists():
        pytest.skip("measures the peak RSS with /proc/self/status (Linux)")

    server = await big_answer_server(framing, BIG_ANSWER)
    port = server.sockets[0].getsockname()[1]
    results = tmp_path / "results.jsonl"
    try:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _MEASURED,
            "replay",
            str(SAMPLE),
            "--to",
            f"http://{NEW_KEY}@127.0.0.1:{port}/5",
            "--limit",
            "1",
            "--results",
            str(results),
            env={**os.environ, **ENV, "PYTHONPATH": str(REPO)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(process.communicate(), 120)
    finally:
        server.close()
    assert 1 == process.returncode, (out + err).decode()  # the candidate refused it (400): a failure
    (line,) = [orjson.loads(text) for text in results.read_text().splitlines()]
    assert (400, BIG_ANSWER) == (line["status"], line["response_body_size"])
    rss = int(err.decode().rsplit("maxrss=", 1)[1]) * 1024
    print(f"replay of a {BIG_ANSWER / 1e9:.2f} GB answer ({framing}): peak RSS {rss / 1e6:.0f} MB")
    assert rss < RSS_BOUND, f"peak RSS {rss / 1e6:.0f} MB"
