"""Writing selected records out: as a new snapshot file, or as one ``.envelope`` per request;
redacted (``--redact``: a snapshot, or golden fixtures), with the key from a file or the
environment."""

from __future__ import annotations

import functools
import os
import re
import stat
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from sentry_mirror.core import answer, bodies, pii, redact
from sentry_mirror.core.envelope import ENVELOPE_ENDPOINTS
from sentry_mirror.core.pii.pseudonym import KEY_SIZE
from sentry_mirror.core.record import dumps
from sentry_mirror.errors import DecodeError, MirrorError, SnapshotError
from sentry_mirror.io.decoder import ignore
from sentry_mirror.io.files import create_private, private_directory, write_new
from sentry_mirror.io.snapshot import SnapshotWriter


@dataclass(frozen=True)
class Exported:
    written: int  # requests
    skipped: int
    target: Path
    answers: int = 0  # answer records (forward mode), written after their requests


def create(path: Path) -> int:
    """A new owner-only file for the export (:func:`create_private`), its descriptor."""
    try:
        return create_private(path)
    except MirrorError as exc:
        raise SnapshotError(str(exc)) from None


_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?Z", re.ASCII)
_ID = re.compile(r"[0-9a-f]{32}", re.ASCII)


def envelope_name(data: Mapping[str, Any], index: int) -> str:
    """``<time>-<record id>.envelope``, from a record's ``received_at`` and ``id`` only when
    they have their own shapes (a UTC time, 32 hex digits): a record can hold anything, and
    the name must stay one plain file name in the target directory. Otherwise the part is
    ``unknown-time`` or ``record-<index>``."""
    stamp, ident = data.get("received_at"), data.get("id")
    stamp = stamp.replace(":", "-") if isinstance(stamp, str) and _STAMP.fullmatch(stamp) else "unknown-time"
    ident = ident if isinstance(ident, str) and _ID.fullmatch(ident) else f"record-{index}"
    return f"{stamp}-{ident}.envelope"


#: Records per group of an exported snapshot (``export --jobs`` writes the same groups).
GROUP = 64


def exportable(data: Mapping[str, Any]) -> bool:
    """An accepted envelope request: what ``--envelopes`` writes (anything else is skipped)."""
    return data["endpoint"] in ENVELOPE_ENDPOINTS and data["response"]["status"] < 300


def write_envelope(path: Path, chunks: Iterable[bytes], record_id: object, warn: Callable[[str], None]) -> bool:
    """One new ``.envelope`` file (owner-only) of ``chunks``; False (the file removed, ``warn``
    told) when they stop with a :class:`DecodeError` (a body kept compressed that does not
    decode: a damaged record)."""
    try:
        with os.fdopen(create(path), "wb") as fo:
            for chunk in chunks:  # a body kept compressed is decoded step by step
                fo.write(chunk)
    except DecodeError as exc:
        path.unlink(missing_ok=True)
        warn(f"skipped record {record_id}: {exc}")
        return False
    return True


def write_lines(path: Path, lines: Iterable[tuple[bytes, bool]]) -> Exported:
    """Records already serialised (``(JSON line, is an answer)``) into a new snapshot file
    (owner-readable only), :data:`GROUP` per group, streaming."""
    written = answers = 0
    with os.fdopen(create(path), "wb") as fo:
        writer = SnapshotWriter(fo)
        batch: list[bytes] = []
        for line, is_answer in lines:
            batch.append(line)
            answers += is_answer
            if len(batch) >= GROUP:
                writer.write_bytes(writer.encode_lines(b"".join(batch)))
                written += len(batch)
                batch = []
        if batch:
            writer.write_bytes(writer.encode_lines(b"".join(batch)))
            written += len(batch)
        writer.close()
    return Exported(written - answers, 0, path, answers)


def export_snapshot(records: Iterable[Mapping[str, Any]], path: Path) -> Exported:
    """Write ``records`` (requests, and answer records) into a new snapshot file
    (owner-readable only), as read, streaming."""
    return write_lines(path, ((dumps(data), answer.is_answer(data)) for data in records))  # type: ignore[arg-type]


def export_envelopes(
    records: Iterable[Mapping[str, Any]], directory: Path, *, warn: Callable[[str], None] = ignore
) -> Exported:
    """One ``<time>-<record id>.envelope`` per accepted envelope request, the decoded bytes
    exactly (ready for ``sentry-cli send-envelope``); other requests (other endpoints,
    bodies that were refused) are counted as skipped. The directory is made owner-only
    (see :func:`~sentry_mirror.io.files.private_directory`; ``warn`` hears about it)."""
    private_directory(directory, warn=warn)
    written = skipped = 0
    for index, data in enumerate(records):
        if exportable(data) and write_envelope(
            directory / envelope_name(data, index), bodies.chunks(data), data["id"], warn
        ):
            written += 1
        else:
            skipped += 1
    return Exported(written, skipped, directory)


#: The environment variable a redaction key can come from (never an option value).
KEY_ENV = "SENTRY_MIRROR_REDACT_KEY"


