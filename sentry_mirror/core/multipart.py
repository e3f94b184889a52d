"""A byte-exact ``multipart/form-data`` splitter (minidump and attachment uploads), and the
event such an upload's form fields carry (:func:`event_of`), as Relay reads it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sentry_mirror.core.lenient import loads_or_none
from sentry_mirror.errors import MirrorError

#: The endpoints whose bodies are multipart uploads, split one item per part.
MULTIPART_ENDPOINTS = frozenset({"minidump", "attachments"})
#: A ``sentry[a][b]`` form field's name: its keys.
_SENTRY_FIELD = re.compile(r"sentry((?:\[[^\[\]]*\])+)")


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


def is_event_name(name: str) -> bool:
    """Whether a form field of this name carries the event: ``sentry`` (the event's JSON) or
    ``sentry[a][b]`` (one of its values)."""
    return name == "sentry" or _SENTRY_FIELD.fullmatch(name) is not None


def is_event_field(part: Part) -> bool:
    """Whether ``part`` is a form field (not a file) that carries the event."""
    return part.filename is None and is_event_name(part.name)


def event_of(parts: Iterable[Part]) -> dict[str, Any] | None:
    """The event an upload's form fields carry, as Relay reads them: each ``sentry`` field's
    JSON object merged in (a later key wins), each ``sentry[a][b]`` field's text set at
    ``event["a"]["b"]``, in the parts' order; None when no part is such a field."""
    event: dict[str, Any] | None = None
    for part in parts:
        if is_event_field(part):
            event = _merge_field(event or {}, part)
    return event


def _merge_field(event: dict[str, Any], part: Part) -> dict[str, Any]:
    """``event`` with a ``sentry`` field's JSON merged in, or a ``sentry[a][b]`` field set."""
    if part.name == "sentry":
        given = loads_or_none(part.data)  # NaN and Infinity read too
        return {**event, **given} if isinstance(given, dict) else event
    keys = re.findall(r"\[([^\[\]]*)\]", part.name[len("sentry") :])
    target = event
    for key in keys[:-1]:
        child = target.get(key)
        target[key] = child = child if isinstance(child, dict) else {}
        target = child
    target[keys[-1]] = part.data.decode("utf-8", "replace")
    return event
