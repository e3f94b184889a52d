"""What a record's summary keeps of an envelope: bounded, whatever the envelope holds.

A body is kept whole in its record; the summary is a parsed copy for readers to browse by.
Left unbounded, a client could make it cost many times the body: a 198 MiB envelope header
line took a listener to 854 MB, 900k empty items made a 103 MiB record line. So the summary
lists at most :data:`MAX_SUMMARY_ITEMS` items (and their total), and keeps header values
cut: strings to :data:`MAX_HEADER_STRING` characters, at most :data:`MAX_HEADER_NODES`
keys and list entries in all. Relay takes both shapes (its limits are the envelope's size
and per-type counts), so the answer does not change; a note in the record says what was cut.
"""

from __future__ import annotations

from typing import Any

#: Items listed in a summary at most (the record's ``summary.items_total`` counts them all).
MAX_SUMMARY_ITEMS = 1000
#: Characters of one header string kept in a summary (then ``…``).
MAX_HEADER_STRING = 1024
#: Keys and list entries of one header kept in a summary, at every depth together.
MAX_HEADER_NODES = 1000
#: Nesting kept in a summary (deeper values become null; orjson reads up to 1024 levels).
MAX_HEADER_DEPTH = 32


class _Cutter:
    """Copies a parsed header, cutting as it goes; ``cut`` tells whether it did."""

    def __init__(self) -> None:
        self.nodes = 0
        self.cut = False

    def value(self, value: Any, depth: int = 0) -> Any:
        if type(value) is str:
            if len(value) > MAX_HEADER_STRING:
                self.cut = True
                return value[:MAX_HEADER_STRING] + "…"
            return value
        if type(value) is dict or type(value) is list:
            if depth >= MAX_HEADER_DEPTH:
                self.cut = True
                return None
            return self._dict(value, depth + 1) if isinstance(value, dict) else self._list(value, depth + 1)
        return value

    def _room(self) -> bool:
        self.nodes += 1
        if self.nodes > MAX_HEADER_NODES:
            self.cut = True
            return False
        return True

    def _dict(self, value: dict[str, Any], depth: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, child in value.items():
            if not self._room():
                break
            out[self.value(key)] = self.value(child, depth)
        return out

    def _list(self, value: list[Any], depth: int) -> list[Any]:
        out: list[Any] = []
        for child in value:
            if not self._room():
                break
            out.append(self.value(child, depth))
        return out


def small(value: Any) -> bool:
    """Whether a parsed header surely needs no cut (the common case, checked cheaply)."""
    if type(value) is not dict or len(value) > 16 or any(len(key) > MAX_HEADER_STRING for key in value):
        return False
    for child in value.values():
        kind = type(child)
        if kind is str:
            if len(child) > MAX_HEADER_STRING:
                return False
        elif (kind is dict or kind is list) and not _flat(child):
            return False
    return True


def _flat(value: dict[str, Any] | list[Any]) -> bool:
    """A small dict or list of short scalars (an SDK's ``sdk`` or ``trace`` header)."""
    if len(value) > 16:
        return False
    if type(value) is dict and any(len(key) > MAX_HEADER_STRING for key in value):
        return False
    for child in value.values() if type(value) is dict else value:
        kind = type(child)
        if kind is dict or kind is list or (kind is str and len(child) > MAX_HEADER_STRING):
            return False
    return True


def header(value: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """``value`` as a summary keeps it, and whether anything was cut (the copy recurses at
    most :data:`MAX_HEADER_DEPTH` deep)."""
    if small(value):
        return value, False
    cutter = _Cutter()
    kept = cutter.value(value)
    return (kept, True) if cutter.cut else (value, False)
