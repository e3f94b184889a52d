"""One snapshot record redacted: its request line, headers, peer, auth and body; its
summary worked out anew from the redacted body by the listener's own code
(:func:`sentry_mirror.core.ingest.handle`, :func:`sentry_mirror.core.record.build`), or for
web API and upload records the original summary redacted; every other field redacted as a
payload unless it is known to hold no one's data; and ``redacted: {engine, kinds, key_id}``
saying so. An answer record (forward mode) has its headers, body and fields redacted too."""

from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode

from sentry_mirror.core import answer, bodies, ingest
from sentry_mirror.core import record as records
from sentry_mirror.core.redact import forms, http
from sentry_mirror.core.redact.body import BodyRedactor
from sentry_mirror.core.redact.tokens import key_id
from sentry_mirror.errors import DecodeError, MirrorError

#: Fields of a request record that hold no one's data (ids, times, sizes, flags), kept as
#: they are; the body, summary and response are worked out below. Any other field (the
#: path, ``error``, ``notes``, ``scripted``, ``forwarded_to``, ``api``, ``upload``, a field
#: added later) goes through the payload redactor: redacted, never copied by default.
_KEPT = frozenset(
    {"v", "id", "received_at", "method", "endpoint", "project_id", "content_encoding", "wire_size", "body_size",
     "body_decoded", "body_truncated"}
)  # fmt: skip
#: The same for an answer record (forward mode); ``to``, ``error`` … are redacted.
_ANSWER_KEPT = frozenset(
    {"v", "kind", "id", "received_at", "request_id", "target", "via", "endpoint", "item_types", "status",
     "body_size", "latency_ms", "delivered", "returned", "dropped"}
)  # fmt: skip
#: The same for a request's ``response``: its headers and body are worked out below. And
#: for ``mirror``: only its ``version`` (which the payload redactor could read as an address).
_RESPONSE_KEPT = frozenset({"status"})
_MIRROR_KEPT = frozenset({"version"})
_DONE = frozenset({"auth", "headers", "query", "body", "body_base64", "body_encoded", "summary", "response"})
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: Endpoints whose records' summaries the web API code wrote (not the listener's ingest).
_OWN_SUMMARY = ("api_", "upload")


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

    def _rest(self, data: dict[str, Any], kept: frozenset[str]) -> dict[str, Any]:
        """The fields of ``data`` kept as they are, and the others (but :data:`_DONE`) redacted."""
        out: dict[str, Any] = {}
        for name, value in data.items():
            if name in kept:
                out[name] = value
            elif name == "mirror" and isinstance(value, dict):
                out[name] = self._rest(value, _MIRROR_KEPT)
            elif name not in _DONE:
                value = self.parts.payload(copy.deepcopy(value), "record")
                if isinstance(value, list):  # notes: the keys met in this record, in free text too
                    value = [self.names.text(v) if isinstance(v, str) else v for v in value]
                out[name] = self.names.text(value) if isinstance(value, str) else value
        return out

    def _answer(self, data: dict[str, Any]) -> dict[str, Any]:
        out = self._rest(data, _ANSWER_KEPT)
        out["headers"] = http.pairs(_pairs(data.get("headers")), self.names, self.parts.scanner, "headers")
        out["body"], out["body_base64"] = self._sent(data, "answer")
        return out

    def _request(self, data: dict[str, Any]) -> dict[str, Any]:
        names = self.names
        out = {"auth": http.auth(data.get("auth"), names)}
        out["headers"] = http.pairs(_pairs(data.get("headers")), names, self.parts.scanner, "headers")
        out["query"] = self._query(data)
        body = self._body(data)
        out.update(self._rest(data, _KEPT))
        sent = data.get("response")
        sent = sent if isinstance(sent, dict) else {}
        response = self._rest(sent, _RESPONSE_KEPT)  # a field but these three: redacted
        response["body"], response["body_base64"] = self._sent(sent, "answer")
        response["headers"] = http.pairs(_pairs(sent.get("headers")), names, self.parts.scanner, "headers")
        out["response"] = response
        if str(data.get("endpoint")).startswith(_OWN_SUMMARY):
            return self._kept_summary(out, body, data)
        return _summarised(out, body, data)

    def _sent(self, data: dict[str, Any], item_type: str) -> tuple[str, bool]:
        """An answer's body (a request's response, an answer record's): JSON redacted as a
        payload, text as text, anything else as an attachment."""
        sent = records.decode_bytes(str(data.get("body") or ""), bool(data.get("body_base64")))
        return records.encode_bytes(self.parts.json_or_text(sent, item_type) if sent else sent)

    def _kept_summary(self, out: dict[str, Any], body: bytes, original: dict[str, Any]) -> dict[str, Any]:
        """A web API or upload record: its summary is the original's, redacted (the web API
        code that wrote it needs the mirror's state); an upload's checksum is its new file's."""
        summary = original.get("summary")
        out["summary"] = self.parts.payload(copy.deepcopy(summary), "record") if isinstance(summary, dict) else summary
        out["body"], out["body_base64"] = records.encode_bytes(body)
        out["body_size"] = len(body)
        upload = out.get("upload")
        if isinstance(upload, dict):
            checksum = hashlib.sha1(body, usedforsecurity=False).hexdigest()
            upload.update(checksum=checksum, chunks=[checksum])
        return out

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
