"""``sentry-mirror replay``: send captured traffic into a candidate server and report what it took."""

from __future__ import annotations

import asyncio
import os
import ssl
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import nullcontext
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import click
import orjson
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from sentry_mirror.core.auth import Dsn, parse_dsn
from sentry_mirror.core.forwarding import to_string
from sentry_mirror.core.query import Query
from sentry_mirror.core.replay.plan import Pacing, Plan, make_plan, prepare_all
from sentry_mirror.core.replay.results import ReplaySummary, Result
from sentry_mirror.core.replay.rewrite import AUTH_FORMS, ENCODINGS, Options, Target, parse_project_map
from sentry_mirror.core.replay.undelivered import Undelivered, keep
from sentry_mirror.core.replay.uploads import UploadSummary
from sentry_mirror.errors import ExitCode
from sentry_mirror.io.files import create_private
from sentry_mirror.io.forward import tls_context
from sentry_mirror.io.replay import replay
from sentry_mirror.io.replay_record import Recording, find_undelivered, record_directory, replay_recorded
from sentry_mirror.io.snapshot import expand, iter_records
from sentry_mirror.ui import render_replay, reupload, stored
from sentry_mirror.ui.env import Env
from sentry_mirror.ui.filters import filter_options, query
from sentry_mirror.ui.params import Duration, Speed
from sentry_mirror.ui.reading import reading, stderr, warn
from sentry_mirror.ui.safe import text

_REFUSED = "refused by the mirror as Sentry would (select them with --status 4xx)"


