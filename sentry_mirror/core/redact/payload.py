"""One parsed JSON payload redacted in place: every value the detectors flag
(:func:`~sentry_mirror.core.pii.locate`, and Relay's scrubber under the relay engine)
replaced by its pseudonym; only the matched part of a longer string
(:func:`~sentry_mirror.core.pii.spans`, which finds percent-encoded data too) when the value
itself holds the data. Users' ids (which the detectors do not see) are replaced too."""

from __future__ import annotations

from typing import Any

from sentry_mirror.core.pii import RELAY_ITEM_TYPES, Location, Scanner, locate
from sentry_mirror.core.pii.pseudonym import is_pseudonym
from sentry_mirror.core.redact import forms
from sentry_mirror.core.redact.relay_engine import RelayEngine
from sentry_mirror.core.redact.sweep import sweep
from sentry_mirror.core.redact.tokens import Pseudonyms, redacted_value


def redact_payload(
    payload: Any, item_type: str, names: Pseudonyms, scanner: Scanner, relay: RelayEngine | None = None
) -> Any:
    """``payload`` with its personal data replaced (the same object, changed, unless the
    payload itself is a flagged string)."""
    box = [payload]  # the root can be replaced like any value
    undo = forms.unfold(payload)  # request.query_string, cookies, data sent as strings: their pairs
    wanted: dict[Location, list[tuple[str, str | None]]] = {}
    for location, finding in locate(payload, item_type, scanner, exhaustive=True):
        wanted.setdefault((0, *location), []).append((finding.kind, finding.scrubbed_by))
    if relay is not None and item_type in RELAY_ITEM_TYPES and isinstance(payload, dict):
        for location, kind in relay.locations(payload):
            wanted.setdefault((0, *location), []).append((kind, None))
    for location, found in wanted.items():
        _replace(box, location, found, names)
    _user_ids(box[0], item_type, names)
    box[0] = sweep(box[0], names, scanner)  # keys, URLs' queries, sdk and modules
    if relay is not None and item_type in RELAY_ITEM_TYPES and isinstance(box[0], dict):
        relay.settle(box[0])  # what Relay would still change is written as Relay writes it
    forms.fold(undo)
    return box[0]


#: Who a user is, where the detectors see no personal data (an id, a name): pseudonyms of
#: the kind ``user``, the same as the envelope header's ``trace.user_id`` gets, so users are
#: still counted and joined.
USER_FIELDS = ("id", "username", "name")
_USER_ATTRIBUTES = tuple(f"user.{field}" for field in USER_FIELDS)


def _user_ids(payload: Any, item_type: str, names: Pseudonyms) -> None:
    if not isinstance(payload, dict):
        return
    _user_values(payload.get("user"), USER_FIELDS, names)
    if item_type in ("session", "sessions"):
        _user_values(payload, ("did",), names)
        aggregates = payload.get("aggregates")
        for aggregate in aggregates if isinstance(aggregates, list) else ():
            _user_values(aggregate, ("did",), names)
    entries = payload.get("items")
    for entry in entries if isinstance(entries, list) else ():
        attributes = entry.get("attributes") if isinstance(entry, dict) else None
        if isinstance(attributes, dict):
            for name in _USER_ATTRIBUTES:
                _user_values(attributes.get(name), ("value",), names)


def _user_values(container: Any, fields: tuple[str, ...], names: Pseudonyms) -> None:
    if not isinstance(container, dict):
        return
    for field in fields:
        value = container.get(field)
        if (
            isinstance(value, str | int)
            and not isinstance(value, bool)
            and value != ""
            and not is_pseudonym(str(value))
        ):
            container[field] = names.of("user", str(value))


def _replace(box: list[Any], location: Location, found: list[tuple[str, str | None]], names: Pseudonyms) -> None:
    parent: Any = box
    for step in location[:-1]:
        parent = _step(parent, step)
        if parent is None:
            return
    last = location[-1]
    value = _step(parent, last)
    if value is None or isinstance(value, dict | list | bool):
        return
    parent[str(last) if isinstance(parent, dict) else last] = redacted_value(value, found, names)


def _step(container: Any, step: str | int) -> Any:
    if isinstance(container, dict):
        return container.get(str(step))
    if isinstance(container, list) and isinstance(step, int) and 0 <= step < len(container):
        return container[step]
    return None
