"""Rich renderings for ``sentry-mirror replay``: the dry-run plan and the report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from urllib.parse import urlsplit

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sentry_mirror.core.replay.plan import SKIPPED_UPLOAD, SKIPPED_WEB_API
from sentry_mirror.core.replay.results import ReplaySummary, items_label
from sentry_mirror.core.replay.rewrite import Prepared
from sentry_mirror.core.replay.stored import NOT_STORED, StoredCheck
from sentry_mirror.core.replay.uploads import (
    ACCEPTED,
    ALREADY_THERE,
    FAILED,
    UPLOADED,
    UploadResult,
    UploadSummary,
)
from sentry_mirror.core.stats import nearest_rank
from sentry_mirror.ui.render import human_size
from sentry_mirror.ui.safe import text


def duration_label(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    return f"{seconds / 3600:.1f} h"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def plan_table(prepared: Sequence[Prepared], offsets: Sequence[float]) -> Table:
    """``--dry-run``: one row per request as it would be sent."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for name, justify in (
        ("at", "right"),
        ("method", "left"),
        ("path", "left"),
        ("items", "left"),
        ("event id", "left"),
        ("encoding", "left"),
        ("wire", "right"),
    ):
        table.add_column(name, justify=justify, no_wrap=True)  # type: ignore[arg-type]

    for sent, offset in zip(prepared, offsets, strict=True):
        parts = urlsplit(sent.url)
        table.add_row(
            f"+{offset:.3f}s",
            text(sent.method),
            text(parts.path + (f"?{parts.query}" if parts.query else "")),
            text(items_label(sent.item_types)),
            text((sent.event_id or "-")[:8]),
            text(sent.encoding or "identity"),
            human_size(len(sent.body)),
        )
    return table


def report(console: Console, result: ReplaySummary, target: str) -> None:
    """The summary after a replay: per endpoint and items, refusals, item types, contract checks.

    What the target answered (its reasons) and what was captured (item types) is shown
    literally and visibly (:mod:`sentry_mirror.ui.safe`)."""
    console.print(_endpoint_table(result, target))
    if result.items_sent or result.items_held:
        console.print(_item_table(result))
    if result.reasons:
        console.print("refused:", style="bold")
        for (status, reason), count in result.reasons.most_common():
            console.print(
                text(f"  {count:>5}  {status if status is not None else '---'}  {reason or '-'}"), soft_wrap=True
            )
    if result.problems:
        console.print("response contract:", style="bold")
        for problem, count in result.problems.most_common():
            console.print(text(f"  {count:>5}  {problem}"), soft_wrap=True)
    skipped(console, result.skipped, "re-uploaded with --uploads" if result.uploads_sent else "use --uploads")
    console.print(_totals(result), soft_wrap=True)


def skipped(console: Console, counts: Counter[str], uploads: str = "use --uploads") -> None:
    """What was left out and why; web API requests and uploads (not ingestion requests) on one
    line, ``uploads`` saying what became of the uploads."""
    for reason, count in counts.items():
        if reason not in (SKIPPED_WEB_API, SKIPPED_UPLOAD):
            console.print(text(f"  skipped {count}: {reason}", style="dim"), soft_wrap=True)
    web_api, count = counts[SKIPPED_WEB_API], counts[SKIPPED_UPLOAD]
    if web_api or count:
        console.print(
            text(f"  web API requests not replayed: {web_api}; uploads: {count} ({uploads})", style="dim"),
            soft_wrap=True,
        )