@click.command("replay")
@click.argument("snapshots", nargs=-1, metavar="[SNAPSHOT]...")
@click.option(
    "--to",
    "dsn",
    required=True,
    metavar="DSN",
    help="The target server's DSN: where to send (and the key and project to use).",
)
@click.option(
    "--auth",
    type=click.Choice(AUTH_FORMS),
    default="original",
    show_default=True,
    help="Where the key goes: as the SDK sent it, or always in X-Sentry-Auth or the query.",
)
@click.option(
    "--project-map",
    "project_map",
    multiple=True,
    metavar="OLD=NEW[:KEY]",
    help="Send project OLD's requests to project NEW (with KEY); repeatable. Others go to the DSN's project.",
)
@click.option(
    "--fresh-ids",
    is_flag=True,
    help="New event ids, the same in the envelope header and the payloads (servers drop repeats).",
)
@click.option(
    "--shift-timestamps",
    is_flag=True,
    help="Move every timestamp so the latest lands at now (servers refuse too-old events).",
)
@click.option(
    "--encoding",
    type=click.Choice(ENCODINGS),
    default="original",
    show_default=True,
    help="Content-Encoding of the bodies sent.",
)
@click.option(
    "--speed",
    type=Speed(),
    default="max",
    show_default=True,
    help="1 keeps the recorded gaps, 10 is ten times faster, max sends as fast as allowed.",
)
@click.option("--max-gap", type=Duration(), help="Wait at most this long between two requests (e.g. 5s).")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), help="At most this many requests per second.")
@click.option(
    "--concurrency", type=click.IntRange(min=1), default=8, show_default=True, help="Requests in flight at most."
)
@click.option(
    "--ignore-rate-limits",
    is_flag=True,
    help="Send even what the target's 429s and X-Sentry-Rate-Limits ask to hold back.",
)
@click.option("--dry-run", is_flag=True, help="Print what would be sent, and how long it would take; send nothing.")
@click.option(
    "--json", "as_json", is_flag=True, help="One JSON object per request on stdout (the summary goes to stderr)."
)
@click.option(
    "--results",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write one JSON line per request: what was sent and the full answer.",
)
@click.option("--allow-failures", is_flag=True, help="Exit 0 even when the target refused or failed some requests.")
@click.option(
    "--undelivered",
    is_flag=True,
    help="Send only what a forwarding listener could not deliver, and record the answers: each is delivered once.",
)
@click.option(
    "--record-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Where --undelivered records the answers (default: the directory of the snapshots read).",
)
@click.option(
    "--ca-file",
    "tls",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    callback=lambda _ctx, _param, path: tls_context(path) if path else None,
    metavar="PEM",
    help="Also trust these CA certificates for an HTTPS target and its API (verification stays on).",
)
@reupload.upload_options()
@stored.verify_options()
@filter_options()
@click.pass_obj
def replay_command(
    env: Env,
    /,
    snapshots: tuple[str, ...],
    dsn: str,
    auth: str,
    project_map: tuple[str, ...],
    fresh_ids: bool,
    shift_timestamps: bool,
    encoding: str,
    speed: float | None,
    max_gap: float | None,
    rate: float | None,
    concurrency: int,
    ignore_rate_limits: bool,
    dry_run: bool,
    as_json: bool,
    results: Path | None,
    allow_failures: bool,
    undelivered: bool,
    record_dir: Path | None,
    tls: ssl.SSLContext | None,
    verify: stored.Verify | None,
    uploads: reupload.Uploads | None,
    **filters: Any,
) -> None:
    """Send captured requests to another server (a candidate) and report what it accepted.

    Each request is rewritten for the target: its URL and project id, the key (in the
    form the SDK used), the envelope's dsn; optionally fresh event ids and timestamps
    moved to now. Requests the mirror refused are left out unless --status or
    --errors-only selects them. Takes the same filters as inspect.

    Examples:

    \b
        sentry-mirror replay --to http://KEY@127.0.0.1:8000/1 --fresh-ids
        sentry-mirror replay --to http://KEY@127.0.0.1:8000/1 --dry-run
    """
    target_dsn = parse_dsn(dsn)
    target = Target(target_dsn, parse_project_map(project_map, target_dsn.public_key))
    options = Options(auth=auth, encoding=encoding, fresh_ids=fresh_ids)
    pacing = Pacing(speed=speed, max_gap=max_gap, rate=rate, concurrency=concurrency)
    report = ReplaySummary()
    recording = Recording(record_dir or record_directory(snapshots), to_string(target_dsn)) if undelivered else None
    found = find_undelivered(snapshots, recording.directory) if recording else None
    selected = _selection(snapshots, query(filters), undelivered or _refused_wanted(filters), report.skipped, found)
    start = datetime.now(UTC)
    plan = make_plan(
        selected, target, options, pacing, shift_timestamps=shift_timestamps, start=start, skipped=report.skipped
    )
    if found is not None and not _undelivered_to_send(env.console, found, plan.count, to_string(target_dsn)):
        return
    if dry_run:
        _dry_run(env.console, plan, start, as_json, pacing, report.skipped, uploads is not None)
        return
    err = stderr()
    verifier, uploaded = _before_sending(verify, uploads, snapshots, query(filters), target_dsn, err, tls)
    _send(plan, pacing, report, err, not ignore_rate_limits, as_json, results, verifier, recording, tls)
    _conclude(env.console, err, report, to_string(target_dsn), allow_failures, verifier, as_json, uploaded)


def _refused_wanted(filters: dict[str, Any]) -> bool:
    """Whether the filters ask for requests the mirror refused (``--status``, ``--errors-only``)."""
    return bool(filters.get("statuses") or filters.get("errors_only"))


def _before_sending(
    verify: stored.Verify | None,
    uploads: reupload.Uploads | None,
    snapshots: tuple[str, ...],
    wanted: Query,
    dsn: Dsn,
    err: Console,
    tls: ssl.SSLContext | None,
) -> tuple[stored.Verifier | None, UploadSummary | None]:
    """Before the events: ``--verify-stored`` checks the API answers; ``--uploads`` sends the
    uploaded files (a CI run uploads before its app sends events)."""
    verifier = stored.connect(verify, dsn, err, tls) if verify else None
    return verifier, reupload.run(uploads, snapshots, wanted, dsn, err, tls) if uploads else None


