"""`sentry-mirror export --jobs 2` writes what `--jobs 1` writes, byte for byte: a snapshot
(with forward mode's answers), .envelope files, a redacted snapshot and fixtures under a
key file; on a capture of three writers whose records interleave and on the committed ones."""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from sentry_mirror.io import export_windows, parallel
from sentry_mirror.ui.cli import cli
from tests.factories import REAL_CAPTURES, write_interleaved_capture
from tests.helpers import require_relay

ENV = {"COLUMNS": "200", "NO_COLOR": "1"}


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_interleaved_capture(tmp_path_factory.mktemp("capture") / "snapshots")


@pytest.fixture(autouse=True)
def small_windows(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Windows of a few frames, so that these small captures are read by a pool; the spools
    in a temp directory of the test's own."""
    monkeypatch.setattr(parallel, "MIN_WINDOW", 1)
    spools = tmp_path / "tmp"
    spools.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(spools))
    return spools


@pytest.fixture(scope="module")
def key_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("key") / "team.key"
    path.write_text("3f" * 32)
    path.chmod(0o600)
    return path


def _written(path: Path) -> dict[str, str]:
    files = sorted(path.iterdir()) if path.is_dir() else [path]
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


def exports(tmp_path: Path, target: str, *args: str) -> list[tuple[int, str, str, dict[str, str]]]:
    found = []
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}" / "out"
        out.parent.mkdir()
        result = CliRunner().invoke(cli, ["export", *args, target, str(out), "--jobs", jobs], env=ENV)
        found.append((result.exit_code, result.stdout.replace(str(out), "OUT"), result.stderr, _written(out)))
    return found


@pytest.mark.parametrize(
    ("target", "options"),
    [
        ("-o", ()),
        ("-o", ("--sdk", "sentry.python")),
        ("--envelopes", ("--item-type", "event")),
        ("-o", ("--redact", "--endpoint", "envelope")),
        ("--fixtures", ("--redact",)),
    ],
)
def test_jobs_2_writes_what_jobs_1_writes(
    capture: Path, key_file: Path, tmp_path: Path, small_windows: Path, target: str, options: tuple[str, ...]
) -> None:
    keyed = ("--redact-key-file", str(key_file)) if "--redact" in options else ()
    one, two = exports(tmp_path, target, str(capture), *options, *keyed)
    assert 0 == one[0] and one[3], one
    assert one == two
    assert [] == list(small_windows.glob("sentry-mirror-export-*"))  # the spools are gone


def test_sentry_s_own_scrubber_in_every_worker(capture: Path, key_file: Path, tmp_path: Path) -> None:
    require_relay()
    one, two = exports(
        tmp_path, "-o", str(capture), "--redact", "--redact-key-file", str(key_file), "--pii-engine", "relay"
    )
    assert 0 == one[0] and one == two


def test_the_committed_captures(key_file: Path, tmp_path: Path) -> None:
    one, two = exports(tmp_path, "--envelopes", *map(str, REAL_CAPTURES))
    assert 0 == one[0] and len(one[3]) > 20 and one == two


def test_a_failed_export_leaves_no_spool(
    capture: Path, tmp_path: Path, small_windows: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The export fails while the parent writes out the second window's spool: the spools
    were written (they are counted when it fails) and none is left."""
    seen: list[list[Path]] = []
    read = export_windows.entries

    def failing(path: str) -> Iterator[tuple[bytes, bytes, Iterator[bytes | str]]]:
        seen.append(sorted(small_windows.glob("sentry-mirror-export-*/*.spool")))
        if len(seen) == 2:
            raise OSError("No space left on device")
        return read(path)

    monkeypatch.setattr(export_windows, "entries", failing)
    result = CliRunner().invoke(cli, ["export", str(capture), "-o", str(tmp_path / "out"), "--jobs", "2"])
    assert 0 != result.exit_code and "No space left on device" in result.output, result.output
    assert len(seen) == 2 and seen[1], seen  # windows were spooled when it failed
    assert [] == list(small_windows.glob("sentry-mirror-export-*"))
