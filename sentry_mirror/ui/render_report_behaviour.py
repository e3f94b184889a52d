"""The report's ``behaviour`` section (what each SDK did around the scripted answers, with
its verdicts) in the document model of :mod:`sentry_mirror.ui.render_report` (terminal,
Markdown and HTML reports: :func:`behaviour`, put in place by
:mod:`sentry_mirror.ui.report_document`), and on a Rich console by itself, verdicts
coloured (``probe``: :func:`render`). Every captured string (SDK names, rule names, details
quoting them) reaches the console through :mod:`sentry_mirror.ui.safe`."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table as RichTable

from sentry_mirror.ui import safe
from sentry_mirror.ui.render_report import Cell, Section, Table

TITLE = "12. SDK behaviour"
#: How each verdict status is shown, and its style on a console.
LABELS = {"pass": "pass", "fail": "FAIL", "not_seen": "not seen", "info": "info"}
STYLES = {"pass": "green", "fail": "bold red", "not_seen": "dim", "info": "cyan"}
_TOLERANCE = (
    "A request received within 0.2 s after a limiting answer went out was already in flight and is "
    "not held against the SDK; a verdict never passes on no evidence (not seen). Processes of one SDK "
    "sending to one DSN cannot be told apart: judge one process at a time."
)


def sdk_label(row: Mapping[str, Any]) -> str:
    """``sentry.python 2.75.0`` (the name alone when the version is unknown)."""
    return f"{row['sdk']} {row['version']}" if row.get("version") else str(row["sdk"])


def labels(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Each row's :func:`sdk_label`, with its project and key (the first 8 characters) when
    another row has the same label (one SDK sending to two DSNs)."""
    plain = [sdk_label(row) for row in rows]
    seen: dict[str, int] = {}
    for label in plain:
        seen[label] = seen.get(label, 0) + 1
    return [
        f"{label} (project {row.get('project') or '-'}, key {str(row.get('public_key') or '-')[:8]})"
        if seen[label] > 1
        else label
        for label, row in zip(plain, rows, strict=True)
    ]


def failures(data: Mapping[str, Any]) -> int:
    """How many verdicts failed, over every SDK."""
    return sum(1 for row in data.get("sdks") or () for v in row["verdicts"] if v["status"] == "fail")


def _specs(data: Mapping[str, Any]) -> str:
    return "The SDK development spec: " + "; ".join(f"{key}: {url}" for key, url in (data.get("specs") or {}).items())


def behaviour(data: Mapping[str, Any]) -> Section:
    """The section: totals, then the verdicts, client reports and retries of every SDK."""
    s = Section("behaviour", TITLE)
    rows = data["sdks"]
    named = list(zip(labels(rows), rows, strict=True))
    s.facts = [
        ("scripted answers", str(data["scripted"])),
        ("SDKs", ", ".join(label for label, _ in named) or "-"),
        ("verdicts failed", str(failures(data))),
    ]
    verdicts: list[Sequence[Cell]] = [
        (label, v["check"], LABELS.get(v["status"], v["status"]), v["detail"])
        for label, row in named
        for v in row["verdicts"]
    ]
    rules: list[Sequence[Cell]] = [(label, rule, n) for label, row in named for rule, n in row["rules"].items()]
    reports: list[Sequence[Cell]] = [
        (label, r["reason"], r["category"], r["quantity"]) for label, row in named for r in row["client_reports"]
    ]
    retries: list[Sequence[Cell]] = [
        (label, *(row["retries"][key] for key in _RETRY_KEYS)) for label, row in named if row["retries"]["failures"]
    ]
    s.tables = [
        Table("Verdicts", ("SDK", "check", "verdict", "detail"), verdicts),
        Table("Scripted rules that answered", ("SDK", "rule", "answers"), rules, frozenset({2})),
        Table("Client reports (discarded events)", ("SDK", "reason", "category", "quantity"), reports, frozenset({3})),
        Table("After 5xx answers and dropped connections", ("SDK", *_RETRY_HEADINGS), retries, frozenset(range(1, 8))),
    ]
    s.notes = [f"{label}: {note}" for label, row in named for note in row["notes"]]
    s.notes += [*data.get("notes", ()), _TOLERANCE, _specs(data)]
    return s


_RETRY_KEYS = ("failures", "events", "retried", "attempts", "gap_min_s", "gap_max_s", "duplicated")
_RETRY_HEADINGS = ("failures", "event ids", "retried", "attempts", "min gap s", "max gap s", "stored twice")


def render(console: Console, data: Mapping[str, Any]) -> None:
    """The section alone on a console (``probe``): per SDK, its verdicts coloured, then its
    client reports; last, how many verdicts failed. ``data`` is the section's JSON, or ``{}``
    (a report without the section: no request a scripted rule answered)."""
    console.rule(safe.text(TITLE.split(". ", 1)[-1], style="bold"), align="left")  # alone: no section number
    if not data.get("sdks"):
        console.print(safe.text("no request a scripted rule answered: nothing to judge", style="dim"))
        return
    for label, row in zip(labels(data["sdks"]), data["sdks"], strict=True):
        console.print(
            safe.assemble((label, "bold"), f"  {row['requests']} request(s), {row['scripted']} answered by a script")
        )
        table = RichTable(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False)
        table.add_column("check")
        table.add_column("verdict")
        table.add_column("detail", overflow="fold")
        for v in row["verdicts"]:
            status = v["status"]
            table.add_row(
                safe.text(v["check"]),
                safe.text(LABELS.get(status, status), STYLES.get(status, "")),
                safe.text(v["detail"]),
            )
        console.print(table)
        answers = ", ".join(f"{status} {n}" for status, n in row["scripted_answers"].items())
        rules = ", ".join(f"{rule} {n}" for rule, n in row["rules"].items())
        console.print(safe.text(f"scripted answers: {answers or 'none'}" + (f" (rules: {rules})" if rules else "")))
        discarded = ", ".join(f"{r['reason']} {r['category']} {r['quantity']}" for r in row["client_reports"])
        console.print(safe.text(f"client reports: {discarded or 'none'}"))
        for note in row["notes"]:
            console.print(safe.text(note, style="dim"))
        console.print()
    failed = failures(data)
    if failed:
        console.print(safe.text(f"{failed} verdict(s) failed", style="bold red"))
    else:
        console.print(safe.text("no verdict failed", style="green"))
    for note in (*data.get("notes", ()), _TOLERANCE):
        console.print(safe.text(note, style="dim"))
    console.print(safe.text(_specs(data), style="dim"), soft_wrap=True)  # addresses stay whole for copying
