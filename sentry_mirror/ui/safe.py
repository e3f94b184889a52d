"""Captured text as Rich renderables that show it literally.

A plain ``str`` handed to Rich (``console.print``, a table cell, a panel title) is read as
markup, so ``[link=...]`` or ``[bold red]`` in captured data would be interpreted; and
control characters would reach the terminal. :func:`text` is the only way captured strings
reach a Console: a :class:`~rich.text.Text` (never markup) of :func:`~sentry_mirror.core.text.visible`.
"""

from __future__ import annotations

import json

import orjson
from rich.style import StyleType
from rich.text import Text

from sentry_mirror.core.text import visible, visible_lines


def text(value: object, style: StyleType = "") -> Text:
    """One line of captured text, literal and visible."""
    return Text(visible(value), style=style)


def lines(value: object, style: StyleType = "") -> Text:
    """Captured text that may span lines (a body), literal and visible."""
    return Text(visible_lines(value), style=style)


def assemble(*parts: str | tuple[object, StyleType]) -> Text:
    """Pieces of one line, each ``text`` or ``(text, style)``, every one made visible."""
    return Text.assemble(*((visible(p), "") if isinstance(p, str) else (visible(p[0]), p[1]) for p in parts))


def json_text(value: object, *, indent: bool = False) -> str:
    """``value`` as JSON, exact. A payload's ``"\\ud800"`` escape reaches a report or a group as
    a lone surrogate, which UTF-8 (and so orjson) cannot carry; JSON's own escape still can."""
    try:
        return orjson.dumps(value, option=orjson.OPT_INDENT_2 if indent else 0).decode()
    except TypeError:
        return json.dumps(
            value, ensure_ascii=True, indent=2 if indent else None, separators=None if indent else (",", ":")
        )
