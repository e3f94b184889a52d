"""The results of a replay (pure): what happened to each request (:class:`Result`: its
outcome, the target's reason, the response contract an SDK relies on) and the summary
they add up to (:class:`ReplaySummary`, one :class:`Row` per endpoint and item types)."""

from __future__ import annotations

from array import array
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from sentry_mirror.core.envelope import normalize_uuid
from sentry_mirror.core.record import encode_bytes
from sentry_mirror.core.replay.plan import SKIPPED_UPLOAD, SKIPPED_WEB_API
from sentry_mirror.core.replay.rewrite import Prepared
from sentry_mirror.core.stats import nearest_rank

#: A refusal's reason is kept to this many characters, and the summary counts at most
#: :data:`MAX_REASONS` distinct ones (the rest together as :data:`OTHER_REASONS`): a target
#: may answer every request with a new reason.
MAX_REASON = 200
MAX_REASONS = 1000
OTHER_REASONS = "(other reasons)"


@dataclass(slots=True)
class Result:
    """What happened to one request."""

    prepared: Prepared
    scheduled: float  # offset from the start, seconds
    sent_at: str | None = None
    late_ms: float | None = None  # how long after its scheduled time it went out
    status: int | None = None
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""  # the answer's first bytes (sentry_mirror.io.http1.BODY_KEEP)
    body_size: int | None = None  # the whole answer's
    latency_ms: float | None = None
    error: str | None = None  # transport error
    held_back: tuple[str, ...] = ()  # rate-limited categories not sent
    problems: list[str] = field(default_factory=list)  # response-contract findings

    @property
    def outcome(self) -> str:
        """``accepted``, ``rejected``, ``rate-limited``, ``server-error``, ``transport-error`` or ``held-back``."""
        if self.error is not None:
            return "transport-error"
        if self.status is None:
            return "held-back"
        if self.status == 429:
            return "rate-limited"
        if self.status >= 500:
            return "server-error"
        return "accepted" if 200 <= self.status < 300 else "rejected"  # SDKs treat a redirect as a failure

    @property
    def failed(self) -> bool:
        """Not accepted (or a broken response contract), unless refused like the mirror (as
        Sentry) refused it when it was recorded."""
        if self.problems:
            return True
        if self.outcome == "rejected" and self.prepared.recorded_status >= 400:
            return False
        return self.outcome in ("rejected", "rate-limited", "server-error", "transport-error")

    def header(self, name: str) -> str | None:
        name = name.lower()
        return next((v for k, v in self.headers if k.lower() == name), None)

    @property
    def reason(self) -> str | None:
        """Why the target refused: ``X-Sentry-Error``, the JSON ``detail``, or the body's start
        (at most :data:`MAX_REASON` characters of it)."""
        reason = self._reason()
        if reason is not None and len(reason) > MAX_REASON:
            return reason[:MAX_REASON] + "…"
        return reason

    def _reason(self) -> str | None:
        if self.error is not None:
            return self.error
        if self.status is None or self.status < 400:
            return None
        found = self.header("x-sentry-error")
        if found:
            return found
        try:
            value = orjson.loads(self.body)
        except orjson.JSONDecodeError:
            value = None
        if isinstance(value, dict):
            for key in ("detail", "message", "error"):
                detail = value.get(key)
                if isinstance(detail, str):
                    return detail
        text = self.body.decode("utf-8", "replace").strip().splitlines()
        return text[0][:120] if text else None

    def check_contract(self) -> None:
        """The answer a Sentry SDK relies on: a 200 to an event names its id; a 429 says for how
        long; a target agrees with the mirror (which answers as Relay) on refusals."""
        status, sent = self.status, self.prepared
        if status is None:
            return
        if status == 200 and sent.event_id and sent.endpoint in ("envelope", "tunnel", "store"):
            try:
                answered = orjson.loads(self.body)
            except orjson.JSONDecodeError:
                answered = None
            answered_id = normalize_uuid(answered.get("id")) if isinstance(answered, dict) else None
            if answered_id != sent.event_id:
                self.problems.append('200 without {"id": <the event id sent>} in the body')
        if status == 429 and not (self.header("retry-after") or self.header("x-sentry-rate-limits")):
            self.problems.append("429 without Retry-After or X-Sentry-Rate-Limits")
        recorded = sent.recorded_status
        if recorded in (400, 401, 403, 413, 415) and status < 400:
            self.problems.append(f"accepted what Sentry refuses ({recorded})")

    def to_dict(self) -> dict[str, Any]:
        body, b64 = encode_bytes(self.body)
        return {
            **self.prepared.to_dict(),
            "scheduled": round(self.scheduled, 6),
            "sent_at": self.sent_at,
            "late_ms": None if self.late_ms is None else round(self.late_ms, 3),
            "outcome": self.outcome,
            "status": self.status,
            "reason": self.reason,
            "response_headers": [list(h) for h in self.headers],
            "response_body": body,
            "response_body_base64": b64,
            "response_body_size": self.body_size,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 3),
            "held_back": list(self.held_back),
            "problems": self.problems,
        }


