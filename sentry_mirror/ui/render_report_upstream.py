"""The report's ``upstream`` section (forward mode: what the upstream and the candidates
answered) in the document model of :mod:`sentry_mirror.ui.render_report` (put in the report's
document by :mod:`sentry_mirror.ui.report_document`). Targets are named ``upstream`` and ``candidate 1``, ``candidate 2`` … in
the tables (the first table gives each one's ``to``), so the tables fit 80 columns."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sentry_mirror.ui.render_report import Cell, Section, Table

TITLE = "10. Upstream and candidates"
#: The status classes of the endpoint table, in its column order (those present are shown).
_CLASSES = ("2xx", "1xx", "3xx", "4xx", "5xx", "other", "none", "dropped")
_HEADINGS = {"none": "no answer"}


def labels(targets: Sequence[Mapping[str, Any]]) -> dict[tuple[str, str], str]:
    """A short name per target (``target``, ``to``): ``upstream`` (numbered when several),
    ``candidate 1`` …, in the order of the section's targets."""
    named: dict[tuple[str, str], str] = {}
    upstreams = sum(1 for t in targets if t["target"] == "upstream")
    counts: dict[str, int] = {}
    for t in targets:
        kind = t["target"]
        counts[kind] = counts.get(kind, 0) + 1
        alone = kind == "upstream" and upstreams == 1
        named[(kind, t["to"])] = kind if alone or kind not in ("upstream", "candidate") else f"{kind} {counts[kind]}"
    return named


def _ms(value: Any) -> str:
    return "-" if value is None else f"{value:g} ms"


def _seconds(value: Any) -> str:
    return "-" if value is None else f"{value:g} s"


def _answers(answers: Sequence[Mapping[str, Any]], named: Mapping[tuple[str, str], str]) -> str:
    """``upstream 200, candidate 1 no answer (timeout)``: the answers compared (not the
    copies dropped)."""
    shown = []
    for answer in answers:
        if answer.get("dropped"):
            continue
        name = named.get((answer["target"], answer["to"]), f"{answer['target']} {answer['to']}")
        status = "no answer" if answer["status"] is None else str(answer["status"])
        shown.append(f"{name} {status}" + (f" ({answer['error']})" if answer.get("error") else ""))
    return ", ".join(shown)


def upstream(data: Mapping[str, Any]) -> Section:
    """The section: facts on the requests, then tables per target, endpoint, disagreement."""
    s = Section("upstream", TITLE)
    named = labels(data["targets"])
    requests, disagreements = data["requests"], data["disagreements"]
    forwarded, failed = requests["forwarded"], requests["not_delivered"]
    s.facts = [
        ("answers", f"{data['answers']} from {len(data['targets'])} target(s)"),
        ("requests answered", str(requests["answered"])),
        ("delivered upstream", f"{forwarded - failed} of {forwarded}"),
        ("not delivered upstream", str(failed)),
        ("delivered later (replay)", str(requests["delivered_later"])),
        ("still undelivered", str(requests["still_undelivered"])),
        ("no upstream answer at all", str(requests["no_upstream_answer"])),
        ("disagreements", f"{disagreements['requests']} of {disagreements['compared']} request(s) compared"),
    ]
    s.tables = [*_target_tables(data["targets"], named), _endpoints(data["by_endpoint"], named)]
    s.tables += _disagreement_tables(disagreements, named)
    s.notes = _notes(data, named)
    return s


