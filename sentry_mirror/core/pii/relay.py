"""Sentry's own scrubber as a second engine (optional: the ``sentry-relay`` package):
which paths Relay's default scrubbing changes in an event (:func:`relay_rules`), and which
hold personal data by Relay's own detectors (:func:`relay_detect`)."""

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
#: Relay's scrubber as a detector (:func:`relay_detect`): the defaults, with Relay's e-mail,
#: IP address and user-path rules added to ``@common`` (not "scrubIpAddresses", which
#: removes the IP fields whatever they hold).
_DETECTING_RULES = ("@email", "@ip", "@userpath")
_configs: dict[str, Any] = {}


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
    return _strip("default", event)


def relay_detect(event: dict[str, Any]) -> dict[str, str]:
    """As :func:`relay_rules`, with Relay looking for every kind of personal data it knows
    (e-mail and IP addresses and user paths too, which the defaults keep): Sentry's own
    detectors, where its schema lets them look (not in exception values, log messages, file
    names, ``debug_meta``; only in events, transactions and feedback)."""
    return _strip("detect", event)


def _strip(name: str, event: dict[str, Any]) -> dict[str, str]:
    relay: Any = importlib.import_module("sentry_relay")  # untyped: its functions are not declared
    config = _configs.get(name)
    if config is None:
        config = _configs[name] = relay.convert_datascrubbing_config(DEFAULT_DATASCRUBBING)
        if name == "detect":
            for rules in config["applications"].values():
                if "@common:filter" in rules:
                    rules.extend(_DETECTING_RULES)
    stripped = relay.pii_strip_event(config, event)
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
