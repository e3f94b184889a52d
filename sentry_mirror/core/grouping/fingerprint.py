"""Fingerprints: the explicit ``fingerprint`` an event may carry, with its variables
(``{{ default }}``, ``{{ transaction }}``, ``{{ tags.… }}`` …) expanded as Sentry does, and the
hash that names a group (:func:`group_hash`)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from sentry_mirror.core.grouping.components import Components, default_components
from sentry_mirror.core.grouping.event_parts import (
    event_frames,
    exception_frames,
    exceptions_of,
    in_app,
    message_text,
)

_VARIABLE = re.compile(r"\{\{\s*([\w.\-]+)\s*\}\}")


def explicit_fingerprint(event: Mapping[str, Any]) -> list[str] | None:
    """The explicit fingerprint as strings; None when absent, empty or just ``{{ default }}``."""
    values = event.get("fingerprint")
    if not isinstance(values, list) or not values:
        return None
    strings = [value if isinstance(value, str) else json.dumps(value) for value in values]
    if len(strings) == 1 and (match := _VARIABLE.fullmatch(strings[0].strip())) and match.group(1).lower() == "default":
        return None
    return strings


def _crashing_frame(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The topmost in-app frame of the raised exception (else its topmost frame)."""
    exceptions = exceptions_of(event)
    frames = exception_frames(event, exceptions[-1]) if exceptions else event_frames(event)
    app_frames = [frame for frame in frames if in_app(frame)]
    chosen = app_frames or frames
    return chosen[-1] if chosen else None


def _tag(event: Mapping[str, Any], name: str) -> Any:
    tags = event.get("tags")
    if isinstance(tags, dict):
        return tags.get(name)
    if isinstance(tags, list):
        for pair in tags:
            if isinstance(pair, list | tuple) and len(pair) == 2 and pair[0] == name:
                return pair[1]
    return None


def _variable(event: Mapping[str, Any], name: str) -> str | None:
    """A fingerprint variable's value (Sentry's ``<no-…>`` placeholders when missing); None
    for an unknown variable, which is then kept as written."""
    exceptions = exceptions_of(event)
    last = exceptions[-1] if exceptions else {}
    frame = _crashing_frame(event) or {}
    sources: dict[str, tuple[Any, str]] = {
        "transaction": (event.get("transaction"), "<no-transaction>"),
        "type": (last.get("type"), "<no-type>"),
        "value": (last.get("value"), "<no-value>"),
        "function": (frame.get("function"), "<no-function>"),
        "module": (frame.get("module"), "<no-module>"),
        "path": (frame.get("abs_path"), "<no-abs-path>"),
        "filename": (frame.get("filename"), "<no-filename>"),
        "package": (frame.get("package"), "<no-package>"),
        "logger": (event.get("logger"), "<no-logger>"),
        "level": (event.get("level"), "<no-level>"),
        "message": (message_text(event), "<no-message>"),
    }
    aliases = {"error.type": "type", "error.value": "value", "stack.function": "function", "stack.module": "module"}
    aliases |= {"stack.abs_path": "path", "stack.filename": "filename", "stack.package": "package"}
    if name.startswith("tags."):
        tag = name[len("tags.") :]
        value, missing = _tag(event, tag), f"<no-value-for-tag-{tag}>"
    elif (key := aliases.get(name, name)) in sources:
        value, missing = sources[key]
    else:
        return None
    return str(value) if value not in (None, "") else missing


def expand_fingerprint(event: Mapping[str, Any], values: list[str]) -> Components:
    """An explicit fingerprint as components (``fingerprint:…``), its variables expanded."""
    components: list[str] = []
    for value in values:
        match = _VARIABLE.fullmatch(value.strip())
        name = match.group(1).lower() if match else None
        if name == "default":
            components += default_components(event)
            continue
        expanded = _variable(event, name) if name else None
        components.append(f"fingerprint:{value if expanded is None else expanded}")
    return tuple(components)


def group_hash(values: Sequence[str]) -> str:
    """MD5 hex of the components joined with NUL (Sentry's ``hash_from_values``, with a
    separator so that ``("ab", "c")`` and ``("a", "bc")`` differ)."""
    return hashlib.md5("\x00".join(values).encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()
