"""Reading an artifact bundle as ``sentry-cli sourcemaps upload`` builds it.

sentry-cli (``src/utils/source_bundle.rs``) writes it with symbolic's ``SourceBundleWriter``:
an 8-byte header (``SYSB`` and a version) then a zip holding ``manifest.json`` and each file
under ``files/<path>``, where the path comes from the file's URL (``~/dist/app.js`` ->
``files/_/_/dist/app.js``). The manifest's ``files`` map each zip path to ``{"type":
"minified_source" | "source_map" | "source" | ..., "url": "~/dist/app.js", "headers":
{"debug-id": ID, "sourcemap": "app.js.map"}}``; the bundle's attributes (``debug_id``,
``org``, ``project``, ``release``, ``dist``, ``note``) stand at the manifest's top level.
Header names are read case-insensitively (sentry-cli sets ``Sourcemap``, symbolic writes
them lower-case). The zip is read from bytes (the header is skipped like any prefix).
"""

from __future__ import annotations

import io
import uuid
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from sentry_mirror.core.lenient import loads
from sentry_mirror.core.text import nonempty

#: Files a bundle may hold, and the bytes its directory may say they take once inflated:
#: past either the bundle is refused with a warning.
MAX_FILES = 20_000
MAX_BYTES = 1 << 30
MAX_MANIFEST = 64 << 20
#: A file's contents are inflated only when a frame needs them (:class:`Contents`): each
#: within :data:`MAX_FILE` bytes, all of them (every bundle) within :data:`MAX_TOTAL`.
MAX_FILE = 64 << 20
MAX_TOTAL = 512 << 20


class BundleError(ValueError):
    """A bundle (or one of its files) that cannot be read: the message says what is wrong."""


@dataclass(frozen=True)
class BundleFile:
    """One file of a bundle: its path in the zip, URL, manifest type, headers, inflated size,
    and the bundle's checksum and zip bytes (its contents are read by :class:`Contents`)."""

    path: str
    url: str
    type: str
    debug_id: str | None
    sourcemap: str | None
    size: int
    member: str
    checksum: str = ""
    data: bytes = field(default=b"", compare=False, repr=False)


@dataclass(frozen=True)
class Bundle:
    """An artifact bundle: its files and the attributes of its manifest."""

    checksum: str
    files: tuple[BundleFile, ...]
    debug_id: str | None = None
    release: str | None = None
    dist: str | None = None


def normalize_debug_id(value: object) -> str | None:
    """A debug id as Sentry compares them: a lower-case dashed UUID, with an appendix
    (``-1a``, the age of a PDB) kept and an age of 0 dropped; None when it is none."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().lower()
    head, appendix = (text[:36], text[36:]) if len(text) > 36 and text[8:9] == "-" else (text[:32], text[32:])
    try:
        base = str(uuid.UUID(head))
    except ValueError:
        return text[:200]
    appendix = appendix.lstrip("-")
    return base if appendix in ("", "0") else f"{base}-{appendix}"


def _open(data: bytes) -> tuple[zipfile.ZipFile, dict[str, zipfile.ZipInfo]]:
    """The zip in ``data`` and its entries by name, within :data:`MAX_FILES` / :data:`MAX_BYTES`."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = {info.filename: info for info in archive.infolist()}
    except Exception as error:  # damaged zips raise BadZipFile, NotImplementedError, struct.error...
        raise BundleError(f"not a zip archive ({type(error).__name__}: {str(error)[:200]})") from None
    if len(infos) > MAX_FILES:
        archive.close()
        raise BundleError(f"{len(infos)} files: more than {MAX_FILES}")
    if sum(info.file_size for info in infos.values()) > MAX_BYTES:
        archive.close()
        raise BundleError(f"more than {MAX_BYTES >> 20} MiB once inflated")
    return archive, infos


def read_manifest(data: bytes) -> tuple[dict[str, Any], dict[str, int]]:
    """(the manifest, each zip entry's inflated size) of the bundle in ``data``, its files
    left unread; raises :class:`BundleError` as :func:`read_bundle` does."""
    archive, infos = _open(data)
    with archive:
        return _manifest(archive, infos), {name: info.file_size for name, info in infos.items()}


