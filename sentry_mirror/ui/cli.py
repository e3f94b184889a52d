"""The ``sentry-mirror`` command line: the root group and the console script.

Each command is one module of :mod:`sentry_mirror.ui.commands`; they only parse options,
call one function and render. Every :class:`~sentry_mirror.errors.MirrorError` becomes a
message and an exit code in one place, :class:`MirrorGroup`; ``--traceback`` shows the
Python traceback instead. Exit codes: :class:`~sentry_mirror.errors.ExitCode`.
"""

from __future__ import annotations

from typing import Any

import click
from rich.console import Console

from sentry_mirror import __version__
from sentry_mirror.core.text import visible_lines
from sentry_mirror.errors import ExitCode, MirrorError
from sentry_mirror.ui.commands import diff, export, group, inspect, listen, replay, report, verify
from sentry_mirror.ui.env import Env


class MirrorGroup(click.Group):
    """Turns MirrorError into ``Error: message`` on stderr and its exit code, for every command."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MirrorError as error:
            env = ctx.find_object(Env)
            if env is not None and env.traceback:
                raise
            click.echo(f"Error: {visible_lines(str(error))}", err=True)  # it may quote captured data
            raise click.exceptions.Exit(error.exit_code) from None
        except KeyboardInterrupt:
            raise click.exceptions.Exit(ExitCode.INTERRUPTED) from None


@click.group(cls=MirrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sentry-mirror")
@click.option("--traceback", is_flag=True, help="Show the Python traceback of an error, not just its message.")
@click.pass_context
def cli(ctx: click.Context, traceback: bool) -> None:
    """A drop-in Sentry DSN that records what SDKs send, and tools to read it.

    Example:

    \b
        sentry-mirror listen
    """
    ctx.obj = Env(console=Console(highlight=False), traceback=traceback)


for _command in (
    listen.listen_command,
    inspect.inspect_command,
    export.export_command,
    group.group_command,
    report.report_command,
    diff.diff_command,
    replay.replay_command,
    verify.verify_command,
):
    cli.add_command(_command)


def main() -> None:
    """The console script."""
    cli(prog_name="sentry-mirror")
