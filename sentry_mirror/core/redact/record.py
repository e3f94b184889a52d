"""One snapshot record redacted: its request line, headers, peer, auth and body; its
summary worked out anew from the redacted body by the listener's own code
(:func:`sentry_mirror.core.ingest.handle`, :func:`sentry_mirror.core.record.build`); and
``redacted: {engine, kinds, key_id}`` saying so. An answer record (forward mode) has its
headers and body redacted as text."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from sentry_mirror.core import answer, bodies, ingest
from sentry_mirror.core import record as records
from sentry_mirror.core.redact import forms, http
from sentry_mirror.core.redact.body import BodyRedactor
from sentry_mirror.core.redact.tokens import key_id
from sentry_mirror.errors import DecodeError, MirrorError

_TEXT_FIELDS = ("path", "remote_addr", "error")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class Redactor:
    """Redacts the records of one export (one key, one engine)."""

    def __init__(self, parts: BodyRedactor, engine: str) -> None:
        self.parts = parts
        self.names = parts.names
        self.engine = engine
        self.key_id = key_id(parts.names.key)

    def record(self, data: dict[str, Any]) -> dict[str, Any]:
        """A redacted copy of ``data`` (``data`` is not changed)."""
        self.names.reset()
        before = dict(self.names.kinds)
        out = self._answer(data) if answer.is_answer(data) else self._request(data)
        kinds = sorted(kind for kind, count in self.names.kinds.items() if count > before.get(kind, 0))
        out["redacted"] = {"engine": self.engine, "kinds": kinds, "key_id": self.key_id}
        return out

    def _answer(self, data: dict[str, Any]) -> dict[str, Any]:
        out = dict(data)
        out["headers"] = http.pairs(_pairs(data.get("headers")), self.names, self.parts.scanner, "headers")
        body = records.decode_bytes(str(data.get("body") or ""), bool(data.get("body_base64")))
        out["body"], out["body_base64"] = records.encode_bytes(self.parts.text_or_binary(body))
        return out

    def _request(self, data: dict[str, Any]) -> dict[str, Any]:
        names = self.names
        out = dict(data)
        out["auth"] = http.auth(data.get("auth"), names)
        out["headers"] = http.pairs(_pairs(data.get("headers")), names, self.parts.scanner, "headers")
        out["query"] = self._query(data)
        body = self._body(data)
        for name in _TEXT_FIELDS:
            if isinstance(out.get(name), str):
                out[name] = names.text(out[name])
        out["notes"] = [names.text(note) if isinstance(note, str) else note for note in data.get("notes") or ()]
        response = dict(data.get("response") or {})
        sent = records.decode_bytes(str(response.get("body") or ""), bool(response.get("body_base64")))
        response["body"], response["body_base64"] = records.encode_bytes(self.parts.text_or_binary(sent))
        out["response"] = response
        return _summarised(out, body, data)

    def _query(self, data: dict[str, Any]) -> str:
        query = str(data.get("query") or "")
        if data.get("endpoint") == "store" and "sentry_data" in query:
            pairs = [(k, self.parts.sentry_data(v) if k == "sentry_data" else v) for k, v in _qsl(query)]
            query = urlencode(pairs)
        return forms.query(query, self.names, self.parts.scanner)

    def _body(self, data: dict[str, Any]) -> bytes:
        readable = bool(data.get("body_decoded", True))
        try:
            body = bodies.whole(data)
        except (DecodeError, MirrorError, ValueError):
            body, readable = bodies.stored(data), False
        return self.parts.body(str(data.get("endpoint") or "unknown"), body, readable=readable)


def _qsl(query: str) -> list[tuple[str, str]]:
    return parse_qsl(query, keep_blank_values=True)


def _pairs(value: Any) -> list[tuple[str, str]]:
    if not isinstance(value, list):
        return []
    return [(str(p[0]), str(p[1])) for p in value if isinstance(p, list | tuple) and len(p) == 2]


def _summarised(out: dict[str, Any], body: bytes, original: dict[str, Any]) -> dict[str, Any]:
    """``out`` with ``body`` as its body (decoded) and the summary the listener would write
    for it; the event id stays the original's (a redaction changes no id)."""
    headers = tuple((name, value) for name, value in out["headers"] if name.lower() != "content-encoding")
    request = ingest.Request(str(out.get("method") or "POST"), str(out.get("path") or "/"), out["query"], headers, body)
    outcome = ingest.handle(request)
    built = records.build(request, outcome, received_at=_EPOCH, remote_addr=None)  # only its body and summary are kept
    summary = built["summary"]
    old = original.get("summary")
    summary["event_id"] = old.get("event_id") if isinstance(old, dict) else None
    out.update(
        v=records.RECORD_VERSION,
        body=built["body"],
        body_base64=built["body_base64"],
        body_size=built["body_size"],
        summary=summary,
    )
    out.pop("body_encoded", None)
    return out
