"""The report's document model, built from its JSON, and the report as Markdown.

All formats render the same document model, built from the report's JSON
(:meth:`~sentry_mirror.core.report.Report.to_json`): a list of :class:`Section`, each with
facts (label, value), tables and, for HTML, charts. What one format shows, all show (the
terminal cuts long values to fit its width). The other formats: :mod:`.render_report_terminal`,
:mod:`.render_report_html`; the diff's document: :mod:`.render_report_diff`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sentry_mirror.core import text
from sentry_mirror.ui.render import NO_PROJECT, NO_SDK, human_size

Cell = str | int | float | None


@dataclass
class Table:
    """Rows under columns. On the terminal, the ``wide`` columns (paths, titles) are cut in
    the middle to fit its width, the ``wrapped`` ones (reasons, prose) share that width with
    them and wrap, and a ``-`` in a column of ``missing`` shows as its label (``(no SDK)``);
    the other formats show every value in full, as the JSON has it."""

    title: str
    columns: Sequence[str]
    rows: Sequence[Sequence[Cell]]
    numeric: frozenset[int] = frozenset()
    wide: frozenset[int] = frozenset()
    missing: Mapping[int, str] = field(default_factory=dict)
    #: the title on the terminal, when it differs (a missing SDK labelled)
    terminal_title: str | None = None
    wrapped: frozenset[int] = frozenset()


@dataclass
class Chart:
    """Bars: (label, value) in order; ``kind`` is ``bars`` (horizontal) or ``series`` (columns over time)."""

    title: str
    points: list[tuple[str, float]]
    kind: str = "bars"


@dataclass
class Section:
    key: str
    title: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


TITLES = {
    "traffic": "1. Traffic",
    "fields": "2. Field coverage",
    "issues": "3. Issues",
    "performance": "4. Performance data",
    "health": "5. Release health and monitors",
    "dropped": "6. What the SDKs dropped",
    "pii": "7. Personal data",
    "sourcemaps": "8. Source maps and releases",
    "server": "9. What a server must support",
}


def size(value: Any) -> str:
    return "-" if value is None else human_size(int(value))


def _limit(value: Any) -> str:
    """Sentry's limits are powers of 1024: ``100 KiB``, ``1 MiB``."""
    if value is None:
        return "-"
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:g} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def percent(value: Any) -> str:
    return "-" if value is None else f"{value * 100:.1f}%"


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:.1f} ms"


#: What a ``-`` (none given) stands for in a table of these, on the terminal.
NONE_LABELS = {"project": NO_PROJECT, "sdk": NO_SDK}


def _counts(title: str, label: str, counter: Mapping[str, int], limit: int | None = None) -> Table:
    rows = [(key, value) for key, value in counter.items()][:limit]
    missing = {0: NONE_LABELS[label]} if label in NONE_LABELS else {}
    return Table(title, (label, "count"), rows, frozenset({1}), frozenset({0}), missing)


# ---------------------------------------------------------------- the document


def _traffic(data: Mapping[str, Any]) -> Section:
    s = Section("traffic", TITLES["traffic"])
    s.facts = [
        ("requests", str(data["requests"])),
        ("envelopes", str(data["envelopes"])),
        ("items", str(data["items"])),
        ("accepted / refused", f"{data['accepted']} / {data['refused']}"),
        ("from", data["first"] or "-"),
        ("to", data["last"] or "-"),
        ("duration", f"{data['duration_s']} s"),
        ("mean per minute", str(data["mean_per_minute"])),
        ("busiest second", f"{data['busiest_second']['requests']} at {data['busiest_second']['second'] or '-'}"),
        ("peak minutes", ", ".join(f"{m} ({n})" for m, n in data["peak_minutes"]) or "-"),
    ]
    s.tables = [
        _counts("Items by type", "item type", data["items_by_type"]),
        _counts("By endpoint", "endpoint", data["by_endpoint"]),
        _counts("By project", "project", data["by_project"]),
        _counts("By SDK", "sdk", data["by_sdk"]),
        _counts("By platform", "platform", data["by_platform"]),
        _counts("By response status", "status", data["by_status"]),
        Table(
            "Item sizes against Sentry's limits",
            ("item type", "count", "p50", "p95", "max", "limit", "over limit"),
            [
                (
                    kind,
                    v["count"],
                    size(v["p50"]),
                    size(v["p95"]),
                    size(v["max"]),
                    _limit(v["limit"]),
                    v["over_limit"],
                )
                for kind, v in data["sizes"].items()
            ],
            frozenset({1, 2, 3, 4, 5, 6}),
        ),
        Table(
            "Request sizes",
            ("", "count", "p50", "p95", "max", "total"),
            [
                (name, v["count"], size(v["p50"]), size(v["p95"]), size(v["max"]), size(v["total"]))
                for name, v in (("wire", data["wire"]), ("decoded", data["decoded"]))
            ],
            frozenset({1, 2, 3, 4, 5}),
        ),
        _counts("Envelopes Sentry would reject (413)", "because of", data["would_be_rejected"]),
        _counts("Content encodings", "encoding", data["encodings"]),
        _counts("Auth forms", "form", data["auth_forms"]),
    ]
    s.charts = [
        Chart("Requests per minute", list(data["per_minute"].items()), "series"),
        Chart("Items by type", list(data["items_by_type"].items())),
    ]
    if data.get("truncated"):
        s.notes.append(f"counters that reached their limit: {', '.join(data['truncated'])}")
    return s


