"""What ``probe`` and ``run`` share: running a command against a listener of their own
(:func:`sentry_mirror.io.probe.probe`), the options that say how, the banner, and how the
command ended, in words."""

from __future__ import annotations

import asyncio
import contextlib
import io
import os
import shlex
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar, cast
from urllib.parse import urlsplit, urlunsplit

import click
from rich.console import Console

from sentry_mirror.core.script import Script, describe
from sentry_mirror.errors import ExitCode, MirrorError
from sentry_mirror.ui import render
from sentry_mirror.ui.params import Duration
from sentry_mirror.ui.safe import assemble, json_text, text

if TYPE_CHECKING:
    from sentry_mirror.io.listener import Ready
    from sentry_mirror.io.probe import Probed, ProbeOptions

F = TypeVar("F", bound=Callable[..., Any])
#: The exit code of a process ended by signal N is this plus N (as shells say it).
SIGNALLED = 128


class BestEffort:
    """``sys.stderr`` (as it was when made) for diagnostics only: a write that fails (a closed
    pipe, a full disk, no stderr at all) is dropped, and fd 2 then points at /dev/null, so
    that neither this nor Python's last flush ends the process, nor changes its exit code."""

    def __init__(self) -> None:
        self._stream = sys.stderr  # None when fd 2 was closed when Python started

    @property
    def encoding(self) -> str:
        return getattr(self._stream, "encoding", None) or "utf-8"

    def flush(self) -> None:
        """Nothing: each write was flushed."""

    def write(self, data: str) -> int:
        if self._stream is not None:
            try:
                self._stream.write(data)
                self._stream.flush()
            except OSError:
                self._give_up()
        return len(data)

    def isatty(self) -> bool:
        return self._stream is not None and self._stream.isatty()

    def fileno(self) -> int:
        if self._stream is None:
            raise io.UnsupportedOperation("no stderr")
        return self._stream.fileno()

    def _give_up(self) -> None:
        stream, self._stream = self._stream, None
        with contextlib.suppress(OSError, ValueError, AttributeError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, stream.fileno())
            os.close(devnull)


def diagnostics() -> Console:
    """The Console of ``probe`` and ``run`` on stderr: best effort (:class:`BestEffort`),
    since what goes there is never worth CMD's run or its exit code."""
    return Console(file=cast(IO[str], BestEffort()), highlight=False)


def positive(ctx: click.Context, param: click.Parameter, value: float | None) -> float | None:
    """A ``--timeout`` of more than 0 (or none): a click callback."""
    if value is not None and value <= 0:
        raise click.BadParameter(f"must be more than 0 (got {value:g} s)", ctx, param)
    return value


