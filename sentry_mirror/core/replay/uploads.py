"""``replay --uploads``, the pure part: the files sentry-cli uploaded (upload records), sent
again to a candidate through its own chunk protocol, as sentry-cli sends them.

The protocol (sentry-cli's ``src/utils/file_upload.rs``, ``src/utils/chunks/``, ``src/api/``):

1. ``GET /api/0/organizations/{org}/chunk-upload/``: the candidate's :class:`ChunkOptions`;
2. the file split into chunks of ``chunkSize`` bytes, each named by its SHA-1 (:func:`split`);
3. the assemble call first (:func:`assemble_call`): the candidate answers which chunks it
   lacks (:func:`assemble_state`);
4. those chunks POSTed to the options' ``url`` in batches (:func:`batches`), multipart, one
   part per chunk named ``file`` (``file_gzip`` gzipped when the candidate lists gzip) with
   the chunk's SHA-1 as its file name (:func:`multipart`);
5. the assemble call again, repeated until ``ok`` or ``error`` or the wait ends
   (:func:`first_outcome`, :func:`poll_outcome`).

What happened to each upload is an :class:`UploadResult`; :class:`UploadSummary` adds them up.
The exchange itself is :mod:`sentry_mirror.io.reupload`.
"""

from __future__ import annotations

import gzip
import hashlib
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import orjson

ARTIFACT_BUNDLE = "artifact_bundle"
DEBUG_FILE = "debug_file"
#: What the candidate's ``accept`` list must hold for each kind of upload.
ACCEPT = {ARTIFACT_BUNDLE: "artifact_bundles", DEBUG_FILE: "debug_files"}
#: Assemble states (Sentry's ``ChunkFileState``): finished ones, and those still in progress.
OK, ERROR, NOT_FOUND = "ok", "error", "not_found"
PENDING = frozenset({"created", "assembling"})
STATES = frozenset({OK, ERROR, NOT_FOUND, *PENDING})

#: Outcomes of one upload.
UPLOADED = "uploaded"  # the candidate assembled it (``ok``)
ALREADY_THERE = "already_there"  # ``ok`` to the first assemble call: nothing sent
ACCEPTED = "accepted"  # taken for assembling, never confirmed ``ok`` (see :func:`poll_outcome`)
FAILED = "failed"
OUTCOMES = (UPLOADED, ALREADY_THERE, ACCEPTED, FAILED)


def _shown(value: Any) -> str:
    """A JSON value of an answer, short, to say what was wrong with it."""
    try:
        return orjson.dumps(value).decode()[:40]
    except TypeError:  # an integer over 64 bits
        return type(value).__name__


def _int(value: Any, name: str, minimum: int = 1) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} is {_shown(value)}, not a whole number >= {minimum}")
    return value


@dataclass(frozen=True, slots=True)
class ChunkOptions:
    """The candidate's answer to ``GET .../chunk-upload/`` (the fields sentry-cli reads)."""

    url: str
    chunk_size: int
    chunks_per_request: int
    max_request_size: int
    concurrency: int
    gzip: bool = False
    max_file_size: int = 0  # 0: not said
    max_wait: int = 0  # seconds; 0: not said
    accept: frozenset[str] | None = None  # None: not said

    @classmethod
    def parse(cls, value: Any) -> ChunkOptions:
        """From the answer's JSON; ValueError saying what is wrong (sentry-cli needs ``url``,
        ``chunkSize``, ``chunksPerRequest``, ``maxRequestSize``, ``concurrency``,
        ``hashAlgorithm``; it hashes with SHA-1 only)."""
        if not isinstance(value, dict):
            raise ValueError("the answer is not a JSON object")
        url = value.get("url")
        if not isinstance(url, str) or not url:
            raise ValueError("it has no url")
        if value.get("hashAlgorithm") != "sha1":
            raise ValueError(f"hashAlgorithm is {_shown(value.get('hashAlgorithm'))}, not sha1")
        compression = value.get("compression") or []
        accept = value.get("accept")
        return cls(
            url=url,
            chunk_size=_int(value.get("chunkSize"), "chunkSize"),
            chunks_per_request=_int(value.get("chunksPerRequest"), "chunksPerRequest"),
            max_request_size=_int(value.get("maxRequestSize"), "maxRequestSize"),
            concurrency=_int(value.get("concurrency"), "concurrency"),
            gzip=isinstance(compression, list) and "gzip" in compression,
            max_file_size=_int(value.get("maxFileSize") or 0, "maxFileSize", 0),
            max_wait=_int(value.get("maxWait") or 0, "maxWait", 0),
            accept=frozenset(a for a in accept if isinstance(a, str)) if isinstance(accept, list) else None,
        )


