"""``inspect``'s renderings: the request table and one request shown whole."""

from __future__ import annotations

import json
from typing import Any, Literal

from rich import box
from rich.console import Console
from rich.highlighter import JSONHighlighter
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from sentry_mirror.core import bodies, envelope
from sentry_mirror.core.describe import Row
from sentry_mirror.core.record import parse_time
from sentry_mirror.core.text import visible
from sentry_mirror.errors import EnvelopeError
from sentry_mirror.ui.fit import middle
from sentry_mirror.ui.render import COLUMN_GAP, NO_PROJECT, NO_SDK, human_size, item_label, scripted_label
from sentry_mirror.ui.safe import assemble, lines, text

#: inspect's columns, most important first: narrow terminals drop from the end.
_COLUMN_PRIORITY = (
    "time",
    "status",
    "items",
    "title",
    "event id",
    "sdk",
    "project",
    "level",
    "wire",
    "endpoint",
    "env",
    "release",
    "size",
)
_COLUMN_ORDER = (
    "time",
    "endpoint",
    "project",
    "sdk",
    "items",
    "event id",
    "title",
    "level",
    "env",
    "release",
    "wire",
    "size",
    "status",
)
_MIN_TITLE = 36  # a third of the width on narrow terminals


def _cells(row: Row, *, local_time: bool) -> dict[str, str | Text]:
    """The row's cells: captured values made visible (still to be fitted), the status styled."""
    moment = parse_time(row.received_at)
    cells: dict[str, str | Text] = {
        "time": (moment.astimezone() if local_time else moment).strftime("%m-%d %H:%M:%S"),
        "endpoint": row.endpoint,
        "project": row.project_id or NO_PROJECT,
        "sdk": f"{row.sdk_name} {row.sdk_version or ''}".strip() if row.sdk_name else NO_SDK,
        "items": item_label(list(row.item_types)),
        "event id": row.event_id[:8] if row.event_id else "-",
        "title": row.title or (row.error if row.status >= 300 else None) or "-",
        "level": row.level or "-",
        "env": row.environment or "-",
        "release": row.release or "-",
        "wire": human_size(row.wire_size),
        "size": human_size(row.body_size),
        "status": Text(str(row.status), style="red" if row.status >= 300 else "green"),
    }
    return {name: value if isinstance(value, Text) else visible(value) for name, value in cells.items()}


def _fit(cell: str | Text, width: int) -> Text:
    if isinstance(cell, Text):
        return cell
    return Text(cell if len(cell) * 2 <= width else middle(cell, width))  # a cell is at most two cells wide


