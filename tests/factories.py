"""The one set of builders for test inputs: events, envelope bytes, ingest requests,
multipart bodies and snapshot records.

Each takes keyword overrides, so a test spells out only what it is about.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from sentry_mirror.core import ingest, record
from sentry_mirror.core.ingest import Request
from sentry_mirror.io.snapshot import iter_records

#: The committed sample snapshots (``sample-python``, ``-node``, ``-browser``: examples/ made them).
SNAPSHOTS = Path(__file__).resolve().parent.parent / "snapshots"
#: A 32-character public key, as a real DSN carries.
KEY = "e12d836b15bb49d7bbf99e64295d995b"
OTHER_KEY = "0123456789abcdef0123456789abcdef"
PROJECT = "42"
EVENT_ID = "9ec79c33ec9942ab8353589fcb2e04dc"
DSN = f"https://{KEY}@o1.ingest.sentry.io/{PROJECT}"
QUERY_AUTH = f"sentry_key={KEY}&sentry_version=7"
ENVELOPE_PATH = f"/api/{PROJECT}/envelope/"
#: When records are received unless a test says otherwise.
T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)

#: Envelope items: ``(item_headers, payload)``; a payload that is not bytes is written as JSON.
Items = Sequence[tuple[dict[str, Any], Any]]


def make_event(**overrides: Any) -> dict[str, Any]:
    """An error event as sentry-python sends it; ``overrides`` replace top-level keys."""
    event: dict[str, Any] = {
        "event_id": EVENT_ID,
        "timestamp": 1777629600.0,
        "platform": "python",
        "level": "error",
        "exception": {
            "values": [
                {
                    "type": "ZeroDivisionError",
                    "value": "division by zero",
                    "stacktrace": {"frames": [{"module": "app", "function": "run", "lineno": 3, "in_app": True}]},
                }
            ]
        },
    }
    event.update(overrides)
    return event


def make_envelope(
    headers: dict[str, Any] | None = None,
    items: Items | None = None,
    *,
    trailing_newline: bool = True,
    explicit_length: bool = True,
    ascii_headers: bool = False,
) -> bytes:
    """Envelope bytes: ``headers`` (default: the event id) then each ``(item_headers, payload)``.

    A payload that is not bytes is written as compact JSON (orjson). With ``explicit_length``
    every item header gets ``length`` (last) unless it already has one; without it, item
    headers are written as given (implicit length). Headers are compact UTF-8 JSON, or with
    ``ascii_headers`` as Python's ``json.dumps`` writes them (``\\u`` escapes, spaced).
    """
    if headers is None:
        headers = {"event_id": EVENT_ID}
    if items is None:
        items = [({"type": "event"}, make_event())]
    dumps = _ascii_json if ascii_headers else orjson.dumps
    parts = [dumps(headers)]
    for item_headers, payload in items:
        data = payload if isinstance(payload, bytes) else orjson.dumps(payload)
        if explicit_length and "length" not in item_headers:
            item_headers = {**item_headers, "length": len(data)}
        parts += [b"\n", dumps(item_headers), b"\n", data]
    if trailing_newline:
        parts.append(b"\n")
    return b"".join(parts)


def _ascii_json(value: Any) -> bytes:
    return json.dumps(value).encode()


def make_request(
    *,
    path: str = ENVELOPE_PATH,
    body: bytes | None = None,
    headers: Sequence[tuple[str, str]] = (),
    query: str = QUERY_AUTH,
    method: str = "POST",
) -> Request:
    """A request to the ingest core; the body defaults to :func:`make_envelope`'s."""
    return Request(
        method=method,
        path=path,
        query=query,
        headers=tuple(headers),
        body=make_envelope() if body is None else body,
    )


