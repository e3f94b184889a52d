"""A record's body for readers: whole, in bounded chunks, or only what a summary needs.

A record keeps its body decoded, except one that decoded to more than
:data:`~sentry_mirror.core.record.KEEP_ENCODED_ABOVE` bytes (a decompression bomb under the
size cap, a huge attachment): that one is kept as received, still compressed with its
``content_encoding`` (``body_encoded`` true). Readers go through this module, so such a
record costs them chunks of :data:`~sentry_mirror.core.encoding.CHUNK` bytes, never its
decoded size: :func:`chunks` streams it (``inspect --raw``, ``export --envelopes``),
:func:`contains` searches it (``--grep``), and :func:`readable` gives what summaries read:
the envelope without its big items.
"""

from __future__ import annotations

import base64
from collections.abc import Iterator, Mapping
from typing import Any

import orjson

from sentry_mirror.core import encoding

#: Items bigger than this are left out of :func:`readable`'s envelope (an event-like item
#: is at most 1 MiB, or the request was refused); other bodies are cut to this many bytes.
KEEP = 1024 * 1024 + 1


def is_encoded(data: Mapping[str, Any]) -> bool:
    """Whether the record keeps its body as received (see the module docstring)."""
    return bool(data.get("body_encoded"))


def stored(data: Mapping[str, Any]) -> bytes:
    """The bytes the record holds in ``body``, as they are."""
    text = data.get("body") or ""
    return base64.b64decode(text) if data.get("body_base64") else text.encode("utf-8")


def _codec(data: Mapping[str, Any]) -> str | None:
    return encoding.normalize_encoding(data.get("content_encoding"))


def chunks(data: Mapping[str, Any]) -> Iterator[bytes]:
    """The body (decoded where the record keeps it encoded), in bounded chunks."""
    body = stored(data)
    if is_encoded(data):
        yield from encoding.iter_decoded(_codec(data), body)
    elif body:
        yield body


def whole(data: Mapping[str, Any]) -> bytes:
    """The body, decoded, in one piece: it costs its decoded size (prefer :func:`chunks`)."""
    body = stored(data)
    if not is_encoded(data):
        return body
    size = data.get("body_size")
    limit = size if type(size) is int and size >= 0 else encoding.DEFAULT_MAX_BODY
    return encoding.decode(_codec(data), body, max_size=limit)


def contains(data: Mapping[str, Any], needle: bytes) -> bool:
    """Whether the body holds ``needle``, searched chunk by chunk for a body kept encoded."""
    if not is_encoded(data):
        return needle in stored(data)
    tail = b""
    for chunk in chunks(data):
        window = tail + chunk
        if needle in window:
            return True
        tail = window[-len(needle) + 1 :] if len(needle) > 1 else b""
    return False


def readable(data: Mapping[str, Any], keep: int = KEEP) -> bytes:
    """What readers that summarise need of the body: the body itself, or, for a body kept
    encoded, its envelope without the items over ``keep`` bytes (an item that is cut off
    ends it); not an envelope: the first ``keep`` bytes."""
    if not is_encoded(data):
        return stored(data)
    if data.get("endpoint") in ("envelope", "tunnel", "store"):
        slim = _slim_envelope(_Cursor(chunks(data)), keep, _last_small(data, keep))
        if slim is not None:
            return slim
    return _prefix(chunks(data), keep)


def _prefix(source: Iterator[bytes], size: int) -> bytes:
    """The first ``size`` bytes of a stream (all of it when it is shorter)."""
    kept = bytearray()
    for chunk in source:
        kept += chunk[: size - len(kept)]
        if len(kept) >= size:
            break
    return bytes(kept)


class _Cursor:
    """Reads a stream of chunks as lines and runs of bytes, holding at most what it returns."""

    def __init__(self, source: Iterator[bytes]) -> None:
        self._source = source
        self._buffer = b""

    def _more(self) -> bool:
        chunk = next(self._source, None)
        if chunk is None:
            return False
        self._buffer += chunk
        return True

    def at_end(self) -> bool:
        return not self._buffer and not self._more()

    def line(self, limit: int) -> bytes | None:
        """The next line without its newline; None past ``limit`` bytes."""
        start = 0
        while (end := self._buffer.find(b"\n", start)) < 0:
            if len(self._buffer) > limit:
                return None
            start = len(self._buffer)
            if not self._more():
                line, self._buffer = self._buffer, b""
                return line
        line, self._buffer = self._buffer[:end], self._buffer[end + 1 :]
        return line if len(line) <= limit else None

    def take(self, size: int, *, keep: bool = True) -> bytes | None:
        """The next ``size`` bytes (None when dropped, or when the stream ends first)."""
        kept: list[bytes] = []
        while size > 0:
            if not self._buffer and not self._more():
                return None  # cut short
            part, self._buffer = self._buffer[:size], self._buffer[size:]
            size -= len(part)
            if keep:
                kept.append(part)
        return b"".join(kept) if keep else None

    def skip_line(self) -> None:
        while (end := self._buffer.find(b"\n")) < 0:
            self._buffer = b""
            if not self._more():
                return
        self._buffer = self._buffer[end + 1 :]


def _last_small(data: Mapping[str, Any], keep: int) -> int | None:
    """The index of the last item of at most ``keep`` bytes by the record's summary (the
    stream need not be decoded past it), or None when the summary does not say."""
    summary = data.get("summary")
    items = summary.get("items") if isinstance(summary, dict) else None
    if not isinstance(items, list) or not items:
        return None
    last = -1
    for index, item in enumerate(items):
        size = item.get("size") if isinstance(item, dict) else None
        if type(size) is not int:
            return None
        if size <= keep:
            last = index
    return last


def _slim_envelope(cursor: _Cursor, keep: int, last: int | None = None) -> bytes | None:
    header = cursor.line(keep)
    if header is None or not header.lstrip().startswith(b"{"):
        return None
    parts = [header, b"\n"]
    index = -1
    while (last is None or index < last) and not cursor.at_end():
        line = cursor.line(keep)
        if line is None:
            break
        if not line.strip():
            continue
        try:
            item = orjson.loads(line)
        except orjson.JSONDecodeError:
            break
        index += 1
        length = item.get("length") if isinstance(item, dict) else None
        if type(length) is int and length >= 0:
            payload = cursor.take(length, keep=length <= keep)
            cursor.take(1, keep=False)  # the newline after it
        else:
            payload = cursor.line(keep)
            if payload is None:
                cursor.skip_line()
        if payload is not None:
            parts += [line, b"\n", payload, b"\n"]
    return b"".join(parts)