def read_bundle(data: bytes, checksum: str = "") -> Bundle:
    """The bundle in ``data``, its files listed but not inflated (:class:`Contents` reads
    them); raises :class:`BundleError` when it is not a zip, its manifest is missing or not
    JSON, or it passes :data:`MAX_FILES` / :data:`MAX_BYTES`."""
    archive, infos = _open(data)
    with archive:
        manifest = _manifest(archive, infos)
    entries = manifest.get("files")
    files = tuple(_files(infos, entries if isinstance(entries, dict) else {}, checksum, data))
    return Bundle(
        checksum=checksum,
        files=files,
        debug_id=normalize_debug_id(manifest.get("debug_id")),
        release=nonempty(manifest.get("release")),
        dist=nonempty(manifest.get("dist")),
    )


class Contents:
    """The contents of bundle files, inflated when first asked for and kept: each within
    :data:`MAX_FILE`, all within :data:`MAX_TOTAL` (counted once per file), so bundles no
    frame needs cost nothing and a deflate bomb costs at most one file's cap."""

    def __init__(self) -> None:
        self.left = MAX_TOTAL
        self.read: dict[tuple[int, str], bytes | BundleError] = {}

    def get(self, file: BundleFile) -> bytes:
        """``file``'s bytes; raises :class:`BundleError` (the same one each time) when they
        cannot be read or pass a limit."""
        key = (id(file.data), file.member)
        found = self.read.get(key)
        if found is None:
            try:
                found = self._inflate(file)
            except BundleError as error:
                found = error
            self.read[key] = found
        if isinstance(found, BundleError):
            raise found
        return found

    def _inflate(self, file: BundleFile) -> bytes:
        if file.size > MAX_FILE:
            raise BundleError(f"{file.url}: {file.size:,} bytes once inflated, more than {MAX_FILE:,}")
        if file.size > self.left:
            raise BundleError(f"{file.url}: past the {MAX_TOTAL:,} bytes all files read may take")
        archive, infos = _open(file.data)
        with archive:
            info = infos.get(file.member)
            if info is None:
                raise BundleError(f"{file.url}: not in the zip")
            content = _read(archive, info, min(info.file_size, file.size))
        self.left -= len(content)
        return content


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    try:
        with archive.open(info) as member:
            content = member.read(limit + 1)
    except Exception as error:  # a damaged deflate stream: zlib.error, BadZipFile (CRC), EOFError...
        raise BundleError(f"{info.filename}: unreadable ({type(error).__name__}: {str(error)[:200]})") from None
    if len(content) > limit:
        raise BundleError(f"{info.filename}: larger than its directory entry says")
    return content


def _manifest(archive: zipfile.ZipFile, infos: Mapping[str, zipfile.ZipInfo]) -> dict[str, Any]:
    info = infos.get("manifest.json")
    if info is None:
        raise BundleError("no manifest.json: not an artifact bundle")
    if info.file_size > MAX_MANIFEST:
        raise BundleError("manifest.json is too large")
    try:
        manifest = loads(_read(archive, info, info.file_size))
    except ValueError as error:
        raise BundleError(f"manifest.json is not JSON ({error})") from None
    if not isinstance(manifest, dict):
        raise BundleError("manifest.json is not a JSON object")
    return manifest


def _files(infos: Mapping[str, zipfile.ZipInfo], entries: Mapping[str, Any], checksum: str, data: bytes) -> Any:
    for path, entry in entries.items():
        if not isinstance(entry, dict):
            continue
        info = infos.get(path) or infos.get(f"files/{path}")
        url = nonempty(entry.get("url"))
        if info is None or url is None:
            continue  # listed but absent: the file is missing, as for any other URL
        raw = entry.get("headers")
        headers = {str(k).lower(): v for k, v in raw.items()} if isinstance(raw, dict) else {}
        yield BundleFile(
            path=path,
            url=url,
            type=nonempty(entry.get("type")) or "",
            debug_id=normalize_debug_id(headers.get("debug-id")),
            sourcemap=nonempty(headers.get("sourcemap")),
            size=info.file_size,
            member=info.filename,
            checksum=checksum,
            data=data,
        )