def _target_tables(targets: Sequence[Mapping[str, Any]], named: Mapping[tuple[str, str], str]) -> list[Table]:
    def name(t: Mapping[str, Any]) -> str:
        return named[(t["target"], t["to"])]

    limits: list[tuple[Cell, ...]] = []
    for t in targets:
        if t["rate_limited"]:
            limits.append((name(t), "429 answers", t["rate_limited"], "-"))
        for category, limit in t["rate_limits"].items():
            limits.append((name(t), f"X-Sentry-Rate-Limits {category}", limit["answers"], _seconds(limit["max_s"])))
        if t["retry_after"]:
            limits.append((name(t), "Retry-After", t["retry_after"]["answers"], _seconds(t["retry_after"]["max_s"])))
    return [
        Table(
            "Targets",
            ("target", "to", "answers", "delivered", "undelivered", "dropped"),
            [(name(t), t["to"], t["answers"], t["delivered"], t["undelivered"], t["dropped"]) for t in targets],
            frozenset({2, 3, 4, 5}),
            frozenset({1}),
        ),
        Table(
            "Latency per target",
            ("target", "timed", "p50", "p95", "p99", "max"),
            [
                (name(t), t["latency_ms"]["count"], *(_ms(t["latency_ms"][k]) for k in ("p50", "p95", "p99", "max")))
                for t in targets
            ],
            frozenset({1, 2, 3, 4, 5}),
        ),
        Table(
            "Answers by status",
            ("target", "status", "answers"),
            [(name(t), status, n) for t in targets for status, n in t["by_status"].items()],
            frozenset({2}),
        ),
        Table(
            "Errors (no usable answer)",
            ("target", "error", "answers"),
            [(name(t), error, n) for t in targets for error, n in t["errors"].items()],
            frozenset({2}),
            frozenset({1}),
        ),
        Table("Rate limits seen", ("target", "limit", "answers", "longest"), limits, frozenset({2, 3}), frozenset({1})),
    ]


def _endpoints(rows: Sequence[Mapping[str, Any]], named: Mapping[tuple[str, str], str]) -> Table:
    present = {klass for row in rows for klass in row["by_class"]}
    classes = [klass for klass in _CLASSES if klass in present]
    return Table(
        "By endpoint and item types",
        ("endpoint", "items", "target", *(_HEADINGS.get(klass, klass) for klass in classes)),
        [
            (
                row["endpoint"],
                row["items"],
                named.get((row["target"], row["to"]), row["target"]),
                *(row["by_class"].get(klass, 0) for klass in classes),
            )
            for row in rows
        ],
        frozenset(range(3, 3 + len(classes))),
        frozenset({1}),
    )


def _disagreement_tables(data: Mapping[str, Any], named: Mapping[tuple[str, str], str]) -> list[Table]:
    return [
        Table(
            "Candidates against the upstream (requests compared)",
            ("candidate", "compared", "agree", "upstream only", "candidate only", "class"),
            [
                (
                    named.get(("candidate", c["to"]), c["to"]),
                    c["compared"],
                    c["agree"],
                    c["upstream_only"],
                    c["candidate_only"],
                    c["class"],
                )
                for c in data["by_candidate"]
            ],
            frozenset({1, 2, 3, 4, 5}),
        ),
        Table(
            f"Disagreements (the first {len(data['examples'])})",
            ("request", "endpoint", "items", "answers"),
            [(e["request_id"], e["endpoint"], e["items"], _answers(e["answers"], named)) for e in data["examples"]],
            frozenset(),  # nothing cut: the terminal folds a long id or answer onto a second line
        ),
    ]


def _notes(data: Mapping[str, Any], named: Mapping[tuple[str, str], str]) -> list[str]:
    requests, window = data["requests"], data["pairing"]["window"]
    notes = [
        "upstream only / candidate only: one of the two accepted the request (2xx), the other did not; "
        "class: neither did, and their status classes differ"
    ]
    if requests["still_undelivered"]:
        notes.append(
            f"{requests['still_undelivered']} request(s) are not delivered upstream: "
            "`sentry-mirror replay --undelivered --to DSN` sends them"
        )
    if not any(kind == "upstream" for kind, _ in named):
        notes.append("no upstream answer in these snapshots: only candidates' answers")
    elif requests["no_upstream_answer"]:
        notes.append(
            f"{requests['no_upstream_answer']} request(s) have no upstream answer at all: only candidates "
            f"answered them, or their upstream answer was not written (or came more than {window} requests later)"
        )
    if data["pairing"]["unpaired"]:
        notes.append(
            f"{data['pairing']['unpaired']} answer(s) came after their request had left the pairing window "
            f"({window} requests): counted for their target, not compared"
        )
    if data["truncated"]:
        notes.append(f"tables that reached their row limit: {', '.join(data['truncated'])}")
    return notes
