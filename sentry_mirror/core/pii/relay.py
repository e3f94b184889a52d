"""Sentry's own scrubber as a second engine (optional: the ``sentry-relay`` package):
which paths Relay's default scrubbing changes in an event (:func:`relay_rules`)."""

from __future__ import annotations

import importlib
from typing import Any

#: The built-in engine (:mod:`sentry_mirror.core.pii.sentry_rules`): the default.
ENGINE = "builtin"
RELAY_ENGINE = "relay"
#: Item types whose payloads Relay's event scrubber takes.
RELAY_ITEM_TYPES = frozenset({"event", "transaction", "feedback"})
#: The project settings Sentry starts with (data scrubber and default scrubbers on, IPs kept).
DEFAULT_DATASCRUBBING = {
    "scrubData": True,
    "scrubDefaults": True,
    "scrubIpAddresses": False,
    "sensitiveFields": [],
    "excludeFields": [],
}
_relay_config: Any = None


def relay_available() -> bool:
    """True when the ``sentry-relay`` package (Sentry's own scrubber) can be imported."""
    try:
        import sentry_relay  # noqa: F401
    except ImportError:
        return False
    return True


def relay_rules(event: dict[str, Any]) -> dict[str, str]:
    """Which paths Relay's default scrubbing changes in ``event``, with the first rule each
    (``{"extra.password": "@password:filter"}``), from the ``_meta`` remarks of
    ``sentry_relay.pii_strip_event``. Paths use this module's notation, pair lists as maps.
    Raises ImportError without ``sentry-relay``."""
    global _relay_config
    relay: Any = importlib.import_module("sentry_relay")  # untyped: its functions are not declared
    if _relay_config is None:
        _relay_config = relay.convert_datascrubbing_config(DEFAULT_DATASCRUBBING)
    stripped = relay.pii_strip_event(_relay_config, event)
    found: dict[str, str] = {}
    _meta_paths(stripped.get("_meta") or {}, stripped, "", found)
    return found


def _meta_paths(meta: Any, data: Any, path: str, found: dict[str, str]) -> None:
    if not isinstance(meta, dict):
        return
    for key, inner in meta.items():
        if key == "":
            remarks = inner.get("rem") if isinstance(inner, dict) else None
            if remarks and path:
                found.setdefault(path, str(remarks[0][0]))
            continue
        if isinstance(data, list):
            index = int(key) if key.isdigit() else -1
            child = data[index] if 0 <= index < len(data) else None
            if isinstance(child, list) and len(child) == 2 and isinstance(child[0], str) and isinstance(inner, dict):
                _meta_paths(inner.get("1"), child[1], f"{path}.{child[0]}", found)
                continue
            _meta_paths(inner, child, path + "[]", found)
        else:
            child = data.get(key) if isinstance(data, dict) else None
            _meta_paths(inner, child, f"{path}.{key}" if path else key, found)