def _distinct(path: Mapping[str, Any]) -> str:
    if not path["distinct"]:
        return "-"
    return f"{path['distinct']}{'+' if path['distinct_capped'] else ''}"


def _fields(data: Mapping[str, Any], max_paths: int | None) -> Section:
    s = Section("fields", TITLES["fields"])
    h = data["highlights"]
    s.facts = [
        ("error events", str(h["events"])),
        (
            "exception chain length p50/p95/max",
            f"{h['exception_chain']['p50']} / {h['exception_chain']['p95']} / {h['exception_chain']['max']}",
        ),
        ("stack frames", str(h["frames"])),
        ("frames with source context", percent(h["frames_with_context"])),
        ("frames in app", percent(h["frames_in_app"])),
        ("frames with local variables", percent(h["frames_with_vars"])),
        (
            "breadcrumbs per event p50/p95/max",
            f"{h['breadcrumbs']['p50']} / {h['breadcrumbs']['p95']} / {h['breadcrumbs']['max']}",
        ),
    ]
    s.tables.append(
        Table(
            "What error events carry",
            ("field", "events"),
            [(k, percent(v)) for k, v in h["present"].items()],
            frozenset({1}),
        )
    )
    s.charts.append(Chart("Share of error events carrying", [(k, v * 100) for k, v in h["present"].items()]))
    for entry in data["types"]:
        paths = entry["paths"] if max_paths is None else entry["paths"][:max_paths]
        title = f"{entry['item_type']} from {entry['sdk']} ({entry['items']} item(s))"
        rows = [
            (p["path"], percent(p["share"]), ", ".join(p["types"]), _distinct(p), p["example"] or "") for p in paths
        ]
        columns = ("path", "items", "types", "distinct", "example")
        table = Table(title, columns, rows, frozenset({1, 3}), frozenset({0, 4}))
        if entry["sdk"] == "-":
            table.terminal_title = f"{entry['item_type']} from {NO_SDK} ({entry['items']} item(s))"
        s.tables.append(table)
        hidden = len(entry["paths"]) - len(paths)
        if hidden > 0:
            s.notes.append(f"{title}: {hidden} more path(s) (use --format json or --max-paths)")
        if entry["paths_dropped"]:
            s.notes.append(f"{title}: {entry['paths_dropped']} path occurrence(s) beyond the path limit not counted")
    return s


def _issues(data: Mapping[str, Any]) -> Section:
    s = Section("issues", TITLES["issues"])
    s.facts = [("groups", str(data["groups"])), ("error events", str(data["events"]))]
    s.tables = [
        Table(
            "Top groups (as `sentry-mirror group`)",
            ("group", "events", "users", "level", "title", "culprit"),
            [(g["short_id"], g["count"], g["users"], g["level"], g["title"], g["culprit"] or "") for g in data["top"]],
            frozenset({1, 2}),
            frozenset({4, 5}),
        )
    ]
    return s