#: A key file longer than this is no key file (``/dev/zero``, a snapshot given by mistake).
MAX_KEY_FILE = 4096
#: A text key shorter than this can be guessed offline from a record's ``key_id``.
MIN_TEXT_KEY = 16
_HEX = re.compile(r"[0-9a-fA-F]+")


def redaction_key(
    key_file: Path | None, environ: Mapping[str, str], *, warn: Callable[[str], None] = ignore
) -> tuple[bytes, bool]:
    """``(key, made)``: the key in ``key_file``, else in :data:`KEY_ENV`, else a random one
    (``made`` true: kept by no one, so its pseudonyms join only within this export).
    ``warn`` hears of a key file others can read, a short text key, and hex digits read as
    text (an odd count, or fewer than 32: a typo?)."""
    try:
        if key_file is not None:
            raw, where = _key_file(key_file, warn), f"the key file {key_file}"
        elif environ.get(KEY_ENV):
            raw, where = environ[KEY_ENV].encode("utf-8", "surrogateescape"), f"${KEY_ENV}"
        else:
            return os.urandom(KEY_SIZE), True
        key = redact.parse_key(raw)
    except OSError as exc:
        raise MirrorError(f"cannot read the redaction key file {key_file}: {exc.strerror}") from None
    except ValueError as exc:
        raise MirrorError(str(exc)) from None
    if key == raw.strip():  # read as text
        text = raw.strip().decode("ascii", "replace")
        if _HEX.fullmatch(text):
            warn(f"{where}: {len(text)} hex digits read as text (a hex key has an even count, 32 or more)")
        if len(key) < MIN_TEXT_KEY:
            warn(
                f"{where}: a text key of {len(key)} bytes can be guessed from the records' key_id; use 32 random bytes"
            )
    return key, False


def _key_file(path: Path, warn: Callable[[str], None]) -> bytes:
    with path.open("rb") as fi:
        raw = fi.read(MAX_KEY_FILE + 1)
        mode = os.fstat(fi.fileno()).st_mode
    if len(raw) > MAX_KEY_FILE:
        raise ValueError(f"the redaction key file {path} is over {MAX_KEY_FILE} bytes: not a key file")
    if stat.S_ISREG(mode) and mode & 0o077:
        warn(f"the key file {path} can be read by others (chmod 600 {path})")
    return raw


@dataclass(frozen=True)
class Redaction:
    """How an export redacts, chosen once (the key read once, by the parent) and given to
    each worker of ``--jobs``, which makes the same :class:`~sentry_mirror.core.redact.Redactor`
    from it (:meth:`redactor`). The key is never shown (``repr``)."""

    key: bytes = field(repr=False)
    attachments: str
    relay: bool = False  # Sentry's own scrubber too (sentry-relay)
    rules: str | None = None  # a Relay PII config (--pii-rules), as text

    def redactor(self) -> redact.Redactor:
        """The redactor (made once per process for this redaction)."""
        return _redactor(self)


@functools.lru_cache(maxsize=4)
def _redactor(redaction: Redaction) -> redact.Redactor:
    relay = redact.RelayEngine(redaction.rules) if redaction.relay or redaction.rules is not None else None
    parts = redact.BodyRedactor(redact.Pseudonyms(redaction.key), redaction.attachments, relay)
    return redact.Redactor(parts, pii.RELAY_ENGINE if relay is not None else pii.ENGINE)


def export_redacted(records: Iterable[Mapping[str, Any]], path: Path, redactor: redact.Redactor) -> Exported:
    """:func:`export_snapshot` of the records redacted (docs/redaction.md)."""
    return export_snapshot((redactor.record(dict(data)) for data in records), path)


def export_fixtures(
    records: Iterable[Mapping[str, Any]],
    directory: Path,
    redactor: redact.Redactor,
    *,
    warn: Callable[[str], None] = ignore,
) -> Exported:
    """One redacted ``.envelope`` per SDK and item type in ``directory`` (owner-only), and
    ``manifest.json`` listing them."""
    requests = (redactor.record(dict(data)) for data in records if not answer.is_answer(data))
    return write_fixtures(redact.examples(requests), directory, redactor, warn=warn)


def write_fixtures(
    found: Iterable[redact.Example],
    directory: Path,
    redactor: redact.Redactor,
    *,
    warn: Callable[[str], None] = ignore,
) -> Exported:
    """The fixtures of the examples ``found`` (:func:`~sentry_mirror.core.redact.named`)
    written into ``directory`` (owner-only), and ``manifest.json``."""
    private_directory(directory, warn=warn)
    written: list[redact.Fixture] = []
    try:
        for fixture in redact.named(found):
            write_new(directory / fixture.name, fixture.body)
            written.append(fixture)
    except BaseException:
        if written:  # the files written are listed, whatever stopped the rest
            _manifest(directory, written, redactor)
        raise
    _manifest(directory, written, redactor)
    return Exported(len(written), 0, directory)


def _manifest(directory: Path, written: list[redact.Fixture], redactor: redact.Redactor) -> None:
    document = redact.manifest(written, redactor.engine, redactor.key_id)
    write_new(directory / "manifest.json", orjson.dumps(document, option=orjson.OPT_INDENT_2) + b"\n")
