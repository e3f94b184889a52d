"""`sentry-mirror group --jobs 2` prints what `--jobs 1` prints, byte for byte: on the
committed captures and on a capture of three writers whose records interleave."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from sentry_mirror.core.grouping import Grouper
from sentry_mirror.io import parallel
from sentry_mirror.io.snapshot import expand
from sentry_mirror.ui.cli import cli
from tests.factories import REAL_CAPTURES, write_interleaved_capture

ENV = {"COLUMNS": "200", "NO_COLOR": "1"}


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_interleaved_capture(tmp_path_factory.mktemp("capture") / "snapshots")


@pytest.fixture(autouse=True)
def small_windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows of a few frames, so that these small captures are read by a pool."""
    monkeypatch.setattr(parallel, "MIN_WINDOW", 1)


def outputs(*args: str) -> tuple[tuple[int, str, str], ...]:
    found = []
    for jobs in ("1", "2"):
        result = CliRunner().invoke(cli, [*args, "--jobs", jobs], env=ENV)
        found.append((result.exit_code, result.stdout, result.stderr))
    return tuple(found)


@pytest.mark.parametrize(
    "options",
    [
        ("--json",),
        ("--item-type", "transaction", "--json"),
        ("--compare", "type", "--compare", "message"),
        ("--strategy", "message", "--sdk", "sentry.python", "--limit", "3"),
    ],
)
def test_jobs_2_prints_what_jobs_1_prints(capture: Path, options: tuple[str, ...]) -> None:
    one, two = outputs("group", str(capture), *options)
    assert 0 == one[0] and one[1].count("\n") >= 2, one
    assert one == two


def test_the_committed_captures_and_a_group_shown(capture: Path) -> None:
    one, two = outputs("group", *map(str, REAL_CAPTURES), "--item-type", "transaction")
    assert one == two and "GET /checkout" in one[1]
    one, two = outputs("group", "show", "f8b76b5", str(capture))
    assert one == two and 0 == one[0] and "payment provider slow" in one[1]


def test_the_windows_are_many(capture: Path) -> None:
    """The capture is cut into windows (else the tests above prove nothing)."""
    windows, note = parallel.plan(expand([capture]), 2)
    assert len(windows) > 3 and note is None


def test_a_grouper_past_a_bound_has_the_capture_read_again_by_one_process(
    capture: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each part is exact, but what they merge into is past a bound (``truncated``)."""
    merges: list[Grouper] = []
    monkeypatch.setattr(Grouper, "truncated", property(lambda self: self in merges))
    monkeypatch.setattr(Grouper, "merge", lambda self, other: merges.append(self))
    one, two = outputs("group", str(capture), "--json")
    assert one == two and 0 == one[0] and merges  # merged wrong, read again right
