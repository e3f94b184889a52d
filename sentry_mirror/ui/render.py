"""Rich renderings. Every function takes the Console (or returns a renderable); none makes one."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.highlighter import JSONHighlighter
from rich.panel import Panel
from rich.style import Style
from rich.table import Table
from rich.text import Text

from sentry_mirror.core import bodies, envelope
from sentry_mirror.core.describe import Row
from sentry_mirror.core.grouping import Comparison, Group, TransactionGroup
from sentry_mirror.core.record import parse_time
from sentry_mirror.core.summary import record_title
from sentry_mirror.core.text import visible
from sentry_mirror.errors import EnvelopeError
from sentry_mirror.ui.safe import assemble, lines, text


def human_size(size: int) -> str:
    """``2.1 KB``: decimal units, as the listener's live line shows sizes."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def item_label(types: list[str]) -> str:
    """``event+attachment``, ``3×log`` for repeats, ``-`` for none."""
    counts: dict[str, int] = {}
    for kind in types:
        counts[kind or "?"] = counts.get(kind or "?", 0) + 1
    return "+".join(kind if n == 1 else f"{n}×{kind}" for kind, n in counts.items()) or "-"


def sdk_label(record: dict[str, Any]) -> str:
    sdk = record["summary"].get("sdk")
    if sdk:
        return sdk.replace("/", " ", 1)
    for name, value in record["headers"]:
        if name.lower() == "user-agent":
            return value
    return "-"


Segments = list[tuple[str, str | None]]


def line_segments(record: dict[str, Any], *, local_time: bool = True) -> Segments:
    """The live line as ``(text, style)`` pieces, shared by :func:`request_line` and :class:`LiveLines`;
    every piece visible (captured control characters escaped), none read as markup."""
    moment: datetime = parse_time(record["received_at"])
    clock = (moment.astimezone() if local_time else moment).strftime("%H:%M:%S")
    status = record["response"]["status"]
    summary = record["summary"]
    project = record.get("project_id")
    items = item_label([item["type"] for item in summary["items"]])
    if record["endpoint"] not in ("envelope", "tunnel"):
        items = f"{record['endpoint']}:{items}"
    segments: Segments = [
        (clock, "dim"),
        ("  ", None),
        (f"project {project}" if project else record["endpoint"], "cyan"),
        ("  ", None),
        (sdk_label(record), "magenta"),
        ("  ", None),
        (items, "bold"),
    ]
    title = record_title(record)
    if title:
        segments += [("  ", None), (title, None)]
    segments += [("  ", None), (human_size(record["wire_size"]), "dim")]
    if status >= 300:
        segments += [("  ", None), (f"{status} {record.get('error') or ''}".rstrip(), "bold red")]
    if "".join(piece for piece, _ in segments).isprintable():  # the common case: one check for the line
        return segments
    return [(visible(piece), style) for piece, style in segments]


def request_line(record: dict[str, Any], *, local_time: bool = True) -> Text:
    """One line per request, as ``listen`` prints it while running."""
    return Text.assemble(*((piece, style or "") for piece, style in line_segments(record, local_time=local_time)))


class LiveLines:
    """Writes live lines to a Console's file fast: styles are rendered to escape codes once.

    Printing a Text through Rich costs about 70 µs a line, more than the listener spends on
    the request itself; this writes the same line, styled for the Console's terminal (or
    plain for a pipe or NO_COLOR), at a fraction of that.
    """

    def __init__(self, console: Console) -> None:
        self._console = console
        self._codes: dict[str | None, tuple[str, str]] = {None: ("", "")}
        if console.is_terminal and not console.no_color and console.color_system is not None:
            for name in ("dim", "cyan", "magenta", "bold", "bold red"):
                rendered = Style.parse(name).render("\0", color_system=console.color_system)
                start, _, reset = rendered.partition("\0")
                self._codes[name] = (start, reset)

    def write(self, record: dict[str, Any]) -> None:
        codes = self._codes
        parts = []
        for segment, style in line_segments(record):
            start, reset = codes.get(style, ("", ""))
            parts.append(f"{start}{segment}{reset}")
        parts.append("\n")
        self._console.file.write("".join(parts))
        self._console.file.flush()


def banner(console: Console, dsn: str, path: str, *, keys: frozenset[str]) -> None:
    """What ``listen`` prints on start: the DSN to paste and the snapshot file."""
    hint = "(any key, any project id works)" if not keys else f"(keys accepted: {', '.join(sorted(keys))})"
    console.print(assemble("  DSN   ", (dsn, "bold green"), "     ", (hint, "dim")), soft_wrap=True)
    into_line(console, path)


def into_line(console: Console, path: str) -> None:
    """``  into  <file>``: on start, and again whenever the listener rotates to a new file."""
    console.print(assemble("  into  ", (path, "bold")), soft_wrap=True)


# ---------------------------------------------------------------- inspect

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