@dataclass(frozen=True, slots=True)
class Chunked:
    """A file split as sentry-cli splits it: its SHA-1 and each chunk's, in order."""

    checksum: str
    chunks: tuple[str, ...]
    chunk_size: int
    size: int

    def piece(self, data: bytes, index: int) -> bytes:
        """Chunk ``index`` of ``data`` (the file this was made from)."""
        return data[index * self.chunk_size : (index + 1) * self.chunk_size]

    def pieces(self, data: bytes, wanted: Sequence[str]) -> list[tuple[str, bytes]]:
        """The chunks named in ``wanted`` (each once, in file order) with their bytes."""
        wanted_set = set(wanted)
        seen: set[str] = set()
        found = []
        for index, checksum in enumerate(self.chunks):
            if checksum in wanted_set and checksum not in seen:
                seen.add(checksum)
                found.append((checksum, self.piece(data, index)))
        return found


def split(data: bytes, chunk_size: int) -> Chunked:
    """``data`` in chunks of ``chunk_size`` bytes (the last one shorter; none for an empty file)."""
    chunks = tuple(
        hashlib.sha1(data[at : at + chunk_size], usedforsecurity=False).hexdigest()
        for at in range(0, len(data), chunk_size)
    )
    return Chunked(hashlib.sha1(data, usedforsecurity=False).hexdigest(), chunks, chunk_size, len(data))


def batches(chunks: Sequence[tuple[str, bytes]], max_size: int, max_chunks: int) -> list[list[tuple[str, bytes]]]:
    """The chunk requests, as sentry-cli batches them: consecutive chunks whose sizes add up to
    at most ``max_size`` (but at least one chunk, whatever its size), at most ``max_chunks``."""
    found: list[list[tuple[str, bytes]]] = []
    batch: list[tuple[str, bytes]] = []
    size = 0
    for chunk in chunks:
        if batch and (size + len(chunk[1]) > max_size or len(batch) >= max_chunks):
            found.append(batch)
            batch, size = [], 0
        batch.append(chunk)
        size += len(chunk[1])
    if batch:
        found.append(batch)
    return found


def multipart(chunks: Sequence[tuple[str, bytes]], compress: bool, boundary: str) -> tuple[str, bytes]:
    """(Content-Type, body) of one chunk request: a part per chunk, named ``file`` (or
    ``file_gzip``, gzipped), its file name the chunk's SHA-1 (of the uncompressed bytes)."""
    name = "file_gzip" if compress else "file"
    parts = []
    for checksum, data in chunks:
        payload = gzip.compress(data, mtime=0) if compress else data
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{checksum}"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n".encode()
            + payload
            + b"\r\n"
        )
    return f"multipart/form-data; boundary={boundary}", b"".join(parts) + f"--{boundary}--\r\n".encode()


@dataclass(frozen=True, slots=True)
class Destination:
    """Where an upload goes on the candidate: its organization and project slugs."""

    org: str
    project: str | None
    projects: tuple[str, ...]


def destination(upload: Mapping[str, Any], org: str | None = None, project: str | None = None) -> Destination:
    """The recorded org and projects of ``upload`` (the record's ``upload`` object), or
    ``org`` and ``project`` when given (``--api-project ORG/SLUG``, ``--api-org``)."""
    recorded = [p for p in upload.get("projects") or () if isinstance(p, str)]
    own = upload.get("project") if isinstance(upload.get("project"), str) else None
    if project is not None:
        projects: tuple[str, ...] = (project,)
    else:
        projects = tuple(recorded) or ((own,) if own else ())
    recorded_org = upload.get("org") if isinstance(upload.get("org"), str) else None
    chosen = org or recorded_org
    if not chosen:
        raise ValueError("no organization recorded: name one with --api-org or --api-project")
    return Destination(chosen, project or own or (projects[0] if projects else None), projects)


