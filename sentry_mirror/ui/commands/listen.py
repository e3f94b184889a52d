"""``sentry-mirror listen``: impersonate a Sentry DSN and record every request."""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from click.core import ParameterSource
from rich.console import Console

from sentry_mirror.core import encoding, ingest
from sentry_mirror.core.auth import Dsn
from sentry_mirror.core.forwarding import FAILURE_MODES, destination, mirror_dsn, to_string
from sentry_mirror.core.script import Script, describe
from sentry_mirror.core.webapi.chunks import DEFAULT_MAX_UPLOAD
from sentry_mirror.errors import MirrorError
from sentry_mirror.ui import render
from sentry_mirror.ui.env import Env
from sentry_mirror.ui.params import Count, Duration, Size
from sentry_mirror.ui.reading import stderr, warn
from sentry_mirror.ui.scripting import load_script, script_options

if TYPE_CHECKING:
    from sentry_mirror.core.forwarding import Destination
    from sentry_mirror.io.forward import ForwardOptions
    from sentry_mirror.io.listener import ListenOptions, Ready, Stopped
    from sentry_mirror.io.workers import Started


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
@click.option(
    "--forward",
    "forward",
    metavar="DSN",
    envvar="SENTRY_MIRROR_FORWARD",
    help="Send every request on to this Sentry (DSN rewritten); the SDK gets its answer (docs/forward.md).",
)
@click.option(
    "--tee",
    "tee",
    multiple=True,
    metavar="DSN",
    envvar="SENTRY_MIRROR_TEE",
    help="Also send a shadow copy to this candidate (repeatable); its answers are recorded, never returned.",
)
@click.option(
    "--upstream-failure",
    type=click.Choice(FAILURE_MODES),
    default="answer",
    show_default=True,
    help="When the upstream fails: answer as the mirror (the request is on disk) or pass the failure on.",
)
@click.option(
    "--forward-timeout",
    type=Duration(),
    default=10.0,
    show_default="10s",
    help="Give up on an upstream or candidate answer after this long.",
)
@click.option(
    "--forward-concurrency",
    type=click.IntRange(1),
    default=64,
    show_default=True,
    help="Upstream requests in flight at most; more wait.",
)
@click.option(
    "--tee-queue",
    type=click.IntRange(1),
    default=1000,
    show_default=True,
    help="Copies waiting per candidate at most; when full, copies are dropped (counted and recorded).",
)
@click.option(
    "--ca-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    metavar="PEM",
    help="Also trust these CA certificates for HTTPS upstreams and candidates (verification stays on).",
)
@click.option(
    "--repo",
    "repos",
    multiple=True,
    metavar="NAME",
    help="A repository the web API lists (repeatable), for `sentry-cli releases set-commits --commit NAME@SHA`.",
)
@click.option(
    "--max-upload",
    type=Size(),
    default=DEFAULT_MAX_UPLOAD,
    show_default="256MiB",
    help="Largest file (source map bundle, debug file) put together from uploaded chunks; bigger ones are refused.",
)
@script_options
@click.option(
    "--workers",
    type=Count(),
    default=1,
    show_default=True,
    help="Listener processes sharing the port, each with its own file: a number or auto (the cores); docs/workers.md.",
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
    forward: str | None,
    tee: tuple[str, ...],
    upstream_failure: str,
    forward_timeout: float,
    forward_concurrency: int,
    tee_queue: int,
    ca_file: Path | None,
    repos: tuple[str, ...],
    max_upload: int,
    scenarios: tuple[str, ...],
    script_file: Path | None,
    seed: int | None,
    workers: int,
    quiet: bool,
) -> None:
    """Impersonate a Sentry DSN and record every request into zstd JSONL snapshots.

    Paste the printed DSN into your app's Sentry SDK. Every request is on disk before
    it is answered, as Sentry would answer it. Stop with Ctrl-C.

    Examples:

    \b
        sentry-mirror listen
        sentry-mirror listen --port 0 --rotate-every 1h
        sentry-mirror listen --forward https://KEY@o1.ingest.sentry.io/123
        sentry-mirror listen --scenario outage:30s --scenario flaky:0.1
        sentry-mirror listen --workers auto --quiet
    """
    config = ingest.Config(keys=frozenset(keys), tunnel_path="/" + tunnel_path.strip("/"), max_body=max_body)
    from sentry_mirror.io.listener import ListenOptions  # the server stack: only this command needs it
    from sentry_mirror.io.server import Timeouts

    timeouts = Timeouts(header=header_timeout, body=body_timeout, grace=grace)
    forwarding = _forward_options(
        forward, tee, host, port, upstream_failure, forward_timeout, forward_concurrency, tee_queue, ca_file
    )
    script = load_script(script_file, scenarios, seed, forward=forward is not None)
    options = ListenOptions(
        host, port, directory, rotate_size, rotate_every, fsync, config, timeouts, forwarding, repos, max_upload, script
    )
    one = workers == 1  # one process: this one, as ever
    stopped = _listen_one(env.console, options, quiet) if one else _listen_workers(env.console, options, workers, quiet)
    _stop_lines(env.console, stopped)