def _endpoint_table(result: ReplaySummary, target: str) -> Table:
    """One row per endpoint and item types: answers by class, rate limits, errors, latency."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title=text(f"replayed into {target}"), title_justify="left")
    for name in (
        "endpoint",
        "items",
        "sent",
        "2xx",
        "4xx",
        "5xx",
        "429",
        "held back",
        "errors",
        "p50 ms",
        "p95 ms",
        "p99 ms",
    ):
        table.add_column(name, justify="left" if name in ("endpoint", "items") else "right")
    for row in sorted(result.rows.values(), key=lambda r: (r.endpoint, r.items)):
        table.add_row(
            text(row.endpoint),
            text(row.items),
            str(row.sent),
            str(row.count(2)),
            str(row.count(4)),
            str(row.count(5)),
            str(row.outcomes["rate-limited"]),
            str(row.outcomes["held-back"]),
            str(row.outcomes["transport-error"]),
            *(_ms(nearest_rank(row.latencies, q)) for q in (50, 95, 99)),
        )
    return table


def _item_table(result: ReplaySummary) -> Table:
    """Per item type: sent, accepted, not accepted, held back."""
    items = Table(box=box.SIMPLE_HEAD, pad_edge=False, title="by item type", title_justify="left")
    for name in ("item type", "sent", "accepted", "not accepted", "held back"):
        items.add_column(name, justify="left" if name == "item type" else "right")
    for kind in sorted(set(result.items_sent) | set(result.items_held)):
        sent, accepted = result.items_sent[kind], result.items_accepted[kind]
        items.add_row(text(kind), str(sent), str(accepted), str(sent - accepted), str(result.items_held[kind]))
    return items


def _totals(result: ReplaySummary) -> Text:
    """The last line: how many requests in how long, accepted or not, the send-time lag."""
    outcomes = result.outcomes()
    accepted = outcomes["accepted"]
    late = nearest_rank(result.late_ms, 99)
    pace = f", send-time lag p99 {late:.1f} ms" if late is not None else ""
    stopped = "interrupted: " if result.interrupted else ""
    return text(
        f"{stopped}{result.total} request(s) in {duration_label(result.elapsed)}: {accepted} accepted, "
        f"{result.total - accepted - outcomes['held-back']} not accepted, {outcomes['held-back']} held back by rate limits{pace}",
        style="bold" if result.failed else "",
    )


#: Event ids shown per item type as examples of what was not stored.
SHOWN_EXAMPLES = 5


def stored_report(console: Console, check: StoredCheck) -> None:
    """``--verify-stored``: per item type, stored / answered 2xx but not stored / rejected /
    cannot tell; why it cannot tell; examples of what was not stored; a totals line."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title=text(f"stored? asked {check.api}"), title_justify="left")
    for name in ("item type", "stored", "2xx, not stored", "rejected", "cannot tell"):
        table.add_column(name, justify="left" if name == "item type" else "right")
    for item_type, *numbers in check.rows():
        table.add_row(text(item_type), *(str(n) for n in numbers))
    console.print(table)
    for (item_type, why), count in check.reasons.most_common():
        console.print(text(f"  cannot tell {count} {item_type}: {why}", style="dim"), soft_wrap=True)
    for item_type, ids in sorted(check.examples.items()):
        rest = check.counts[item_type][NOT_STORED] - min(len(ids), SHOWN_EXAMPLES)
        more = f" and {rest} more" if rest > 0 else ""
        console.print(text(f"  not stored ({item_type}): {', '.join(ids[:SHOWN_EXAMPLES])}{more}"), soft_wrap=True)
    totals = [sum(column) for column in zip(*(row[1:] for row in check.rows()), strict=True)] or [0, 0, 0, 0]
    stored, not_stored, rejected, cannot_tell = totals
    console.print(
        text(
            f"{stored} item(s) stored, {not_stored} answered 2xx but not stored, {rejected} rejected, "
            f"{cannot_tell} cannot tell ({check.asked} API request(s) in {duration_label(check.waited)})",
            style="bold red" if not_stored else "",
        ),
        soft_wrap=True,
    )


_OUTCOME_STYLES = {UPLOADED: "", ALREADY_THERE: "", ACCEPTED: "yellow", FAILED: "red"}


def upload_line(result: UploadResult) -> str:
    """One upload in a line: what, where, what became of it (the candidate's words shown literally)."""
    what = result.kind.replace("_", " ") + (f" {result.name}" if result.name else "")
    where = f" to {result.org}/{','.join(result.projects)}" if result.org else ""
    detail = f": {result.detail}" if result.detail else ""
    return f"{what} ({human_size(result.size)}){where}: {result.outcome.replace('_', ' ')}{detail}"


def uploads_report(console: Console, summary: UploadSummary) -> None:
    """``--uploads``: one row per uploaded file, then the outcomes counted."""
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, title=text(f"uploads into {summary.api}"), title_justify="left")
    for name in ("kind", "name", "size", "chunks sent", "outcome", "state", "detail"):
        table.add_column(name, justify="right" if name in ("size", "chunks sent") else "left")
    for result in summary.results:
        table.add_row(
            text(result.kind),
            text(result.name or "-"),
            human_size(result.size),
            f"{result.chunks_sent}/{result.chunks}",
            text(result.outcome.replace("_", " "), style=_OUTCOME_STYLES.get(result.outcome, "")),
            text(result.state or "-"),
            text(result.detail or ""),
        )
    console.print(table)
    counted = summary.outcomes()
    console.print(
        text(
            f"{len(summary.results)} upload(s): {counted[UPLOADED]} uploaded, {counted[ALREADY_THERE]} already there, "
            f"{counted[ACCEPTED]} accepted but not confirmed, {counted[FAILED]} failed",
            style="bold red" if counted[FAILED] else "",
        ),
        soft_wrap=True,
    )
