"""Did the candidate store what it accepted? (pure; ``replay --verify-stored``)

A server that answers 200 may still throw the event away (Bugsink and GlitchTip answer
before they process). After a replay, the candidate's own API is asked about every event it
accepted; :class:`StoredCheck` decides which items can be asked about, takes the answers
(:func:`event_verdict` reads a Sentry-shaped answer, :func:`page` a Bugsink list page) and
adds them up per item type:

- ``stored``: the API has it;
- ``not stored``: answered 2xx when sent, and the API does not have it (after the wait);
- ``rejected``: not answered 2xx when sent (refused, rate-limited, failed);
- ``cannot tell``: the API cannot be asked about it, or did not answer; always with a reason.

A server's API is never taken to say more than it does: an item type it offers no lookup for
is "cannot tell", not "not stored", even when the server is known to drop it. The API calls
are :mod:`sentry_mirror.io.stored_api`.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson

from sentry_mirror.core.envelope import normalize_uuid
from sentry_mirror.core.replay.results import Result

#: ``--api-kind`` values besides ``auto``, and how the output names them.
API_KINDS = ("sentry", "bugsink", "glitchtip")
API_NAMES = {"sentry": "Sentry", "bugsink": "Bugsink", "glitchtip": "GlitchTip"}
#: The item types each API finds by the event id the SDK sent: Sentry's events endpoint
#: returns errors and transactions; GlitchTip's and Bugsink's error events only.
LOOKED_UP = {
    "sentry": frozenset({"event", "transaction"}),
    "glitchtip": frozenset({"event"}),
    "bugsink": frozenset({"event"}),
}
#: The APIs that find events by project id (Bugsink); the others by ORG/SLUG (one project).
BY_PROJECT_ID = frozenset({"bugsink"})

STORED, NOT_STORED, REJECTED, CANNOT_TELL = "stored", "not stored", "rejected", "cannot tell"
VERDICTS = (STORED, NOT_STORED, REJECTED, CANNOT_TELL)
#: Event ids kept per item type as examples of what was not stored.
MAX_EXAMPLES = 20
#: Distinct (item type, "cannot tell" reason) pairs counted (the rest together): an API may fail
#: in new ways, and captured item types are whatever the SDKs sent.
MAX_REASONS = 100
OTHER_REASONS = "(other reasons)"
_REJECTED_OUTCOMES = frozenset({"rejected", "rate-limited", "server-error", "transport-error"})


def event_verdict(status: int, body: bytes) -> str:
    """What a Sentry-shaped API's answer to ``GET …/events/{id}/`` says: ``found`` (200 with an
    event), ``missing`` (404: not stored, or not yet), ``denied`` (401, 403) or the reason it
    said nothing (asked again until the wait ends)."""
    if status == 200:
        try:
            value = orjson.loads(body)
        except orjson.JSONDecodeError:
            value = None
        return "found" if isinstance(value, dict) else "answered 200 without a JSON event"
    if status == 404:
        return "missing"
    if status in (401, 403):
        return "denied"
    return f"the API answered {status}"


def page(body: bytes) -> tuple[list[dict[str, Any]], str | None]:
    """A page of Bugsink's canonical API (``{"next": URL, "results": [...]}``): its objects and
    the cursor of the next page (None on the last). ValueError when it is not one."""
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise ValueError("not JSON") from exc
    if not isinstance(value, dict) or not isinstance(value.get("results"), list):
        raise ValueError("not a page of results")
    following = value.get("next")
    cursor = parse_qs(urlsplit(following).query).get("cursor", [None])[0] if isinstance(following, str) else None
    return [r for r in value["results"] if isinstance(r, dict)], cursor


def event_ids(results: list[dict[str, Any]]) -> set[str]:
    """The SDK's event ids (normalized) in a page of Bugsink events."""
    return {found for r in results if (found := normalize_uuid(r.get("event_id"))) is not None}


@dataclass
class _Pending:
    """An accepted event being asked about: its item types (one per request that carried it),
    the project it went to, and why the last question got no answer (None: not found yet)."""

    types: list[str]
    project: str
    error: str | None = None


