"""`sentry-mirror diff --jobs 2` prints what `--jobs 1` prints, byte for byte, and exits alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sentry_mirror.io import parallel
from sentry_mirror.ui.cli import cli
from tests.factories import REAL_CAPTURES, write_interleaved_capture

ENV = {"COLUMNS": "200", "NO_COLOR": "1"}


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("captures")
    before = write_interleaved_capture(root / "before", copies=3, answers=False)
    return before, write_interleaved_capture(root / "after", copies=5, writers=2)


@pytest.fixture(autouse=True)
def small_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(parallel, "MIN_WINDOW", 1)


@pytest.mark.parametrize("options", [("--format", "json"), ("--fail-on", "new-groups", "--sdk", "sentry.python")])
def test_jobs_2_prints_what_jobs_1_prints(captures: tuple[Path, Path], options: tuple[str, ...]) -> None:
    found = []
    for jobs in ("1", "2"):
        result = CliRunner().invoke(cli, ["diff", *map(str, captures), *options, "--jobs", jobs], env=ENV)
        found.append((result.exit_code, result.stdout, result.stderr))
    assert found[0][0] in (0, 1) and found[0][1].count("\n") > 5, found[0]
    assert found[0] == found[1]


def test_against_a_committed_capture(captures: tuple[Path, Path]) -> None:
    found = []
    for jobs in ("1", "2"):
        result = CliRunner().invoke(cli, ["diff", str(REAL_CAPTURES[-1]), str(captures[1]), "--jobs", jobs], env=ENV)
        found.append((result.exit_code, result.stdout, result.stderr))
    assert 0 == found[0][0] and found[0] == found[1]
