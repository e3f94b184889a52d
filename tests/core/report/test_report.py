"""The report core: exact figures on the golden sentry-python capture, and each section on
records made for the test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from sentry_mirror.core import grouping, limits, report
from sentry_mirror.core.report import bounded, coverage, fields, health, performance, sourcemaps, traffic, walker
from sentry_mirror.core.report import pii as pii_section
from sentry_mirror.core.report.view import RecordView
from sentry_mirror.io.snapshot import iter_records
from tests.factories import make_envelope, make_event, make_record, make_request

GOLDEN = Path(__file__).resolve().parents[2] / "data" / "v1-sentry-python-2.75.0.jsonl.zst"
T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)


def entry(
    seconds: float,
    body: bytes,
    *,
    path: str = "/api/1/envelope/",
    query: str = "sentry_key=k",
    method: str = "POST",
    headers: tuple[tuple[str, str], ...] = (),
) -> dict[str, Any]:
    """The record of this request, received ``seconds`` after T0."""
    request = make_request(path=path, body=body, headers=headers, query=query, method=method)
    return make_record(request, received_at=T0 + timedelta(seconds=seconds), remote_addr="127.0.0.1:1")


def items(*pairs: tuple[str, Any]) -> bytes:
    return make_envelope(
        headers={"sdk": {"name": "sentry.javascript.browser", "version": "11.0.0"}},
        items=[({"type": kind}, payload) for kind, payload in pairs],
    )


@pytest.fixture(scope="module")
def golden() -> dict[str, Any]:
    return report.build_report(iter_records([GOLDEN])).to_json()


def test_schema(golden: dict[str, Any]) -> None:
    assert ("sentry-mirror-report", 1) == (golden["schema"], golden["version"])
    assert list(report.SECTIONS) == golden["sections"]
    assert orjson.loads(orjson.dumps(golden)) == golden


def test_golden_traffic(golden: dict[str, Any]) -> None:
    t = golden["traffic"]
    assert (21, 21, 24, 21, 0) == (t["requests"], t["envelopes"], t["items"], t["accepted"], t["refused"])
    assert {"event": 9, "attachment": 3, "check_in": 3, "log": 3, "session": 3, "transaction": 3} == t["items_by_type"]
    assert {"envelope": 21} == t["by_endpoint"] and {"1": 21} == t["by_project"]
    assert {"sentry.python 2.75.0": 21} == t["by_sdk"] and {"python": 12} == t["by_platform"]
    assert {"br": 7, "gzip": 7, "identity": 7} == t["encodings"] and {"x-sentry-auth": 21} == t["auth_forms"]
    assert {"count": 9, "p50": 1575, "p95": 2272, "max": 2272, "limit": 1048576, "over_limit": 0} == t["sizes"]["event"]
    assert {"count": 3, "p50": 550, "p95": 550, "max": 550, "limit": 102400, "over_limit": 0} == t["sizes"]["check_in"]
    assert {"count": 21, "p50": 700, "p95": 1985, "max": 2570, "total": 17630} == t["wire"]
    assert 27992 == t["decoded"]["total"]
    assert {} == t["would_be_rejected"] and [] == t["truncated"]
    assert [["2026-11-23T11:42", 21]] == t["peak_minutes"] and 21 == t["busiest_second"]["requests"]


def test_golden_issues_are_the_group_command(golden: dict[str, Any]) -> None:
    groups = grouping.group_records(iter_records([GOLDEN]))
    assert [
        g.to_dict() | {"event_ids": g.to_dict()["event_ids"][:5], "record_ids": g.to_dict()["record_ids"][:5]}
        for g in groups
    ] == golden["issues"]["top"]
    assert [
        ("ValueError: could not load the basket", 3),
        ("payment provider slow: 2300 ms", 3),
        ("ZeroDivisionError: division by zero", 3),
    ] == [(g["title"], g["count"]) for g in golden["issues"]["top"]]
    assert (3, 9) == (golden["issues"]["groups"], golden["issues"]["events"])


def test_golden_performance_health_and_fields(golden: dict[str, Any]) -> None:
    perf = golden["performance"]
    assert [t.to_dict() for t in grouping.group_transactions(iter_records([GOLDEN]))] == perf["by_transaction"]
    assert (3, 6) == (perf["transactions"], perf["spans"])
    assert [("db.query", 3), ("http.client", 3)] == [(o["op"], o["count"]) for o in perf["span_ops"]]
    health = golden["health"]
    assert ({"exited": 3}, 3, 1.0) == (health["sessions_by_status"], health["ended_sessions"], health["crash_free"])
    assert [{"monitor": "nightly-report", "count": 3, "statuses": {"ok": 3}}] == health["check_ins"]
    types = [(e["item_type"], e["sdk"], e["items"], len(e["paths"])) for e in golden["fields"]["types"]]
    assert [
        ("check_in", "sentry.python", 3, 24),
        ("event", "sentry.python", 9, 51),
        ("log", "sentry.python", 3, 41),
        ("session", "sentry.python", 3, 8),
        ("transaction", "sentry.python", 3, 46),
    ] == types
    event = {p["path"]: p for p in golden["fields"]["types"][1]["paths"]}
    assert {
        "path": "release",
        "items": 9,
        "share": 1.0,
        "types": {"string": 9},
        "distinct": 1,
        "distinct_capped": False,
        "example": "shop@1.4.2",
    } == event["release"]
    assert 0.6667 == event["exception.values[].type"]["share"]
    h = golden["fields"]["highlights"]
    assert (9, 9, 1.0, 1.0, 0.3333) == (
        h["events"],
        h["frames"],
        h["frames_with_context"],
        h["frames_in_app"],
        h["frames_with_vars"],
    )
    assert {"count": 6, "p50": 1.5, "p95": 2, "max": 2} == h["exception_chain"]
    assert golden["pii"]["fields"] == [] and golden["dropped"]["total"] == 0


def test_only_some_sections() -> None:
    built = report.build_report(iter_records([GOLDEN]), ["issues", "traffic"])
    assert ["traffic", "issues"] == built.to_json()["sections"]
    with pytest.raises(ValueError, match="unknown report sections: nope"):
        report.build_report([], ["nope"])


def test_empty_input() -> None:
    data = report.build_report([]).to_json()
    assert (
        0 == data["traffic"]["requests"]
        and None is data["server"]["bytes_per_day"]
        and None is data["health"]["crash_free"]
    )


def test_limits_rate_and_refusals() -> None:
    big = b'{"message":"' + b"x" * (limits.MAX_EVENT_SIZE + 1) + b'"}'
    records = [
        entry(0, items(("event", make_event()))),
        entry(0.5, items(("event", make_event()))),
        entry(61, items(("event", big))),  # 413 from the mirror as from Sentry
        entry(62, items(*[("check_in", {"monitor_slug": "a", "status": "ok"})] * 2)),  # one check_in per envelope
        entry(63, b"{}\n{}", path="/api/1/nope/"),
    ]
    t = report.build_report(records).to_json()["traffic"]
    assert (5, 4, 2, 3) == (t["requests"], t["envelopes"], t["accepted"], t["refused"])
    assert {"check_in": 1, "event": 1} == t["would_be_rejected"]
    assert 1 == t["sizes"]["event"]["over_limit"]
    assert {"2026-11-23T10:00": 2, "2026-11-23T10:01": 3} == t["per_minute"]
    assert {"second": "2026-11-23T10:00:00", "requests": 2} == t["busiest_second"]
    assert {"200": 2, "404": 1, "413": 2} == t["by_status"]


def test_health_dropped_cron_and_sourcemaps() -> None:
    minified = {
        "filename": "https://shop.example/assets/app-3f2a9c1b7d.js",
        "function": "a",
        "lineno": 1,
        "colno": 31337,
    }
    mapped = {"filename": "src/cart.ts", "function": "addToCart", "lineno": 12, "colno": 3, "in_app": True}
    js_event = make_event(
        platform="javascript",
        release="web@2",
        dist="7",
        exception={"values": [{"type": "TypeError", "value": "x", "stacktrace": {"frames": [minified, mapped]}}]},
        debug_meta={
            "images": [{"type": "sourcemap", "code_file": "app.js", "debug_id": "c941f9e2-0000-4000-8000-000000000000"}]
        },
    )
    records = [
        entry(
            0,
            items(
                ("session", {"sid": "a", "status": "ok", "init": True}), ("session", {"sid": "a", "status": "crashed"})
            ),
        ),
        entry(1, items(("sessions", {"aggregates": [{"started": "x", "exited": 7, "errored": 1, "crashed": 1}]}))),
        entry(
            2,
            items(
                (
                    "client_report",
                    {
                        "discarded_events": [
                            {"reason": "sample_rate", "category": "transaction", "quantity": 40},
                            {"reason": "queue_overflow", "category": "error", "quantity": 2},
                        ]
                    },
                )
            ),
        ),
        entry(
            3,
            items(
                (
                    "client_report",
                    {"discarded_events": [{"reason": "sample_rate", "category": "transaction", "quantity": 2}]},
                )
            ),
        ),
        entry(4, b"", path="/api/1/cron/nightly/k/", query="status=error", method="GET"),
        entry(5, items(("event", js_event))),
    ]
    data = report.build_report(records).to_json()
    health = data["health"]
    assert {"ok": 1, "crashed": 1} == health["sessions_by_status"] and {
        "crashed": 1,
        "errored": 1,
        "exited": 7,
    } == health["aggregates"]
    assert (10, 0.8) == (health["ended_sessions"], health["crash_free"])
    assert [{"monitor": "nightly", "count": 1, "statuses": {"error": 1}}] == health["check_ins"]
    assert {
        "reports": 2,
        "total": 44,
        "by_reason": {"sample_rate": 42, "queue_overflow": 2},
        "by_category": {"transaction": 42, "error": 2},
        "rows": [
            {"reason": "sample_rate", "category": "transaction", "quantity": 42},
            {"reason": "queue_overflow", "category": "error", "quantity": 2},
        ],
    } == data["dropped"]
    maps = data["sourcemaps"]
    assert (1, 2, 1, 0.5, 1, 1) == (
        maps["js_events"],
        maps["js_frames"],
        maps["minified_frames"],
        maps["minified_share"],
        maps["with_debug_meta"],
        maps["debug_ids"],
    )
    assert ({"sourcemap": 1}, {"web@2": 1}, 1) == (maps["image_types"], maps["releases"], maps["events_with_dist"])


def test_pii_section() -> None:
    event = make_event(
        user={"email": "jane@example.com", "ip_address": "203.0.113.7"}, extra={"card": "4242 4242 4242 4242"}
    )
    records = [entry(n, items(("event", event))) for n in range(3)]
    data = report.build_report(records).to_json()["pii"]
    assert ("builtin", 3) == (data["engine"], data["payloads"])
    assert {"email": 3, "ip": 3, "credit_card": 3} == data["kinds"]
    assert {"email": 3, "ip": 3} == data["kept_by_sentry"]
    assert [
        {
            "item_type": "event",
            "path": "user.email",
            "kind": "email",
            "count": 3,
            "examples": ["j***@***.com"],
            "scrubbed_by": [],
            "kept": 3,
        },
        {
            "item_type": "event",
            "path": "user.ip_address",
            "kind": "ip",
            "count": 3,
            "examples": ["203.x.x.x"],
            "scrubbed_by": [],
            "kept": 3,
        },
        {
            "item_type": "event",
            "path": "extra.card",
            "kind": "credit_card",
            "count": 3,
            "examples": ["************4242"],
            "scrubbed_by": ["@creditcard:filter"],
            "kept": 0,
        },
    ] == data["fields"]
    assert "jane" not in orjson.dumps(data).decode() and "4242 4242" not in orjson.dumps(data).decode()


def test_field_coverage_folds_and_bounds(monkeypatch: pytest.MonkeyPatch) -> None:
    event = make_event(modules={"django": "5.0", "rich": "13"}, extra={"0123456789abcdef": 1, "n": list(range(3))})
    covered = coverage.FieldCoverage(walker.Walker())
    covered.add(event)
    paths = {p["path"]: p for p in covered.to_json("event", "x")["paths"]}
    assert {"modules", "modules.*", "extra.*", "extra.n", "extra.n[]"} <= set(paths)
    assert {"integer": 1} == paths["extra.n[]"]["types"]
    monkeypatch.setattr(coverage, "MAX_PATHS", 3)
    small = coverage.FieldCoverage(walker.Walker())
    small.add(event)
    assert 3 == len(small.paths) and small.dropped > 0
    monkeypatch.setattr(coverage, "MAX_DISTINCT", 2)
    monkeypatch.setattr(walker, "MAX_DISTINCT", 2)
    many = coverage.FieldCoverage(walker.Walker())
    for n in range(5):
        many.add({"n": n})
    assert (2, True) == (
        many.to_json("e", "x")["paths"][0]["distinct"],
        many.to_json("e", "x")["paths"][0]["distinct_capped"],
    )


def test_reservoir_is_bounded_and_exact_when_small() -> None:
    small = bounded.Reservoir(10)
    for value in (1, 2, 3, 4):
        small.add(value)
    assert {"count": 4, "p50": 2.5, "p95": 3.85, "max": 4, "total": 10} == small.to_json()
    big = bounded.Reservoir(100)
    for value in range(10_000):
        big.add(value)
    assert 100 == len(big.sample()) and 10_000 == big.count and 9999 == big.to_json()["max"]


def test_per_key_tables_keep_the_first_keys_and_count_the_rest_as_other(monkeypatch: pytest.MonkeyPatch) -> None:
    """Item types (sizes), SDKs (field coverage), span ops and monitors: memory bounded on any
    input, and the totals still add up."""
    for module, name, value in ((traffic, "MAX_SIZED_TYPES", 2), (fields, "MAX_SDKS", 2),
                                (performance, "MAX_SPAN_OPS", 2), (health, "MAX_MONITORS", 1)):  # fmt: skip
        monkeypatch.setattr(module, name, value)
    records = []
    for n in range(4):
        sdk = {"name": f"sentry.sdk{n}", "version": "1.0"}
        spans = [{"op": f"op{n}", "start_timestamp": 1.0, "timestamp": 1.5}]
        transaction = {"type": "transaction", "transaction": "t", "start_timestamp": 1.0, "timestamp": 2.0,
                       "spans": spans}  # fmt: skip
        body = make_envelope(
            headers={"sdk": sdk},
            items=[
                ({"type": "transaction"}, orjson.dumps(transaction)),
                (
                    {"type": "check_in"},
                    orjson.dumps({"check_in_id": "a" * 32, "monitor_slug": f"m{n}", "status": "ok"}),
                ),
                ({"type": f"custom{n}"}, b"x" * (n + 1)),
            ],
        )
        records.append(entry(n, body))
    data = report.build_report(records).to_json()
    sizes = data["traffic"]["sizes"]
    assert ["(other)", "check_in", "transaction"] == list(sizes)
    assert (4, 4, 4) == (sizes["(other)"]["count"], sizes["check_in"]["count"], sizes["transaction"]["count"])
    assert 4 == sizes["(other)"]["max"]  # custom0..3 together
    coverage = [(t["item_type"], t["sdk"], t["items"]) for t in data["fields"]["types"]]
    assert [
        ("check_in", "(other)", 2), ("check_in", "sentry.sdk0", 1), ("check_in", "sentry.sdk1", 1),
        ("transaction", "(other)", 2), ("transaction", "sentry.sdk0", 1), ("transaction", "sentry.sdk1", 1),
    ] == coverage  # fmt: skip
    assert [("(other)", 2), ("op0", 1), ("op1", 1)] == [(o["op"], o["count"]) for o in data["performance"]["span_ops"]]
    assert [("(other)", 3), ("m0", 1)] == [(c["monitor"], c["count"]) for c in data["health"]["check_ins"]]


def test_capped_counter() -> None:
    counter = bounded.Capped(2)
    for key in ("a", "b", "c", "a"):
        counter.add(key)
    assert ({"a": 2, "b": 1}, True) == (dict(counter), counter.truncated)


def test_pii_section_with_sentry_relay() -> None:
    pytest.importorskip("sentry_relay", reason="sentry-relay is optional: pip install sentry-relay")
    # Relay's credit-card rule has no Luhn check: it filters a number the built-in detector rejects
    event = make_event(
        extra={"card": "4242 4242 4242 4242", "old_card": "4111111111110000"}, user={"email": "jane@example.com"}
    )
    records = [entry(n, items(("event", event))) for n in range(2)]
    data = report.build_report(records, ["pii"], pii_engine="relay").to_json()["pii"]
    assert "relay" == data["engine"]
    assert [("extra.card", ["@creditcard:filter"]), ("user.email", [])] == sorted(
        (r["path"], r["scrubbed_by"]) for r in data["fields"]
    )
    assert [] == data["disagreements"]
    assert [{"item_type": "event", "path": "extra.old_card", "rule": "@creditcard:filter", "count": 2}] == data[
        "relay_only"
    ]
    with pytest.raises(ValueError, match="unknown personal-data engine"):
        report.ReportBuilder(pii_engine="nope")


# ---------------------------------------------------------------- the shared walk against the plain algorithms

import math  # noqa: E402

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sentry_mirror.core import pii  # noqa: E402


def plain_coverage(payloads: list[dict[str, Any]]) -> dict[str, Any]:
    """Field coverage as the report defines it, one payload at a time with no memory: every
    path (ids as *, maps under modules/vars as one * entry) counted once per payload, with the
    first value met at it."""
    paths: dict[str, dict[str, Any]] = {}
    dropped = 0

    def walk(value: Any, path: str, name: str, seen: dict[str, Any], depth: int) -> None:
        if path and path not in seen:
            seen[path] = value
        if depth > pii.MAX_DEPTH:
            return
        if type(value) is dict:
            if name in ("modules", "vars"):
                for inner in value.values():
                    walk(inner, f"{path}.*", "*", seen, depth + 1)
                    break
                return
            for key, inner in value.items():
                child = coverage.key_name(key)
                walk(inner, f"{path}.{child}" if path else child, child, seen, depth + 1)
        elif type(value) is list:
            for inner in value:
                walk(inner, path + "[]", name, seen, depth + 1)

    for payload in payloads:
        seen: dict[str, Any] = {}
        walk(payload, "", "", seen, 0)
        for path, value in seen.items():
            if path not in paths:
                if len(paths) >= coverage.MAX_PATHS:
                    dropped += 1
                    continue
                paths[path] = {"items": 0, "types": {}, "distinct": set(), "example": None}
            stats = paths[path]
            stats["items"] += 1
            kind = coverage.json_type(value)
            stats["types"][kind] = stats["types"].get(kind, 0) + 1
            if kind not in ("object", "array"):
                if len(stats["distinct"]) <= coverage.MAX_DISTINCT:
                    stats["distinct"].add(hash((kind, value)))
                if stats["example"] is None:
                    stats["example"] = coverage.example(value)
    return {
        "items": len(payloads),
        "paths_dropped": dropped,
        "paths": [
            {
                "path": path,
                "items": s["items"],
                "share": round(s["items"] / len(payloads), 4),
                "types": dict(sorted(s["types"].items())),
                "distinct": min(len(s["distinct"]), coverage.MAX_DISTINCT),
                "distinct_capped": len(s["distinct"]) > coverage.MAX_DISTINCT,
                "example": s["example"],
            }
            for path, s in sorted(paths.items())
        ],
    }


def plain_pii(payloads: list[dict[str, Any]], kind: str) -> tuple[list[Any], bool]:
    """The personal-data rows from pii.scan on each payload (a fresh scanner each time)."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    truncated = False
    for payload in payloads:
        for f in pii.scan(payload, kind):
            row = rows.get((f.path, f.kind))
            if row is None:
                if len(rows) >= pii_section.MAX_PII_ROWS:
                    truncated = True
                    continue
                row = rows[(f.path, f.kind)] = {"count": 0, "examples": [], "rules": {}}
            row["count"] += 1
            row["rules"][f.scrubbed_by or ""] = row["rules"].get(f.scrubbed_by or "", 0) + 1
            if len(row["examples"]) < pii_section.MAX_EXAMPLES and f.example not in row["examples"]:
                row["examples"].append(f.example)
    fields = [
        {
            "item_type": kind,
            "path": path,
            "kind": found,
            "count": row["count"],
            "examples": row["examples"],
            "scrubbed_by": sorted(rule for rule in row["rules"] if rule),
            "kept": row["rules"].get("", 0),
        }
        for (path, found), row in rows.items()
    ]
    fields.sort(key=lambda r: (pii.KINDS.index(r["kind"]), r["item_type"], r["path"]))
    return fields, truncated


