"""The answers of one request joined by ``request_id`` for the ``upstream`` section
(:mod:`.upstream`): was the request delivered upstream, and did a candidate answer it as the
upstream did?

A listener writes the answers of one request close together: the upstream's as soon as it
answers, each candidate's as its bounded queue (``--tee-queue``, 1000 by default) drains. So
the answers are joined in a *pending map* of at most :data:`MAX_PENDING` requests, oldest
first out; a request leaves it (is *settled*: counted, compared) when the map is full and a
newer request comes in, or when the report is built. Beyond the bound:

- an answer to a request settled among the last :data:`MAX_PENDING` settled is counted as
  ``unpaired`` and joins nothing (it still counts for its target, :mod:`.upstream`);
- an answer further behind than that starts a request of its own (a candidate's answer alone
  reads as a request with no upstream answer).

A settled request has an upstream answer or not (``no_upstream_answer``: only candidates
answered it, or its upstream answer was never written). With one, it was delivered when some
upstream answer says so (its ``delivered``: a 2xx or 4xx); else it is ``not_delivered``. Answers recorded
by ``replay --undelivered`` (``via`` replay) are not joined: each delivered one counts as a
request ``delivered_later`` (replay sends each undelivered request until it is delivered, then
never again), and ``still_undelivered`` is the difference.

A candidate's answer is compared with the request's (first) upstream answer, copies a full
queue dropped aside: they ``agree``, or one of them accepted it (answered 2xx) and the other
did not (``upstream_only``, ``candidate_only``), or neither accepted it and their status
classes differ (``class``: a 4xx against a 5xx or no answer). The first :data:`MAX_EXAMPLES`
requests with a disagreement are listed.

Merging joins the pending requests of both (``other``'s after this one's): exact while
neither settled a request before the report was built (fewer than :data:`MAX_PENDING`
requests each); beyond, a request whose answers the parts settled apart counts twice.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from sentry_mirror.core.replay.results import items_label
from sentry_mirror.core.report.bounded import Capped, Json, bounded, merge_tables

#: Requests whose answers are being joined at once (see the module docstring).
MAX_PENDING = 10_000
#: Answers joined per request (a request is sent to the upstream and a few candidates).
MAX_ANSWERS = 32
#: Requests listed as examples of a disagreement.
MAX_EXAMPLES = 10
#: Candidates compared with the upstream one by one (the rest together as ``(other)``).
MAX_CANDIDATES = 100
VERDICTS = ("agree", "upstream_only", "candidate_only", "class")
#: Separates the parts of the keys the sections build: never in a part (:func:`_text`).
SEP = "\x00"


def _text(value: Any, default: str) -> str:
    text = value if isinstance(value, str) and value else default
    return text.replace(SEP, "\ufffd")


def status_class(status: int | None) -> str:
    """``2xx`` … ``5xx``, ``none`` for no answer, ``other`` for a status outside HTTP's."""
    if status is None:
        return "none"
    return f"{status // 100}xx" if 100 <= status < 600 else "other"


def accepted(status: int | None) -> bool:
    """Taken as Sentry takes an event: answered 2xx."""
    return status is not None and 200 <= status < 300


class Answer:
    """What the report needs of an answer record, read leniently."""

    __slots__ = ("delivered", "dropped", "endpoint", "error", "items", "status", "target", "to")

    def __init__(self, data: Mapping[str, Any], max_error: int) -> None:
        self.target = _text(data.get("target"), "-")
        self.to = _text(data.get("to"), "-")
        self.endpoint = _text(data.get("endpoint"), "unknown")
        types = data.get("item_types")
        self.items = _text(items_label([str(t) for t in types] if isinstance(types, list) else []), "-")
        status = data.get("status")
        self.status: int | None = status if type(status) is int else None
        error = data.get("error")
        self.error: str | None = error[:max_error] if isinstance(error, str) and error else None
        self.delivered = data.get("delivered") is True
        self.dropped = data.get("dropped") is True

    def to_json(self) -> Json:
        return {
            "target": self.target,
            "to": self.to,
            "status": self.status,
            "error": self.error,
            "dropped": self.dropped,
        }


def _verdicts() -> Capped:
    return Capped(len(VERDICTS))


def verdict(upstream: Answer, candidate: Answer) -> str:
    """How ``candidate`` answered the request ``upstream`` answered (see the module docstring)."""
    mine, theirs = accepted(upstream.status), accepted(candidate.status)
    if mine != theirs:
        return "upstream_only" if mine else "candidate_only"
    return "agree" if status_class(upstream.status) == status_class(candidate.status) else "class"


