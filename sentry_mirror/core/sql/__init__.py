"""SQL over snapshots, as text: the views ``sentry-mirror sql`` and the Parquet export define
in DuckDB (pure: no database here; :mod:`sentry_mirror.io.duck` runs them).

:data:`VIEWS` lists the public views in the order they are defined (each reads only the
ones before it); :data:`NEEDS_ITEMS` those that read envelope items, which need the table
of items parsed in Python (:mod:`.pyitems`) filled first.
"""

from __future__ import annotations

from sentry_mirror.core.sql import detail, views
from sentry_mirror.core.sql.macros import statements as macro_statements
from sentry_mirror.core.sql.quote import identifier, literal
from sentry_mirror.core.sql.source import COLUMNS, RAW, raw_view
from sentry_mirror.core.sql.views import PY_ITEM_COLUMNS, PY_ITEM_SOURCES, PY_ITEMS

#: ``(name, SELECT statement)`` of every public view, in definition order.
VIEWS: tuple[tuple[str, str], ...] = (
    ("requests", views.REQUESTS),
    ("answers", views.ANSWERS),
    ("items", views.ITEMS),
    ("events", views.EVENTS),
    ("frames", detail.FRAMES),
    ("spans", detail.SPANS),
    ("breadcrumbs", detail.BREADCRUMBS),
    ("client_reports", detail.CLIENT_REPORTS),
    ("sessions", detail.SESSIONS),
)
VIEW_NAMES = tuple(name for name, _ in VIEWS)
#: The views that read envelope items (and so need :data:`PY_ITEMS` filled).
NEEDS_ITEMS = frozenset(VIEW_NAMES) - {"requests", "answers"}


def view_statements() -> list[str]:
    """The ``CREATE VIEW`` statements of :data:`VIEWS` (after the macros and the raw view)."""
    return [f"CREATE OR REPLACE VIEW {name} AS {select}" for name, select in VIEWS]


def py_items_table() -> str:
    """The statement that creates the (empty) table of items parsed in Python."""
    columns = ", ".join(f"{identifier(name)} {kind}" for name, kind in PY_ITEM_COLUMNS)
    return f"CREATE OR REPLACE TABLE {PY_ITEMS} ({columns})"


__all__ = [
    "COLUMNS",
    "NEEDS_ITEMS",
    "PY_ITEMS",
    "PY_ITEM_COLUMNS",
    "PY_ITEM_SOURCES",
    "RAW",
    "VIEWS",
    "VIEW_NAMES",
    "identifier",
    "literal",
    "macro_statements",
    "py_items_table",
    "raw_view",
    "view_statements",
]