def walked(payloads: list[dict[str, Any]], kind: str) -> tuple[dict[str, Any], list[Any], bool]:
    builder = report.ReportBuilder()
    for payload in payloads:
        view = RecordView({"response": {"status": 200}, "summary": {"sdk": "sdk"}}, payloads=[(payload, kind)])
        builder.sections["fields"].add(view)
        builder.sections["pii"].add(view)
    data = builder.build(["fields", "pii"]).to_json()
    (coverage,) = data["fields"]["types"]
    del coverage["item_type"], coverage["sdk"]
    return coverage, data["pii"]["fields"], data["pii"]["truncated"]


KEYS = st.sampled_from([
    "a", "b", "a.b", "", "0123456789abcdef", "42", "*", "modules", "vars", "sdk", "password", "token", "cookies",
    "headers", "user", "email", "version", "extra", "request", "data", "logentry", "formatted", "card_number",
])  # fmt: skip
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.sampled_from([4242424242424242]),
    st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([
        "jane@example.com", "203.0.113.7", "4242 4242 4242 4242", "Bearer abcdefghijkl", "/home/jane/a.py",
        "https://admin:pw@host.example.com", "plain", "", "1.2.3.4", "sessionid=abc", "\ud800",
    ]),
)  # fmt: skip
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(KEYS, inner, max_size=4),
        st.lists(st.tuples(KEYS, inner).map(list), min_size=1, max_size=3),  # [name, value] pairs
    ),
    max_leaves=12,
)
#: A few payloads, then a stream of them with repeats: what the remembered subtrees are for.
STREAMS = st.lists(st.dictionaries(KEYS, JSON, max_size=5), min_size=1, max_size=4).flatmap(
    lambda base: st.lists(st.sampled_from(range(len(base))), min_size=1, max_size=12).map(
        lambda picks: [base[n] for n in picks]
    )
)


