"""``sentry-mirror listen``: impersonate a Sentry DSN and record every request."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import click

from sentry_mirror.core import encoding, ingest
from sentry_mirror.ui import render
from sentry_mirror.ui.env import Env
from sentry_mirror.ui.params import Duration, Size


def _display_host(host: str) -> str:
    if host in ("", "0.0.0.0", "::"):
        return "127.0.0.1"
    return f"[{host}]" if ":" in host else host


@click.command("listen")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; 0.0.0.0 exposes the mirror to your network.",
)
@click.option(
    "--port",
    default=9001,
    show_default=True,
    type=click.IntRange(0, 65535),
    help="Port to bind; 0 picks a free one (printed).",
)
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
@click.option(
    "--key",
    "keys",
    multiple=True,
    metavar="KEY",
    help="Accept only this public key (repeatable); others get 403 as from Sentry.",
)
@click.option(
    "--tunnel",
    "tunnel_path",
    default="/tunnel",
    show_default=True,
    help="Path of the tunnel endpoint (browser SDK `tunnel` option).",
)
@click.option(
    "--max-body",
    type=Size(),
    default=encoding.DEFAULT_MAX_BODY,
    show_default="200MiB",
    help="Largest decoded body accepted; bigger ones (and decompression bombs) get 413.",
)
@click.option(
    "--header-timeout",
    type=Duration(),
    default=5.0,
    show_default="5s",
    help="Close a connection whose request head takes longer (Relay's 5 s); also ends idle keep-alive connections.",
)
@click.option(
    "--body-timeout",
    type=Duration(),
    default=30.0,
    show_default="30s",
    help="Answer 408 when a body stops arriving for this long (it is still recorded).",
)
@click.option(
    "--grace",
    type=Duration(),
    default=5.0,
    show_default="5s",
    help="On Ctrl-C/SIGTERM, time requests in flight get to finish; bodies still arriving then get 503.",
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
    header_timeout: float,
    body_timeout: float,
    grace: float,
    quiet: bool,
) -> None:
    """Impersonate a Sentry DSN and record every request into zstd JSONL snapshots.

    Paste the printed DSN into your app's Sentry SDK. Every request is on disk before
    it is answered, as Sentry would answer it. Stop with Ctrl-C.

    Examples:

    \b
        sentry-mirror listen
        sentry-mirror listen --port 0 --rotate-every 1h
    """
    config = ingest.Config(keys=frozenset(keys), tunnel_path="/" + tunnel_path.strip("/"), max_body=max_body)
    from sentry_mirror.io.listener import ListenOptions, Ready, listen  # the server stack: only this command needs it
    from sentry_mirror.io.server import Timeouts

    timeouts = Timeouts(header=header_timeout, body=body_timeout, grace=grace)
    options = ListenOptions(host, port, directory, rotate_size, rotate_every, fsync, config, timeouts)
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
    if stopped.refused:
        console.print(
            f"  {stopped.refused} request(s) were answered 503: the snapshot could not be written", style="yellow"
        )