def _cells(row: Row, *, local_time: bool) -> dict[str, Text]:
    moment = parse_time(row.received_at)
    cells: dict[str, str | Text] = {
        "time": (moment.astimezone() if local_time else moment).strftime("%m-%d %H:%M:%S"),
        "endpoint": row.endpoint,
        "project": row.project_id or "-",
        "sdk": f"{row.sdk_name} {row.sdk_version or ''}".strip() if row.sdk_name else "-",
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
    return {name: value if isinstance(value, Text) else text(value) for name, value in cells.items()}


def inspect_table(
    rows: list[Row], width: int, *, widths: dict[str, int] | None = None, header: bool = True, local_time: bool = False
) -> tuple[Table, dict[str, int]]:
    """The ``inspect`` table, one row per request, with the columns that fit in ``width``.

    Long listings are printed in pages: the widths of the first page (returned) are
    passed back for the next ones, which then line up under it without a header.
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
            justify = "right" if name in ("wire", "size", "status") else "left"
            table.add_column(name, justify=justify, no_wrap=True, overflow="ellipsis", width=widths[name])
    for c in cells:
        table.add_row(*(c[name] for name in columns))
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
    if data["endpoint"] not in ("envelope", "tunnel") or not data.get("body_decoded", True):
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


# ---------------------------------------------------------------- group


def _when(moment: datetime) -> str:
    return moment.strftime("%m-%d %H:%M:%S")


def groups_table(groups: list[Group], width: int) -> Table:
    """``group``: one row per issue, most events first."""
    wide = width >= 140
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=True)
    table.add_column("group", no_wrap=True)
    table.add_column("events", justify="right", no_wrap=True)
    table.add_column("users", justify="right", no_wrap=True)
    table.add_column("level", no_wrap=True)
    table.add_column("title", ratio=3, no_wrap=True, overflow="ellipsis", min_width=20)
    table.add_column("culprit", ratio=1, no_wrap=True, overflow="ellipsis", min_width=12)
    if wide:
        table.add_column("first seen", no_wrap=True)
        table.add_column("last seen", no_wrap=True)
        table.add_column("sdk", no_wrap=True, overflow="ellipsis", max_width=28)
        table.add_column("release", no_wrap=True, overflow="ellipsis", max_width=20)
        table.add_column("env", no_wrap=True, overflow="ellipsis", max_width=14)
    for group in groups:
        cells = [group.short_id, str(group.count), str(group.users), group.level, group.title, group.culprit or "-"]
        if wide:
            cells += [
                _when(group.first_seen),
                _when(group.last_seen),
                ", ".join(group.sdks) or "-",
                ", ".join(group.releases) or "-",
                ", ".join(group.environments) or "-",
            ]
        table.add_row(*(text(cell) for cell in cells))
    return table


def group_detail(console: Console, group: Group) -> None:
    """``group show``: the group's facts, why its events group together, and its events."""
    console.print(assemble((group.short_id, "bold"), f"  {group.title}"), soft_wrap=True)
    facts = Table(box=None, show_header=False, pad_edge=False)
    facts.add_column(style="cyan", no_wrap=True)
    facts.add_column(overflow="fold")
    for name, value in (
        ("events", str(group.count)),
        ("users", str(group.users)),
        ("level", group.level),
        ("culprit", group.culprit or "-"),
        ("first seen", group.first_seen.isoformat()),
        ("last seen", group.last_seen.isoformat()),
        ("sdks", ", ".join(group.sdks) or "-"),
        ("platforms", ", ".join(group.platforms) or "-"),
        ("releases", ", ".join(group.releases) or "-"),
        ("environments", ", ".join(group.environments) or "-"),
        ("hash", group.hash),
        ("grouped by", "\n".join(visible(component) for component in group.components)),
    ):
        facts.add_row(name, lines(value) if name == "grouped by" else text(value))
    console.print(facts)
    events = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    events.add_column("event id", no_wrap=True)
    events.add_column("record id", no_wrap=True)
    for event_id, record_id in zip(group.event_ids, group.record_ids, strict=True):
        events.add_row(text(event_id), text(record_id))
    console.print(events)
    if group.count > len(group.event_ids):
        console.print(f"… and {group.count - len(group.event_ids)} more events", style="dim")


def comparison(console: Console, result: Comparison) -> None:
    """``group --compare``: issue counts per strategy, then where each pair splits or merges."""
    counts = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    counts.add_column("strategy")
    counts.add_column("issues", justify="right")
    for name in result.strategies:
        counts.add_row(text(name), str(result.counts[name]))
    console.print(counts)
    titles = {group.short_id: group.title for groups in result.groups.values() for group in groups}
    for pair in result.pairs:
        if not pair.splits and not pair.merges:
            console.print(text(f"{pair.a} → {pair.b}: the same issues"))
            continue
        console.print(text(f"{pair.a} → {pair.b}", style="bold"))
        for short_id in pair.splits:
            parts = ", ".join(f"{b} ({n})" for b, n in pair.targets(short_id))
            console.print(text(f"  splits {short_id} {titles.get(short_id, '')!r} into {parts}"), soft_wrap=True)
        for short_id in pair.merges:
            sources = [f"{flow.a} ({flow.events})" for flow in pair.flows if flow.b == short_id]
            console.print(
                text(f"  merges {', '.join(sources)} into {short_id} {titles.get(short_id, '')!r}"), soft_wrap=True
            )


def transactions_table(groups: list[TransactionGroup]) -> Table:
    """``group --item-type transaction``: by name and op, with counts and duration percentiles."""
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("transaction", overflow="fold")
    table.add_column("op", no_wrap=True)
    table.add_column("count", justify="right")
    table.add_column("p50 ms", justify="right")
    table.add_column("p95 ms", justify="right")
    for group in groups:
        table.add_row(
            text(group.name),
            text(group.op or "-"),
            str(group.count),
            f"{group.p50_ms:.1f}" if group.p50_ms is not None else "-",
            f"{group.p95_ms:.1f}" if group.p95_ms is not None else "-",
        )
    return table
