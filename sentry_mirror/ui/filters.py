"""The record filters every reading command takes (``--sdk``, ``--item-type``, ``--since`` ...),
and the :class:`~sentry_mirror.core.query.Query` they make."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from datetime import UTC, datetime
from typing import Any, TypeVar

import click

from sentry_mirror.core import ingest
from sentry_mirror.core.envelope import canonical_type
from sentry_mirror.core.query import Query, is_status, parse_moment

F = TypeVar("F", bound=Callable[..., Any])


def _statuses(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        if not is_status(value):
            raise click.BadParameter(f"{value!r} is not a status: use a code such as 200 or a class such as 4xx")
    return values


#: Each filter by the name of its parameter, in the order --help lists them.
_OPTIONS: dict[str, Callable[[F], F]] = {
    "item_types": click.option(
        "--item-type", "item_types", multiple=True, help="Keep requests carrying this item type (repeatable)."
    ),
    "endpoints": click.option(
        "--endpoint",
        "endpoints",
        multiple=True,
        type=click.Choice([*ingest.ENDPOINTS, "unknown"]),
        metavar="NAME",
        help="Keep this endpoint (repeatable): " + ", ".join([*ingest.ENDPOINTS, "unknown"]) + ".",
    ),
    "projects": click.option("--project", "projects", multiple=True, help="Keep this project id (repeatable)."),
    "sdks": click.option("--sdk", "sdks", multiple=True, help="Keep this SDK: name, or name@version (repeatable)."),
    "event_ids": click.option(
        "--event-id", "event_ids", multiple=True, help="Keep this event id or id prefix (repeatable)."
    ),
    "levels": click.option("--level", "levels", multiple=True, help="Keep this event level (repeatable)."),
    "environments": click.option(
        "--environment", "environments", multiple=True, help="Keep this environment (repeatable)."
    ),
    "releases": click.option("--release", "releases", multiple=True, help="Keep this release (repeatable)."),
    "statuses": click.option(
        "--status",
        "statuses",
        multiple=True,
        callback=_statuses,
        help="Keep this response status: 200, 4xx ... (repeatable).",
    ),
    "since": click.option("--since", help="Keep requests at or after this time: 10m, 2h, 1d or 2026-11-23T10:00:00Z."),
    "until": click.option("--until", help="Keep requests at or before this time (same forms as --since)."),
    "grep": click.option("--grep", help="Keep requests whose decoded body contains this text."),
    "errors_only": click.option(
        "--errors-only", is_flag=True, help="Keep requests that failed to parse or were answered non-2xx."
    ),
    "limit": click.option("--limit", type=click.IntRange(min=1), help="Stop after this many matching requests."),
}


#: The filters' parameter names.
FILTER_NAMES = frozenset(_OPTIONS)


def filter_options(*, without: Collection[str] = ()) -> Callable[[F], F]:
    """The filters as Click options; they compose (all must hold). ``without`` names the ones
    a command leaves out because it gives the option another meaning (``group --limit``)."""

    def decorate(command: F) -> F:
        for name, option in reversed(_OPTIONS.items()):
            if name not in without:
                command = option(command)
        return command

    return decorate


def query(filters: Mapping[str, Any]) -> Query:
    """The Query of the filter options' values (``since``/``until`` relative to now)."""
    now = datetime.now(UTC)
    values = {key: frozenset(value) for key, value in filters.items() if isinstance(value, tuple)}
    if "item_types" in values:  # the spelling a type is counted under (``trace-metric``: ``trace_metric``)
        values["item_types"] = frozenset(map(canonical_type, values["item_types"]))
    return Query(
        **values,
        since=parse_moment(filters["since"], now) if filters.get("since") else None,
        until=parse_moment(filters["until"], now) if filters.get("until") else None,
        grep=filters.get("grep"),
        errors_only=filters.get("errors_only", False),
        limit=filters.get("limit"),
    )
