"""A record's body redacted by what it is: an envelope (its header, every JSON item, item
headers; attachments and other binary items dropped or replaced by a placeholder of the
same size), a store event, a security or NEL report, a check-in, any other JSON or text;
a body that cannot be read (not decoded, binary) goes as an attachment does."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import orjson

from sentry_mirror.core import envelope
from sentry_mirror.core.ingest import store_json
from sentry_mirror.core.lenient import loads_or_none
from sentry_mirror.core.pii import Scanner
from sentry_mirror.core.pii.pseudonym import is_pseudonym
from sentry_mirror.core.redact import http
from sentry_mirror.core.redact.payload import redact_payload
from sentry_mirror.core.redact.relay_engine import RelayEngine
from sentry_mirror.core.redact.tokens import Pseudonyms
from sentry_mirror.errors import EnvelopeError

DROP = "drop"
PLACEHOLDER = "placeholder"
ATTACHMENT_MODES = (DROP, PLACEHOLDER)
#: Item types whose payloads are binary (or compressed): never searched, always replaced.
BINARY_ITEM_TYPES = frozenset(
    {"attachment", "replay_recording", "replay_video", "unreal_report", "form_data", "minidump"}
)
#: Endpoints whose bodies are files (multipart, a large attachment's bytes, a debug file,
#: a chunk): replaced whole.
BINARY_ENDPOINTS = frozenset({"minidump", "unreal", "attachments", "tus_upload", "upload", "api_chunk_upload"})
#: What is text when it is not JSON: a statsd item, an answer's body. Any other payload that
#: does not parse (a body of an endpoint the mirror does not know too) is
#: :meth:`BodyRedactor.unparsed`.
TEXT_ITEM_TYPES = frozenset({"statsd", "answer"})
_PATTERN = b"[redacted]"
_LONGEST_EXTENSION = 8
_JSON_ENDPOINTS = {"security": "security", "nel": "nel", "cron": "check_in", "otlp": "otlp"}


def dumps(value: Any) -> bytes:
    """JSON for a payload as parsed, whatever it holds (integers over 64 bits, lone
    surrogates: written escaped, as the readers' lenient parser takes them)."""
    try:
        return orjson.dumps(value)
    except (TypeError, orjson.JSONEncodeError):
        return json.dumps(value, separators=(",", ":"), default=str).encode("ascii")


def placeholder(size: int) -> bytes:
    """``size`` bytes saying what was there: ``[redacted][redacted][re``."""
    return (_PATTERN * (size // len(_PATTERN) + 1))[:size]


def file_name(name: str, names: Pseudonyms) -> str:
    """An attachment's file name (``CV-Jane-Doe.pdf``) as ``<file:…>.pdf``: its stem
    pseudonymised (names are often in it), its extension kept (it says what the file is)."""
    stem, dot, extension = name.rpartition(".")
    if not (dot and stem and extension.isalnum() and len(extension) <= _LONGEST_EXTENSION):
        stem, extension = name, ""
    if not stem or is_pseudonym(stem):
        return name
    return names.of("file", stem) + (f".{extension}" if extension else "")


@dataclass
class BodyRedactor:
    """The parts every body of one export is redacted with."""

    names: Pseudonyms
    attachments: str = PLACEHOLDER
    relay: RelayEngine | None = None
    scanner: Scanner = field(default_factory=lambda: Scanner(exhaustive=True))  # every depth, every string whole

    def __post_init__(self) -> None:
        if self.relay is not None:
            self.names.patterns = self.relay.patterns

    def payload(self, payload: Any, item_type: str) -> Any:
        return redact_payload(payload, item_type, self.names, self.scanner, self.relay)

    def binary(self, data: bytes) -> bytes:
        return b"" if self.attachments == DROP else placeholder(len(data))

    def unparsed(self, data: bytes) -> bytes:
        """A body that should have parsed and did not (JSON with garbage after it, an
        envelope cut short): nothing says where its personal data is, so it goes as an
        attachment does, and the record's ``redacted.kinds`` says ``unparsed``."""
        self.names.kinds["unparsed"] += 1
        return self.binary(data)

    def text_or_binary(self, data: bytes) -> bytes:
        """Text (a statsd line, a text answer) with its personal data replaced, and every
        value after a key naming a secret or a user (:meth:`Pseudonyms.loose_text`); text
        that looks like JSON (it did not parse) and bytes that are not UTF-8 go as an
        attachment does."""
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            return self.binary(data)
        if text.lstrip()[:1] in ("{", "["):
            return self.unparsed(data)
        return self.names.loose_text(text).encode("utf-8")

    def json_or_text(self, data: bytes, item_type: str) -> bytes:
        """A JSON payload redacted; when it does not parse: as text for the types that are
        text (:data:`TEXT_ITEM_TYPES`), else as :meth:`unparsed`."""
        parsed = loads_or_none(data) if data.strip() else None
        if parsed is None:
            return self.text_or_binary(data) if item_type in TEXT_ITEM_TYPES else self.unparsed(data)
        return dumps(self.payload(parsed, item_type))

    def envelope(self, data: bytes) -> bytes:
        """An envelope rewritten (every item's ``length`` right); as text when it is none."""
        try:
            parsed = envelope.parse(data, strict=False)
        except EnvelopeError:
            return self.unparsed(data)
        header = self.payload(http.envelope_header(parsed.headers, self.names), "envelope_header")
        items = []
        for item in parsed.items:
            headers = self.payload(dict(item.headers), "item_header")
            if isinstance(headers.get("filename"), str):
                headers["filename"] = file_name(headers["filename"], self.names)
            payload = bytes(item.payload)
            if item.type in BINARY_ITEM_TYPES:
                if self.attachments == DROP:
                    continue
                payload = placeholder(len(payload))
            else:
                payload = self.json_or_text(payload, item.type)
            items.append(envelope.Item(headers, payload))
        return envelope.serialize(envelope.Envelope(header, tuple(items)))

    def store(self, data: bytes) -> bytes:
        """A store body (raw JSON, base64, base64 of zlib) written back as plain JSON."""
        if data.lstrip().startswith(b"{") and b"\n{" in data[:65536]:
            return self.envelope(data)
        text = store_json(data)
        event = loads_or_none(text) if text is not None else None
        if not isinstance(event, dict):
            return self.unparsed(data)
        kind = "transaction" if event.get("type") == "transaction" else "event"
        return dumps(self.payload(event, kind))

    def sentry_data(self, value: str) -> str:
        """The GET store pixel's ``sentry_data`` parameter."""
        return self.store(value.encode("utf-8")).decode("utf-8", "replace")

    def body(self, endpoint: str, data: bytes, *, readable: bool) -> bytes:
        """The redacted body of a request to ``endpoint``; ``readable`` false for a body
        kept as it came on the wire (not decoded)."""
        if not data:
            return data
        if not readable or endpoint in BINARY_ENDPOINTS:
            return self.binary(data)
        if endpoint in envelope.ENVELOPE_ENDPOINTS:
            return self.envelope(data)
        if endpoint == "store":
            return self.store(data)
        return self.json_or_text(data, _JSON_ENDPOINTS.get(endpoint, endpoint))