def items_label(types: Sequence[str]) -> str:
    """``event+attachment``, ``2×event`` for repeats, ``-`` for none."""
    key = tuple(types)
    label = _LABELS.get(key)
    if label is None:
        counts = Counter(t or "?" for t in key)
        label = "+".join(kind if n == 1 else f"{n}×{kind}" for kind, n in counts.items()) or "-"
        if len(_LABELS) < 4096:
            _LABELS[key] = label
    return label


_LABELS: dict[tuple[str, ...], str] = {}


@dataclass
class Row:
    """One line of the summary: an endpoint and the item types its requests carried."""

    endpoint: str
    items: str
    outcomes: Counter[str] = field(default_factory=Counter)
    statuses: Counter[int] = field(default_factory=Counter)
    latencies: array[float] = field(default_factory=lambda: array("d"))

    @property
    def sent(self) -> int:
        return sum(n for outcome, n in self.outcomes.items() if outcome != "held-back")

    def count(self, klass: int) -> int:
        return sum(n for status, n in self.statuses.items() if status // 100 == klass and status != 429)


@dataclass
class ReplaySummary:
    """Everything the summary shows, filled one :class:`Result` at a time."""

    rows: dict[tuple[str, str], Row] = field(default_factory=dict)
    reasons: Counter[tuple[int | None, str]] = field(default_factory=Counter)
    problems: Counter[str] = field(default_factory=Counter)
    items_sent: Counter[str] = field(default_factory=Counter)
    items_accepted: Counter[str] = field(default_factory=Counter)
    items_held: Counter[str] = field(default_factory=Counter)
    skipped: Counter[str] = field(default_factory=Counter)
    late_ms: array[float] = field(default_factory=lambda: array("d"))  # 8 bytes a request
    total: int = 0
    failed: int = 0
    interrupted: bool = False
    elapsed: float = 0.0
    uploads_sent: bool = False  # ``--uploads``: the upload records went through the target's chunk protocol

    def not_replayed(self) -> dict[str, int]:
        """Records left out of the replay as not ingestion requests: web API requests
        (``api_*``) and uploads (``upload``)."""
        return {"web_api": self.skipped[SKIPPED_WEB_API], "uploads": self.skipped[SKIPPED_UPLOAD]}

    def add(self, result: Result) -> None:
        sent = result.prepared
        key = (sent.endpoint, items_label(sent.item_types))
        row = self.rows.get(key)
        if row is None:
            row = self.rows[key] = Row(*key)
        outcome = result.outcome
        row.outcomes[outcome] += 1
        self.total += 1
        if result.status is not None:
            row.statuses[result.status] += 1
        if result.latency_ms is not None:
            row.latencies.append(result.latency_ms)
        if result.late_ms is not None:
            self.late_ms.append(result.late_ms)
        if outcome != "held-back":
            for item_type in sent.item_types:
                self.items_sent[item_type] += 1
                if outcome == "accepted":
                    self.items_accepted[item_type] += 1
            for change in sent.changes:
                if change.startswith("held back "):
                    self.items_held.update(change.removeprefix("held back ").split("+"))
        else:
            self.items_held.update(sent.item_types)
        if outcome in ("rejected", "rate-limited", "server-error", "transport-error"):
            reason = (result.status, result.reason or "")
            if reason not in self.reasons and len(self.reasons) >= MAX_REASONS:
                reason = (result.status, OTHER_REASONS)
            self.reasons[reason] += 1
        for problem in result.problems:
            self.problems[problem] += 1
        if result.failed:
            self.failed += 1

    def outcomes(self) -> Counter[str]:
        total: Counter[str] = Counter()
        for row in self.rows.values():
            total.update(row.outcomes)
        return total

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.total,
            "failed": self.failed,
            "interrupted": self.interrupted,
            "elapsed_s": round(self.elapsed, 3),
            "outcomes": dict(self.outcomes()),
            "rows": [
                {
                    "endpoint": row.endpoint,
                    "items": row.items,
                    "sent": row.sent,
                    "2xx": row.count(2),
                    "4xx": row.count(4),
                    "5xx": row.count(5),
                    "rate_limited": row.outcomes["rate-limited"],
                    "held_back": row.outcomes["held-back"],
                    "transport_errors": row.outcomes["transport-error"],
                    "latency_ms": {f"p{q}": nearest_rank(row.latencies, q) for q in (50, 95, 99)},
                }
                for row in self.rows.values()
            ],
            "rejections": [{"status": s, "reason": r, "count": n} for (s, r), n in self.reasons.most_common()],
            "items_sent": dict(self.items_sent),
            "items_accepted": dict(self.items_accepted),
            "items_held_back": dict(self.items_held),
            "problems": dict(self.problems),
            "skipped": {k: n for k, n in self.skipped.items() if k not in (SKIPPED_WEB_API, SKIPPED_UPLOAD)},
            "not_replayed": self.not_replayed(),
        }