@dataclass
class StoredCheck:
    """The verification of one replay: ``kind`` is the API's (:data:`API_KINDS`), ``project`` the
    project id whose events it can be asked about (None: any, by id, as Bugsink's), and
    ``api`` names the API in the output. Feed it every :class:`Result` (:meth:`add`), ask
    about :meth:`questions`, tell it what was learnt (:meth:`found`, :meth:`missing`,
    :meth:`failed`, :meth:`unanswerable`), then :meth:`finish`."""

    kind: str
    project: str | None = None
    api: str = ""
    counts: dict[str, Counter[str]] = field(default_factory=dict)  # item type -> verdict -> items
    reasons: Counter[tuple[str, str]] = field(default_factory=Counter)  # (item type, why) -> items
    examples: dict[str, list[str]] = field(default_factory=dict)  # item type -> event ids not stored
    pending: dict[str, _Pending] = field(default_factory=dict)
    asked: int = 0  # requests made to the API
    waited: float = 0.0  # seconds spent waiting for the API to catch up

    def add(self, result: Result) -> None:
        """Classify the items of one replayed request (held-back ones were not sent: left out)."""
        sent = result.prepared
        outcome = result.outcome
        if outcome == "held-back":
            return
        if outcome in _REJECTED_OUTCOMES:
            for item_type in sent.item_types:
                self._count(item_type, REJECTED)
            return
        event_id = normalize_uuid(sent.event_id)
        asked = False
        for item_type in sent.item_types:
            why = self._why_not_asked(item_type, event_id, sent.project_id)
            if why is None and asked:
                why = "a second event item in one envelope"
            if why is not None or event_id is None:
                self._cannot_tell(item_type, why or "sent without an event id")
                continue
            asked = True
            self.pending.setdefault(event_id, _Pending([], str(sent.project_id))).types.append(item_type)

    def _why_not_asked(self, item_type: str, event_id: str | None, project: str | None) -> str | None:
        name = API_NAMES[self.kind]
        if item_type not in LOOKED_UP[self.kind]:
            return f"{name}'s API has no lookup for {item_type} items"
        if event_id is None:
            return "sent without an event id"
        if self.kind not in BY_PROJECT_ID and project != self.project:
            return f"sent to project {project}, not to the DSN's ({self.project}) that --api-project names"
        return None

    def _count(self, item_type: str, verdict: str, n: int = 1) -> None:
        self.counts.setdefault(item_type, Counter())[verdict] += n

    def _cannot_tell(self, item_type: str, why: str, n: int = 1) -> None:
        self._count(item_type, CANNOT_TELL, n)
        key = (item_type, why)
        if key not in self.reasons and len(self.reasons) >= MAX_REASONS:
            key = (OTHER_REASONS, OTHER_REASONS)
        self.reasons[key] += n

    def questions(self) -> dict[str, list[str]]:
        """The event ids still to ask about, by project id."""
        asking: dict[str, list[str]] = {}
        for event_id, pending in self.pending.items():
            asking.setdefault(pending.project, []).append(event_id)
        return asking

    def found(self, event_id: str) -> None:
        """The API has it: stored."""
        pending = self.pending.pop(event_id, None)
        if pending is not None:
            for item_type in pending.types:
                self._count(item_type, STORED)

    def missing(self, event_id: str) -> None:
        """The API does not have it (yet): asked again until the wait ends."""
        if event_id in self.pending:
            self.pending[event_id].error = None

    def failed(self, event_id: str, why: str) -> None:
        """The API did not answer about it (an error): asked again until the wait ends."""
        if event_id in self.pending:
            self.pending[event_id].error = why

    def unanswerable(self, event_id: str, why: str) -> None:
        """The API will not answer about it, however long one waits: cannot tell, now."""
        pending = self.pending.pop(event_id, None)
        if pending is not None:
            for item_type in pending.types:
                self._cannot_tell(item_type, why)

    def finish(self) -> None:
        """The wait is over: what the API last said it did not have was not stored; what it
        gave no answer about, cannot tell."""
        for event_id, pending in self.pending.items():
            for item_type in pending.types:
                if pending.error is not None:
                    self._cannot_tell(item_type, pending.error)
                else:
                    self._count(item_type, NOT_STORED)
                    examples = self.examples.setdefault(item_type, [])
                    if len(examples) < MAX_EXAMPLES and event_id not in examples:
                        examples.append(event_id)
        self.pending.clear()

    @property
    def not_stored(self) -> int:
        """Items answered 2xx and not stored (what makes the check fail)."""
        return sum(counts[NOT_STORED] for counts in self.counts.values())

    def rows(self) -> list[tuple[str, int, int, int, int]]:
        """Per item type: (type, stored, not stored, rejected, cannot tell)."""
        return [
            (item_type, counts[STORED], counts[NOT_STORED], counts[REJECTED], counts[CANNOT_TELL])
            for item_type, counts in sorted(self.counts.items())
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "api": self.api,
            "kind": self.kind,
            "item_types": {
                item_type: {verdict.replace(" ", "_"): n for verdict, n in zip(VERDICTS, numbers, strict=True)}
                for item_type, *numbers in self.rows()
            },
            "cannot_tell": [
                {"item_type": item_type, "reason": why, "count": n}
                for (item_type, why), n in self.reasons.most_common()
            ],
            "not_stored_examples": self.examples,
            "not_stored": self.not_stored,
            "api_requests": self.asked,
            "waited_s": round(self.waited, 3),
        }
