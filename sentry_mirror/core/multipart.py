"""A byte-exact ``multipart/form-data`` splitter (minidump and attachment uploads)."""

from __future__ import annotations

from dataclasses import dataclass

from sentry_mirror.errors import MirrorError


class MultipartError(MirrorError):
    """A body that is not the multipart/form-data its Content-Type claims."""


@dataclass(frozen=True, slots=True)
class Part:
    name: str
    filename: str | None
    content_type: str | None
    data: bytes


def content_type_params(value: str) -> tuple[str, dict[str, str]]:
    """Split ``type/sub; a=b; c="d"`` into the lower-cased type and its parameters."""
    kind, *params = value.split(";")
    result = {}
    for param in params:
        key, _, val = param.strip().partition("=")
        result[key.strip().lower()] = val.strip().strip('"')
    return kind.strip().lower(), result


def parse(body: bytes, content_type: str) -> list[Part]:
    """Split ``body`` into its parts, payloads byte-exact; :class:`MultipartError` if it is not multipart."""
    kind, params = content_type_params(content_type)
    boundary = params.get("boundary")
    if kind != "multipart/form-data" or not boundary:
        raise MultipartError("invalid multipart data: no multipart/form-data boundary")
    delimiter = b"--" + boundary.encode("latin-1")
    chunks = body.split(delimiter)
    if len(chunks) < 3 or not chunks[-1].startswith(b"--"):
        raise MultipartError("invalid multipart data: missing closing boundary")
    parts = []
    for chunk in chunks[1:-1]:
        if chunk.startswith(b"\r\n"):
            chunk = chunk[2:]
        head, sep, data = chunk.partition(b"\r\n\r\n")
        if not sep:
            raise MultipartError("invalid multipart data: part without headers")
        if data.endswith(b"\r\n"):
            data = data[:-2]
        name, filename, part_type = "", None, None
        for line in head.decode("latin-1").split("\r\n"):
            key, _, value = line.partition(":")
            if key.strip().lower() == "content-disposition":
                _, disposition = content_type_params(value)
                name = disposition.get("name", "")
                filename = disposition.get("filename")
            elif key.strip().lower() == "content-type":
                part_type = value.strip()
        parts.append(Part(name, filename, part_type, data))
    return parts
