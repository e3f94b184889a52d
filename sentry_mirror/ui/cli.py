"""The ``sentry-mirror`` command line.

Commands only parse options, call one function and render. Every
:class:`~sentry_mirror.errors.MirrorError` becomes a message and an exit code in one
place, :class:`MirrorGroup`; ``--traceback`` shows the Python traceback instead.
"""

from __future__ import annotations

import asyncio
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from sentry_mirror import __version__
from sentry_mirror.core import encoding, ingest
from sentry_mirror.errors import ExitCode, MirrorError
from sentry_mirror.io.listener import ListenOptions, Ready, listen
from sentry_mirror.ui import render

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$", re.IGNORECASE)
_SECONDS = {"ms": 0.001, "s": 1, "": 1, "m": 60, "h": 3600, "d": 86400}


class Size(click.ParamType):
    """``200MiB``, ``100MB``, ``64k``, ``1048576``: bytes (``i`` means powers of 1024)."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        match = _SIZE.match(str(value))
        if not match:
            self.fail(f"{value!r} is not a size like 100MB, 200MiB or 65536", param, ctx)
        unit = (match.group(2) or "").lower()
        base = _UNITS[unit[:1] if unit[:1] != "b" else ""]
        if "i" in unit:
            base = 1024 ** "kmgt".index(unit[0]) * 1024
        return int(float(match.group(1)) * base)


class Duration(click.ParamType):
    """``90s``, ``10m``, ``1h``, ``1d``: seconds."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        match = _DURATION.match(str(value))
        if not match:
            self.fail(f"{value!r} is not a duration like 90s, 10m, 1h or 1d", param, ctx)
        return float(match.group(1)) * _SECONDS[(match.group(2) or "").lower()]


@dataclass
class Env:
    """Per-invocation state: the Console (made here, never at import) and --traceback."""

    console: Console
    traceback: bool


class UserError(click.ClickException):
    """A MirrorError on its way out, with its own exit code."""

    def __init__(self, error: MirrorError) -> None:
        super().__init__(str(error))
        self.exit_code = int(error.exit_code)


class MirrorGroup(click.Group):
    """Turns MirrorError into a message and an exit code, for every command."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except MirrorError as error:
            env = ctx.find_object(Env)
            if env is not None and env.traceback:
                raise
            raise UserError(error) from None
        except KeyboardInterrupt:
            raise click.exceptions.Exit(ExitCode.INTERRUPTED) from None


@click.group(cls=MirrorGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sentry-mirror")
@click.option("--traceback", is_flag=True, help="Show the Python traceback of an error, not just its message.")
@click.pass_context
def cli(ctx: click.Context, traceback: bool) -> None:
    """A drop-in Sentry DSN that records what SDKs send, and tools to read it.

    Example:

        sentry-mirror listen
    """
    ctx.obj = Env(console=Console(highlight=False), traceback=traceback)


def _display_host(host: str) -> str:
    if host in ("", "0.0.0.0", "::"):  # noqa: S104 - naming the wildcard, not binding it
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


@cli.command("listen")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind; 0.0.0.0 exposes the mirror to your network.")
@click.option("--port", default=9001, show_default=True, type=click.IntRange(0, 65535), help="Port to bind; 0 picks a free one (printed).")
@click.option(
    "--dir",
    "directory",
    default="snapshots",
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Directory for the snapshot files.",
)
@click.option("--rotate-size", type=Size(), help="Start a new snapshot file after this many bytes (e.g. 100MB).")
@click.option("--rotate-every", type=Duration(), help="Start a new snapshot file after this long (e.g. 1h).")
@click.option("--fsync", is_flag=True, help="fsync every group of records before answering (survives power loss).")
@click.option("--key", "keys", multiple=True, metavar="KEY", help="Accept only this public key (repeatable); others get 403 as from Sentry.")
@click.option("--tunnel", "tunnel_path", default="/tunnel", show_default=True, help="Path of the tunnel endpoint (browser SDK `tunnel` option).")
@click.option(
    "--max-body",
    type=Size(),
    default=encoding.DEFAULT_MAX_BODY,
    show_default="200MiB",
    help="Largest decoded body accepted; bigger ones (and decompression bombs) get 413.",
)
@click.option("--quiet", "-q", is_flag=True, help="Do not print a line per request.")
@click.pass_obj
def listen_command(
    env: Env,
    host: str,
    port: int,
    directory: Path,
    rotate_size: int | None,
    rotate_every: float | None,
    fsync: bool,
    keys: tuple[str, ...],
    tunnel_path: str,
    max_body: int,
    quiet: bool,
) -> None:
    """Impersonate a Sentry DSN and record every request into zstd JSONL snapshots.

    Paste the printed DSN into your app's Sentry SDK. Every request is on disk before
    it is answered, as Sentry would answer it. Stop with Ctrl-C.

    Example:

        sentry-mirror listen --port 0 --rotate-every 1h
    """
    config = ingest.Config(keys=frozenset(keys), tunnel_path="/" + tunnel_path.strip("/"), max_body=max_body)
    options = ListenOptions(host, port, directory, rotate_size, rotate_every, fsync, config)
    console = env.console

    def ready(info: Ready) -> None:
        dsn = f"http://{next(iter(sorted(keys)), 'mirror')}@{_display_host(info.host)}:{info.port}/1"
        path = info.recorder.path
        render.banner(console, dsn, os.path.relpath(path) if path else "-", keys=config.keys)
        sys.stdout.flush()

    def rotated(path: Path) -> None:
        render.into_line(console, os.path.relpath(path))

    lines = render.LiveLines(console)
    stopped = asyncio.run(listen(options, on_ready=ready, on_record=None if quiet else lines.write, on_rotate=rotated))
    console.print(f"  stopped: {stopped.records} requests in {len(stopped.files)} file(s)", style="dim")


def main() -> None:
    """The console script."""
    cli(prog_name="sentry-mirror")