def _listen_one(console: Console, options: ListenOptions, quiet: bool) -> Stopped:
    from sentry_mirror.io.listener import listen  # the server stack: only this command needs it

    ready = functools.partial(_banner, console, keys=options.config.keys, script=options.script)
    lines = render.LiveLines(console)
    rotated = functools.partial(_rotated, console)
    return asyncio.run(listen(options, on_ready=ready, on_record=None if quiet else lines.write, on_rotate=rotated))


def _rotated(console: Console, path: Path) -> None:
    render.into_line(console, os.path.relpath(path))


def _forward_options(
    forward: str | None,
    tee: tuple[str, ...],
    host: str,
    port: int,
    failure: str,
    timeout: float,
    concurrency: int,
    queue: int,
    ca_file: Path | None,
) -> ForwardOptions:
    """Forward mode's options, checked (:func:`_check_targets`)."""
    from sentry_mirror.io.forward import ForwardOptions

    candidates = _check_targets(forward, tee, host, port)
    return ForwardOptions(forward, candidates, failure, timeout, concurrency, queue, ca_file)


#: The options of forward mode, and the options they go with.
_NEEDS = {
    "upstream_failure": ("--forward",),
    "forward_timeout": ("--forward", "--tee"),
    "forward_concurrency": ("--forward", "--tee"),
    "tee_queue": ("--tee",),
    "ca_file": ("--forward", "--tee"),
}
_GIVEN = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


def _check_targets(forward: str | None, tee: tuple[str, ...], host: str, port: int) -> tuple[str, ...]:
    """The candidates (``--tee`` values, each may hold several DSNs), checked before anything
    starts: every DSN parses, none is this listener, none is given twice
    (that server would get every request twice), and the forward-mode options given have a
    server to apply to (usage errors, rather than options silently ignored)."""
    candidates = tuple(dsn for value in tee for dsn in value.split())
    ctx = click.get_current_context()
    present = {name for name, value in (("--forward", forward), ("--tee", candidates)) if value}
    for name, needs in _NEEDS.items():
        if ctx.get_parameter_source(name) in _GIVEN and not present.intersection(needs):
            raise click.UsageError(f"--{name.replace('_', '-')} goes with {' or '.join(needs)}")
    seen: set[str] = set()
    for dsn in (forward, *candidates):
        if dsn is None:
            continue
        where = destination(dsn, "upstream")  # a DSN that does not parse stops here
        _not_itself(where.dsn, host, port)
        if where.to in seen:
            raise click.UsageError(f"{where.to} is named twice in --forward/--tee: it would get every request twice")
        seen.add(where.to)
    return candidates


#: Host names that reach this machine's own listener.
_LOCAL = frozenset({"127.0.0.1", "localhost", "[::1]", "0.0.0.0", "[::]"})


def _not_itself(dsn: Dsn, host: str, port: int) -> None:
    """A DSN pointing at this listener would send every request back to itself, forever."""
    dsn_port = dsn.port or (443 if dsn.scheme == "https" else 80)
    if port and dsn_port == port and (dsn.host in _LOCAL or dsn.host in (host, f"[{host}]")):
        raise MirrorError(f"{to_string(dsn)} is this mirror itself (--port {port}): requests would go round in a loop")


