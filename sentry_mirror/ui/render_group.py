"""``group``'s renderings: the issue and transaction tables, one group, a comparison."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sentry_mirror.core.grouping import Comparison, Group, TransactionGroup
from sentry_mirror.core.text import visible
from sentry_mirror.ui.fit import middle
from sentry_mirror.ui.render import COLUMN_GAP, NO_SDK
from sentry_mirror.ui.safe import assemble, lines, text


def _when(moment: datetime) -> str:
    return moment.strftime("%m-%d %H:%M:%S")


def _natural(header: str, cells: list[str], limit: int | None = None) -> int:
    """A column's width: its widest cell or header, at most ``limit``."""
    natural = max([cell_len(header), *(cell_len(cell) for cell in cells)])
    return natural if limit is None else min(natural, limit)


_NARROW = ("group", "events", "users", "level", "title", "culprit")
_WIDE = (*_NARROW, "first seen", "last seen", "sdk", "release", "env")
_LIMITS = {"sdk": 28, "release": 20, "env": 14}
#: The least a title gets before the wide layout (with dates, SDKs, releases) gives way.
_WIDE_TITLE = 30


def _group_cells(group: Group) -> list[str]:
    cells = [
        *(group.short_id, str(group.count), str(group.users), group.level, group.title, group.culprit or "-"),
        *(_when(group.first_seen), _when(group.last_seen), ", ".join(group.sdks) or NO_SDK),
        *(", ".join(group.releases) or "-", ", ".join(group.environments) or "-"),
    ]
    return [visible(cell) for cell in cells]


def _layout(headers: tuple[str, ...], rows: list[list[str]], width: int) -> list[int]:
    """Each column's width: the others as wide as their cells, the title and the culprit
    sharing the rest: the culprit a quarter (at least 12), or more when the titles leave it."""
    widths = [_natural(name, [row[i] for row in rows], _LIMITS.get(name)) for i, name in enumerate(headers)]
    title, culprit = widths[4], widths[5]
    room = width - sum(widths) + title + culprit - COLUMN_GAP * (len(headers) - 1)
    widths[5] = max(min(culprit, max(12, room // 4)), room - title)  # what the title leaves, when it fits
    widths[4] = room - widths[5]
    return widths


def groups_table(groups: list[Group], width: int) -> Table:
    """``group``: one row per issue, most events first; dates, SDKs, releases and environments
    too when the terminal is wide. Longer values are cut in the middle (``--json`` has them)."""
    rows = [_group_cells(group) for group in groups]
    headers: tuple[str, ...] = _WIDE
    widths = _layout(headers, rows, width)
    if width < 140 or widths[4] < min(_WIDE_TITLE, _natural("title", [row[4] for row in rows])):
        headers = _NARROW
        widths = _layout(headers, rows, width)
    widths[4] = max(widths[4], 10)
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=True)
    for name, column_width in zip(headers, widths, strict=True):
        justify: Literal["left", "right"] = "right" if name in ("events", "users") else "left"
        table.add_column(name, justify=justify, no_wrap=True, overflow="ellipsis", width=column_width)
    for row in rows:
        table.add_row(*(Text(middle(cell, column_width)) for cell, column_width in zip(row, widths, strict=False)))
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


def transactions_table(groups: list[TransactionGroup], width: int) -> Table:
    """``group --item-type transaction``: by name and op, with counts and duration percentiles.
    A name longer than the room left is cut in the middle (``--json`` has it whole)."""
    rows = [
        [
            visible(group.name),
            visible(group.op or "-"),
            str(group.count),
            f"{group.p50_ms:.1f}" if group.p50_ms is not None else "-",
            f"{group.p95_ms:.1f}" if group.p95_ms is not None else "-",
        ]
        for group in groups
    ]
    headers = ["transaction", "op", "count", "p50 ms", "p95 ms"]
    widths = [_natural(name, [row[i] for row in rows]) for i, name in enumerate(headers)]
    widths[0] = max(len(headers[0]), min(widths[0], width - sum(widths[1:]) - COLUMN_GAP * (len(headers) - 1)))
    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
    table.add_column("transaction", no_wrap=True)
    table.add_column("op", no_wrap=True)
    table.add_column("count", justify="right")
    table.add_column("p50 ms", justify="right")
    table.add_column("p95 ms", justify="right")
    for row in rows:
        table.add_row(Text(middle(row[0], widths[0])), *(Text(cell) for cell in row[1:]))
    return table
