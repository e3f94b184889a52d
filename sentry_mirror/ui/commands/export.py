"""``sentry-mirror export``: the matching requests as a new snapshot, or as .envelope files,
or the sql tables as Parquet (``--format parquet``: :mod:`sentry_mirror.ui.export_parquet`);
with ``--redact``, personal data replaced by keyed pseudonyms (docs/redaction.md)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from sentry_mirror.core import pii, redact
from sentry_mirror.errors import MirrorError
from sentry_mirror.io.export import (
    KEY_ENV,
    export_envelopes,
    export_fixtures,
    export_redacted,
    export_snapshot,
    redaction_key,
)
from sentry_mirror.ui.env import Env
from sentry_mirror.ui.export_parquet import export_parquet, parquet_usage
from sentry_mirror.ui.filters import filter_options, query
from sentry_mirror.ui.reading import reading, warn
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
    **options: Any,
) -> None:
    """Write the matching requests as a new snapshot, as .envelope files, or as Parquet.

    Takes the same filters as inspect.

    Examples:

    \b
        sentry-mirror export --item-type event -o errors.jsonl.zst
        sentry-mirror export --sdk sentry.python --envelopes envelopes/
        sentry-mirror export --redact --redact-key-file team.key -o out.jsonl.zst
        sentry-mirror export --redact --fixtures fixtures/
        sentry-mirror export --format parquet -o lake/
    """
    extra = {name: options.pop(name) for name in _REDACT_ONLY}
    filters = options
    if output_format == "parquet" or overwrite:  # docs/parquet.md
        directory = parquet_usage(output_format, overwrite, output, envelopes, redact, extra)
        redactor = _redactor(pii_engine, attachments, extra["redact_key_file"], extra["pii_rules"]) if redact else None
        export_parquet(env, snapshots, directory, overwrite=overwrite, filters=filters, redactor=redactor)
        return
    if redact:
        _redacted(env, snapshots, output, envelopes, pii_engine, attachments, extra, filters)
        return
    if any(value is not None for value in extra.values()):
        raise click.UsageError("--redact-key-file, --pii-rules and --fixtures go with --redact")
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


def _redacted(
    env: Env,
    snapshots: tuple[str, ...],
    output: Path | None,
    envelopes: Path | None,
    engine: str,
    attachments: str,
    extra: dict[str, Any],
    filters: dict[str, Any],
) -> None:
    fixtures: Path | None = extra["fixtures"]
    if envelopes is not None or (output is None) == (fixtures is None):
        raise click.UsageError("--redact writes a snapshot (-o/--output) or fixtures (--fixtures DIR)")
    redactor = _redactor(engine, attachments, extra["redact_key_file"], extra["pii_rules"])
    if fixtures is not None:
        with reading(snapshots, query=query(filters)) as selected:
            done = export_fixtures(selected, fixtures, redactor, warn=warn)
        env.console.print(text(f"{done.written} fixture(s) and manifest.json written to {done.target}"))
        return
    assert output is not None
    with reading(snapshots, answers=True) as records:
        done = export_redacted(query(filters).with_answers(records), output, redactor)
    answers = f" and {done.answers} answer record(s)" if done.answers else ""
    env.console.print(text(f"{done.written} request(s){answers} written redacted to {done.target}"))


def _redactor(engine: str, attachments: str, key_file: Path | None, rules_file: Path | None) -> redact.Redactor:
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
    relay = None
    if engine == pii.RELAY_ENGINE or rules is not None:
        try:
            relay = redact.RelayEngine(rules)
        except MirrorError as exc:
            raise click.UsageError(str(exc)) from None
    parts = redact.BodyRedactor(redact.Pseudonyms(key), attachments, relay)
    return redact.Redactor(parts, pii.RELAY_ENGINE if relay is not None else pii.ENGINE)