def inspect_table(
    rows: list[Row], width: int, *, widths: dict[str, int] | None = None, header: bool = True, local_time: bool = False
) -> tuple[Table, dict[str, int]]:
    """The ``inspect`` table, one row per request, with the columns that fit in ``width``.

    Long listings are printed in pages: the widths of the first page (returned) are
    passed back for the next ones, which then line up under it without a header. Values
    too long for their column are cut in the middle (``--json`` has them whole).
    """
    cells = [_cells(row, local_time=local_time) for row in rows]
    if widths is None:
        widths = {name: min(40, max([len(name), *(len(str(c[name])) for c in cells)])) for name in _COLUMN_ORDER}
        used = min(_MIN_TITLE, width // 3) + 2
        for name in _COLUMN_PRIORITY:
            if name != "title" and used + widths[name] + 2 <= width:
                used += widths[name] + 2
            elif name != "title":
                widths[name] = 0  # does not fit: left out
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=True, show_header=header)
    columns = [name for name in _COLUMN_ORDER if name == "title" or widths[name]]
    for name in columns:
        if name == "title":
            table.add_column(name, ratio=1, min_width=min(_MIN_TITLE, width // 3), no_wrap=True, overflow="ellipsis")
        else:
            justify: Literal["left", "right"] = "right" if name in ("wire", "size", "status") else "left"
            table.add_column(name, justify=justify, no_wrap=True, overflow="ellipsis", width=widths[name])
    fitted = dict(widths)
    fitted["title"] = width - sum(widths[name] + COLUMN_GAP for name in columns if name != "title")
    fitted["title"] = max(fitted["title"], min(_MIN_TITLE, width // 3))  # what the title column gets
    for c in cells:
        table.add_row(*(_fit(c[name], fitted[name]) for name in columns))
    return table, widths


def _hexdump(data: bytes, limit: int = 256) -> str:
    lines = []
    for offset in range(0, min(len(data), limit), 16):
        chunk = data[offset : offset + 16]
        hexes = " ".join(f"{b:02x}" for b in chunk)
        text = "".join(chr(b) if 32 <= b < 127 else "." for b in chunk)
        lines.append(f"{offset:08x}  {hexes:<47}  {text}")
    if len(data) > limit:
        lines.append(f"… {len(data) - limit} more bytes")
    return "\n".join(lines)


def show_record(console: Console, data: dict[str, Any]) -> None:
    """``inspect show``: the request, its auth, the envelope header, then every item.

    Everything captured is shown literally and visibly (:mod:`sentry_mirror.ui.safe`)."""
    query = f"?{data['query']}" if data["query"] else ""
    console.print(assemble((f"{data['method']} {data['path']}{query}", "bold"), f"  → {data['response']['status']}"))
    console.print(text(f"record {data['id']}  received {data['received_at']}  from {data.get('remote_addr') or '-'}"))
    console.print(
        text(
            f"endpoint {data['endpoint']}  project {data.get('project_id') or '-'}  "
            f"wire {data['wire_size']} B ({data.get('content_encoding') or 'identity'})  decoded {data['body_size']} B"
        )
    )
    if data.get("error"):
        console.print(text(f"error: {data['error']}", style="red"))
    label = scripted_label(data)
    if label is not None:
        console.print(text(f"{label} ({data['scripted'].get('source')}; naturally {_natural(data)})", style="yellow"))
    headers = Table(box=None, show_header=False, pad_edge=False)
    headers.add_column(style="cyan")
    headers.add_column(overflow="fold")
    for name, value in data["headers"]:
        headers.add_row(text(name), text(value))
    console.print(Panel(headers, title="headers", title_align="left"))
    auth = data.get("auth")
    if auth:
        console.print(
            text("auth " + "  ".join(f"{key}={value}" for key, value in auth.items() if value is not None)),
            soft_wrap=True,
        )
    body = bodies.readable(data)
    if bodies.is_encoded(data):
        console.print(
            f"the body is kept compressed in the snapshot ({data.get('body_size')} bytes decoded): items over "
            f"{bodies.KEEP} bytes are left out below; `inspect --raw` writes it whole"
        )
    if data["endpoint"] not in envelope.ENVELOPE_ENDPOINTS or not data.get("body_decoded", True):
        console.print(Panel(_payload(body, None), title=f"body ({len(body)} bytes)", title_align="left"))
        return
    try:
        parsed = envelope.parse(body, strict=False)
    except EnvelopeError as exc:
        console.print(text(f"the body is not an envelope: {exc}", style="red"))
        console.print(Panel(_payload(body, None), title=f"body ({len(body)} bytes)", title_align="left"))
        return
    console.print(Panel(_json(parsed.headers), title="envelope header", title_align="left"))
    for index, item in enumerate(parsed.items, 1):
        title = f"item {index}: {item.type or '?'} ({len(item.payload)} bytes)"
        extra = {k: v for k, v in item.headers.items() if k not in ("type", "length")}
        if extra:
            title += "  " + " ".join(f"{k}={v}" for k, v in extra.items())
        console.print(
            Panel(_payload(item.payload, item.headers.get("content_type")), title=text(title), title_align="left")
        )


def _natural(data: dict[str, Any]) -> str:
    natural = data["scripted"].get("natural")
    return str(natural.get("status")) if isinstance(natural, dict) else "?"


def _json(value: Any) -> Text:
    """Pretty, highlighted JSON, with what JSON leaves raw (C1, DEL, bidi, lone surrogates) visible."""
    highlighted = JSONHighlighter()(lines(json.dumps(value, indent=2, ensure_ascii=False, default=str)))
    highlighted.no_wrap, highlighted.overflow = True, None  # as rich.json.JSON lays it out
    return highlighted


def _payload(payload: bytes | memoryview, content_type: Any) -> Any:
    """Pretty JSON when the payload is JSON, text when it is text, else a hex dump."""
    payload = bytes(payload)  # a view, for a huge item (core/envelope.py VIEW_ABOVE)
    if payload[:1] in (b"{", b"["):
        try:
            return _json(json.loads(payload.decode("utf-8")))
        except (ValueError, UnicodeDecodeError, RecursionError):
            pass
    try:
        decoded = payload.decode("utf-8")
    except UnicodeDecodeError:
        kind = content_type if isinstance(content_type, str) else "binary"
        return lines(f"{visible(kind)}, {len(payload)} bytes\n{_hexdump(payload)}")
    return lines(decoded if len(decoded) <= 4000 else decoded[:4000] + f"\n… {len(decoded) - 4000} more characters")
