"""`sentry-mirror inspect` and `export` through the CLI, on snapshot files written for the test."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from click.testing import CliRunner
from rich.cells import cell_len

from sentry_mirror.core import envelope
from sentry_mirror.io.snapshot import SnapshotWriter, iter_records
from sentry_mirror.ui.cli import cli
from tests.factories import make_envelope, make_event, make_record, make_request

ENV = {"COLUMNS": "200", "NO_COLOR": "1"}
T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
SAMPLE = Path(__file__).resolve().parent.parent.parent / "snapshots" / "sample-python.jsonl.zst"


def entry(
    n: int,
    body: bytes,
    *,
    path: str = "/api/1/envelope/",
    query: str = "sentry_key=k",
    headers: tuple[tuple[str, str], ...] = (),
) -> dict[str, Any]:
    """Record ``n``, received ``n`` minutes after T0 (its id starts with ``n``)."""
    return make_record(
        make_request(path=path, body=body, headers=headers, query=query),
        received_at=T0 + timedelta(minutes=n),
        remote_addr="127.0.0.1:1",
        id=f"{n:02d}" + "0" * 30,
    )


def event_envelope(event_id: str, sdk: str = "sentry.python", version: str = "2.75.0", **event: Any) -> bytes:
    return make_envelope(
        headers={"event_id": event_id, "sdk": {"name": sdk, "version": version}},
        items=[({"type": "event"}, make_event(event_id=event_id, **event))],
    )


@pytest.fixture
def snapshot(tmp_path: Path) -> Path:
    """Five requests: errors from two SDKs and projects, a message, a transaction, a refused body."""
    entries = [
        entry(0, event_envelope("a" * 32, level="error", environment="prod", release="shop@1")),
        entry(
            1,
            event_envelope(
                "b" * 32,
                sdk="sentry.javascript.node",
                version="10.1.0",
                level="warning",
                environment="staging",
                release="shop@2",
                message="disk 91% full",
                exception=None,
            ),
            path="/api/2/envelope/",
        ),
        entry(
            2,
            make_envelope(
                headers={"event_id": "c" * 32},
                items=[({"type": "transaction"}, b'{"transaction":"GET /basket","environment":"prod"}')],
            ),
        ),
        entry(3, b"not an envelope"),
        entry(
            4,
            event_envelope("d" * 32, level="error", environment="prod", release="shop@1", message="needle in the body"),
        ),
    ]
    path = tmp_path / "2026-11-23T10-00-00Z-test-1.jsonl.zst"
    with path.open("wb") as fo:
        writer = SnapshotWriter(fo)
        writer.write(entries[:2])
        writer.write(entries[2:])
        writer.close()
    return path


def run(*args: str) -> Any:
    result = CliRunner().invoke(cli, list(args), env=ENV)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def ids(result: Any) -> list[str]:
    return [orjson.loads(line)["id"][:2] for line in result.output.splitlines()]


def test_table(snapshot: Path) -> None:
    result = run("inspect", str(snapshot))
    assert 0 == result.exit_code
    lines = [line.rstrip() for line in result.output.splitlines()]
    assert lines[0].split() == [
        "time",
        "endpoint",
        "project",
        "sdk",
        "items",
        "event",
        "id",
        "title",
        "level",
        "env",
        "release",
        "wire",
        "size",
        "status",
    ]
    assert lines[2].split()[:8] == [
        "11-23",
        "10:00:00",
        "envelope",
        "1",
        "sentry.python",
        "2.75.0",
        "event",
        "aaaaaaaa",
    ]
    assert "ZeroDivisionError: division by zero" in lines[2]
    assert lines[3].split()[:4] == ["11-23", "10:01:00", "envelope", "2"]
    assert "disk 91% full" in lines[3] and "warning" in lines[3] and "staging" in lines[3]
    assert "GET /basket" in lines[4]
    assert "invalid event envelope; invalid envelope header" in lines[5] and lines[5].endswith("400")
    assert "5 request(s)" == lines[-1]


def test_narrow_terminal_keeps_the_important_columns(snapshot: Path) -> None:
    result = CliRunner().invoke(cli, ["inspect", str(snapshot)], env={"COLUMNS": "80", "NO_COLOR": "1"})
    header = result.output.splitlines()[0].split()
    assert ["time", "items", "event", "id", "title", "status"] == [
        h for h in header if h in ("time", "items", "event", "id", "title", "status")
    ]
    assert all(len(line) <= 80 for line in result.output.splitlines())


def test_json_lines(snapshot: Path) -> None:
    result = run("inspect", str(snapshot), "--json")
    rows = [orjson.loads(line) for line in result.output.splitlines()]
    assert 5 == len(rows)
    assert {
        "id": "01" + "0" * 30,
        "received_at": "2026-11-23T10:01:00.000000Z",
        "endpoint": "envelope",
        "project_id": "2",
        "sdk_name": "sentry.javascript.node",
        "sdk_version": "10.1.0",
        "item_types": ["event"],
        "event_id": "b" * 32,
        "title": "disk 91% full",
        "level": "warning",
        "environment": "staging",
        "release": "shop@2",
        "wire_size": rows[1]["wire_size"],
        "body_size": rows[1]["body_size"],
        "status": 200,
        "error": None,
    } == rows[1]
    assert rows[1]["wire_size"] == rows[1]["body_size"] > 100


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        (["--item-type", "transaction"], ["02"]),
        (["--item-type", "event", "--item-type", "transaction"], ["00", "01", "02", "04"]),
        (["--endpoint", "envelope", "--project", "2"], ["01"]),
        (["--sdk", "sentry.javascript.node"], ["01"]),
        (["--sdk", "sentry.python@2.75.0"], ["00", "04"]),
        (["--sdk", "sentry.python@1.0.0"], []),
        (["--event-id", "bbbb"], ["01"]),
        (["--event-id", "dddddddd-dddd"], ["04"]),
        (["--level", "error"], ["00", "04"]),
        (["--environment", "prod"], ["00", "02", "04"]),
        (["--release", "shop@2"], ["01"]),
        (["--status", "4xx"], ["03"]),
        (["--status", "200", "--level", "error", "--environment", "prod"], ["00", "04"]),
        (["--since", "2026-11-23T10:02:00Z"], ["02", "03", "04"]),
        (["--until", "2026-11-23T10:01:00Z"], ["00", "01"]),
        (["--since", "2026-11-23T10:01:00Z", "--until", "2026-11-23 10:03"], ["01", "02", "03"]),
        (["--grep", "needle"], ["04"]),
        (["--errors-only"], ["03"]),
        (["--limit", "2"], ["00", "01"]),
        (["--level", "error", "--limit", "1"], ["00"]),
    ],
)
def test_filters_compose(snapshot: Path, options: list[str], expected: list[str]) -> None:
    assert expected == ids(run("inspect", str(snapshot), "--json", *options))


def test_relative_since_is_from_now(snapshot: Path) -> None:
    """The records are from 2026-11-23 10:00: `--since 1000d` keeps them, `--since 1m` does not (unless it is 10:0x now)."""
    assert 5 == len(ids(run("inspect", str(snapshot), "--json", "--since", "100000d")))
    assert [] == ids(run("inspect", str(snapshot), "--json", "--since", "2026-11-23T11:00:00Z"))


def test_bad_time_is_a_clear_error(snapshot: Path) -> None:
    result = CliRunner().invoke(cli, ["inspect", str(snapshot), "--since", "yesterday"], env=ENV)
    assert 3 == result.exit_code
    assert "'yesterday' is not a time: use 10m, 2h, 1d or 2026-11-23T10:00:00Z" in result.output


def test_show_one_request(snapshot: Path) -> None:
    result = run("inspect", "show", "dddd", str(snapshot))
    assert 0 == result.exit_code
    assert result.output.startswith("POST /api/1/envelope/?sentry_key=k  → 200\n")
    assert "envelope header" in result.output and '"event_id": "dddddddddddddddddddddddddddddddd"' in result.output
    assert "item 1: event" in result.output and '"message": "needle in the body"' in result.output


def test_show_refuses_the_listings_options(snapshot: Path) -> None:
    for option in (["--json"], ["--raw", "dddd"], ["--sdk", "x"], ["--follow"]):
        result = CliRunner().invoke(cli, ["inspect", "show", "dddd", str(snapshot), *option], env=ENV)
        assert 2 == result.exit_code, result.output
        assert f"show does not take {option[0]}" in result.output


def test_show_a_binary_attachment_as_a_hex_dump(tmp_path: Path) -> None:
    body = make_envelope(items=[({"type": "attachment", "filename": "a.bin"}, b"\x00\x01\xffABC")])
    path = tmp_path / "s.jsonl.zst"
    with path.open("wb") as fo:
        SnapshotWriter(fo).write([entry(0, body)])
    result = run("inspect", "show", "00", str(path))
    assert "item 1: attachment (6 bytes)  filename=a.bin" in result.output
    assert "00000000  00 01 ff 41 42 43" in result.output and "...ABC" in result.output


def test_raw_is_the_decoded_body_byte_exact(snapshot: Path) -> None:
    result = CliRunner().invoke(cli, ["inspect", "--raw", "a" * 32, str(snapshot)], env=ENV)
    assert envelope.parse(result.stdout_bytes).event_id == "a" * 32
    [expected] = [r.body for r in iter_records([snapshot]) if r.event_id == "a" * 32]
    assert expected == result.stdout_bytes


def test_unknown_and_ambiguous_ids(snapshot: Path) -> None:
    unknown = CliRunner().invoke(cli, ["inspect", "show", "ffff", str(snapshot)], env=ENV)
    assert (3, "Error: no record or event id starts with 'ffff'\n") == (unknown.exit_code, unknown.output)
    ambiguous = CliRunner().invoke(cli, ["inspect", "show", "0", str(snapshot)], env=ENV)
    assert 3 == ambiguous.exit_code and "'0' is ambiguous" in ambiguous.output


def test_export_snapshot_and_envelopes(snapshot: Path, tmp_path: Path) -> None:
    out = tmp_path / "errors.jsonl.zst"
    result = run("export", str(snapshot), "--level", "error", "-o", str(out))
    assert f"2 request(s) written to {out}\n" == result.output
    assert ["a" * 32, "d" * 32] == [r.event_id for r in iter_records([out])]
    assert 0o600 == out.stat().st_mode & 0o777
    again = CliRunner().invoke(cli, ["export", str(snapshot), "-o", str(out)], env=ENV)
    assert 3 == again.exit_code and "already exists" in again.output

    directory = tmp_path / "envelopes"
    result = run("export", str(snapshot), "--envelopes", str(directory))
    assert f"4 request(s) written to {directory} (1 skipped: not an accepted envelope)\n" == result.output
    files = sorted(directory.iterdir())
    assert 4 == len(files)
    assert "a" * 32 == envelope.parse(files[0].read_bytes()).event_id


def test_export_needs_exactly_one_target(snapshot: Path) -> None:
    result = CliRunner().invoke(cli, ["export", str(snapshot)], env=ENV)
    assert 2 == result.exit_code and "give exactly one of -o/--output and --envelopes" in result.output


def test_a_truncated_snapshot_is_read_up_to_the_damage_with_a_warning(snapshot: Path, tmp_path: Path) -> None:
    data = snapshot.read_bytes()
    cut = tmp_path / "cut.jsonl.zst"
    cut.write_bytes(data[: len(data) - 40])
    result = CliRunner().invoke(cli, ["inspect", str(cut), "--json"], env=ENV)
    assert 0 == result.exit_code
    assert ["00", "01"] == [orjson.loads(line)["id"][:2] for line in result.stdout.splitlines()]
    assert "warning: " in result.stderr and "the file ends in the middle of a write" in result.stderr


def test_default_reads_the_snapshots_directory(tmp_path: Path, monkeypatch: Any, snapshot: Path) -> None:
    (tmp_path / "snapshots").mkdir(exist_ok=True)
    (tmp_path / "snapshots" / snapshot.name).write_bytes(snapshot.read_bytes())
    monkeypatch.chdir(tmp_path)
    assert 5 == len(ids(run("inspect", "--json")))


def test_the_sample_snapshot_lists_the_shop_example() -> None:
    rows = [orjson.loads(line) for line in run("inspect", str(SAMPLE), "--json").output.splitlines()]
    assert 13 == len(rows)
    assert {"shop@1.4.2"} == {r["release"] for r in rows if r["release"]}
    assert ["error"] * 6 + ["warning", "warning", "info"] == [r["level"] for r in rows if r["item_types"] == ["event"]]


async def test_follow_a_running_listener_across_rotation(tmp_path: Path) -> None:
    """`inspect --follow --json` prints each new request of a real listener, also after it rotates."""
    import asyncio
    import signal
    import subprocess
    import sys
    import uuid

    import aiohttp

    directory = tmp_path / "snapshots"
    listener = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sentry_mirror",
            "listen",
            "--port",
            "0",
            "--dir",
            str(directory),
            "--quiet",
            "--rotate-size",
            "1",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    follower = None
    try:
        assert listener.stdout is not None
        port = listener.stdout.readline().split()[1].rsplit(":", 1)[1].split("/")[0]
        url = f"http://127.0.0.1:{port}/api/1/envelope/?sentry_key=k"
        async with aiohttp.ClientSession() as session:
            async with session.post(url, data=event_envelope(uuid.uuid4().hex)) as response:
                assert 200 == response.status  # before the follower starts: not printed
            follower = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "sentry_mirror",
                    "inspect",
                    "--follow",
                    "--json",
                    "--item-type",
                    "event",
                    str(directory),
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            assert follower.stderr is not None
            ready = await asyncio.wait_for(asyncio.to_thread(follower.stderr.readline), 30)
            assert ready.startswith(f"following {directory} (1 file(s) so far")
            sent = []
            for _ in range(3):
                event_id = uuid.uuid4().hex
                sent.append(event_id)
                async with session.post(url, data=event_envelope(event_id)) as response:
                    assert 200 == response.status
            async with session.post(
                url, data=make_envelope(headers={}, items=[({"type": "session"}, b"{}")])
            ) as response:
                assert 200 == response.status  # filtered out by --item-type event
        assert follower.stdout is not None
        seen = [
            orjson.loads(await asyncio.wait_for(asyncio.to_thread(follower.stdout.readline), 30))["event_id"]
            for _ in sent
        ]
        assert sent == seen
        assert len(list(directory.iterdir())) >= 4  # the listener rotated between the requests
        await asyncio.sleep(0.5)  # time for anything printed twice to show
        follower.send_signal(signal.SIGINT)
        assert "" == await asyncio.to_thread(follower.stdout.read)
    finally:
        if follower is not None:
            follower.send_signal(signal.SIGINT)
            assert 0 == follower.wait(timeout=10)
        listener.send_signal(signal.SIGTERM)
        listener.wait(timeout=30)


def test_long_listings_print_in_aligned_pages(snapshot: Path, monkeypatch: Any) -> None:
    """The table is printed a page at a time (flat memory): one header, rows lined up across pages."""
    monkeypatch.setattr("sentry_mirror.ui.commands.inspect.TABLE_PAGE", 2)
    paged = run("inspect", str(snapshot)).output.splitlines()
    assert 1 == sum(1 for line in paged if line.split()[:2] == ["time", "endpoint"])
    rows = [line for line in paged if line.startswith("11-23 ")]
    assert 5 == len(rows)
    assert 1 == len({line.index(" envelope ") for line in rows})
    assert "5 request(s)" == paged[-1]


def test_nothing_matches(snapshot: Path) -> None:
    assert ["no request matches", "0 request(s)"] == run(
        "inspect", str(snapshot), "--project", "99"
    ).output.splitlines()[-2:]


def test_the_table_fits_80_columns_and_labels_what_is_missing(tmp_path: Path) -> None:
    """A long title is cut in the middle (both ends shown; --json has it whole); a row with no
    SDK or project says so."""
    title = "QueueOverflow: " + "x" * 150 + " at the end"
    path = tmp_path / "s.jsonl.zst"
    with path.open("wb") as fo:
        SnapshotWriter(fo).write(
            [entry(0, event_envelope("a" * 32, message=title, exception=None)), entry(1, b"?", path="/nothing/here")]
        )
    narrow = CliRunner().invoke(cli, ["inspect", str(path)], env={**ENV, "COLUMNS": "80"})
    lines = narrow.output.splitlines()
    assert lines and max(cell_len(line) for line in lines) <= 80
    assert re.search(r"QueueOverflow\S*…x* at the end", lines[2]), lines[2]
    wide = [line.split("  ") for line in run("inspect", str(path)).output.splitlines()]
    assert "(no SDK)" in [cell.strip() for cell in wide[3]] and "(no project)" in [cell.strip() for cell in wide[3]]
    assert title == orjson.loads(run("inspect", str(path), "--json").output.splitlines()[0])["title"]
