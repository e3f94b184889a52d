"""Assemble calls: which file sentry-cli asks to put together from its chunks, and the
answers, as Sentry's ``OrganizationArtifactBundleAssembleEndpoint`` and
``DifAssembleEndpoint`` give them.

sentry-cli asks to assemble *before* uploading chunks: the answer ``not_found`` with
``missingChunks`` tells it which to upload; it uploads them and asks again (polling until the
state is ``ok`` or ``error``). Sentry answers ``created`` and assembles in the background; the
mirror assembles at once and answers ``ok`` (or ``error`` with Sentry's detail)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sentry_mirror.core import lenient
from sentry_mirror.core.webapi.chunks import is_checksum

#: Sentry's detail when the assembled file's SHA-1 is not the ``checksum`` sentry-cli sent.
CHECKSUM_MISMATCH = "Reported checksum mismatch"
#: Sentry's detail when the chunks add up to more than the ``maxFileSize`` it announced.
TOO_LARGE = "File exceeds maximum size"
NO_PROJECTS = "You need to specify at least one project"
_PROGUARD = re.compile(r"/?proguard/([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\.txt")


class AssembleError(Exception):
    """An assemble request Sentry refuses with 400 ``{"error": detail}``."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


@dataclass(frozen=True, slots=True)
class Assembly:
    """One file to put together: its SHA-1 ``checksum`` and its ``chunks`` in order, and what
    it is for (artifact bundles: ``projects``, ``version``, ``dist``; debug files: ``name``,
    ``debug_id``)."""

    kind: str  # "artifact_bundle" or "debug_file"
    checksum: str
    chunks: tuple[str, ...]
    projects: tuple[str, ...] = ()
    version: str | None = None
    dist: str | None = None
    name: str | None = None
    debug_id: str | None = None

    def key(self, org: str | None, project: str | None) -> tuple[Any, ...]:
        """What makes two assemble calls the same upload (answered ``ok`` without a second record)."""
        return (self.kind, self.checksum, org, project, self.projects, self.version, self.dist, self.name)


def _json(body: bytes) -> Any:
    try:
        return lenient.loads(body)
    except ValueError:
        raise AssembleError("Invalid json body") from None


def _chunk_list(value: Any, where: str, max_chunks: int) -> tuple[str, ...]:
    if isinstance(value, list) and len(value) > max_chunks:  # counted before anything is looked at
        raise AssembleError(f"{where}: {len(value)} chunks, more than a file of the maximum size has ({max_chunks})")
    if not isinstance(value, list) or not all(isinstance(c, str) and is_checksum(c) for c in value):
        raise AssembleError(f"{where}: chunks must be a list of SHA-1 hex digests")
    return tuple(value)


def _text(value: Any, field: str) -> str | None:
    if value is None or isinstance(value, str):
        return value or None
    raise AssembleError(f"{field} must be a string")


def parse_artifact(body: bytes, max_chunks: int) -> Assembly:
    """The artifact bundle assemble request (``checksum``, ``chunks``, ``projects``, ``version``,
    ``dist``); at most ``max_chunks`` chunks (what a file of the maximum size is cut into)."""
    data = _json(body)
    if not isinstance(data, dict):
        raise AssembleError("Invalid json body")
    checksum = data.get("checksum")
    if not isinstance(checksum, str) or not is_checksum(checksum):
        raise AssembleError("checksum must be a SHA-1 hex digest")
    projects = data.get("projects", [])
    if not isinstance(projects, list) or not all(isinstance(p, str) for p in projects):
        raise AssembleError("projects must be a list of project slugs")
    if not projects:
        raise AssembleError(NO_PROJECTS)
    return Assembly(
        "artifact_bundle",
        checksum,
        _chunk_list(data.get("chunks"), checksum, max_chunks),
        projects=tuple(projects),
        version=_text(data.get("version"), "version"),
        dist=_text(data.get("dist"), "dist"),
    )


def parse_difs(body: bytes, max_chunks: int) -> list[Assembly]:
    """The debug file assemble request: checksum -> ``{name, debug_id, chunks}`` (ProGuard
    mappings too); at most ``max_chunks`` chunks a file."""
    data = _json(body)
    if not isinstance(data, dict):
        raise AssembleError("Invalid json body")
    files = []
    for checksum, entry in data.items():
        if not is_checksum(checksum) or not isinstance(entry, dict):
            raise AssembleError(f"{checksum[:64]!r}: expected a SHA-1 hex digest mapped to a file")
        name = _text(entry.get("name"), "name")
        if name is None:
            raise AssembleError(f"{checksum}: name is required")
        chunks = _chunk_list(entry.get("chunks"), checksum, max_chunks)
        files.append(
            Assembly("debug_file", checksum, chunks, name=name, debug_id=_debug_id(entry.get("debug_id"), name))
        )
    return files


def _debug_id(value: Any, name: str) -> str | None:
    """The debug id sent, or for a ProGuard mapping (sent without one, named
    ``/proguard/<uuid>.txt`` by sentry-cli) the uuid in its name."""
    sent = _text(value, "debug_id")
    if sent is None:
        match = _PROGUARD.fullmatch(name)
        return match.group(1).lower() if match else None
    return sent


def missing(assembly: Assembly, sizes: Mapping[str, int | None]) -> list[str]:
    """The chunks of ``assembly`` not in the store (``sizes``: each chunk once, None when
    absent), in order, each once."""
    return [c for c in dict.fromkeys(assembly.chunks) if sizes.get(c) is None]


def size(assembly: Assembly, sizes: Mapping[str, int | None]) -> int:
    """The size of the file ``assembly`` makes, a repeated chunk counted each time."""
    return sum(sizes.get(c) or 0 for c in assembly.chunks)


def answer(state: str, missing_chunks: Iterable[str] = (), detail: str | None = None) -> dict[str, Any]:
    """One file's assemble answer (``state``: ``ok``, ``not_found``, ``error``)."""
    return {"state": state, "missingChunks": list(missing_chunks), "detail": detail}


def dif_answer(assembly: Assembly, size: int, dif_id: int, created: str) -> dict[str, Any]:
    """The ``ok`` answer for a debug file with the ``dif`` object sentry-cli prints (it needs
    ``objectName``, ``cpuName`` and ``sha1``; ``debugId`` only when it sent one)."""
    dif = {
        "id": str(dif_id),
        "uuid": assembly.debug_id,
        "debugId": assembly.debug_id,
        "objectName": assembly.name or "",
        "cpuName": "any",
        "symbolType": "unknown",
        "headers": {"Content-Type": "application/octet-stream"},
        "size": size,
        "sha1": assembly.checksum,
        "dateCreated": created,
    }
    return {**answer("ok"), "dif": dif}
