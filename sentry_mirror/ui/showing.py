"""Commands with a ``show`` subcommand: ``inspect show ID``, ``group show GROUP``."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

import click
from click.core import ParameterSource

_OPTIONS = "sentry_mirror.ui.showing.options"


def options(ctx: click.Context) -> dict[str, Any]:
    """In a ``show`` subcommand: the values of its command's options (``group --strategy``)."""
    return dict(ctx.meta[_OPTIONS])


class WithShow(click.Command):
    """A reading command whose first argument may be ``show``: ``inspect [SNAPSHOT]...`` lists,
    ``inspect show ID [SNAPSHOT]...`` hands what follows ``show`` to the ``show`` subcommand.

    The command's own options are parsed first, wherever they stand (``group --strategy type
    show ID`` keeps working), then Click parses ``show``'s arguments, with ``show``'s usage
    message and exit code 2 on a mistake. ``show`` reads the command's options it ``uses``
    with :func:`options`; giving it another (``inspect show ID --json``) is a usage error.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.show: click.Command | None = None
        self.show_uses: frozenset[str] = frozenset()

    def show_command(self, *, uses: Collection[str] = ()) -> Callable[[Callable[..., Any]], click.Command]:
        """Decorator: make the callback (with its Click arguments) the ``show`` subcommand;
        ``uses`` names the command's parameters it reads (``group``'s ``strategy``)."""

        def decorate(callback: Callable[..., Any]) -> click.Command:
            self.show = click.command("show")(callback)
            self.show_uses = frozenset(uses)
            return self.show

        return decorate

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        helps = [arg for arg in args if arg in ctx.help_option_names]
        if self.show is not None and helps:
            try:
                parsed, _, _ = self.make_parser(ctx).parse_args([a for a in args if a not in helps])
            except click.UsageError:
                parsed = {}
            given = parsed.get("snapshots")
            positional = list(given) if isinstance(given, list | tuple) else []  # else Click's UNSET
            if positional[:1] == ["show"]:  # `group --strategy type show --help`: show's help
                super().parse_args(ctx, [])
                ctx.params["snapshots"] = (*positional, *helps)
                return []
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        snapshots = ctx.params.get("snapshots") or ()
        if self.show is None or snapshots[:1] != ("show",):
            return super().invoke(ctx)
        # a sibling of the command's context, so that the usage line reads `inspect show ID ...`
        with self.show.make_context(f"{ctx.info_name} show", list(snapshots[1:]), parent=ctx.parent) as sub:
            for param in self.params:
                given = ctx.get_parameter_source(param.name or "") in (
                    ParameterSource.COMMANDLINE,
                    ParameterSource.ENVIRONMENT,
                )
                if given and param.name not in self.show_uses and param.name != "snapshots":
                    raise click.UsageError(f"show does not take {param.opts[0]}", ctx=sub)
            sub.meta[_OPTIONS] = {name: ctx.params[name] for name in self.show_uses}
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
