"""The spools of ``export --jobs``: owner-only, read back as written, removed once read."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path
from typing import Any

from sentry_mirror.core.query import Query
from sentry_mirror.errors import DecodeError
from sentry_mirror.io import export, export_windows
from sentry_mirror.io.export_windows import ANSWER, ENVELOPE, REQUEST, Task
from sentry_mirror.io.files import temp_directory
from tests.factories import make_answer, make_envelope, make_record, make_request


def test_a_spool_is_owner_only_in_an_owner_only_directory_and_goes_when_read() -> None:
    request = make_record(make_request(body=make_envelope({}, [({"type": "event"}, {"message": "hi"})])))
    with temp_directory("sentry-mirror-export-") as directory:
        assert 0o700 == stat.S_IMODE(os.stat(directory).st_mode)
        spooled = export_windows.spool(Task("snapshot", Query(), str(directory)), 3, [request, make_answer(request)])
        assert 0o600 == stat.S_IMODE(os.stat(spooled.path).st_mode) and spooled.path.endswith("window-3.spool")
        found = [(kind, key, b"".join(chunks)) for kind, key, chunks in export_windows.entries(spooled.path)]  # type: ignore[arg-type]
        assert [REQUEST, ANSWER] == [kind for kind, _, _ in found]
        assert [request["id"].encode()] * 2 == [key for _, key, _ in found]
        assert not Path(spooled.path).exists()
    assert not Path(directory).exists()


def test_a_payload_that_fails_is_read_back_as_its_message(tmp_path: Path) -> None:
    def failing() -> object:
        yield b"part"
        raise DecodeError("not zstd")

    buffer = io.BytesIO()
    export_windows._write_entry(buffer, ENVELOPE, b"k", failing())  # type: ignore[arg-type]
    export_windows._write_entry(buffer, ENVELOPE, b"", [b"a", b"", b"b"])
    path = tmp_path / "spool"
    path.write_bytes(buffer.getvalue())
    found = [(key, list(chunks)) for _, key, chunks in export_windows.entries(str(path))]
    assert [(b"k", [b"part", "not zstd"]), (b"", [b"a", b"b"])] == found


def test_the_windows_write_what_export_writes_with_one_rule_each(tmp_path: Path, monkeypatch: Any) -> None:
    """Group size, answers kept and envelopes skipped are export.py's rules, used by both
    paths: changed there, ``--jobs`` follows (a copy of a rule here would not)."""
    monkeypatch.setattr(export, "GROUP", 3)
    records: list[dict[str, Any]] = []
    for n in range(8):
        request = make_record(make_request(path="/api/1/store/" if n % 3 == 0 else "/api/1/envelope/"), id=f"{n:032x}")
        records += [request, make_answer(request)]
    query = Query(endpoints=frozenset({"envelope"}))
    for mode, write, expected_of in (
        (
            "snapshot",
            export_windows.write_snapshot,
            lambda target: export.export_snapshot(query.with_answers(records), target),
        ),
        ("envelopes", None, None),
    ):
        if write is None:
            monkeypatch.setattr(export, "exportable", lambda data: data["id"].endswith("2"))
            with temp_directory("sentry-mirror-export-") as directory:
                spooled = export_windows.spool(Task(mode, Query(), str(directory)), 0, records[::2])
                got = export_windows.write_envelopes([spooled], tmp_path / "jobs", warn=print)
            expected = export.export_envelopes(records[::2], tmp_path / "one")
            assert (got.written, got.skipped) == (expected.written, expected.skipped) == (1, 7)
            assert sorted(os.listdir(tmp_path / "jobs")) == sorted(os.listdir(tmp_path / "one"))
            continue
        with temp_directory("sentry-mirror-export-") as directory:
            spooled = export_windows.spool(Task(mode, query, str(directory)), 0, records)
            got = write([spooled], tmp_path / "jobs.jsonl.zst", query)
        expected = expected_of(tmp_path / "one.jsonl.zst")
        assert (tmp_path / "jobs.jsonl.zst").read_bytes() == (tmp_path / "one.jsonl.zst").read_bytes()
        assert (got.written, got.answers) == (expected.written, expected.answers) == (5, 5)