def make_multipart(
    *parts: tuple[str, str | None, bytes], boundary: str = "sentry-mirror-boundary"
) -> tuple[bytes, str]:
    """A ``multipart/form-data`` body from ``(name, filename, data)`` parts, and its Content-Type."""
    chunks = []
    for name, filename, data in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        head = f"--{boundary}\r\nContent-Disposition: {disposition}\r\n"
        if filename:
            head += "Content-Type: application/octet-stream\r\n"
        chunks.append(head.encode() + b"\r\n" + data + b"\r\n")
    body = b"".join(chunks) + f"--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def make_record(
    request: Request | None = None, *, config: ingest.Config | None = None, **fields: Any
) -> dict[str, Any]:
    """A whole snapshot record; ``fields`` replace its top-level fields.

    With ``request``: the record the listener builds for it (ingest's answer under ``config``,
    a fresh id, received at :data:`T0`, no remote address; header pairs are tuples until
    ``record.dumps`` writes the line readers read). Without: a small record of a request
    refused with 404 (id ``0`` × 32, received at :data:`T0`), written by hand: readers skip a
    record that lacks a field the listener writes. ``received_at`` may be given as a ``datetime``.
    """
    if isinstance(fields.get("received_at"), datetime):
        fields["received_at"] = record.format_time(fields["received_at"])
    if request is not None:
        outcome = ingest.handle(request, config or ingest.Config())
        return {**record.build(request, outcome, received_at=T0, remote_addr=None), **fields}
    entry: dict[str, Any] = {
        "v": 1,
        "id": "0" * 32,
        "received_at": record.format_time(T0),
        "remote_addr": None,
        "method": "POST",
        "path": "/",
        "query": "",
        "headers": [],
        "endpoint": "unknown",
        "project_id": None,
        "auth": None,
        "content_encoding": None,
        "wire_size": 0,
        "body_size": 0,
        "body": "",
        "body_base64": False,
        "summary": {"event_id": None, "items": []},
        "error": None,
        "response": {"status": 404, "headers": [], "body": "", "body_base64": False},
    }
    return {**entry, **fields}


def sample_records(name: str = "python") -> list[dict[str, Any]]:
    """The records of the committed sample snapshot ``snapshots/sample-{name}.jsonl.zst``, as
    readers get them: real SDK traffic the listener wrote."""
    return [r.data for r in iter_records([SNAPSHOTS / f"sample-{name}.jsonl.zst"])]


def accepted_envelope_record() -> dict[str, Any]:
    """An accepted envelope request to project 1 (an empty envelope), as replay's plan reads it."""
    return make_record(
        path="/api/1/envelope/",
        endpoint="envelope",
        project_id="1",
        body="{}\n",
        body_decoded=True,
        response={"status": 200},
    )


def make_answer(request: dict[str, Any] | None = None, **fields: Any) -> dict[str, Any]:
    """An answer record (core/answer.py) to ``request`` (default: :func:`accepted_envelope_record`):
    the upstream (the request's ``forwarded_to``, if any) answered 200, 2 ms after :data:`T0`;
    ``fields`` replace its fields. ``answered_at`` (a datetime) and ``body`` (bytes) go
    through ``answer.build``."""
    from sentry_mirror.core import answer

    request = request if request is not None else accepted_envelope_record()
    items = [str(item.get("type")) for item in (request.get("summary") or {}).get("items") or ()]
    upstream = fields.get("target", "upstream") == "upstream" and request.get("forwarded_to")
    built = {
        "request_id": request["id"],
        "target": "upstream",
        "to": upstream or "http://127.0.0.1:9000/1",
        "answered_at": T0,
        "endpoint": request["endpoint"],
        "item_types": items,
        "status": 200,
        "headers": [("Content-Type", "application/json")],
        "body": b'{"id":"' + (EVENT_ID.encode()) + b'"}',
        "latency_ms": 2.0,
        "returned": True,
    }
    built.update({k: fields.pop(k) for k in list(fields) if k in built or k in ("error", "dropped", "via")})
    return {**answer.build(**built), **fields}


