"""``sentry-mirror export``: the matching requests as a new snapshot, or as .envelope files,
or the sql tables as Parquet (``--format parquet``: :mod:`sentry_mirror.ui.export_parquet`);
with ``--redact``, personal data replaced by keyed pseudonyms (docs/redaction.md)."""

from __future__ import annotations

import functools
import os
from pathlib import Path
from typing import Any

import click

from sentry_mirror.core import pii, redact
from sentry_mirror.core.query import Query
from sentry_mirror.errors import MirrorError
from sentry_mirror.io import export_windows
from sentry_mirror.io.export import (
    KEY_ENV,
    Exported,
    Redaction,
    export_envelopes,
    export_fixtures,
    export_redacted,
    export_snapshot,
    redaction_key,
    write_fixtures,
)
from sentry_mirror.io.export_windows import Spooled, Task
from sentry_mirror.io.files import temp_directory
from sentry_mirror.io.parallel import Feedback, Window
from sentry_mirror.ui.env import Env
from sentry_mirror.ui.export_parquet import export_parquet, parquet_usage
from sentry_mirror.ui.filters import filter_options, query
from sentry_mirror.ui.params import jobs_option
from sentry_mirror.ui.reading import reading, reading_windows, warn, window_records
from sentry_mirror.ui.safe import text

_REDACT_ONLY = ("redact_key_file", "pii_rules", "fixtures")


@click.command("export")
@click.argument("snapshots", nargs=-1, metavar="[SNAPSHOT]...")
@filter_options()
@click.option(
    "-o", "--output", type=click.Path(path_type=Path), help="Write a new snapshot file (--format parquet: a directory)."
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["snapshot", "parquet"]),
    default="snapshot",
    show_default=True,
    help="What -o writes: a snapshot file, or the sql tables as Parquet (docs/parquet.md).",
)
@click.option("--overwrite", is_flag=True, help="With --format parquet: replace an earlier export in -o DIR.")
@click.option(
    "--envelopes",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write one .envelope file per request into this directory.",
)
@click.option("--redact", is_flag=True, help="Replace personal data by keyed pseudonyms (docs/redaction.md).")
@click.option(
    "--redact-key-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help=f"The pseudonyms' key (hex or text); else ${KEY_ENV}; else a random key, not kept.",
)
@click.option(
    "--pii-engine",
    type=click.Choice([pii.ENGINE, pii.RELAY_ENGINE]),
    default=pii.ENGINE,
    show_default=True,
    help="What finds personal data: the built-in detectors, or these and Sentry's own scrubber (sentry-relay).",
)
@click.option(
    "--pii-rules",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="A Relay PII config (Sentry's advanced data scrubbing, JSON) applied too (needs sentry-relay).",
)
@click.option(
    "--attachments",
    type=click.Choice(redact.ATTACHMENT_MODES),
    default=redact.PLACEHOLDER,
    show_default=True,
    help="Attachments and other binary parts: dropped, or replaced by a placeholder of the same size.",
)
@click.option(
    "--fixtures",
    type=click.Path(file_okay=False, path_type=Path),
    help="With --redact: one .envelope per SDK and item type, and manifest.json, into this directory.",
)
@jobs_option()
@click.pass_obj
def export_command(
    env: Env,
    /,
    snapshots: tuple[str, ...],
    output: Path | None,
    output_format: str,
    overwrite: bool,
    envelopes: Path | None,
    redact: bool,
    pii_engine: str,
    attachments: str,
    jobs: int,
    **options: Any,
) -> None:
    """Write the matching requests as a new snapshot, as .envelope files, or as Parquet.

    Takes the same filters as inspect. --jobs N reads, filters and redacts with N processes;
    what is written is the same (byte for byte). With --limit, one process reads.

    Examples:

    \b
        sentry-mirror export --item-type event -o errors.jsonl.zst
        sentry-mirror export --sdk sentry.python --envelopes envelopes/
        sentry-mirror export --redact --redact-key-file team.key -o out.jsonl.zst
        sentry-mirror export --redact --fixtures fixtures/
        sentry-mirror export --format parquet -o lake/
    """
    extra = {name: options.pop(name) for name in _REDACT_ONLY}
    if output_format == "parquet" or overwrite:  # docs/parquet.md
        directory = parquet_usage(output_format, overwrite, output, envelopes, redact, extra)
        redaction = (
            _redaction(pii_engine, attachments, extra["redact_key_file"], extra["pii_rules"]) if redact else None
        )
        redactor = redaction.redactor() if redaction is not None else None
        export_parquet(env, snapshots, directory, overwrite=overwrite, filters=options, redactor=redactor)
        return
    wanted = query(options)
    jobs = 1 if wanted.limit is not None else jobs  # what a limit keeps depends on all before
    if redact:
        _redacted(env, snapshots, output, envelopes, pii_engine, attachments, extra, wanted, jobs)
        return
    if any(value is not None for value in extra.values()):
        raise click.UsageError("--redact-key-file, --pii-rules and --fixtures go with --redact")
    if (output is None) == (envelopes is None):
        raise click.UsageError("give exactly one of -o/--output and --envelopes")
    if jobs > 1:
        done = _parallel(snapshots, jobs, output, envelopes, wanted, None)
    elif output is not None:  # a snapshot: with the answer records to its requests (forward mode)
        with reading(snapshots, answers=True) as records:
            done = export_snapshot(wanted.with_answers(records), output)
    else:
        with reading(snapshots, query=wanted) as selected:
            done = export_envelopes(selected, envelopes, warn=warn)  # type: ignore[arg-type]
    answers = f" and {done.answers} answer record(s)" if done.answers else ""
    skipped = f" ({done.skipped} skipped: not an accepted envelope)" if done.skipped else ""
    env.console.print(text(f"{done.written} request(s){answers} written to {done.target}{skipped}"))


