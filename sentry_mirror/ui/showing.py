"""Commands with a ``show`` subcommand: ``inspect show ID``, ``group show GROUP``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

_OPTIONS = "sentry_mirror.ui.showing.options"


def options(ctx: click.Context) -> dict[str, Any]:
    """In a ``show`` subcommand: the values of its command's options (``group --strategy``)."""
    return dict(ctx.meta[_OPTIONS])


class WithShow(click.Command):
    """A reading command whose first argument may be ``show``: ``inspect [SNAPSHOT]...`` lists,
    ``inspect show ID [SNAPSHOT]...`` hands what follows ``show`` to the ``show`` subcommand.

    The command's own options are parsed first, wherever they stand (``group --strategy type
    show ID`` keeps working), then Click parses ``show``'s arguments, with ``show``'s usage
    message and exit code 2 on a mistake. ``show`` reads the command's options with
    :func:`options`.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.show: click.Command | None = None

    def show_command(self, callback: Callable[..., Any]) -> click.Command:
        """Decorator: make ``callback`` (with its Click arguments) the ``show`` subcommand."""
        self.show = click.command("show")(callback)
        return self.show

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if self.show is not None and args[:1] == ["show"] and set(args) & set(ctx.help_option_names):
            super().parse_args(ctx, [])  # `inspect show --help`: show's help, not the command's
            ctx.params["snapshots"] = tuple(args)
            return []
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        snapshots = ctx.params.get("snapshots") or ()
        if self.show is None or snapshots[:1] != ("show",):
            return super().invoke(ctx)
        # a sibling of the command's context, so that the usage line reads `inspect show ID ...`
        with self.show.make_context(f"{ctx.info_name} show", list(snapshots[1:]), parent=ctx.parent) as sub:
            sub.meta[_OPTIONS] = ctx.params
            return self.show.invoke(sub)

    def format_usage(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_usage(ctx, formatter)
        if self.show is not None:
            pieces = " ".join(self.show.collect_usage_pieces(ctx))
            formatter.write_usage(f"{ctx.command_path} show", pieces, prefix="   or: ")

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        super().format_options(ctx, formatter)
        if self.show is not None:
            with formatter.section("Commands"):
                formatter.write_dl([("show", self.show.get_short_help_str(formatter.width))])
