"""The spools of ``export --jobs``: owner-only, read back as written, removed once read."""

from __future__ import annotations

import io
import os
import stat
from pathlib import Path

from sentry_mirror.core.query import Query
from sentry_mirror.errors import DecodeError
from sentry_mirror.io import export_windows
from sentry_mirror.io.export_windows import ANSWER, ENVELOPE, REQUEST, Task
from tests.factories import make_answer, make_envelope, make_record, make_request


def test_a_spool_is_owner_only_in_an_owner_only_directory_and_goes_when_read() -> None:
    request = make_record(make_request(body=make_envelope({}, [({"type": "event"}, {"message": "hi"})])))
    with export_windows.spool_directory() as directory:
        assert 0o700 == stat.S_IMODE(os.stat(directory).st_mode)
        spooled = export_windows.spool(Task("snapshot", Query(), directory), 3, [request, make_answer(request)])
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
