"""Reading client payloads whatever their shape: the helpers the walkers share.

SDKs and proxies send odd shapes (a number where Sentry's protocol has a list, an object
where it has a string). Relay takes them, drops the value and records a remark in the
event's ``_meta``; the readers here do the same: a field of the wrong type is treated as
absent, and counted (:class:`Remarks`), never an error.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

#: Distinct remarks kept (``item type: field is a …``); further ones are counted together.
MAX_REMARKS = 200
_NAMES = {
    type(None): "null",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
    str: "a string",
    list: "an array",
    dict: "an object",
}


def json_type(value: Any) -> str:
    """``an integer``, ``an object`` …: the JSON type of a parsed value, for a person."""
    return json_type_of(type(value))


def json_type_of(kind: type) -> str:
    """The JSON type a Python type holds, for a person (``str``: ``a string``)."""
    return _NAMES.get(kind, kind.__name__)


class Remarks(Counter[str]):
    """Fields of the wrong type met and ignored, by ``item type.field (JSON type)``; at most
    :data:`MAX_REMARKS` distinct ones, the rest under ``(other)``."""

    def wrong(self, item_type: str, name: str, value: Any) -> None:
        key = f"{item_type}.{name} is {json_type(value)}"
        if key in self or len(self) < MAX_REMARKS:
            self[key] += 1
        else:
            self["(other)"] += 1

    def merge(self, other: Mapping[str, int]) -> None:
        """Add ``other``'s counts, keeping the :data:`MAX_REMARKS` cap (keys past it, and
        ``other``'s ``(other)``, counted under ``(other)``)."""
        for key, count in other.items():
            if key in self or (key != "(other)" and len(self) < MAX_REMARKS):
                self[key] += count
            else:
                self["(other)"] += count


def as_list(value: Any, remarks: Remarks | None, item_type: str, name: str) -> list[Any]:
    """``value`` when it is a list; else an empty one (a value that is there is remarked)."""
    if type(value) is list:
        return value
    if value is not None and remarks is not None:
        remarks.wrong(item_type, name, value)
    return []
