"""The ``sentry-mirror`` command line: the root group and the console script.

Each command is one module of :mod:`sentry_mirror.ui.commands`; they only parse options,
call one function and render. Every :class:`~sentry_mirror.errors.MirrorError` becomes a
message and an exit code in one place, :class:`MirrorGroup` (a failed check is not an
error: ``check failed: ...``); ``--traceback`` shows the Python traceback instead. Exit codes: :class:`~sentry_mirror.errors.ExitCode`.
"""

from __future__ import annotations

import os
import sys
import traceback
from typing import Any

import click
from rich.console import Console

from sentry_mirror import __version__
from sentry_mirror.core.text import visible, visible_lines
from sentry_mirror.errors import CheckFailed, ExitCode, MirrorError
from sentry_mirror.ui.commands import (
    diff,
    export,
    group,
    inspect,
    listen,
    probe,
    replay,
    report,
    run,
    sourcemaps,
    sql,
    verify,
)
from sentry_mirror.ui.env import Env


class MirrorGroup(click.Group):
    """Turns every exception into a message on stderr and an exit code, for every command.

    A :class:`~sentry_mirror.errors.CheckFailed` prints ``check failed: message``; another
    MirrorError ``Error: message``; an unexpected exception one ``internal error:`` line.
    ``--traceback`` prints the Python traceback of an error (not of a failed check) instead;
    the exit code stays the same.
    """

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except CheckFailed as failed:
            click.echo(f"check failed: {visible_lines(str(failed))}", err=True)
            raise click.exceptions.Exit(failed.exit_code) from None
        except MirrorError as error:
            if _traceback(ctx):
                traceback.print_exc()
            else:
                click.echo(f"Error: {visible_lines(str(error))}", err=True)  # it may quote captured data
            raise click.exceptions.Exit(error.exit_code) from None
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            raise click.exceptions.Exit(ExitCode.INTERRUPTED) from None
        except BrokenPipeError:
            _drop_stdout()
            raise click.exceptions.Exit(ExitCode.OUTPUT_CLOSED) from None
        except Exception as error:
            if _traceback(ctx):
                traceback.print_exc()
            else:
                message = visible(f"{type(error).__name__}: {error}")
                click.echo(f"internal error: {message} (run with --traceback for details)", err=True)
            raise click.exceptions.Exit(ExitCode.ERROR) from None


def _drop_stdout() -> None:
    """Point stdout at /dev/null: the reader has gone (``| head``), and Python's final flush of
    what is still buffered must not fail again on the way out."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


class _Stdout(Console):
    """The commands' console: a reader that goes away ends the command as
    :data:`ExitCode.OUTPUT_CLOSED` (Rich's own choice is 1, which means a failed check here)."""

    def on_broken_pipe(self) -> None:
        _drop_stdout()
        raise SystemExit(ExitCode.OUTPUT_CLOSED)


def _traceback(ctx: click.Context) -> bool:
    env = ctx.find_object(Env)
    return env is not None and env.traceback


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
    ctx.obj = Env(console=_Stdout(highlight=False), traceback=traceback)


for _command in (
    listen.listen_command,
    probe.probe_command,
    run.run_command,
    inspect.inspect_command,
    export.export_command,
    group.group_command,
    report.report_command,
    sql.sql_command,
    diff.diff_command,
    replay.replay_command,
    verify.verify_command,
    sourcemaps.sourcemaps_group,
):
    cli.add_command(_command)


def main() -> None:
    """The console script."""
    cli(prog_name="sentry-mirror")
