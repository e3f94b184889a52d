"""Every file the tool writes from captured data is owner-only (0600), every directory 0700,
created so (never loosened, whatever the umask), and an open --dir is tightened."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sentry_mirror.io.recorder import Recorder
from sentry_mirror.ui.cli import cli
from tests.conftest import Mirror
from tests.factories import make_record

ENV = {"COLUMNS": "120", "NO_COLOR": "1"}
SAMPLE = Path(__file__).resolve().parents[2] / "snapshots" / "sample-python.jsonl.zst"


@pytest.fixture(autouse=True)
def open_umask() -> Iterator[None]:
    """umask 0: any file created with a looser mode (0644, 0666) shows it."""
    old = os.umask(0)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env=ENV, catch_exceptions=False)


@pytest.mark.parametrize("fmt", ["terminal", "markdown", "json", "html"])
def test_report_output_is_owner_only(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"report.{fmt}"
    assert 0 == run("report", str(SAMPLE), "--format", fmt, "-o", str(out)).exit_code
    assert 0o600 == mode(out) and out.stat().st_size > 100


@pytest.mark.parametrize("command", ["report", "diff"])
@pytest.mark.parametrize("fmt", ["terminal", "json"])
def test_report_and_diff_never_overwrite(tmp_path: Path, command: str, fmt: str) -> None:
    out = tmp_path / "mine.txt"
    out.write_text("mine")
    snapshots = [str(SAMPLE)] * (2 if command == "diff" else 1)
    result = run(command, *snapshots, "--format", fmt, "-o", str(out))
    assert 3 == result.exit_code and f"{out} already exists" in result.output
    assert "mine" == out.read_text()


@pytest.mark.parametrize("fmt", ["terminal", "markdown", "json"])
def test_diff_output_is_owner_only(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"diff.{fmt}"
    assert 0 == run("diff", str(SAMPLE), str(SAMPLE), "--format", fmt, "-o", str(out)).exit_code
    assert 0o600 == mode(out)


def test_export_outputs_are_owner_only_and_an_open_directory_is_tightened(tmp_path: Path) -> None:
    assert 0 == run("export", str(SAMPLE), "-o", str(tmp_path / "x.jsonl.zst")).exit_code
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o777)
    result = CliRunner().invoke(cli, ["export", str(SAMPLE), "--envelopes", str(shared)], env=ENV)
    assert 0 == result.exit_code
    assert "tightened to 700" in result.output
    assert 0o600 == mode(tmp_path / "x.jsonl.zst")
    assert 0o700 == mode(shared)
    assert {0o600} == {mode(p) for p in shared.iterdir()}


async def test_replay_results_are_owner_only(mirror: Mirror, tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli,
        ["replay", str(SAMPLE), "--to", mirror.dsn(), "--results", str(results), "--allow-failures"],
        env=ENV,
    )
    assert 0 == result.exit_code, result.output
    assert 0o600 == mode(results) and results.stat().st_size > 0


async def test_replay_results_never_overwrite(mirror: Mirror, tmp_path: Path) -> None:
    results = tmp_path / "results.jsonl"
    results.write_text("mine")
    result = await asyncio.to_thread(
        CliRunner().invoke, cli, ["replay", str(SAMPLE), "--to", mirror.dsn(), "--results", str(results)], env=ENV
    )
    assert 3 == result.exit_code and "already exists" in result.output
    assert "mine" == results.read_text()


async def test_listen_directory_new_and_open(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """The snapshot directory: created 0700, or tightened (with a warning) when it was 0777."""
    fresh, shared = tmp_path / "a" / "snapshots", tmp_path / "shared"
    shared.mkdir(mode=0o777)
    for directory in (fresh, shared):
        recorder = Recorder(directory)
        await recorder.start()
        await recorder.write(make_record())
        await recorder.close()
        assert 0o700 == mode(directory)
        assert [0o600] == [mode(p) for p in directory.iterdir()]
    assert any("tightened to 700" in message for message in caplog.messages)


@pytest.mark.parametrize("command", ["export", "listen"])
async def test_missing_parents_of_a_new_directory_are_owner_only_too(tmp_path: Path, command: str) -> None:
    """``--envelopes a/b`` or ``--dir a/b``: ``a`` is made as well, and under umask 0 a
    directory made with the default mode is 0777, where anyone could swap ``b`` for theirs."""
    target = tmp_path / "a" / "b" / "c"
    if command == "export":
        assert 0 == (await asyncio.to_thread(run, "export", str(SAMPLE), "--envelopes", str(target))).exit_code
    else:
        recorder = Recorder(target)
        await recorder.start()
        await recorder.close()
    assert [0o700, 0o700, 0o700] == [mode(tmp_path / "a"), mode(tmp_path / "a" / "b"), mode(target)]


def test_a_sticky_shared_directory_like_tmp_is_warned_about_never_changed(tmp_path: Path) -> None:
    """``--envelopes /tmp`` (or ``listen --dir /tmp`` as root): a sticky world-writable
    directory is shared on purpose (others cannot remove or rename what is not theirs
    there); tightening it to 0700 would break every other user of the machine."""
    shared = tmp_path / "tmp"
    shared.mkdir()
    shared.chmod(0o1777)
    result = CliRunner().invoke(cli, ["export", str(SAMPLE), "--envelopes", str(shared)], env=ENV)
    assert 0 == result.exit_code, result.output
    assert 0o1777 == stat.S_IMODE(shared.stat().st_mode)
    assert "sticky" in result.output and "left as it is" in result.output
    assert {0o600} == {mode(p) for p in shared.iterdir()}
