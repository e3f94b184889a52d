"""The options that choose scripted answers (``--scenario``, ``--script``, ``--seed``), shared
by ``listen`` and ``probe``, and the script they make (docs/scripts.md)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from sentry_mirror.core.script import SCENARIOS, Rule, Script, scenario
from sentry_mirror.core.script import parse as parse_script
from sentry_mirror.errors import ScriptError

F = TypeVar("F", bound=Callable[..., Any])


def script_options(command: F) -> F:
    """Add ``--scenario`` (repeatable), ``--script FILE`` and ``--seed`` to ``command``; they
    arrive as ``scenarios``, ``script_file`` and ``seed`` (see :func:`load_script`)."""
    options = (
        click.option(
            "--scenario",
            "scenarios",
            multiple=True,
            metavar="NAME[:VALUE]",
            help="Answer as Sentry does when things go wrong (repeatable; docs/scripts.md): "
            + "; ".join(f"{name} {text}" for name, text in SCENARIOS.items())
            + ".",
        ),
        click.option(
            "--script",
            "script_file",
            type=click.Path(dir_okay=False, exists=True, path_type=Path),
            metavar="FILE",
            help="Scripted answers from a TOML file (docs/scripts.md); its rules come before --scenario's.",
        ),
        click.option("--seed", type=int, help="Seed for the rules answering a share of requests (flaky, share = ...)."),
    )
    for option in reversed(options):
        command = option(command)
    return command


def load_script(
    path: Path | None, scenarios: tuple[str, ...], seed: int | None, *, forward: bool = False
) -> Script | None:
    """The scripted answers of ``--script FILE`` then ``--scenario``s (None for neither);
    ScriptError (exit 2) with the file's line for a bad one. ``seed`` overrides the file's;
    ``forward``: ``--forward`` was given, which a script cannot go with (yet)."""
    if path is None and not scenarios:
        if seed is not None:
            raise click.UsageError("--seed goes with --script or --scenario")
        return None
    if forward:
        raise click.UsageError("--script and --scenario cannot go with --forward yet (--tee can)")
    rules: tuple[Rule, ...] = ()
    file_seed = 0
    if path is not None:
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ScriptError(f"{path}:1: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
        except OSError as exc:
            raise ScriptError(f"{path}: cannot be read: {exc.strerror}") from None
        parsed = parse_script(text, str(path))
        rules, file_seed = parsed.rules, parsed.seed
    for spec in scenarios:
        rules += scenario(spec)
    return Script(rules, file_seed if seed is None else seed)
