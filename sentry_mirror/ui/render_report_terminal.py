"""The report and the diff on the terminal (Rich), from the document model of
:mod:`sentry_mirror.ui.render_report`: tables fitted to the terminal's width, long paths and
titles cut in the middle (:func:`sentry_mirror.ui.fit.middle`), missing SDKs and projects
labelled."""

from __future__ import annotations

from collections.abc import Sequence

from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table as RichTable

from sentry_mirror.ui import safe
from sentry_mirror.ui.fit import middle
from sentry_mirror.ui.render_report import Section, Table, cell


def terminal(console: Console, sections: Sequence[Section], title: str = "sentry-mirror report") -> None:
    """Print the document to a Rich console (every string as literal, visible text)."""
    console.print(safe.text(title, style="bold"))
    for section in sections:
        console.print()
        console.rule(safe.text(section.title, style="bold"), align="left")
        if section.facts:
            facts = RichTable(box=None, show_header=False, pad_edge=False)
            facts.add_column(style="dim")
            facts.add_column()
            for label, value in section.facts:
                facts.add_row(safe.text(label), safe.text(value))
            console.print(facts)
        for table in section.tables:
            if not table.rows:
                continue
            console.print(safe.text(table.terminal_title or table.title, style="bold"))
            rich = RichTable(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
            rows, rooms = _cut(table, console.width)
            for index, column in enumerate(table.columns):
                rich.add_column(
                    safe.text(column),
                    justify="right" if index in table.numeric else "left",
                    overflow="fold",
                    width=rooms.get(index),  # a cut column keeps its room: a longer heading wraps
                )
            for row in rows:
                rich.add_row(*(safe.text(value) for value in row))
            console.print(rich)
            console.print()
        for note in section.notes:
            console.print(safe.text(note, style="dim"))


#: The narrowest a wide column is cut to, and the room a column boundary takes.
MIN_WIDE = 12
_GAP = 3


def _cut(table: Table, width: int) -> tuple[list[list[str]], dict[int, int]]:
    """The table's cells as the terminal shows them, and the width of each column that was
    cut or wrapped: missing values labelled, the wide columns cut in the middle
    (:func:`sentry_mirror.ui.fit.middle`) to share what the other columns leave of ``width``
    with the wrapped ones (the narrowest first, each taking no more than it needs)."""
    rows = [[cell(value) for value in row] for row in table.rows]
    for index, label in table.missing.items():
        for row in rows:
            if row[index] == "-":
                row[index] = label
    rooms: dict[int, int] = {}
    shared = table.wide | table.wrapped
    if not shared:
        return rows, rooms
    needs = [
        max(cell_len(value) for value in (heading, *(row[i] for row in rows)))
        for i, heading in enumerate(table.columns)
    ]
    left = width - _GAP * (len(needs) - 1) - sum(need for i, need in enumerate(needs) if i not in shared)
    order = sorted(shared, key=lambda i: needs[i])
    for count, index in enumerate(order):
        room = min(needs[index], max(MIN_WIDE, left // (len(order) - count)))
        left -= room
        if room < needs[index]:
            rooms[index] = room
        if index in table.wide:
            for row in rows:
                row[index] = middle(row[index], room)
    return rows, rooms
