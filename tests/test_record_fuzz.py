"""No record, however odd, makes a reader print a traceback.

Real SDK payloads (the committed samples: sentry-python, @sentry/node, @sentry/browser) with
arbitrary JSON put in place of one of their fields, and real records with arbitrary JSON in
place of one of theirs, are written to a snapshot and read by every reading command through
the CLI: each must end with exit 0 (or a documented error, as a message), never a traceback.

CI draws a few examples per test (derandomized, see tests/conftest.py); a long run is opt-in:

    SENTRY_MIRROR_FUZZ_EXAMPLES=2000 python -m pytest tests/test_record_fuzz.py
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard
from click.testing import CliRunner, Result
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentry_mirror.core import envelope, ingest
from sentry_mirror.io.snapshot import SnapshotWriter, iter_records
from sentry_mirror.ui.cli import cli
from tests.factories import make_envelope, make_record, make_request

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = sorted((ROOT / "snapshots").glob("sample-*.jsonl.zst")) + sorted(
    (ROOT / "tests" / "data").glob("*.jsonl.zst")
)
EXAMPLES = int(os.environ.get("SENTRY_MIRROR_FUZZ_EXAMPLES", "8"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.function_scoped_fixture],
)
ENV = {"COLUMNS": "160", "NO_COLOR": "1"}
QUERY = "sentry_key=mirror&sentry_version=7"


@cache
def golden_records() -> tuple[dict[str, Any], ...]:
    return tuple(r.data for r in iter_records(SAMPLES))


@cache
def golden_items() -> tuple[tuple[dict[str, Any], Any], ...]:
    """Every JSON item the real SDKs sent: (item headers, parsed payload)."""
    found = []
    for data in golden_records():
        if data["endpoint"] != "envelope" or data["body_base64"]:
            continue
        for item in envelope.items_of(data["body"].encode()):
            try:
                payload = orjson.loads(item.payload)
            except orjson.JSONDecodeError:
                continue
            headers = {k: v for k, v in item.headers.items() if k != "length"}
            found.append((headers, payload))
    return tuple(found)


# ---------------------------------------------------------------- arbitrary JSON

_text = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)  # lone surrogates too
_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)  # past 64 bits: orjson refuses, json reads
    | st.floats(allow_nan=True, allow_infinity=True)  # NaN, Infinity: written as sentry-python does
    | _text
)
json_values = st.recursive(
    _scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4), max_leaves=12
)
odd_values = json_values | st.sampled_from([{}, [], 1, "x", None, [[1, 2]], {"values": 1}, "\ud800", 2**64])


def _routes(value: Any, route: tuple[Any, ...] = (), depth: int = 0) -> Iterator[tuple[Any, ...]]:
    """Every place in a parsed JSON value (keys and indexes), the top one first."""
    yield route
    if depth > 8:
        return
    if isinstance(value, dict):
        for key, inner in value.items():
            yield from _routes(inner, (*route, key), depth + 1)
    elif isinstance(value, list):
        for index, inner in enumerate(value[:6]):
            yield from _routes(inner, (*route, index), depth + 1)


def _replaced(value: Any, route: tuple[Any, ...], new: Any) -> Any:
    if not route:
        return new
    head, rest = route[0], route[1:]
    if isinstance(value, dict):
        return {**value, head: _replaced(value[head], rest, new)}
    copy = list(value)
    copy[head] = _replaced(value[head], rest, new)
    return copy


@st.composite
def mutated(draw: st.DrawFn, value: Any) -> Any:
    """``value`` with one place (or, sometimes, a few) given an arbitrary JSON value."""
    for _ in range(draw(st.integers(1, 3))):
        routes = list(_routes(value))
        route = draw(st.sampled_from(routes[1:] or routes))
        value = _replaced(value, route, draw(odd_values))
    return value


def _dumps(value: Any) -> bytes:
    """JSON as an SDK might write it: NaN, huge integers and lone surrogates included."""
    return json.dumps(value, allow_nan=True).encode()


@st.composite
def odd_bodies(draw: st.DrawFn) -> bytes:
    """An envelope of real SDK items, one of them with odd fields."""
    items = golden_items()
    chosen = draw(st.lists(st.sampled_from(range(len(items))), min_size=1, max_size=3))
    parts = []
    for n, index in enumerate(chosen):
        headers, payload = items[index]
        payload = draw(mutated(payload)) if n == 0 or draw(st.booleans()) else payload
        body = _deep(draw(st.integers(200, 3000))) if draw(st.integers(0, 9)) == 0 else _dumps(payload)
        parts.append((headers, body))
    return make_envelope({}, parts)


def _deep(depth: int) -> bytes:
    """An event nested ``depth`` levels deep (orjson reads 1024 at most, json less)."""
    return b'{"extra":[' * depth + b'{"message":"deep"}' + b",null]}" * depth


# ---------------------------------------------------------------- the commands


def _write(path: Path, records: list[dict[str, Any]]) -> str:
    with path.open("wb") as fo:
        writer = SnapshotWriter(fo)
        writer.write(records)
        writer.close()
    return str(path)


def _write_lines(path: Path, lines: list[bytes]) -> str:
    path.write_bytes(zstandard.ZstdCompressor().compress(b"".join(line + b"\n" for line in lines)))
    return str(path)


def _commands(snapshot: str, other: str, out: Path, ident: str) -> list[list[str]]:
    return [
        ["inspect", snapshot],
        ["inspect", "--json", snapshot],
        ["inspect", "show", ident, snapshot],
        ["inspect", "--raw", ident, snapshot],
        ["group", snapshot],
        ["group", "--json", "--item-type", "transaction", snapshot],
        ["group", "--compare", "type", "--compare", "message", "--compare", "fingerprint", snapshot],
        ["report", snapshot],
        ["report", "--format", "json", snapshot],
        ["report", "--format", "html", "-o", str(out / "report.html"), snapshot],
        ["diff", other, snapshot],
        ["export", "-o", str(out / "export.jsonl.zst"), snapshot],
        ["export", "--envelopes", str(out / "envelopes"), snapshot],
        ["replay", "--dry-run", "--fresh-ids", "--shift-timestamps", "--to", "http://k@127.0.0.1:9/1", snapshot],
    ]


#: What a command may answer instead of 0, as a one-line message (documented exit 1).
_ALLOWED_ERRORS = re.compile(
    r"^Error: (no record or event id starts with|.*: record format version \d+ is newer|.* already exists: choose another name)",
    re.M,
)


def _check(result: Result, args: list[str]) -> None:
    """Exit 0 or a documented error as one line; no traceback. (JSON outputs are read with the
    standard parser: a lone surrogate may be written as its JSON escape, which orjson refuses.)"""
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    assert not crashed, f"{args[0]}: {result.exception!r}\n{result.output[-2000:]}"
    assert "Traceback" not in result.output, result.output[-2000:]
    if result.exit_code != 0:
        assert result.exit_code == 3 and _ALLOWED_ERRORS.search(result.output), (args, result.output[-2000:])


def _run_all(snapshot: str, out: Path, ident: str) -> dict[str, Result]:
    other = str(SAMPLES[0])
    results = {}
    for args in _commands(snapshot, other, out, ident):
        for leftover in (out / "export.jsonl.zst", out / "report.html"):
            leftover.unlink(missing_ok=True)
        if (out / "envelopes").exists():
            for file in (out / "envelopes").iterdir():
                file.unlink()
            (out / "envelopes").rmdir()
        result = CliRunner().invoke(cli, args, env=ENV)
        _check(result, args)
        results[" ".join(args[:3])] = result
    return results


# ---------------------------------------------------------------- the properties


@FUZZ
@given(bodies=st.lists(odd_bodies(), min_size=1, max_size=3))
def test_odd_payloads_from_sdks_never_stop_a_reader(tmp_path_factory: Any, bodies: list[bytes]) -> None:
    """Records the listener accepted (Relay would too), with any JSON in any field of real
    SDK items: every reader finishes, and the report counts them all as requests."""
    out = tmp_path_factory.mktemp("out")
    records = [
        make_record(make_request(path="/api/1/envelope/", body=body, query=QUERY), remote_addr="127.0.0.1:1")
        for body in bodies
    ]
    snapshot = _write(out / "odd.jsonl.zst", records)
    results = _run_all(snapshot, out, records[0]["id"])
    report = json.loads(results["report --format json"].stdout)
    # every one counted, and none by the last resort: the walkers take any payload
    assert (len(records), 0) == (report["traffic"]["requests"], report["malformed"]["records"])
    for name in ("group", "report", "diff"):
        assert "skipped" not in results[next(k for k in results if k.startswith(name))].stderr


@st.composite
def odd_requests(draw: st.DrawFn) -> ingest.Request:
    """A request to another endpoint than the envelope's, with an odd JSON body: the store
    endpoint (an event), a cron check-in, a CSP report."""
    items = golden_items()
    _, payload = items[draw(st.sampled_from(range(len(items))))]
    body = _dumps(draw(mutated(payload)))
    path, headers = draw(
        st.sampled_from(
            [
                ("/api/1/store/", ()),
                ("/api/1/cron/nightly/mirror/", ()),
                ("/api/1/security/", (("content-type", "application/csp-report"),)),
            ]
        )
    )
    return make_request(path=path, body=body, headers=headers, query=QUERY)


@FUZZ
@given(requests=st.lists(odd_requests(), min_size=1, max_size=3))
def test_odd_bodies_at_other_endpoints_never_stop_a_reader(
    tmp_path_factory: Any, requests: list[ingest.Request]
) -> None:
    out = tmp_path_factory.mktemp("out")
    records = [make_record(request, remote_addr="127.0.0.1:1") for request in requests]
    snapshot = _write(out / "odd.jsonl.zst", records)
    results = _run_all(snapshot, out, records[0]["id"])
    report = json.loads(results["report --format json"].stdout)
    assert (len(records), 0) == (report["traffic"]["requests"], report["malformed"]["records"])


@FUZZ
@given(data=st.data())
def test_odd_records_are_skipped_and_named(tmp_path_factory: Any, data: st.DataObject) -> None:
    """Records with any JSON in any of their own fields (or missing ones): every reader
    finishes; a record it cannot use is skipped with a warning that names it."""
    out = tmp_path_factory.mktemp("out")
    golden = golden_records()
    chosen = data.draw(st.lists(st.sampled_from(range(len(golden))), min_size=1, max_size=3), label="records")
    lines = []
    for index in chosen:
        original = golden[index]
        odd = data.draw(
            mutated(original)
            | st.just({"v": 1})
            | st.builds(lambda v, base=original: {**base, "v": 1, "summary": v}, odd_values)
        )
        lines.append(_dumps(odd))
    ident = golden[chosen[0]]["id"]
    snapshot = _write_lines(out / "odd.jsonl.zst", [orjson.dumps(golden[0]), *lines])
    results = _run_all(snapshot, out, ident)
    result = results["report --format json"]
    if result.exit_code == 0:  # (else a record from a "newer" version: the documented error)
        report = json.loads(result.stdout)
        skipped = result.stderr.count(": skipped ")
        # every line is a request, or skipped with a warning (not JSON, not a record, or unusable)
        assert report["traffic"]["requests"] + skipped >= 1 + len(lines), result.stderr
        assert report["malformed"]["records"] <= skipped


# ---------------------------------------------------------------- the cases of the issue, each by name

EVENT = {
    "event_id": "9ec79c33ec9942ab8353589fcb2e04dc",
    "platform": "python",
    "level": "error",
    "exception": {"values": [{"type": "KeyError", "value": "7", "stacktrace": {"frames": [{"module": "app", "function": "run", "in_app": True}]}}]},
}  # fmt: skip
ODD_ITEMS = {
    "platform is an object": ("event", {**EVENT, "platform": {}}),
    "lone surrogates": ("event", {**EVENT, "message": "a\ud800b", "exception": {"values": [{"type": "X\udc00", "value": "\ud800"}]}}),
    "transaction spans is a number": ("transaction", {"type": "transaction", "transaction": "t", "spans": 1, "start_timestamp": 1, "timestamp": 2}),
    "log items is a number": ("log", {"items": 1}),
    "trace_metric items is a number": ("trace_metric", {"items": 1}),
    "span items is a number": ("span", {"items": 1}),
    "sessions aggregates is a number": ("sessions", {"aggregates": 1}),
    "client report discarded_events is a number": ("client_report", {"discarded_events": 1}),
    "debug_meta images is a number": ("event", {**EVENT, "debug_meta": {"images": 1}}),
    "nested 3000 deep": ("event", None),
}  # fmt: skip


@pytest.mark.parametrize("case", list(ODD_ITEMS))
def test_each_odd_payload_of_the_issue(tmp_path: Path, case: str) -> None:
    """Defect 2: one accepted envelope like these stopped group, report and diff with a traceback."""
    kind, payload = ODD_ITEMS[case]
    body = _deep(3000) if payload is None else _dumps(payload)
    request = make_request(path="/api/1/envelope/", body=make_envelope({}, [({"type": kind}, body)]), query=QUERY)
    odd = make_record(request, remote_addr="127.0.0.1:1")
    good = [{**data, "id": f"{n:032x}"} for n, data in enumerate(golden_records()[:5])]
    snapshot = _write(tmp_path / "odd.jsonl.zst", [*good, odd])
    results = _run_all(snapshot, tmp_path, odd["id"])
    report = json.loads(results["report --format json"].stdout)
    assert (6, 0) == (report["traffic"]["requests"], report["malformed"]["records"])
    assert 0 == results["report --format json"].stderr.count("warning")


def test_wrong_types_are_remarked_in_the_report(tmp_path: Path) -> None:
    """A field of the wrong type is treated as absent, and counted (as Relay remarks it in _meta)."""
    records = [
        make_record(
            make_request(
                path="/api/1/envelope/",
                body=make_envelope({}, [({"type": kind}, payload)], explicit_length=False),
                query=QUERY,
            ),
            remote_addr="127.0.0.1:1",
        )
        for kind, payload in [
            ("transaction", b'{"type":"transaction","transaction":"t","spans":1}'),
            ("client_report", b'{"discarded_events":{"reason":"x"}}'),
        ]
    ]
    snapshot = _write(tmp_path / "odd.jsonl.zst", records)
    report = json.loads(CliRunner().invoke(cli, ["report", "--format", "json", snapshot], env=ENV).stdout)
    assert {"transaction.spans is an integer": 1, "client_report.discarded_events is an object": 1} == report[
        "malformed"
    ]["fields"]
    assert 1 == report["performance"]["transactions"] and 0 == report["performance"]["spans"]
    result = CliRunner().invoke(cli, ["report", "--section", "dropped", snapshot], env=ENV)
    assert (
        "fields ignored  client_report.discarded_events is an object (1), transaction.spans is an integer (1)"
        in result.output
    )


ODD_RECORDS = {
    "only v": {"v": 1},
    "id is a number": {"id": 5},
    "received_at is a number": {"received_at": 3},
    "received_at is not a time": {"received_at": "yesterday"},
    "summary is a list": {"summary": []},
    "summary items is a number": {"summary": {"items": 1}},
    "an item type is an object": {"summary": {"items": [{"type": {}, "size": 1, "headers": None}]}},
    "response status is text": {"response": {"status": "200", "headers": [], "body": "", "body_base64": False}},
    "headers are not pairs": {"headers": [["a"]]},
    "auth form is a list": {"auth": {"form": []}},
    "body is a number": {"body": 1},
    "body is not base64": {"body_base64": True, "body": "%%%"},
    "wire_size is negative": {"wire_size": -1},
    "endpoint is null": {"endpoint": None},
    "id names a path": {"id": "../../escape"},
    "body_encoded is text": {"body_encoded": "yes"},
}


@pytest.mark.parametrize("case", list(ODD_RECORDS))
def test_each_odd_record_is_skipped_with_its_id(tmp_path: Path, case: str) -> None:
    """Defect 7: a record with missing or wrong-typed fields gave a raw traceback in most readers;
    now each reader skips it with a warning naming it and the field, and goes on."""
    golden = golden_records()
    odd = {"v": 1} if case == "only v" else {**golden[1], **ODD_RECORDS[case]}
    snapshot = _write_lines(
        tmp_path / "odd.jsonl.zst", [orjson.dumps(golden[0]), orjson.dumps(odd), orjson.dumps(golden[2])]
    )
    results = _run_all(snapshot, tmp_path, golden[2]["id"])  # (show reads up to it: past the odd one)
    for name, result in results.items():
        assert 1 == result.stderr.count(": skipped "), (name, result.stderr)
        named = odd["id"] if isinstance(odd.get("id"), str) and odd["id"].isalnum() else "without an id"
        assert named in result.stderr or "../../escape" in result.stderr, (name, result.stderr)
    report = json.loads(results["report --format json"].stdout)
    assert (2, 1) == (report["traffic"]["requests"], report["malformed"]["records"])
    assert not (tmp_path.parent / "escape.envelope").exists()
