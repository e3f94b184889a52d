"""``report --jobs N`` and ``inspect --json --jobs N`` through the CLI: stdout byte for byte
that of ``--jobs 1``, the same exit code and warnings, on real captures split into many
windows (one writer, several writers interleaved, every optional report section, damage)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sentry_mirror.core.grouping import Grouper, TransactionGrouper
from sentry_mirror.io import parallel
from sentry_mirror.io.snapshot import SnapshotWriter
from sentry_mirror.ui.cli import cli
from tests.core.report.test_report_merge_exact import mixed

ROOT = Path(__file__).resolve().parents[2]
ENV = {"COLUMNS": "200", "NO_COLOR": "1"}


def write(path: Path, items: list[dict[str, Any]], frame_size: int = 6 << 10) -> Path:
    with path.open("wb") as fo:
        writer = SnapshotWriter(fo, frame_size=frame_size)
        for at in range(0, len(items), 2):
            writer.write(items[at : at + 2])
        writer.close()
    return path


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two writers taking turns (with the records of every optional section and one unusable), the committed
    samples (each file its own writer), and a file damaged in the middle."""
    folder = tmp_path_factory.mktemp("capture")
    records = mixed()
    records[7] = {**records[7], "summary": 5}  # unusable: skipped with a warning, counted as malformed
    write(folder / "2026-11-23T10-00-00Z-host-a.jsonl.zst", records[0::2])
    write(folder / "2026-11-23T10-00-00Z-host-b.jsonl.zst", records[1::2])
    for sample in sorted((ROOT / "snapshots").glob("sample-*.jsonl.zst")):
        (folder / sample.name).write_bytes(sample.read_bytes())
    damaged = bytearray(write(folder / "x.bin", records[:40]).read_bytes())
    (folder / "x.bin").unlink()
    damaged[len(damaged) // 2 : len(damaged) // 2 + 6] = b"\x00" * 6
    (folder / "2026-11-23T10-00-00Z-host-c.jsonl.zst").write_bytes(bytes(damaged))
    return folder


@pytest.fixture(autouse=True)
def small_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "MIN_WINDOW", 1)


def same_with_jobs(*args: str) -> str:
    one = CliRunner().invoke(cli, [*args, "--jobs", "1"], env=ENV)
    two = CliRunner().invoke(cli, [*args, "--jobs", "2"], env=ENV)
    assert one.exit_code == two.exit_code == 0, one.output + two.output
    assert one.stdout_bytes == two.stdout_bytes
    assert one.stderr == two.stderr
    return one.stdout


@pytest.mark.parametrize("form", ["json", "markdown", "terminal"])
def test_report_is_the_same_with_two_jobs(capture: Path, form: str) -> None:
    sections = [arg for name in ("releases", "behaviour", "upstream") for arg in ("--section", name)]
    out = same_with_jobs("report", str(capture), "--format", form)
    assert "traffic" in out.lower()
    if form == "json":
        assert 2 == json.loads(out)["malformed"]["records"]  # writer a's unusable record, and its copy in c
    out = same_with_jobs("report", str(capture), "--format", form, *sections, "--section", "traffic")
    assert "behaviour" in out.lower() and "upstream" in out.lower()


def test_report_with_filters_and_a_limit(capture: Path) -> None:
    same_with_jobs("report", str(capture), "--format", "json", "--item-type", "event", "--sdk", "sentry.python")
    same_with_jobs("report", str(capture), "--format", "json", "--limit", "7")


def test_inspect_json_is_the_same_with_two_jobs(capture: Path) -> None:
    out = same_with_jobs("inspect", str(capture), "--json")
    assert len(out.splitlines()) > 100
    same_with_jobs("inspect", str(capture), "--json", "--item-type", "transaction")
    same_with_jobs("inspect", str(ROOT / "snapshots"), "--json", "--limit", "5")


def test_the_damage_is_named_once(capture: Path) -> None:
    result = CliRunner().invoke(cli, ["inspect", str(capture), "--json", "--jobs", "2"], env=ENV)
    assert 1 == result.stderr.count("damaged bytes"), result.stderr


@pytest.mark.parametrize("args", [["inspect"], ["inspect", "--raw", "ab"], ["inspect", "--json", "--follow"]])
def test_inspect_takes_jobs_only_with_json(capture: Path, args: list[str]) -> None:
    result = CliRunner().invoke(cli, [*args, str(capture), "--jobs", "2"], env=ENV)
    assert 2 == result.exit_code and "--jobs" in result.stderr


def test_the_real_command_with_auto_jobs(capture: Path) -> None:
    """The installed entry point (a real process, its workers real processes too)."""
    command = [sys.executable, "-m", "sentry_mirror", "report", str(ROOT / "snapshots"), "--format", "json"]
    env = {**os.environ, "PYTHONPATH": str(ROOT), **ENV}
    one = subprocess.run([*command, "--jobs", "1"], capture_output=True, env=env, timeout=120, check=True)
    auto = subprocess.run([*command, "--jobs", "auto"], capture_output=True, env=env, timeout=120, check=True)
    assert one.stdout == auto.stdout and one.stderr == auto.stderr


@pytest.mark.parametrize("grouper", [Grouper, TransactionGrouper])
def test_a_partial_report_past_a_grouper_bound_has_the_capture_read_again_by_one_process(
    capture: Path, monkeypatch: pytest.MonkeyPatch, grouper: type[Grouper | TransactionGrouper]
) -> None:
    """The parts' groupers say they hit their bound, and merging them would go wrong: the
    output is still that of one pass (read again by one process), the warnings printed once."""
    monkeypatch.setattr(grouper, "truncated", property(lambda self: True))
    monkeypatch.setattr(grouper, "merge", lambda self, other: None)
    out = same_with_jobs("report", str(capture), "--format", "json")
    assert 2 == json.loads(out)["malformed"]["records"] and json.loads(out)["issues"]
    assert json.loads(same_with_jobs("diff", str(capture), str(ROOT / "snapshots"), "--format", "json"))["groups"]
