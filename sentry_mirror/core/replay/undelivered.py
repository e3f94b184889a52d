"""``replay --undelivered``: which forwarded requests the upstream never took, and what
replay records of each answer it gets for them (pure).

A request record with ``forwarded_to`` (a forwarding listener sent it on) is *undelivered*
while no answer record with ``target == "upstream"``, ``delivered`` true and ``to`` equal to
the request's ``forwarded_to`` points at it, whether that answer came from the listener
(``via="listen"``) or from an earlier ``replay --undelivered`` (``via="replay"``, in a file of
its own, read along). An answer from another server (a replay ``--to`` elsewhere) delivers
nothing: the data is still not where the listener was sending it. Both ``to`` strings are
:func:`sentry_mirror.core.forwarding.to_string` of a DSN.

The selection takes two passes over the records, as replay reads them anyway:

1. :func:`find` streams every record (requests and answers, in any order) and keeps the ids
   of forwarded requests not yet delivered, and of delivered answers whose request it has not
   read yet (an answer follows its request in time, so that second set stays empty unless
   the files read hold answers to requests they do not hold).
2. :func:`select` (or :func:`keep`) streams the request records again and gives those ids.

Memory: about 100 bytes per id kept (the ``to`` strings are shared), that is per request undelivered (they are all sent,
so their number bounds the work anyway) plus those in flight at any moment of the capture
(sent on, answer not written yet: at most ``--forward-concurrency`` plus the ones waiting for
it); delivered traffic, however much, costs nothing once its answer is read. No record is
held. The result does not depend on the order the records come in: an answer may come
before or long after its request (a replay's answer file is read along with the capture).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Set
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sentry_mirror.core import answer
from sentry_mirror.core.replay.results import Result

#: The ``via`` of the answers ``replay --undelivered`` records.
VIA = "replay"


def _key(record_id: str) -> bytes | str:
    """A record id as kept in memory: the 32-hex ids sentry-mirror writes as their 16 bytes."""
    if len(record_id) == 32:
        try:
            return bytes.fromhex(record_id)
        except ValueError:
            pass
    return record_id


@dataclass(frozen=True, slots=True)
class Undelivered:
    """What :func:`find` found: the ids of the undelivered requests, how many requests
    were forwarded and delivered in all, and where the undelivered ones were forwarded to
    (``forwarded_to``: how many)."""

    ids: Set[bytes | str]  # not copied into a frozenset: that would double the peak
    forwarded: int
    delivered: int
    targets: Counter[str] = field(default_factory=Counter)

    def __contains__(self, record_id: object) -> bool:
        return isinstance(record_id, str) and _key(record_id) in self.ids

    def __len__(self) -> int:
        return len(self.ids)


def _delivers(data: Mapping[str, Any]) -> bool:
    """An answer that delivers its request (to the server its ``to`` names): the upstream's,
    and :func:`sentry_mirror.core.answer.delivered`."""
    return data["target"] == "upstream" and data["delivered"] is True


def find(records: Iterable[Mapping[str, Any]]) -> Undelivered:
    """The forwarded requests of ``records`` (request and answer records, as
    ``iter_records(..., answers=True)`` gives them) that no delivering answer from the server
    they were forwarded to points at."""
    pending: dict[bytes | str, str] = {}  # forwarded (to where), no delivering answer from there read yet
    early: set[tuple[bytes | str, str]] = set()  # a delivering answer read (from where), its request not yet
    shared: dict[str, str] = {}  # one copy of each ``to`` string
    forwarded = delivered = 0
    for data in records:
        if answer.is_answer(data):
            if _delivers(data):
                key, to = _key(data["request_id"]), data["to"]
                if pending.get(key) == to:
                    del pending[key]
                    delivered += 1
                elif key not in pending:
                    early.add((key, shared.setdefault(to, to)))
        elif (to := data.get("forwarded_to")) is not None:
            key = _key(data["id"])
            if key in pending:
                continue  # the same record read twice (a file named twice): counted once
            forwarded += 1
            if (key, to) in early:
                early.discard((key, to))
                delivered += 1
            else:
                pending[key] = shared.setdefault(to, to)
    return Undelivered(pending.keys(), forwarded, delivered, Counter(pending.values()))


def keep(records: Iterable[Mapping[str, Any]], found: Undelivered) -> Iterator[Mapping[str, Any]]:
    """The request records of ``records`` that ``found`` says are undelivered, in their order."""
    for data in records:
        if not answer.is_answer(data) and data["id"] in found:
            yield data


def select(source: Callable[[], Iterable[Mapping[str, Any]]]) -> Iterator[Mapping[str, Any]]:
    """The undelivered requests of the records ``source`` opens (called twice: :func:`find`,
    then :func:`keep`), streaming."""
    found = find(source())
    if found.ids:
        yield from keep(source(), found)


def answer_record(result: Result, to: str, answered_at: datetime) -> dict[str, Any] | None:
    """The answer record replay writes for ``result`` (``to``: the target, without its key),
    or None when nothing was sent (held back by the target's rate limits): the request stays
    undelivered for the next run."""
    if result.status is None and result.error is None:
        return None
    sent = result.prepared
    return answer.build(
        request_id=sent.record_id,
        target="upstream",
        to=to,
        answered_at=answered_at,
        endpoint=sent.endpoint,
        item_types=sent.item_types,
        status=result.status,
        headers=result.headers,
        body=result.body,
        body_size=result.body_size,
        latency_ms=result.latency_ms,
        error=result.error,
        returned=False,
        via=VIA,
    )