def _redacted(
    env: Env,
    snapshots: tuple[str, ...],
    output: Path | None,
    envelopes: Path | None,
    engine: str,
    attachments: str,
    extra: dict[str, Any],
    wanted: Query,
    jobs: int,
) -> None:
    fixtures: Path | None = extra["fixtures"]
    if envelopes is not None or (output is None) == (fixtures is None):
        raise click.UsageError("--redact writes a snapshot (-o/--output) or fixtures (--fixtures DIR)")
    redaction = _redaction(engine, attachments, extra["redact_key_file"], extra["pii_rules"])
    redactor = redaction.redactor()
    if fixtures is not None:
        if jobs > 1:
            done = _parallel(snapshots, jobs, None, fixtures, wanted, redaction)
        else:
            with reading(snapshots, query=wanted) as selected:
                done = export_fixtures(selected, fixtures, redactor, warn=warn)
        env.console.print(text(f"{done.written} fixture(s) and manifest.json written to {done.target}"))
        return
    assert output is not None
    if jobs > 1:
        done = _parallel(snapshots, jobs, output, None, wanted, redaction)
    else:
        with reading(snapshots, answers=True) as records:
            done = export_redacted(wanted.with_answers(records), output, redactor)
    answers = f" and {done.answers} answer record(s)" if done.answers else ""
    env.console.print(text(f"{done.written} request(s){answers} written redacted to {done.target}"))


def _redaction(engine: str, attachments: str, key_file: Path | None, rules_file: Path | None) -> Redaction:
    """The export's redaction: its key read (or made) once, here; Sentry's scrubber loaded
    to be sure it can be (a usage error if not)."""
    key, made = redaction_key(key_file, os.environ, warn=warn)
    if made:
        warn(
            f"no --redact-key-file and no ${KEY_ENV}: a random key is used and not kept (pseudonyms join only within this export)"
        )
    rules = None
    if rules_file is not None:
        try:
            rules = rules_file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise MirrorError(f"cannot read --pii-rules {rules_file}: {exc}") from None
    redaction = Redaction(key, attachments, engine == pii.RELAY_ENGINE, rules)
    try:
        redaction.redactor()
    except MirrorError as exc:
        raise click.UsageError(str(exc)) from None
    return redaction


def _parallel(
    snapshots: tuple[str, ...],
    jobs: int,
    output: Path | None,
    directory: Path | None,
    wanted: Query,
    redaction: Redaction | None,
) -> Exported:
    """The export by ``jobs`` processes (:mod:`sentry_mirror.io.export_windows`): a snapshot
    at ``output``, else fixtures (with ``redaction``) or envelopes into ``directory``."""
    mode = "snapshot" if output is not None else "fixtures" if redaction is not None else "envelopes"
    with temp_directory("sentry-mirror-export-") as spools:
        work = functools.partial(_window, task=Task(mode, wanted, str(spools), redaction))
        with reading_windows(snapshots, jobs, work, answers=mode == "snapshot") as parts:
            if output is not None:
                return export_windows.write_snapshot(parts, output, wanted)
            assert directory is not None
            if redaction is not None:
                return write_fixtures(export_windows.examples_of(parts), directory, redaction.redactor(), warn=warn)
            return export_windows.write_envelopes(parts, directory, warn=warn)


def _window(window: Window, feedback: Feedback, *, task: Task) -> Spooled:
    """In a worker: one window spooled for ``task``."""
    records = window_records(window, feedback, None, None if task.mode == "snapshot" else task.query)
    return export_windows.spool(task, window.index, records)
