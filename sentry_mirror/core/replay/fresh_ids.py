"""Fresh event ids for a replay: one :class:`IdMap` gives every old id the same new one
across the replay, so an event, its attachments in a later envelope and its user report
keep pointing at each other."""

from __future__ import annotations

import os
import random
from collections.abc import Callable
from typing import Any

from sentry_mirror.core import envelope as envelope_mod


class IdMap:
    """Old id -> new id, the same for every occurrence across a replay; keeps each id's style
    (32 hex digits or dashed, case)."""

    def __init__(self, factory: Callable[[], str] | None = None) -> None:
        self._factory = factory or _random_uuid4
        self._ids: dict[str, str] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def get(self, value: Any) -> Any:
        """The new id for ``value`` in ``value``'s style; anything that is not a UUID unchanged."""
        key = envelope_mod.normalize_uuid(value)
        if key is None:
            return value
        new = self._ids.get(key)
        if new is None:
            new = self._ids[key] = self._factory().replace("-", "").lower()
        if "-" in value:
            new = f"{new[:8]}-{new[8:12]}-{new[12:16]}-{new[16:20]}-{new[20:]}"
        return new.upper() if value.isupper() else new

    def mapping(self) -> dict[str, str]:
        return dict(self._ids)


_random = random.Random(os.urandom(32))
_VERSION_4 = (0xF000 << 64) | (0xC000 << 48)  # the version and variant bits of a UUID


def _random_uuid4() -> str:
    """A random (version 4) UUID as 32 hex digits, from a generator seeded from the OS once
    (``uuid.uuid4`` asks the OS for every id, five times the cost)."""
    return f"{(_random.getrandbits(128) & ~_VERSION_4) | (0x4000 << 64) | (0x8000 << 48):032x}"


def fresh_payload_ids(item_type: str, payload: Any, ids: IdMap) -> bool:
    """Replace event ids (and ids that refer to events, check-ins, sessions, replays) in place."""
    if not isinstance(payload, dict):
        return False
    changed = _map_keys(payload, ("event_id",), ids)
    if item_type == "check_in":
        changed |= _map_keys(payload, ("check_in_id",), ids)
    elif item_type == "session":
        changed |= _map_keys(payload, ("sid",), ids)
    elif item_type == "replay_event":
        changed |= _map_keys(payload, ("replay_id",), ids)
    elif item_type == "profile":
        for name in ("transaction",):
            if isinstance(payload.get(name), dict):
                changed |= _map_keys(payload[name], ("id",), ids)
        for entry in payload.get("transactions") or ():
            if isinstance(entry, dict):
                changed |= _map_keys(entry, ("id",), ids)
    contexts = payload.get("contexts")
    if isinstance(contexts, dict):
        if isinstance(contexts.get("feedback"), dict):
            changed |= _map_keys(contexts["feedback"], ("associated_event_id", "replay_id"), ids)
        if isinstance(contexts.get("replay"), dict):
            changed |= _map_keys(contexts["replay"], ("replay_id",), ids)
    return changed


def _map_keys(obj: dict[str, Any], keys: tuple[str, ...], ids: IdMap) -> bool:
    changed = False
    for key in keys:
        if key in obj:
            new = ids.get(obj[key])
            if new != obj[key]:
                obj[key] = new
                changed = True
    return changed
