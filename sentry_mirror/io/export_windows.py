"""``export --jobs N``: each window of the capture (:mod:`sentry_mirror.io.parallel`) filtered,
redacted and serialised by a worker into a *spool* file, and the spools written out by the
parent in window order through the one writer, so the output is byte for byte what one
process writes (:mod:`sentry_mirror.io.export`).

A spool is a series of entries: a kind, a key and a payload in chunks (bounded memory: an
envelope's body is decoded chunk by chunk, as one process does). Spools live in a temp
directory of the parent's (0700, files 0600), each removed once written out, the directory
on the way out whatever happens (an error, Ctrl-C). What depends on the records before a
window (which answers go with the requests kept, file names counted over the whole export,
the first example of an SDK and item type) is decided by the parent as it reads the spools.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, BinaryIO

import orjson

from sentry_mirror.core import answer, bodies, redact
from sentry_mirror.core.query import AnswerKeeper, Query
from sentry_mirror.core.record import dumps
from sentry_mirror.errors import DecodeError
from sentry_mirror.io import export
from sentry_mirror.io.export import Exported, Redaction, envelope_name
from sentry_mirror.io.files import FILE_MODE, private_directory

#: Entry kinds: a request that matches, an answer record (forward mode), a request that is
#: no accepted envelope (``--envelopes`` skips it), an envelope's body.
REQUEST, ANSWER, SKIPPED, ENVELOPE = b"R", b"A", b"S", b"E"
_SIZE = struct.Struct("<I")
_FAILED = 0xFFFFFFFF  # in place of a chunk's size: the payload stopped, a message follows


@dataclass(frozen=True)
class Spooled:
    """A window's spool file and, for ``--fixtures``, its examples."""

    path: str
    examples: tuple[redact.Example, ...] = ()


@dataclass(frozen=True)
class Task:
    """What a worker does with its window: ``mode`` (``snapshot``, ``envelopes`` or
    ``fixtures``), the query, the redaction (None: none), and where its spool goes."""

    mode: str
    query: Query
    directory: str
    redaction: Redaction | None = None


def _write_entry(fo: IO[bytes], kind: bytes, key: bytes, payload: Iterable[bytes]) -> None:
    fo.write(kind + _SIZE.pack(len(key)) + key)
    try:
        for chunk in payload:
            if chunk:
                fo.write(_SIZE.pack(len(chunk)) + chunk)
    except DecodeError as exc:
        message = str(exc).encode()
        fo.write(_SIZE.pack(_FAILED) + _SIZE.pack(len(message)) + message)
        return
    fo.write(_SIZE.pack(0))


def _read_exact(fo: BinaryIO, size: int) -> bytes:
    data = fo.read(size)
    if len(data) != size:
        raise EOFError("a spool file ends early")
    return data


def _payload(fo: BinaryIO) -> Iterator[bytes | str]:
    """The chunks of the entry at ``fo``'s position; a str: the message of a payload that failed."""
    while size := _SIZE.unpack(_read_exact(fo, 4))[0]:
        if size == _FAILED:
            yield _read_exact(fo, _SIZE.unpack(_read_exact(fo, 4))[0]).decode()
            return
        yield _read_exact(fo, size)


def entries(path: str) -> Iterator[tuple[bytes, bytes, Iterator[bytes | str]]]:
    """The entries of a spool, in order: ``(kind, key, chunks)``; the chunks must be read
    before the next entry (then the spool file is removed)."""
    try:
        with open(path, "rb") as fo:
            while kind := fo.read(1):
                key = _read_exact(fo, _SIZE.unpack(_read_exact(fo, 4))[0])
                chunks = _payload(fo)
                yield kind, key, chunks
                for _ in chunks:  # what the reader left
                    pass
    finally:
        os.unlink(path)


# --- in a worker ------------------------------------------------------------------------


def _matches(query: Query, data: Mapping[str, Any]) -> bool:
    return next(iter(query.matching((data,))), None) is not None


def spool(task: Task, index: int, records: Iterable[Mapping[str, Any]]) -> Spooled:
    """A window's ``records`` (with their answers for a snapshot) spooled for ``task``."""
    path = os.path.join(task.directory, f"window-{index}.spool")
    redactor = task.redaction.redactor() if task.redaction is not None else None
    found: list[redact.Example] = []
    with os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE), "wb") as fo:
        if task.mode == "fixtures":
            assert redactor is not None
            requests = (redactor.record(dict(data)) for data in records if not answer.is_answer(data))
            found = list(redact.examples(requests))
        elif task.mode == "envelopes":
            for data in records:
                _spool_envelope(fo, data)
        else:
            for data in records:
                is_answer = answer.is_answer(data)
                if not is_answer and not _matches(task.query, data):
                    continue
                out = redactor.record(dict(data)) if redactor is not None else data
                key = data["request_id"] if is_answer else data["id"]
                _write_entry(fo, ANSWER if is_answer else REQUEST, str(key).encode(), (dumps(out),))  # type: ignore[arg-type]
    return Spooled(path, tuple(found))


def _spool_envelope(fo: IO[bytes], data: Mapping[str, Any]) -> None:
    if not export.exportable(data):
        _write_entry(fo, SKIPPED, b"", ())
        return
    key = orjson.dumps({"received_at": data.get("received_at"), "id": data.get("id")})
    _write_entry(fo, ENVELOPE, key, bodies.chunks(data))


# --- in the parent ----------------------------------------------------------------------


def write_snapshot(parts: Iterable[Spooled], path: Path, query: Query) -> Exported:
    """The spooled records into a new snapshot at ``path``, as
    :func:`~sentry_mirror.io.export.export_snapshot` writes them; the answers kept are those
    to a request kept before them (:class:`~sentry_mirror.core.query.AnswerKeeper`)."""
    everything = query == Query()
    kept = AnswerKeeper()

    def lines() -> Iterator[tuple[bytes, bool]]:
        for part in parts:
            for kind, key, chunks in entries(part.path):
                if everything:
                    pass
                elif kind == REQUEST:
                    kept.request(key.decode())
                elif not kept.wants(key.decode()):
                    continue
                yield b"".join(chunk for chunk in chunks if isinstance(chunk, bytes)), kind == ANSWER

    return export.write_lines(path, lines())


def _decoded(chunks: Iterator[bytes | str]) -> Iterator[bytes]:
    """A spooled body's chunks; a :class:`DecodeError` where the worker's decoding failed."""
    for chunk in chunks:
        if isinstance(chunk, str):
            raise DecodeError(chunk)
        yield chunk


def write_envelopes(parts: Iterable[Spooled], directory: Path, *, warn: Callable[[str], None]) -> Exported:
    """The spooled envelopes as :func:`~sentry_mirror.io.export.export_envelopes` writes them."""
    private_directory(directory, warn=warn)
    written = skipped = index = 0
    for part in parts:
        for kind, key, chunks in entries(part.path):
            index += 1
            meta = orjson.loads(key) if kind != SKIPPED else None
            if meta is not None and export.write_envelope(
                directory / envelope_name(meta, index - 1), _decoded(chunks), meta["id"], warn
            ):
                written += 1
            else:
                skipped += 1
    return Exported(written, skipped, directory)


def examples_of(parts: Iterable[Spooled]) -> Iterator[redact.Example]:
    """The examples of the windows, in order (their spools are empty)."""
    for part in parts:
        os.unlink(part.path)
        yield from part.examples
