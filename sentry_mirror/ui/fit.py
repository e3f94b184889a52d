"""Fitting long values into narrow table cells: cut in the middle, where they differ least.

Paths, URLs and titles share their beginnings (``/api/``, ``exception.values.0``) and their
ends carry the distinguishing part (file names, ids), so a terminal table keeps both ends and
drops the middle: ``/api/4505…/envelope/``. Widths are terminal cells (wide characters count
two). The full values are in every command's ``--json`` output.
"""

from __future__ import annotations

from rich.cells import cell_len

ELLIPSIS = "…"


def middle(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, its middle replaced by ``…`` when too long."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    room = width - 1
    head_cells = (room + 1) // 2
    head = _prefix(text, head_cells)
    tail = _suffix(text, room - cell_len(head))
    return head + ELLIPSIS + tail


def _prefix(text: str, cells: int) -> str:
    """The longest start of ``text`` that fits in ``cells`` (a wide character never split)."""
    used = 0
    for index, char in enumerate(text):
        used += cell_len(char)
        if used > cells:
            return text[:index]
    return text


def _suffix(text: str, cells: int) -> str:
    """The longest end of ``text`` that fits in ``cells``."""
    used = 0
    for index in range(len(text) - 1, -1, -1):
        used += cell_len(text[index])
        if used > cells:
            return text[index + 1 :]
    return text