def _named(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> tuple[str, ...]:
    """CMD, named: an empty one (``-- ""``) is a usage error."""
    if value and not value[0]:
        raise click.BadParameter("CMD is empty", ctx, param)
    return value


#: ``--dir``: apart from :func:`command_options`, so that ``probe`` lists it where it always did.
directory_option = click.option(
    "--dir",
    "directory",
    default="snapshots",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the snapshot files (read later with report, inspect...).",
)


def command_options(function: F) -> F:
    """``--settle``, ``--timeout`` and ``-- CMD [ARGS]...``."""
    decorators = (
        click.option(
            "--settle",
            type=Duration(),
            default=1.0,
            show_default="1s",
            help="Once CMD ended, stop after no request came (and none was in flight) for this long.",
        ),
        click.option(
            "--timeout",
            type=Duration(),
            callback=positive,
            help="Stop CMD after this long (SIGTERM to its process group, then SIGKILL 5 s later).",
        ),
        click.argument(
            "command", nargs=-1, required=True, type=click.UNPROCESSED, metavar="-- CMD [ARGS]...", callback=_named
        ),
    )
    for decorator in reversed(decorators):
        function = decorator(function)
    return function


def run_probed(options: ProbeOptions, err: Console, *, as_json: bool, note: str | None = None) -> Probed:
    """Run ``options.command`` against a listener of its own, the banner on ``err`` once it is
    ready; a command that cannot be started is an error (also as JSON on stdout with ``as_json``)."""
    from sentry_mirror.io.probe import probe  # the server stack: only the commands that listen need it

    script = options.listen.script
    try:
        return asyncio.run(
            probe(options, on_ready=lambda dsn, ready: banner(err, dsn, ready, options.command, script, note=note))
        )
    except MirrorError as error:
        if as_json:
            click.echo(json_text({"command": list(options.command), "error": str(error)}, indent=True))
        raise


def banner(
    err: Console, dsn: str, ready: Ready, command: tuple[str, ...], script: Script | None, *, note: str | None = None
) -> None:
    """On stderr, as ``listen`` prints it: the DSN, the snapshot file, the rules, the
    ``note``; then the command."""
    path = os.path.relpath(ready.recorder.path) if ready.recorder.path else "-"
    rules = tuple((rule.name, describe(rule), rule.source) for rule in script.rules) if script is not None else ()
    render.banner(err, dsn, path, keys=frozenset(), rules=rules)
    if note is not None:
        err.print(f"  {note}", style="dim")
    replaced = os.environ.get("SENTRY_DSN")
    if replaced and replaced != dsn:
        err.print(text(f"  replaces SENTRY_DSN={masked(replaced)} for the command", style="dim"), soft_wrap=True)
    err.print(assemble("  run   ", (shlex.join(command), "bold")), soft_wrap=True)


def masked(dsn: str) -> str:
    """A DSN with its key (and anything else before the host) shown as ``***``."""
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return "***"
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, f"***@{host}" if "@" in parts.netloc else host, parts.path, "", ""))


def interrupted_code(probed: Probed) -> int:
    """The exit code of an interrupted ``run``, as shells say it: 128 + the first signal that
    reached it (143 for SIGTERM, 129 for SIGHUP); 130 for SIGINT, or when Ctrl-C in the
    terminal ended the command. (``probe``, a check, exits 130 whatever the signal.)"""
    if probed.signalled is not None:
        return SIGNALLED + probed.signalled
    return int(ExitCode.INTERRUPTED)


def signal_name(number: int) -> str:
    """``SIGTERM``; ``signal 35`` for one this Python does not name."""
    try:
        return signal.Signals(number).name
    except ValueError:  # a real-time signal, or one this Python does not name
        return f"signal {number}"


def ended(probed: Probed) -> str:
    """How the command ended, in words."""
    code = probed.exit_code
    if code is None:
        return f"{probed.command[0]} was not run (interrupted first)"
    if probed.timed_out:
        how = f"stopped by {signal_name(-code)}" if code < 0 else f"exited {code} once stopped"
        return f"{probed.command[0]} did not end within --timeout: {how}"
    if code < 0:
        return f"{probed.command[0]} was ended by {signal_name(-code)}"
    return f"{probed.command[0]} exited {code}"


def settle_cut(probed: Probed) -> str | None:
    """What to say when requests still came at the settle limit (None when they stopped)."""
    if probed.settle_cut is None:
        return None
    said = (
        f"requests kept arriving {probed.settle_cut:.0f} s after {probed.command[0]} ended "
        "(a process it left behind?): its process group was killed"
    )
    if probed.escaped:
        said += "; requests still came after that, from a process outside it (one that called setsid()?), not stopped"
    return said


def left_behind(probed: Probed) -> str | None:
    """What to say when processes of the command's group still ran once it settled (None: none did)."""
    if not probed.left_behind:
        return None
    return f"{probed.command[0]} left processes running in its process group: stopped once its requests settled"


def sent_nothing(err: Console, probed: Probed) -> bool:
    """On ``err``, loud: the command sent nothing to its DSN (not said when interrupted).
    Whether it was said."""
    if probed.interrupted or probed.stopped.records:
        return False
    err.print(
        f"{probed.command[0]} sent nothing to SENTRY_DSN: does its SDK read it? (Sentry SDKs do when "
        "init is given no DSN; set the DSN from $SENTRY_DSN otherwise)",
        style="bold red",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )
    return True