def assemble_call(upload: Mapping[str, Any], chunked: Chunked, where: Destination) -> tuple[str, bytes]:
    """(path, JSON body) of the assemble call for ``upload`` (an artifact bundle or a debug
    file), as sentry-cli makes it."""
    kind = upload.get("kind")
    if kind == ARTIFACT_BUNDLE:
        body: dict[str, Any] = {"checksum": chunked.checksum, "chunks": list(chunked.chunks)}
        if where.projects:
            body["projects"] = list(where.projects)
        if upload.get("release"):
            body["version"] = upload["release"]
        if upload.get("dist") is not None:
            body["dist"] = upload["dist"]
        return f"/api/0/organizations/{quote(where.org, safe='')}/artifactbundle/assemble/", orjson.dumps(body)
    if kind == DEBUG_FILE:
        if not where.project:
            raise ValueError("a debug file goes to a project: none recorded, name one with --api-project")
        request: dict[str, Any] = {"name": upload.get("name") or chunked.checksum}
        if upload.get("debug_id"):
            request["debug_id"] = upload["debug_id"]
        request["chunks"] = list(chunked.chunks)
        path = f"/api/0/projects/{quote(where.org, safe='')}/{quote(where.project, safe='')}/files/difs/assemble/"
        return path, orjson.dumps({chunked.checksum: request})
    raise ValueError(f"upload kind {_shown(kind)} is not one replay can send")


@dataclass(frozen=True, slots=True)
class AssembleState:
    """The candidate's answer to an assemble call, for one file."""

    state: str
    missing: tuple[str, ...] = ()
    detail: str | None = None


def assemble_state(kind: str, checksum: str, value: Any) -> AssembleState:
    """The state of the file ``checksum`` in an assemble answer (an artifact bundle's answer is
    the state itself; a debug-file answer maps checksums to states). ValueError when the
    answer is not one sentry-cli would read."""
    if kind == DEBUG_FILE and isinstance(value, dict):
        value = value.get(checksum)
    if not isinstance(value, dict):
        raise ValueError("the answer has no state for the file")
    state = value.get("state")
    if not isinstance(state, str) or state not in STATES:
        raise ValueError(f"state {_shown(state)} is none of Sentry's")
    missing = value.get("missingChunks") or []
    if not isinstance(missing, list):
        raise ValueError("missingChunks is not a list")
    detail = value.get("detail")
    return AssembleState(
        state, tuple(m.lower() for m in missing if isinstance(m, str)), detail if isinstance(detail, str) else None
    )


def first_outcome(answer: AssembleState) -> str | None:
    """The outcome of the first assemble call, or None when chunks are to be sent (or the
    assembling polled): ``ok`` means the candidate has the file already."""
    if answer.state == OK:
        return ALREADY_THERE
    if answer.state == ERROR:
        return FAILED
    return None


def poll_outcome(before: AssembleState, answer: AssembleState) -> tuple[str, str | None] | None:
    """The outcome (and why) once ``answer`` comes after ``before`` (the chunks are sent), or
    None to ask again. ``not_found`` after ``created`` or ``assembling`` is *accepted*, not
    failed: a candidate may assemble the file and drop its chunks (Bugsink does), so that
    asking again finds neither; ``sentry-cli --wait`` would fail on it."""
    if answer.state == OK:
        return UPLOADED, answer.detail
    if answer.state == ERROR:
        return FAILED, answer.detail or "the candidate answered state error"
    if answer.state == NOT_FOUND:
        if before.state in PENDING:
            return ACCEPTED, f"answered {before.state}, then not_found when asked again"
        return FAILED, answer.detail or f"{len(answer.missing)} chunk(s) still missing after they were sent"
    return None


@dataclass(slots=True)
class UploadResult:
    """What happened to one upload record."""

    record_id: str
    kind: str
    name: str | None  # the debug file's name, or the bundle's release
    checksum: str
    size: int
    org: str | None = None
    projects: tuple[str, ...] = ()
    chunks: int = 0
    chunks_sent: int = 0
    outcome: str = FAILED
    state: str | None = None  # the last assemble state the candidate answered
    detail: str | None = None
    requests: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "record_id": self.record_id,
            "kind": self.kind,
            "name": self.name,
            "checksum": self.checksum,
            "size": self.size,
            "org": self.org,
            "projects": list(self.projects),
            "chunks": self.chunks,
            "chunks_sent": self.chunks_sent,
            "outcome": self.outcome,
            "state": self.state,
            "detail": self.detail,
            "requests": self.requests,
        }


@dataclass
class UploadSummary:
    """Every upload's result, and the outcomes counted."""

    api: str = ""
    results: list[UploadResult] = field(default_factory=list)

    def add(self, result: UploadResult) -> None:
        self.results.append(result)

    def outcomes(self) -> Counter[str]:
        return Counter(result.outcome for result in self.results)

    @property
    def failed(self) -> int:
        return self.outcomes()[FAILED]

    def to_dict(self) -> dict[str, Any]:
        counted = self.outcomes()
        return {
            "api": self.api,
            "outcomes": {outcome: counted[outcome] for outcome in OUTCOMES},
            "uploads": [result.to_dict() for result in self.results],
        }