def _banner(console: Console, info: Ready, *, keys: frozenset[str], script: Script | None = None) -> None:
    """The DSN to paste (in forward mode the upstream's key and project at the mirror's
    address), the snapshot file, and where requests are sent on to."""
    forwarding = info.forwarding
    upstream = forwarding.upstream if forwarding is not None else None
    shadows = tuple(c.where.to for c in forwarding.candidates) if forwarding is not None else ()
    path = os.path.relpath(info.recorder.path) if info.recorder.path else "-"
    rules = tuple((rule.name, describe(rule), rule.source) for rule in script.rules) if script is not None else ()
    _show_banner(console, info.host, info.port, path, keys, upstream, shadows, rules)


def _show_banner(
    console: Console,
    host: str,
    port: int,
    path: str,
    keys: frozenset[str],
    upstream: Destination | None,
    shadows: tuple[str, ...] = (),
    rules: tuple[tuple[str, str, str], ...] = (),
) -> None:
    netloc = f"{_display_host(host)}:{port}"
    dsn = f"http://{next(iter(sorted(keys)), 'mirror')}@{netloc}/1"
    if upstream is not None:
        dsn = mirror_dsn(upstream.dsn, netloc)
    render.banner(
        console, dsn, path, keys=keys, upstream=upstream.to if upstream else None, candidates=shadows, rules=rules
    )
    sys.stdout.flush()


def _check_workers(script: Script | None) -> None:
    """Scripted answers follow one clock over one sequence of requests: not split over workers."""
    if script is not None:
        raise click.UsageError(
            "--script/--scenario go with --workers 1: a script runs on one clock over one sequence of "
            "requests, and each worker would play it on its own share"
        )


def _line(record: dict[str, Any], upstream: dict[str, Any] | None = None) -> render.Segments:
    """A worker's live line, as pieces for the parent to print (top level: pickled by reference)."""
    return render.line_segments(record, upstream=upstream)


def _listen_workers(console: Console, options: ListenOptions, workers: int, quiet: bool) -> Stopped:
    """``--workers N``: N listener processes on one port (io/workers.py); one banner, one feed."""
    from sentry_mirror.io.workers import Callbacks, supervise

    _check_workers(options.script)
    err = stderr()
    callbacks = Callbacks(
        on_ready=functools.partial(_workers_banner, console, options=options),
        on_rotate=functools.partial(_rotated, console),
        on_note=lambda message: warn(message, err),
        on_line=None if quiet else render.LiveLines(console).write_segments,
    )
    summary = supervise(options, workers, callbacks, _line)
    if summary.died:
        console.print(
            f"  {summary.died} worker(s) died: what they recorded is in their files, not in the count below",
            style="yellow",
        )
    if summary.dropped:
        console.print(
            f"  {summary.dropped} live line(s) not shown: the terminal was slower than the workers", style="dim"
        )
    return summary.stopped


def _workers_banner(console: Console, started: Started, *, options: ListenOptions) -> None:
    """The banner once every worker serves: the DSN once, then each worker's file."""
    from sentry_mirror.io.forwarding_app import destinations  # the server stack: only this command needs it

    upstream, candidates = destinations(options.forward)
    shadows = tuple(candidate.to for candidate in candidates)
    paths = [os.path.relpath(path) for path in started.paths] or ["-"]
    _show_banner(console, started.host, started.port, paths[0], options.config.keys, upstream, shadows)
    for path in paths[1:]:
        render.into_line(console, path)
    how = "one shared socket" if started.shared_socket else "SO_REUSEPORT"
    console.print(f"  {len(started.paths)} workers on port {started.port} ({how})", style="dim")
    sys.stdout.flush()


def _stop_lines(console: Console, stopped: Stopped) -> None:
    console.print(f"  stopped: {stopped.records} requests in {len(stopped.files)} file(s)", style="dim")
    if stopped.refused and stopped.targets:  # forward mode: answer records count too; requests were sent on
        console.print(
            f"  {stopped.refused} record(s) could not be written: the snapshot was unwritable", style="yellow"
        )
    elif stopped.refused:
        console.print(
            f"  {stopped.refused} request(s) were answered 503: the snapshot could not be written", style="yellow"
        )
    rows = [(t.kind, t.to, t.delivered, t.undelivered, t.dropped) for t in stopped.targets]
    render.stop_lines(console, rows, stopped.unrecorded, stopped.answers_lost)