class Tally:
    """What the settled requests add up to."""

    def __init__(self) -> None:
        self.requests = 0
        self.forwarded = 0
        self.not_delivered = 0
        self.no_upstream = 0
        self.delivered_later = 0
        self.compared = 0
        self.disagreeing = 0
        self.unpaired = 0
        self.by_candidate: dict[str, Capped] = {}
        self.examples: list[Json] = []

    def settle(self, request_id: str, answers: list[Answer]) -> None:
        self.requests += 1
        upstream = [a for a in answers if a.target == "upstream"]
        if not upstream:
            self.no_upstream += 1
            return
        self.forwarded += 1
        if not any(a.delivered for a in upstream):
            self.not_delivered += 1
        candidates = [a for a in answers if a.target != "upstream" and not a.dropped]
        if not candidates:
            return
        self.compared += 1
        first = upstream[0]
        differs = False
        for candidate in candidates:
            found = verdict(first, candidate)
            bounded(self.by_candidate, candidate.to, MAX_CANDIDATES, _verdicts).add(found)
            differs = differs or found != "agree"
        if differs:
            self.disagreeing += 1
            if len(self.examples) < MAX_EXAMPLES:
                self.examples.append(
                    {
                        "request_id": request_id,
                        "endpoint": first.endpoint,
                        "items": first.items,
                        "answers": [a.to_json() for a in answers],
                    }
                )

    def merge(self, other: Tally) -> None:
        for name in (
            "requests",
            "forwarded",
            "not_delivered",
            "no_upstream",
            "delivered_later",
            "compared",
            "disagreeing",
            "unpaired",
        ):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        merge_tables(self.by_candidate, other.by_candidate, MAX_CANDIDATES, _verdicts, Capped.merge)
        self.examples += other.examples[: MAX_EXAMPLES - len(self.examples)]

    def to_json(self) -> Json:
        candidates = [
            {"to": to, "compared": sum(verdicts.values()), **{name: verdicts[name] for name in VERDICTS}}
            for to, verdicts in sorted(self.by_candidate.items())
        ]
        return {
            "requests": {
                "answered": self.requests,
                "forwarded": self.forwarded,
                "not_delivered": self.not_delivered,
                "delivered_later": self.delivered_later,
                "still_undelivered": max(0, self.not_delivered - self.delivered_later),
                "no_upstream_answer": self.no_upstream,
            },
            "disagreements": {
                "compared": self.compared,
                "requests": self.disagreeing,
                "by_candidate": candidates,
                "examples": list(self.examples),
            },
            "pairing": {"window": MAX_PENDING, "unpaired": self.unpaired},
        }


class Pairing:
    """The pending map and the tally of the requests settled out of it."""

    def __init__(self) -> None:
        self.pending: OrderedDict[str, list[Answer]] = OrderedDict()
        self.settled: OrderedDict[str, None] = OrderedDict()  # the last MAX_PENDING settled ids
        self.tally = Tally()

    def add(self, request_id: str, answer: Answer) -> None:
        """Join an answer (``via`` listen) to the other answers of its request."""
        joined = self.pending.get(request_id)
        if joined is not None:
            if len(joined) < MAX_ANSWERS:
                joined.append(answer)
        elif request_id in self.settled:
            self.tally.unpaired += 1
        else:
            self._open(request_id, [answer])

    def replayed(self, answer: Answer) -> None:
        """Count an answer ``replay --undelivered`` recorded."""
        if answer.target == "upstream" and answer.delivered:
            self.tally.delivered_later += 1

    def _open(self, request_id: str, answers: list[Answer]) -> None:
        self.pending[request_id] = answers
        if len(self.pending) > MAX_PENDING:
            oldest, joined = self.pending.popitem(last=False)
            self.tally.settle(oldest, joined)
            self.settled[oldest] = None
            if len(self.settled) > MAX_PENDING:
                self.settled.popitem(last=False)

    def merge(self, other: Pairing) -> None:
        """Join ``other``'s pending requests to this one's (see the module docstring)."""
        self.tally.merge(other.tally)
        for request_id, answers in other.pending.items():
            joined = self.pending.get(request_id)
            if joined is not None:
                joined += answers[: MAX_ANSWERS - len(joined)]
            elif request_id in self.settled:
                self.tally.unpaired += len(answers)
            else:
                self._open(request_id, list(answers))
        for request_id in other.settled:
            self.settled[request_id] = None
            if len(self.settled) > MAX_PENDING:
                self.settled.popitem(last=False)

    def to_json(self) -> Json:
        """The tally with the pending requests settled (this pairing left as it is)."""
        tally = Tally()
        tally.merge(self.tally)
        for request_id, answers in self.pending.items():
            tally.settle(request_id, answers)
        return tally.to_json()
