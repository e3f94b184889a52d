"""One parsed JSON payload redacted in place: every value the detectors flag
(:func:`~sentry_mirror.core.pii.locate`, and Relay's scrubber under the relay engine)
replaced by its pseudonym; only the matched part of a longer string
(:func:`~sentry_mirror.core.pii.spans`, which finds percent-encoded data too) when the value
itself holds the data. Strings that hold pairs are read as pairs (:mod:`.forms`); users'
ids, keys, URLs' queries and what the detectors skip are swept after (:mod:`.sweep`)."""

from __future__ import annotations

from typing import Any

from sentry_mirror.core.pii import RELAY_ITEM_TYPES, Location, Scanner, locate
from sentry_mirror.core.redact import forms
from sentry_mirror.core.redact.relay_engine import RelayEngine, step_into
from sentry_mirror.core.redact.sweep import GEO_FIELDS, sweep, user_values
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


def _user_ids(payload: Any, item_type: str, names: Pseudonyms) -> None:
    """Users where they are not a ``user`` object or a ``user.id`` key (:func:`~.sweep.sweep`
    does those), and the geo context (as a user's ``geo``)."""
    if not isinstance(payload, dict):
        return
    if item_type == "user_report":
        user_values(payload, ("name",), names)
    contexts = payload.get("contexts")
    if isinstance(contexts, dict):
        user_values(contexts.get("feedback"), ("name",), names)
        user_values(contexts.get("geo"), GEO_FIELDS, names, "geo")
    if item_type in ("session", "sessions"):
        user_values(payload, ("did",), names)
        aggregates = payload.get("aggregates")
        for aggregate in aggregates if isinstance(aggregates, list) else ():
            user_values(aggregate, ("did",), names)


def _replace(box: list[Any], location: Location, found: list[tuple[str, str | None]], names: Pseudonyms) -> None:
    parent: Any = box
    for step in location[:-1]:
        parent = step_into(parent, step)
        if parent is None:
            return
    last = location[-1]
    value = step_into(parent, last)
    if value is None or isinstance(value, dict | list | bool):
        return
    parent[str(last) if isinstance(parent, dict) else last] = redacted_value(value, found, names)
