"""Export writes only where it is told, and only files others cannot read."""

from __future__ import annotations

import base64
import stat
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from sentry_mirror.errors import MirrorError
from sentry_mirror.io.decoder import read_records
from sentry_mirror.io.export import envelope_name, export_envelopes, export_snapshot
from tests.factories import make_record
from tests.helpers import mode, umask


def envelope(received_at: Any = "2026-11-23T10:00:01.123456Z", ident: Any = "ab" * 16) -> dict[str, Any]:
    return make_record(
        id=ident,
        received_at=received_at,
        endpoint="envelope",
        response={"status": 200, "headers": [], "body": "", "body_base64": False},
        body='{"event_id":"x"}\n',
    )


@settings(max_examples=150, deadline=None)
@given(
    st.text(max_size=300)
    | st.sampled_from(["../../escaped", "/tmp/absolute", "a\x00b", "..", ".", "x" * 5000, "a/../../b"]),
    st.text(max_size=300),
)
@example("../../../escaped", "../../escaped")
@example("/etc/cron.d/x", "/tmp/y")
@example("2026-11-23T10:00:01Z\x00/../x", "ab" * 16 + "/../../z")
@example("2026-11-23T10:00:01Z" + "1" * 10_000, "f" * 5000)
def test_envelope_names_never_leave_the_directory(received_at: str, ident: str) -> None:
    """Whatever a record holds in ``received_at`` and ``id`` (``../``, absolute paths, NUL,
    very long strings), every file lands in the target directory, owner-only."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        target = root / "out"
        records = [envelope(received_at, ident), envelope(received_at, ident), envelope(ident, received_at)]
        done = export_envelopes(records, target)
        assert 3 == done.written
        assert [target] == list(root.iterdir())  # nothing was written beside or above it
        files = sorted(target.iterdir())
        assert 3 == len(files)
        for path in files:
            assert path.parent == target and stat.S_ISREG(path.lstat().st_mode)
            assert 0o600 == mode(path)
            assert len(path.name) < 100 and path.name.endswith(".envelope")


def test_envelope_names_keep_real_times_and_ids() -> None:
    assert "2026-11-23T10-00-01.123456Z-" + "ab" * 16 + ".envelope" == envelope_name(envelope(), 0)
    assert "unknown-time-record-7.envelope" == envelope_name(envelope("../x", "AB" * 16), 7)
    assert "unknown-time-record-1.envelope" == envelope_name(envelope(12, None), 1)  # wrong types too


def test_a_planted_symlink_is_not_followed(tmp_path: Path) -> None:
    """A symlink named like the file to write (planted by someone who can write the
    directory) is an error, and its target is untouched."""
    target = tmp_path / "out"
    target.mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("keep")
    (target / envelope_name(envelope(), 0)).symlink_to(victim)
    with pytest.raises(MirrorError, match="already exists"):
        export_envelopes([envelope()], target)
    assert "keep" == victim.read_text()


def test_exported_snapshot_and_envelopes_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    with umask(0):
        export_snapshot([envelope()], tmp_path / "x.jsonl.zst")
        export_envelopes([envelope()], tmp_path / "new" / "dir")
    assert 0o600 == mode(tmp_path / "x.jsonl.zst")
    assert 0o700 == mode(tmp_path / "new" / "dir")
    assert [0o600] == [mode(p) for p in (tmp_path / "new" / "dir").iterdir()]
    assert 1 == len(list(read_records((tmp_path / "x.jsonl.zst").open("rb"))))


def test_an_open_directory_of_ours_is_tightened_with_a_notice(tmp_path: Path) -> None:
    directory = tmp_path / "shared"
    directory.mkdir()
    directory.chmod(0o777)
    notices: list[str] = []
    export_envelopes([envelope()], directory, warn=notices.append)
    assert 0o700 == mode(directory)
    assert [f"{directory} could be written by other users (mode 777): tightened to 700"] == notices


def test_a_kept_compressed_body_that_does_not_decode_is_skipped_with_a_warning(tmp_path: Path) -> None:
    """A damaged ``body_encoded`` record costs that record, not the export."""
    broken = envelope(ident="cd" * 16) | {
        "v": 2, "body_encoded": True, "content_encoding": "gzip", "body_base64": True,
        "body": base64.b64encode(b"\x1f\x8b not gzip").decode(), "body_size": 50_000_000,
    }  # fmt: skip
    notices: list[str] = []
    result = export_envelopes([broken, envelope()], tmp_path / "out", warn=notices.append)
    assert (1, 1) == (result.written, result.skipped)
    assert [f"{'ab' * 16}.envelope"] == [p.name.split("-", 3)[-1][-41:] for p in (tmp_path / "out").iterdir()]
    assert [f"skipped record {'cd' * 16}: "] == [n[: len("skipped record ") + 34] for n in notices]
