"""Quoting for SQL text: string literals and identifiers, whatever characters they hold."""

from __future__ import annotations

from collections.abc import Iterable


def literal(text: str) -> str:
    """``text`` as a SQL string literal: quotes doubled; a NUL (which no SQL string holds) refused."""
    if "\x00" in text:
        raise ValueError("a SQL string cannot hold a NUL character")
    return "'" + text.replace("'", "''") + "'"


def identifier(name: str) -> str:
    """``name`` as a quoted SQL identifier."""
    if "\x00" in name:
        raise ValueError("a SQL identifier cannot hold a NUL character")
    return '"' + name.replace('"', '""') + '"'


def literal_list(texts: Iterable[str]) -> str:
    """A SQL list literal of strings: ``['a', 'b''s']``."""
    return "[" + ", ".join(literal(text) for text in texts) + "]"


def glob_escaped(path: str) -> str:
    """``path`` with the characters DuckDB's file globbing reads as patterns escaped, so a
    file named ``a[1]*.jsonl.zst`` is read as itself."""
    return "".join(f"[{char}]" if char in "*?[" else char for char in path)