def _performance(data: Mapping[str, Any]) -> Section:
    s = Section("performance", TITLES["performance"])
    s.facts = [("transactions", str(data["transactions"])), ("spans", str(data["spans"]))]
    s.tables = [
        Table(
            "Transactions",
            ("name", "op", "count", "p50", "p95"),
            [
                (t["name"], t["op"] or "-", t["count"], _ms(t["p50_ms"]), _ms(t["p95_ms"]))
                for t in data["by_transaction"]
            ],
            frozenset({2, 3, 4}),
            frozenset({0}),
        ),
        Table(
            "Spans by op",
            ("op", "count", "p50", "p95"),
            [(o["op"], o["count"], _ms(o["p50_ms"]), _ms(o["p95_ms"])) for o in data["span_ops"]],
            frozenset({1, 2, 3}),
        ),
    ]
    return s


def _health(data: Mapping[str, Any]) -> Section:
    s = Section("health", TITLES["health"])
    s.facts = [
        ("session updates", str(data["session_updates"])),
        ("ended sessions", str(data["ended_sessions"])),
        ("crash-free sessions", percent(data["crash_free"])),
    ]
    s.tables = [
        _counts("Session updates by status", "status", data["sessions_by_status"]),
        _counts("Session aggregates", "status", data["aggregates"]),
        Table(
            "Check-ins",
            ("monitor", "count", "statuses"),
            [
                (c["monitor"], c["count"], ", ".join(f"{k} {v}" for k, v in c["statuses"].items()))
                for c in data["check_ins"]
            ],
            frozenset({1}),
        ),
    ]
    return s


def _dropped(data: Mapping[str, Any]) -> Section:
    s = Section("dropped", TITLES["dropped"])
    s.facts = [("client reports", str(data["reports"])), ("events dropped by SDKs", str(data["total"]))]
    s.tables = [
        Table(
            "Dropped by reason and category",
            ("reason", "category", "quantity"),
            [(r["reason"], r["category"], r["quantity"]) for r in data["rows"]],
            frozenset({2}),
        )
    ]
    if not data["reports"]:
        s.notes.append(
            "no client_report items: either nothing was dropped, or the SDKs do not send them (send_client_reports)"
        )
    return s


def _pii(data: Mapping[str, Any]) -> Section:
    s = Section("pii", TITLES["pii"])
    s.facts = [
        ("engine", data["engine"]),
        ("payloads scanned", str(data["payloads"])),
        ("kinds found", ", ".join(f"{k} {v}" for k, v in data["kinds"].items()) or "none"),
        (
            "kept by Sentry's default scrubbing",
            ", ".join(f"{k} {v}" for k, v in data["kept_by_sentry"].items()) or "none",
        ),
    ]
    s.tables = [
        Table(
            "Personal data by field",
            ("kind", "item type", "path", "count", "examples (masked)", "Sentry default scrubbing"),
            [
                (
                    r["kind"],
                    r["item_type"],
                    r["path"],
                    r["count"],
                    ", ".join(r["examples"]),
                    ", ".join(r["scrubbed_by"]) + (f" (kept {r['kept']})" if r["kept"] and r["scrubbed_by"] else "")
                    if r["scrubbed_by"]
                    else "kept",
                )
                for r in data["fields"]
            ],
            frozenset({3}),
            frozenset({2, 4, 5}),
        )
    ]
    if data["engine"] == "relay":
        s.tables.append(
            Table(
                "Where the built-in rules and Sentry's scrubber disagree",
                ("item type", "path", "built-in", "sentry-relay", "count"),
                [(r["item_type"], r["path"], r["builtin"], r["relay"], r["count"]) for r in data["disagreements"]],
                frozenset({4}),
                frozenset({1, 2, 3}),
            )
        )
        s.tables.append(
            Table(
                "Also scrubbed by Sentry (no personal-data kind detected)",
                ("item type", "path", "rule", "count"),
                [(r["item_type"], r["path"], r["rule"], r["count"]) for r in data["relay_only"]],
                frozenset({3}),
                frozenset({1, 2}),
            )
        )
    s.notes.append(
        "Sentry's defaults filter passwords, tokens, credit cards, IBANs, PEM keys, URL credentials and "
        "session cookies in fields its schema marks as personal; e-mails only in log messages; IP addresses only with "
        "'Prevent storing of IP addresses'."
    )
    return s