def _conclude(
    console: Console,
    err: Console,
    report: ReplaySummary,
    target: str,
    allow_failures: bool,
    verifier: stored.Verifier | None,
    as_json: bool,
    uploaded: UploadSummary | None = None,
) -> None:
    """The summary, then (``--uploads``) the uploads and (``--verify-stored``) what the target
    stored; the exit status (a failed upload fails the replay, unless ``--allow-failures``)."""
    console = err if as_json else console
    report.uploads_sent = uploaded is not None
    if uploaded is not None:
        reupload.conclude(uploaded, console, as_json)
        report.failed += uploaded.failed
    render_replay.report(console, report, target)
    if as_json and any(report.not_replayed().values()):
        sys.stdout.buffer.write(orjson.dumps({"not_replayed": report.not_replayed()}, option=orjson.OPT_APPEND_NEWLINE))
        sys.stdout.buffer.flush()
    if report.interrupted:
        raise click.exceptions.Exit(ExitCode.INTERRUPTED)
    not_stored = verifier is not None and stored.conclude(verifier, console, as_json)
    if report.failed and not allow_failures:
        err.print(
            f"{report.failed} request(s) or upload(s) failed or broke the response contract (--allow-failures to exit 0)"
            if uploaded
            else f"{report.failed} request(s) failed or broke the response contract (--allow-failures to exit 0)",
            style="red",
            soft_wrap=True,
        )
        raise click.exceptions.Exit(ExitCode.CHECK_FAILED)
    if not_stored:
        raise click.exceptions.Exit(ExitCode.CHECK_FAILED)


def _nothing_undelivered(found: Undelivered) -> str:
    if not found.forwarded:
        return "nothing undelivered: no forwarded request in the snapshots read"
    left = f"; {len(found)} undelivered, none selected or sendable" if len(found) else ""
    return f"nothing undelivered: {found.delivered} of {found.forwarded} forwarded request(s) delivered{left}"


def _undelivered_to_send(console: Console, found: Undelivered, count: int, to: str) -> bool:
    """Whether ``replay --undelivered`` has ``count`` requests to send (else it says why
    not); a warning about those forwarded to another server than ``to``: its answers are
    recorded, but do not mark them delivered (they were meant for that server)."""
    if not count:
        console.print(text(_nothing_undelivered(found)), soft_wrap=True)
        return False
    for forwarded_to, many in sorted(found.targets.items()):
        if forwarded_to != to:
            warn(
                f"{many} undelivered request(s) were forwarded to {forwarded_to}: the answers of {to} "
                f"will not mark them delivered for {forwarded_to} (replay --undelivered sends them again)"
            )
    return True


def _recorded(err: Console, recording: Recording) -> None:
    """Where replay --undelivered recorded the answers, and what it could not record."""
    where = ", ".join(str(path) for path in recording.paths) or str(recording.directory)
    err.print(text(f"recorded {recording.recorded} answer(s) in {where}"), soft_wrap=True)
    if recording.unrecorded:
        warn(f"{recording.unrecorded} answer(s) could not be recorded: those requests will be sent again", err)


def _selection(
    snapshots: tuple[str, ...], wanted: Query, refused_too: bool, skipped: Counter[str], only: Undelivered | None = None
) -> Callable[[], Iterator[Mapping[str, Any]]]:
    """The records to replay (``only`` those, when given), streaming, read once per call;
    refused requests too with ``refused_too`` (asked for, or undelivered: the upstream judges them).
    The first pass (counting, scheduling) shows warnings and reading progress and counts
    what is left out; the second (sending) reads quietly."""
    passes = 0

    def selected() -> Iterator[Mapping[str, Any]]:
        nonlocal passes
        passes += 1
        counting = passes == 1
        with (
            reading(snapshots)
            if counting
            else nullcontext(r.data for r in iter_records(expand(snapshots or ("snapshots",)))) as records
        ):
            for data in wanted.matching(records if only is None else keep(records, only)):
                if not refused_too and data["response"]["status"] >= 300:
                    if counting:
                        skipped[_REFUSED] += 1
                    continue
                yield data

    return selected