def make_result(
    event_id: str | None = EVENT_ID,
    item_types: tuple[str, ...] = ("event",),
    status: int | None = 200,
    project: str = "1",
    error: str | None = None,
) -> Any:
    """A replay result (core/replay/results.py): an envelope to project ``project`` with
    ``item_types``, answered ``status`` (or failed with ``error``)."""
    from sentry_mirror.core.replay.results import Result
    from sentry_mirror.core.replay.rewrite import Prepared

    prepared = Prepared(
        record_id="r",
        method="POST",
        url=f"http://x/api/{project}/envelope/",
        headers=(),
        body=b"",
        decoded=b"",
        encoding=None,
        endpoint="envelope",
        project_id=project,
        event_id=event_id,
        item_types=item_types,
        categories=(),
        recorded_status=200,
        changes=(),
    )
    return Result(prepared, 0.0, status=status, error=error)


#: Bundle files: ``url -> (manifest type, content, manifest headers)``, e.g.
#: ``{"~/app.min.js": ("minified_source", b"...", {"debug-id": ID, "sourcemap": "app.min.js.map"})}``.
BundleFiles = dict[str, tuple[str, bytes, dict[str, str]]]


def make_artifact_bundle(files: BundleFiles, **attributes: str) -> bytes:
    """An artifact bundle as sentry-cli uploads it (symbolic's SourceBundleWriter): the 8-byte
    header (``SYSB``, version 2) then a zip holding the files and ``manifest.json``
    (``files``: path in the zip -> url, type, headers; ``attributes``: ``org``, ``release``,
    ``dist``, ``debug_id``... at the manifest's top level)."""
    import io
    import struct
    import zipfile

    manifest: dict[str, Any] = {"files": {}, **attributes}
    buffer = io.BytesIO()
    buffer.write(b"SYSB" + struct.pack("<I", 2))

    def member(name: str) -> zipfile.ZipInfo:  # a fixed time: the same files give the same bytes
        return zipfile.ZipInfo(name, date_time=T0.timetuple()[:6])

    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as bundle:
        for number, (url, (kind, content, headers)) in enumerate(files.items()):
            name = f"files/_/_/{url[2:]}" if url.startswith("~/") else f"files/{number}/{url.rsplit('/', 1)[-1]}"
            bundle.writestr(member(name), content, zipfile.ZIP_DEFLATED)
            manifest["files"][name] = {"url": url, "type": kind, "headers": headers}
        bundle.writestr(member("manifest.json"), json.dumps(manifest), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def make_upload(body: bytes, *, kind: str = "artifact_bundle", **upload: Any) -> dict[str, Any]:
    """An upload record (design of issue 15: the file an assemble call put together), holding
    ``body``; ``upload`` replaces fields of its ``upload`` object (``release``, ``dist``,
    ``projects``, ``debug_id``, ``name``...). Its summary items are left empty: the listener
    fills them from the file; readers must not need them."""
    import hashlib

    text, is_base64 = record.encode_bytes(body)
    checksum = hashlib.sha1(body).hexdigest()
    bundle = kind == "artifact_bundle"
    path = (
        "/api/0/organizations/acme/artifactbundle/assemble/"
        if bundle
        else "/api/0/projects/acme/web/files/difs/assemble/"
    )
    details = {
        "kind": kind,
        "request_id": "1" * 32,
        "org": "acme",
        "project": None if bundle else "web",
        "projects": ["web"],
        "release": None,
        "dist": None,
        "checksum": checksum,
        "chunks": [checksum],
        "name": None,
        "debug_id": None,
        **upload,
    }
    return make_record(
        id=record.new_id(),
        path=path,
        endpoint="upload",
        headers=[["content-type", "application/zip" if bundle else "application/octet-stream"]],
        body=text,
        body_base64=is_base64,
        body_decoded=True,
        wire_size=len(body),
        body_size=len(body),
        summary={"event_id": None, "release": details["release"], "items": []},
        response={"status": 200, "headers": [], "body": '{"state":"ok","missingChunks":[]}', "body_base64": False},
        upload=details,
    )


def make_api_record(
    endpoint: str, method: str, path: str, body: Any, *, status: int = 200, **api: Any
) -> dict[str, Any]:
    """A web API record as the listener writes it (design of issue 15): an ordinary request
    record with ``endpoint`` ``api_*``, the token redacted, the body as received (``body``: a
    string as is, anything else as JSON) and ``api`` (``org`` acme, ``project`` web,
    ``release`` None unless given)."""
    text = body if isinstance(body, str) else orjson.dumps(body).decode()
    redacted = "redacted:0123456789ab"
    return make_record(
        id=record.new_id(),
        method=method,
        path=path,
        query="",
        endpoint=endpoint,
        headers=[["authorization", f"Bearer {redacted}"], ["content-type", "application/json"]],
        auth={"form": "bearer", "token": redacted},
        body=text,
        body_size=len(text.encode()),
        wire_size=len(text.encode()),
        response={"status": status, "headers": [], "body": "{}", "body_base64": False},
        api={"org": "acme", "project": "web", "release": None, **api},
    )


def make_js_event(
    abs_path: str,
    positions: Sequence[tuple[int, int]],
    *,
    debug_id: str | None = None,
    in_app: bool = True,
    **overrides: Any,
) -> dict[str, Any]:
    """A JavaScript error event as @sentry/node sends it: one exception whose frames are at
    ``positions`` (``(line, column)``, innermost first as V8 lists them; Sentry's order,
    outermost first, in the event) in ``abs_path``; with ``debug_id``, the ``debug_meta``
    image of type ``sourcemap`` giving the file that id. ``overrides`` replace top-level keys."""
    frames = [
        {"abs_path": abs_path, "filename": abs_path, "lineno": line, "colno": column, "function": "?", "in_app": in_app}
        for line, column in reversed(positions)
    ]
    event = make_event(
        platform="node",
        exception={"values": [{"type": "Error", "value": "boom", "stacktrace": {"frames": frames}}]},
    )
    if debug_id is not None:
        event["debug_meta"] = {"images": [{"type": "sourcemap", "code_file": abs_path, "debug_id": debug_id}]}
    return {**event, **overrides}


def make_event_record(event: dict[str, Any]) -> dict[str, Any]:
    """The record of an accepted envelope carrying ``event``."""
    body = make_envelope({"event_id": event["event_id"]}, [({"type": "event"}, event)])
    return make_record(make_request(body=body))


def write_snapshot(path: Path, records: list[dict[str, Any]]) -> Path:
    """``records`` written to ``path`` (its directories made) as the listener writes a snapshot."""
    from sentry_mirror.io.snapshot import SnapshotWriter

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as fo:
        writer = SnapshotWriter(fo)
        writer.write(records)
        writer.close()
    return path


#: The SDK :func:`make_sdk_record` names by default (the one docs/sdk-failure-behaviour.md measured).
SDK_PYTHON = ("sentry.python", "2.75.0")
#: An item as :func:`make_sdk_record` takes it: a name (``event``, ``transaction``, any type:
#: an empty object) or ``(item_headers, payload)``.
Kind = str | tuple[dict[str, Any], Any]


def make_client_report(*discarded: tuple[str, str, int]) -> tuple[dict[str, Any], Any]:
    """A ``client_report`` envelope item listing ``(reason, category, quantity)`` rows."""
    rows = [{"reason": reason, "category": category, "quantity": n} for reason, category, n in discarded]
    return {"type": "client_report"}, {"timestamp": 1777629600.0, "discarded_events": rows}


def make_scripted(
    rule: str = "rate-limit-transactions",
    *,
    natural: int = 200,
    delay_ms: int = 0,
    drop: bool = False,
    partial: bool = False,
    source: str | None = None,
) -> dict[str, Any]:
    """A record's ``scripted`` field (the rule that answered), as the listener writes it."""
    return {
        "rule": rule,
        "source": source if source is not None else f"scenario {rule}",
        "natural": {"status": natural},
        "delay_ms": delay_ms,
        "drop": drop,
        "partial": partial,
    }


def make_sdk_record(
    kinds: Sequence[Kind] = ("event",),
    *,
    at: float = 0.0,
    event_id: str | None = None,
    sdk: tuple[str, str] = SDK_PYTHON,
    status: int | None = None,
    headers: Sequence[tuple[str, str]] = (),
    scripted: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The record of an envelope ``sdk`` sent ``at`` seconds after :data:`T0`, carrying
    ``kinds`` (an ``event`` gets ``event_id``), with ``event_id`` in its header. Answered
    with ``status`` and ``headers`` when given (status 0: the connection dropped), else the
    mirror's natural answer; ``scripted`` (:func:`make_scripted`) marks the answer scripted."""
    from datetime import timedelta

    items = []
    for kind in kinds:
        if isinstance(kind, tuple):
            items.append(kind)
        elif kind == "event":
            items.append(({"type": "event"}, make_event(event_id=event_id or EVENT_ID)))
        else:
            items.append(({"type": kind}, {"type": kind} if kind == "transaction" else {}))
    header: dict[str, Any] = {"sdk": {"name": sdk[0], "version": sdk[1]}}
    if event_id is not None:
        header["event_id"] = event_id
    entry = make_record(make_request(body=make_envelope(header, items)), received_at=T0 + timedelta(seconds=at))
    if status is not None:
        entry["response"] = {
            "status": status,
            "headers": [list(pair) for pair in headers],
            "body": "",
            "body_base64": False,
        }
    if scripted is not None:
        entry["scripted"] = scripted
    return entry


#: The real captures committed with the project: three SDKs' samples and the v1 golden file.
REAL_CAPTURES = (
    *sorted((Path(__file__).parents[1] / "snapshots").glob("sample-*.jsonl.zst")),
    Path(__file__).parent / "data" / "v1-sentry-python-2.75.0.jsonl.zst",
)


def write_interleaved_capture(
    directory: Path, *, copies: int = 6, writers: int = 3, frame_size: int = 4096, answers: bool = True
) -> Path:
    """A capture of several writers into ``directory`` (made), for ``--jobs`` tests: the
    records of :data:`REAL_CAPTURES` ``copies`` times over, with fresh ids and times (every
    third time shared by two records: ties across writers), dealt to ``writers`` writers in
    turn, each a file of many small frames; with ``answers``, an answer record (forward
    mode) after every fifth request, in the next writer's file."""
    from datetime import timedelta

    from sentry_mirror.io.snapshot import SnapshotWriter

    directory.mkdir(parents=True, exist_ok=True)
    originals = [r.data for path in REAL_CAPTURES for r in iter_records([path])]
    per_writer: list[list[dict[str, Any]]] = [[] for _ in range(writers)]
    number = 0
    for copy in range(copies):
        for data in originals:
            at = T0 + timedelta(milliseconds=100 * (number - number // 3))
            entry = {**data, "id": f"{copy:08x}{number:024x}", "received_at": record.format_time(at)}
            per_writer[number % writers].append(entry)
            if answers and number % 5 == 0:
                reply = make_answer(entry, answered_at=at + timedelta(milliseconds=50))
                per_writer[(number + 1) % writers].append(reply)
            number += 1
    for index, entries in enumerate(per_writer):
        entries.sort(key=lambda entry: entry["received_at"])
        path = directory / f"2026-11-23T10-00-00Z-host{index}-{100 + index}.jsonl.zst"
        with path.open("wb") as fo:
            writer = SnapshotWriter(fo, frame_size=frame_size)
            for start in range(0, len(entries), 4):
                writer.write(entries[start : start + 4])
            writer.close()
    return directory