def _sourcemaps(data: Mapping[str, Any]) -> Section:
    s = Section("sourcemaps", TITLES["sourcemaps"])
    s.facts = [
        ("JavaScript events", str(data["js_events"])),
        ("JavaScript frames", str(data["js_frames"])),
        ("frames that look minified", f"{data['minified_frames']} ({percent(data['minified_share'])})"),
        ("events with debug_meta", str(data["with_debug_meta"])),
        ("debug ids", str(data["debug_ids"])),
        ("events with a release", f"{data['events_with_release']} of {data['events']}"),
        ("events with a dist", str(data["events_with_dist"])),
    ]
    s.tables = [
        _counts("Releases", "release", data["releases"]),
        _counts("Debug image types", "type", data["image_types"]),
    ]
    return s


def _server(data: Mapping[str, Any]) -> Section:
    s = Section("server", TITLES["server"])
    s.facts = [
        ("requests per day at this rate", "-" if data["requests_per_day"] is None else str(data["requests_per_day"])),
        ("wire bytes per day", size(data["bytes_per_day"])),
        ("decoded bytes per day", size(data["decoded_bytes_per_day"])),
    ]
    s.tables = [
        _counts("Endpoints", "endpoint", data["endpoints"]),
        _counts("Methods", "method", data["methods"]),
        _counts("Item types", "item type", data["item_types"]),
        _counts("Content encodings", "encoding", data["encodings"]),
        _counts("Auth forms", "form", data["auth_forms"]),
        _counts("Content types", "content type", data["content_types"]),
        _counts("Request headers", "header", data["headers"]),
        _counts("SDKs", "sdk", data["sdks"]),
    ]
    return s


def document(report: Mapping[str, Any], *, max_paths: int | None = None) -> list[Section]:
    """The sections of a report's JSON, in order."""
    makers = {
        "traffic": _traffic,
        "fields": lambda d: _fields(d, max_paths),
        "issues": _issues,
        "performance": _performance,
        "health": _health,
        "dropped": _dropped,
        "pii": _pii,
        "sourcemaps": _sourcemaps,
        "server": _server,
    }
    malformed = _malformed(report.get("malformed") or {})
    return [*malformed, *(makers[name](report[name]) for name in report["sections"])]


def _malformed(data: Mapping[str, Any]) -> list[Section]:
    """The "malformed" line: records skipped (named in warnings on stderr) and fields of the
    wrong type ignored; nothing when there were none."""
    if not data.get("records") and not data.get("fields"):
        return []
    s = Section("malformed", "Malformed records")
    named = "; ".join(f"{e['id'] or '(no id)'}: {e['reason']}" for e in data.get("examples") or ())
    s.facts = [("malformed", f"{data.get('records', 0)} record(s) skipped" + (f": {named}" if named else ""))]
    if data.get("fields"):
        s.facts.append(("fields ignored", ", ".join(f"{k} ({v})" for k, v in data["fields"].items())))
    return [s]


# ---------------------------------------------------------------- cells


def cell(value: Cell) -> str:
    return "" if value is None else str(value)


# ---------------------------------------------------------------- markdown


def _md(value: Cell) -> str:
    """Literal Markdown: control characters visible, Markdown and HTML syntax escaped."""
    return text.markdown(cell(value))


def markdown(sections: Sequence[Section], title: str = "sentry-mirror report") -> str:
    """The document as GitHub-flavoured Markdown."""
    out = [f"# {_md(title)}", ""]
    for section in sections:
        out += [f"## {_md(section.title)}", ""]
        for label, value in section.facts:
            out.append(f"- {_md(label)}: {_md(value)}")
        if section.facts:
            out.append("")
        for table in section.tables:
            if not table.rows:
                continue
            out += [f"### {_md(table.title)}", ""]
            out.append("| " + " | ".join(_md(c) for c in table.columns) + " |")
            out.append("|" + "|".join("---:" if i in table.numeric else "---" for i in range(len(table.columns))) + "|")
            out += ["| " + " | ".join(_md(v) for v in row) + " |" for row in table.rows]
            out.append("")
        for note in section.notes:
            out += [f"> {_md(note)}", ""]
    return "\n".join(out).rstrip() + "\n"