def _send(
    plan: Plan,
    pacing: Pacing,
    report: ReplaySummary,
    err: Console,
    honour_rate_limits: bool,
    as_json: bool,
    results: Path | None,
    verifier: stored.Verifier | None,
    recording: Recording | None = None,
    tls: ssl.SSLContext | None = None,
) -> None:
    """Replay ``plan`` (HTTPS verified with ``tls``), adding every result to ``report``
    (and stdout, ``results``, ``verifier``),
    with a progress bar on a terminal's stderr; each answer recorded with ``recording``.
    Ctrl-C ends it, marked in ``report`` (with ``recording``, the first lets the requests in
    flight finish)."""
    results_file = (
        os.fdopen(create_private(results, what="--results "), "wb") if results else None
    )  # owner-only: answers hold captured data
    progress = Progress(
        TextColumn("replaying"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    )
    task = progress.add_task("replay", total=plan.count)
    advance = None if progress.disable else (lambda: progress.advance(task))
    on_result = _result_sink(report, advance, as_json, results_file, verifier.check.add if verifier else None)
    options: dict[str, Any] = {
        "honour_rate_limits": honour_rate_limits,
        "ssl_context": tls,
        "on_result": on_result,
        "on_skip": lambda reason: report.skipped.update([reason]),
    }
    t0 = time.monotonic()
    try:
        with progress:
            asyncio.run(
                replay(plan, pacing, **options)
                if recording is None
                else replay_recorded(plan, pacing, recording, on_interrupt=lambda: _stopping(err), **options)
            )
        report.interrupted = recording is not None and recording.interrupted
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        report.elapsed = time.monotonic() - t0
        if results_file is not None:
            results_file.close()
        if recording is not None:
            _recorded(err, recording)


def _stopping(err: Console) -> None:
    err.print("stopping: waiting for the requests in flight to be answered (Ctrl-C again to abandon them)")


def _result_sink(
    report: ReplaySummary,
    advance: Callable[[], None] | None,
    as_json: bool,
    results_file: IO[bytes] | None,
    observe: Callable[[Result], None] | None,
) -> Callable[[Result], None]:
    """What is done with each result as it comes: counted, shown, written, observed."""

    def on_result(result: Result) -> None:
        report.add(result)
        if observe is not None:
            observe(result)
        if advance is not None:
            advance()
        if as_json:
            sys.stdout.buffer.write(orjson.dumps(result.to_dict(), option=orjson.OPT_APPEND_NEWLINE))
            sys.stdout.buffer.flush()
        if results_file is not None:
            results_file.write(orjson.dumps(result.to_dict(), option=orjson.OPT_APPEND_NEWLINE))

    return on_result


def _dry_run(
    console: Console,
    plan: Plan,
    start: datetime,
    as_json: bool,
    pacing: Pacing,
    skipped: Counter[str],
    uploads: bool = False,
) -> None:
    pairs = prepare_all(plan, start, on_skip=lambda reason: skipped.update([reason]))
    if as_json:
        for sent, offset in pairs:
            sys.stdout.buffer.write(
                orjson.dumps({**sent.to_dict(), "scheduled": round(offset, 6)}, option=orjson.OPT_APPEND_NEWLINE)
            )
        sys.stdout.buffer.flush()
        return
    listed = list(pairs)  # the table is printed whole
    prepared = [sent for sent, _ in listed]
    console.print(render_replay.plan_table(prepared, [offset for _, offset in listed]))
    types: Counter[str] = Counter(t for sent in prepared for t in sent.item_types)
    items = ", ".join(f"{n} {t}" for t, n in types.most_common()) or "no items"
    speed = "as fast as allowed" if pacing.speed is None else f"at {pacing.speed:g}x"
    console.print(
        text(
            f"dry run: would send {len(prepared)} request(s) ({items}) to {to_string(plan.target.dsn)} "
            f"{speed}, in about {render_replay.duration_label(plan.duration)} plus answer time"
        ),
        soft_wrap=True,
    )
    changes: Counter[str] = Counter(change for sent in prepared for change in sent.changes)
    if changes:
        console.print(
            text("rewritten: " + ", ".join(f"{name} ({n})" for name, n in changes.most_common())), soft_wrap=True
        )
    render_replay.skipped(console, skipped, "--uploads would send them" if uploads else "use --uploads")
