"""``sentry-mirror group``: captured errors grouped into issues the way Sentry does."""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TypeVar

import click

from sentry_mirror.core import grouping
from sentry_mirror.core.grouping import Comparer, Group, Grouper, TransactionGroup, TransactionGrouper
from sentry_mirror.core.malformed import Malformed
from sentry_mirror.core.query import Query
from sentry_mirror.errors import MirrorError
from sentry_mirror.io.parallel import Feedback, Window
from sentry_mirror.ui import render_group, showing
from sentry_mirror.ui.env import Env
from sentry_mirror.ui.filters import FILTER_NAMES, filter_options, query
from sentry_mirror.ui.params import jobs_option
from sentry_mirror.ui.reading import merge_exact, read_again, reading, reading_windows, window_records
from sentry_mirror.ui.safe import json_text
from sentry_mirror.ui.showing import WithShow

#: group gives --item-type and --limit their own meaning (what to group, how many groups).
_OWN_OPTIONS = ("item_types", "limit")


@click.command("group", cls=WithShow)
@click.argument("snapshots", nargs=-1, metavar="[SNAPSHOT]...")
@click.option(
    "--strategy",
    default=grouping.DEFAULT_STRATEGY,
    show_default=True,
    type=click.Choice(list(grouping.STRATEGIES)),
    help="How events are grouped into issues.",
)
@click.option(
    "--compare",
    "compare_with",
    multiple=True,
    type=click.Choice(list(grouping.STRATEGIES)),
    help="Compare --strategy with this one (repeatable): issue counts, splits and merges.",
)
@click.option(
    "--item-type",
    type=click.Choice(["event", "transaction"]),
    default="event",
    show_default=True,
    help="Group error events into issues, or transactions by name and op.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per group.")
@click.option("--limit", type=click.IntRange(min=1), help="Show only the biggest groups.")
@filter_options(without=_OWN_OPTIONS)
@jobs_option()
@click.pass_obj
def group_command(
    env: Env,
    /,
    snapshots: tuple[str, ...],
    strategy: str,
    compare_with: tuple[str, ...],
    item_type: str,
    as_json: bool,
    limit: int | None,
    jobs: int,
    **filters: Any,
) -> None:
    """Group captured errors into issues the way Sentry does.

    `group show GROUP` lists one group's events (GROUP: its short id or a prefix). Takes
    inspect's filters, but for --item-type and --limit, which mean what to group and how
    many groups to show here. --jobs N reads with N processes; the groups are the same.

    Examples:

    \b
        sentry-mirror group --compare type --compare message
        sentry-mirror group --sdk sentry.python --since 1d
        sentry-mirror group show 3f2a
    """
    if compare_with:
        comparer = functools.partial(Comparer, [strategy, *compare_with])
        render_group.comparison(env.console, _grouped(snapshots, comparer, filters, jobs).result())
        return
    result = _groups(snapshots, strategy, item_type, filters, jobs)
    shown = result[:limit] if limit else result
    if as_json:
        out = sys.stdout.buffer
        for entry in shown:
            out.write(json_text(entry.to_dict()).encode() + b"\n")
        out.flush()
        return
    if item_type == "transaction":
        env.console.print(render_group.transactions_table(shown, env.console.width))  # type: ignore[arg-type]
    else:
        env.console.print(render_group.groups_table(shown, env.console.width))  # type: ignore[arg-type]
    env.console.print(f"{len(result)} group(s), {sum(g.count for g in result)} {item_type}(s)", style="dim")


@group_command.show_command(uses={"strategy", "item_type", "jobs", *FILTER_NAMES} - set(_OWN_OPTIONS))
@click.argument("wanted", metavar="GROUP")
@click.argument("snapshots", nargs=-1, metavar="[SNAPSHOT]...")
@click.pass_context
def show_command(ctx: click.Context, wanted: str, snapshots: tuple[str, ...]) -> None:
    """Show one group: its facts, why its events group together, and its events.

    GROUP is its short id or a unique prefix of one; the group's --strategy applies.

    Example:

    \b
        sentry-mirror group show 3f2a snapshots/
    """
    options = showing.options(ctx)
    if options["item_type"] == "transaction":
        raise click.UsageError("show takes event groups: transaction groups have no id (drop --item-type transaction)")
    filters = {name: value for name, value in options.items() if name in FILTER_NAMES - set(_OWN_OPTIONS)}
    result = _groups(snapshots, options["strategy"], options["item_type"], filters, options["jobs"])
    matches = [g for g in result if isinstance(g, Group) and g.short_id.startswith(wanted) and wanted]
    if len(matches) != 1:
        raise MirrorError(
            f"no group {wanted!r}"
            if not matches
            else f"{wanted!r} is ambiguous: {', '.join(g.short_id for g in matches)}"
        )
    env: Env = ctx.obj
    render_group.group_detail(env.console, matches[0])


def _groups(
    snapshots: tuple[str, ...], strategy: str, item_type: str, filters: dict[str, Any], jobs: int
) -> Sequence[Group] | Sequence[TransactionGroup]:
    if item_type == "transaction":
        return _grouped(snapshots, TransactionGrouper, filters, jobs).groups()
    return _grouped(snapshots, functools.partial(Grouper, strategy, grouping.MAX_IDS), filters, jobs).groups()


A = TypeVar("A", Grouper, TransactionGrouper, Comparer)


def _grouped(snapshots: tuple[str, ...], make: Callable[[], A], filters: dict[str, Any], jobs: int) -> A:
    """The events of ``snapshots`` that ``filters`` keep, fed to ``make()`` (a grouper), read
    by ``jobs`` processes: each window grouped on its own and the groupers merged in order,
    which gives what one pass gives (:meth:`Grouper.merge`) unless a grouper hit a bound
    (``truncated``): then the capture is read again by one process, quietly (its warnings
    are out already)."""
    wanted = query(filters)
    if jobs > 1:
        work = functools.partial(_window, make=make, wanted=wanted)
        with reading_windows(snapshots, jobs, work, wanted) as parts:
            merged = merge_exact(parts, lambda part: part.truncated)
        if merged is not None:
            return merged
        again = Malformed(where="group")
        return _fed(make(), read_again(snapshots, wanted, again), again)
    malformed = Malformed(where="group")
    with reading(snapshots, malformed, wanted) as records:
        return _fed(make(), records, malformed)


def _fed(grouper: A, records: Iterable[Mapping[str, Any]], malformed: Malformed) -> A:
    grouper.feed(records, malformed)
    return grouper


def _window(window: Window, feedback: Feedback, *, make: Callable[[], A], wanted: Query) -> A:
    """In a worker: one window's events grouped."""
    malformed = Malformed(where="group")
    return _fed(make(), window_records(window, feedback, malformed, wanted), malformed)
