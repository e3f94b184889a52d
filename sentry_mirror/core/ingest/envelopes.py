"""The envelope and tunnel endpoints: an envelope's items tallied against Relay's
per-envelope limits, and its header and items summarised (bounded) for the record."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from sentry_mirror.core import bounds, envelope
from sentry_mirror.core.bounds import MAX_SUMMARY_ITEMS
from sentry_mirror.core.ingest.answers import json_response
from sentry_mirror.core.ingest.authn import accept_key, envelope_dsn_auth, first_line_json
from sentry_mirror.core.ingest.model import Config, Reject, Request, Response, State, require_body
from sentry_mirror.core.limits import (
    CONTAINER_CONTENT_TYPES,
    EVENT_LIKE,
    ITEM_LIMITS,
    MAX_EVENT_SIZE,
    SPAN_CONTAINER_LIMIT,
)
from sentry_mirror.core.summary import envelope_facts
from sentry_mirror.errors import EnvelopeError

#: Relay's per-type limits, the span one for span containers only (standalone spans: ``_STANDALONE``).
_LIMITS = {**ITEM_LIMITS, "span": SPAN_CONTAINER_LIMIT}
_STANDALONE = "span (standalone)"
#: Item types that share another type's limit in Relay (``utils/sizes.rs``): sessions, the
#: attachment count and size, one profile or profile chunk per envelope.
_LIMIT_GROUPS = {
    "sessions": "session",
    "unreal_report": "attachment",
    "user_report": "attachment",
    "profile_chunk": "profile",
}


def _limit_kind(item: envelope.Item) -> str:
    """The item's type as Relay's envelope limits name it (a standalone span apart)."""
    kind = envelope.RELAY_ALIASES.get(item.sent_type, item.sent_type)
    if kind == "span":
        content_type = item.headers.get("content_type")
        if not (isinstance(content_type, str) and content_type.lower() in CONTAINER_CONTENT_TYPES):
            return _STANDALONE
    return kind


def _summarise_items(items: tuple[envelope.Item, ...], total: int, state: State) -> None:
    """The summary's items, bounded (core/bounds.py): ``items`` are the first of ``total``;
    the body keeps them all."""
    cut = False
    for item in items:
        headers, was_cut = bounds.header(item.headers)
        cut = cut or was_cut
        state.items.append({"type": item.type, "size": len(item.payload), "headers": headers})
    if total > len(items):
        state.items_total = total
        state.notes.append(
            f"the summary lists the first {len(items):,} of its {total:,} items: the body holds them all"
        )
    if cut:
        state.notes.append(
            "item header values were cut in the summary (long strings, deep nesting or many keys): the body holds them whole"
        )


def _summarise_header(headers: dict[str, Any] | None, state: State) -> None:
    if headers is None:
        state.envelope_header = None
        return
    state.envelope_header, cut = bounds.header(headers)
    if cut:
        state.notes.append(
            "envelope header values were cut in the summary (long strings, deep nesting or many keys): the body holds them whole"
        )


class _Tally:
    """One pass over an envelope's items: the first :data:`MAX_SUMMARY_ITEMS` kept, the
    rest counted for Relay's per-envelope limits and dropped (900k empty items held at once
    cost a listener 300 MiB)."""

    def __init__(self) -> None:
        self.kept: list[envelope.Item] = []
        self.total = 0
        self.counts: dict[str, int] = {}
        self.sizes: dict[str, int] = {}
        self.event_like: list[str] = []
        self.first: tuple[int, str] | None = None  # the first internal (400) or oversized event (413) item
        self.over: str | None = None  # the first item past its type's limits (413)
        self.needs_event_id = False

    def add(self, item: envelope.Item) -> None:
        self.total += 1
        if len(self.kept) < MAX_SUMMARY_ITEMS:
            self.kept.append(item)
        kind = _limit_kind(item)
        if kind in envelope.INTERNAL_ITEM_TYPES and self.first is None:
            self.first = (400, kind)
        self.needs_event_id = self.needs_event_id or kind in envelope.EVENT_ID_ITEM_TYPES
        group = _LIMIT_GROUPS.get(kind, kind)
        count = self.counts[group] = self.counts.get(group, 0) + 1
        size = self.sizes[group] = self.sizes.get(group, 0) + len(item.payload)
        limit = _LIMITS.get(group)
        if limit is not None and self.over is None and (size > limit[0] or count > limit[1]):
            self.over = kind
        if kind in EVENT_LIKE:
            self.event_like.append(kind)
            if len(item.payload) > MAX_EVENT_SIZE and self.first is None:
                self.first = (413, kind)

    def check(self) -> None:
        """Relay's per-envelope size and count limits: 413, the whole envelope rejected."""
        if self.first is not None:
            status, kind = self.first
            if status == 400:
                raise Reject(400, "envelope contains internal items")
            reject_oversized(kind)
        if len(self.event_like) > 1:
            reject_oversized(self.event_like[0])
        if self.over is not None:
            reject_oversized(self.over)


def reject_oversized(kind: str) -> None:
    raise Reject(
        413, f"envelope exceeded size limits for type '{kind}' (https://develop.sentry.dev/sdk/envelopes/#size-limits)"
    )


def handle_envelope(request: Request, config: Config, state: State, params: Mapping[str, str]) -> Response:
    require_body(state)
    tally = _Tally()
    try:
        headers, pos = envelope.parse_head(state.body)
        for item in envelope.iter_items(state.body, pos):
            tally.add(item)
    except EnvelopeError as exc:
        _summarise_header(first_line_json(state.body), state)
        raise Reject(400, "invalid event envelope", (exc.cause,)) from None
    parsed = envelope.Envelope(headers, tuple(tally.kept))  # the first items only
    _summarise_header(headers, state)
    _summarise_items(parsed.items, tally.total, state)
    # Relay does not validate payloads here (a broken event still gets 200); parsing the
    # first event for its title, level, environment and release is for the readers.
    state.facts = envelope_facts(parsed)
    tally.check()
    state.event_id = parsed.event_id
    if state.event_id is None and tally.needs_event_id:
        state.event_id = uuid.uuid4().hex
        state.notes.append("no event_id in the envelope header: the mirror generated one, as Relay does")
    return json_response(200, {"id": state.event_id} if state.event_id else {})


def handle_tunnel(request: Request, config: Config, state: State, params: Mapping[str, str]) -> Response:
    """The browser SDK's ``tunnel`` target: the envelope header's ``dsn`` is the only auth."""
    require_body(state)
    headers = first_line_json(state.body)
    if headers is None:
        raise Reject(400, "invalid envelope: the first line is not a JSON object")
    has_dsn = isinstance(headers.get("dsn"), str)
    del headers  # not held while the envelope is parsed again (a long header is a long string)
    if not has_dsn:
        raise Reject(400, "invalid envelope: missing DSN")
    auth = envelope_dsn_auth(state.body, state)
    accept_key(auth, config, state)
    return handle_envelope(request, config, state, params)
