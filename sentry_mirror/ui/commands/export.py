"""``sentry-mirror export``: the matching requests as a new snapshot, or as .envelope files."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from sentry_mirror.io.export import export_envelopes, export_snapshot
from sentry_mirror.ui.env import Env
from sentry_mirror.ui.filters import filter_options, query
from sentry_mirror.ui.reading import reading, warn
from sentry_mirror.ui.safe import text


@click.command("export")
@click.argument("snapshots", nargs=-1, metavar="[SNAPSHOT]...")
@filter_options()
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), help="Write a new snapshot file.")
@click.option(
    "--envelopes",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write one .envelope file per request into this directory.",
)
@click.pass_obj
def export_command(
    env: Env, /, snapshots: tuple[str, ...], output: Path | None, envelopes: Path | None, **filters: Any
) -> None:
    """Write the matching requests as a new snapshot, or as .envelope files.

    Takes the same filters as inspect.

    Examples:

    \b
        sentry-mirror export --item-type event -o errors.jsonl.zst
        sentry-mirror export --sdk sentry.python --envelopes envelopes/
    """
    if (output is None) == (envelopes is None):
        raise click.UsageError("give exactly one of -o/--output and --envelopes")
    if output is not None:  # a snapshot: with the answer records to its requests (forward mode)
        with reading(snapshots, answers=True) as records:
            done = export_snapshot(query(filters).with_answers(records), output)
    else:
        with reading(snapshots, query=query(filters)) as selected:
            done = export_envelopes(selected, envelopes, warn=warn)  # type: ignore[arg-type]
    answers = f" and {done.answers} answer record(s)" if done.answers else ""
    skipped = f" ({done.skipped} skipped: not an accepted envelope)" if done.skipped else ""
    env.console.print(text(f"{done.written} request(s){answers} written to {done.target}{skipped}"))