@pytest.fixture(params=["default", "tight"])
def bounds(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Also with every bound small: paths, places, memory for subtrees, trial lengths, pii rows."""
    if request.param == "tight":
        for module, name, value in ((coverage, "MAX_PATHS", 6), (coverage, "MAX_NODES", 8),
                                    (walker, "MEMO_BYTES", 600), (walker, "MEMO_TRIAL", 3),
                                    (coverage, "MAX_DISTINCT", 2), (walker, "MAX_DISTINCT", 2),
                                    (pii_section, "MAX_PII_ROWS", 3)):  # fmt: skip
            monkeypatch.setattr(module, name, value)
        monkeypatch.setattr("sentry_mirror.core.pii.scanner.MAX_SITES", 6)
        monkeypatch.setattr("sentry_mirror.core.pii.scanner.CACHE_SIZE", 4)
    return str(request.param)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(STREAMS, st.sampled_from(["profile", "log"]))
def test_shared_walk_is_the_plain_coverage_and_scan(bounds: str, payloads: list[dict[str, Any]], kind: str) -> None:
    coverage, fields, truncated = walked(payloads, kind)
    assert plain_coverage(payloads) == coverage
    assert plain_pii(payloads, kind) == (fields, truncated)


def test_repeated_subtrees_count_once_per_payload_and_nan_is_not_null() -> None:
    """Remembered subtrees: a path reached by two routes (a dotted key) still counts once per
    payload; a NaN (from the JSON fallback parser) is not taken for the null it serialises as."""
    payloads = [{"a.b": {"c": 1}, "a": {"b": {"c": 1}}, "tags": {"x": None}} for _ in range(5)]
    payloads += [{"a": {"b": {"c": 1}}, "tags": {"x": math.nan}}]
    coverage, _, _ = walked(payloads, "profile")
    paths = {p["path"]: p for p in coverage["paths"]}
    assert (6, {"integer": 6}) == (paths["a.b.c"]["items"], paths["a.b.c"]["types"])
    assert {"null": 5, "number": 1} == paths["tags.x"]["types"]
    assert plain_coverage(payloads) == coverage
    # a place first met under its own key "*", then also reached by an id key folded to "*"
    payloads = [{"t": {"*": {"x": 1}}}] * 3 + [{"t": {"*": {"x": 1}, "42": {"x": 1}}}] * 2
    assert plain_coverage(payloads) == walked(payloads, "profile")[0]


def test_deep_payloads_stop_where_the_plain_walk_stops() -> None:
    deep: Any = "jane@example.com"
    for n in range(40):
        deep = {"k": deep, "l": [deep]} if n % 2 else [deep, {"password": "x"}]
    payloads = [{"a": deep}] * 3
    coverage, fields, truncated = walked(payloads, "profile")
    assert plain_coverage(payloads) == coverage
    assert plain_pii(payloads, "profile") == (fields, truncated)


def test_counts_kept_back_give_the_same_report(golden: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Request shapes, tallies and personal data are counted per distinct key before they go to
    the counters and rows; flushing them at every record gives the same report."""
    monkeypatch.setattr(traffic, "MAX_SHAPES", 1)
    for module in (traffic, sourcemaps, pii_section):
        monkeypatch.setattr(module, "MAX_PENDING", 1)
    records = list(iter_records([GOLDEN]))
    assert golden == report.build_report(records).to_json()
    node = Path(__file__).resolve().parents[3] / "snapshots" / "sample-node.jsonl.zst"
    flushed = report.build_report(iter_records([node])).to_json()
    monkeypatch.undo()
    assert report.build_report(iter_records([node])).to_json() == flushed
