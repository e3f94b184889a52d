"""The sql views agree with the project's own Python readers, on real SDK captures, damaged
and cut files, odd file names and hostile records."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentry_mirror.core.lenient import loads_or_none
from sentry_mirror.core.sql import VIEW_NAMES
from sentry_mirror.errors import MirrorError
from sentry_mirror.io import duck
from sentry_mirror.io.snapshot import iter_records
from sentry_mirror.testing import Mirror
from tests.conformance.clients import JS_DIR, need_node
from tests.factories import SNAPSHOTS, make_envelope, make_event, make_record, make_request, write_snapshot
from tests.helpers import mode, require_duckdb
from tests.io import sql_reference as ref

DATA = Path(__file__).resolve().parent.parent / "data"
SAMPLES = [SNAPSHOTS / f"sample-{name}.jsonl.zst" for name in ("python", "node", "browser")]


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A fresh real sentry-sdk capture, the committed samples (python, node, browser) and
    the golden v1 capture."""
    fresh = ref.sdk_capture(tmp_path_factory.mktemp("capture"))
    return [*fresh, *SAMPLES, DATA / "v1-sentry-python-2.75.0.jsonl.zst"]


@pytest.fixture
def session(capture: list[Path]) -> Iterator[duck.Session]:
    require_duckdb()
    with duck.connect(capture, threads=2) as opened:
        yield opened


def rows(session: duck.Session, sql: str) -> list[tuple[Any, ...]]:
    return list(session.run(sql).fetchall())


def items(session: duck.Session, where: str = "true") -> dict[str, list[ref.Item]]:
    """The items view per request: ``(type, size, headers, payload)`` as :func:`ref.items` gives them."""
    found: dict[str, list[ref.Item]] = {}
    query = f"SELECT request_id, type, size, headers, payload FROM items WHERE {where} ORDER BY request_id, item_index"
    for request_id, kind, size, headers, payload in rows(session, query):
        parsed = [ref.same_json(loads_or_none(text)) if text is not None else None for text in (headers, payload)]
        found.setdefault(request_id, []).append((kind, size, *parsed))
    return found


def test_requests_are_the_records_our_reader_gives(session: duck.Session, capture: list[Path]) -> None:
    records = list(iter_records(capture))
    assert sorted(r.id for r in records) == sorted(row[0] for row in rows(session, "SELECT id FROM requests"))
    endpoints = Counter(r.data["endpoint"] for r in records)
    assert endpoints == Counter(dict(rows(session, "SELECT endpoint, count(*) FROM requests GROUP BY 1")))


def test_items_per_envelope_are_core_envelopes(session: duck.Session, capture: list[Path]) -> None:
    expected = ref.items(iter_records(capture))
    found = items(session, "endpoint IN ('envelope', 'tunnel')")
    assert expected == found
    types = {item[0] for listed in found.values() for item in listed}
    assert {"event", "attachment", "transaction", "session", "check_in", "log", "client_report"} <= types
    # only the binary attachment's envelope (a base64 body) is parsed in Python, and unioned in
    in_python = {row[0] for row in rows(session, "SELECT DISTINCT request_id FROM _sm_py_items")}
    base64 = {r.id for r in iter_records(capture) if r.data["body_base64"] and r.id in expected}
    assert in_python == base64 != set()


def test_error_events_are_the_groupers(session: duck.Session, capture: list[Path]) -> None:
    expected = ref.errors(iter_records(capture))
    found = Counter(rows(session, "SELECT request_id, exception_type, exception_value FROM events"))
    assert expected == found
    assert ("ValueError", "could not load the basket") in {(t, v) for _, t, v in found}
    sdks = {row[0] for row in rows(session, "SELECT DISTINCT sdk FROM events")}
    assert {"sentry.python", "sentry.javascript.node", "sentry.javascript.browser"} <= sdks


def test_frames_spans_breadcrumbs_sessions_and_client_reports(session: duck.Session, capture: list[Path]) -> None:
    records = list(iter_records(capture))
    assert ref.frames(records) == Counter(dict(rows(session, "SELECT request_id, count(*) FROM frames GROUP BY 1")))
    assert ref.spans(records) == Counter(
        dict(rows(session, "SELECT request_id, count(*) FROM spans WHERE source = 'transaction' GROUP BY 1"))
    )
    assert ref.breadcrumbs(records) == rows(session, "SELECT count(*) FROM breadcrumbs")[0][0] > 0
    assert ref.sessions(records) == rows(session, "SELECT count(*) FROM sessions")[0][0] > 0
    reported = rows(session, "SELECT sum(quantity) FROM client_reports WHERE list = 'discarded_events'")[0][0]
    assert ref.discarded(records) == reported > 0
    (duration,) = rows(session, "SELECT min(duration_ms) FROM spans")[0]
    assert duration >= 0


def test_every_view_has_columns_and_reads(session: duck.Session) -> None:
    columns = session.columns()
    for name in VIEW_NAMES:
        assert columns[name]
        read = session.run(f"SELECT * FROM {name}")
        assert [column for column, _ in columns[name]] == [described[0] for described in read.description]
        read.fetchall()


def _damage(path: Path, target: Path, how: str) -> Path:
    data = bytearray(path.read_bytes())
    if how == "cut":
        data = data[: len(data) * 2 // 3]
    else:
        data[len(data) // 2] ^= 0x40
    target.write_bytes(bytes(data))
    return target


@pytest.mark.parametrize("how", ["cut", "flipped"])
def test_damaged_files_read_as_our_reader_reads_them(capture: list[Path], tmp_path: Path, how: str) -> None:
    require_duckdb()
    damaged = [_damage(path, tmp_path / f"{i}-{path.name}", how) for i, path in enumerate(capture)]
    expected_warnings: list[str] = []
    expected = sorted(r.id for r in iter_records(damaged, on_warning=expected_warnings.append))
    warnings: list[str] = []
    with duck.connect(damaged, on_warning=warnings.append) as opened:
        found = sorted(row[0] for row in rows(opened, "SELECT id FROM requests"))
        files = {row[0] for row in rows(opened, "SELECT DISTINCT file FROM requests")}
        rows(opened, "SELECT count(*) FROM events")
        temp = opened._copies.directory()
        copies = list(temp.glob("*.jsonl.zst"))
        assert mode(temp) == 0o700
        assert copies and all(mode(copy) == 0o600 for copy in copies)
    assert expected == found
    assert sorted(expected_warnings) == sorted(warnings) != []
    assert files <= {str(path) for path in damaged}
    assert not temp.exists()


def test_a_frame_damaged_inside_is_found_while_the_query_runs(capture: list[Path], tmp_path: Path) -> None:
    """A finished frame with a flipped bit passes the cheap frame walk; DuckDB's zstd
    checksum fails during the query, and the session copies that file clean and re-runs."""
    require_duckdb()
    sample = tmp_path / "sample.jsonl.zst"
    data = bytearray(SAMPLES[0].read_bytes())
    data[len(data) - 40] ^= 0x01  # inside the last block: the frame structure still walks
    sample.write_bytes(bytes(data))
    warnings: list[str] = []
    with duck.connect([sample, SAMPLES[1]], on_warning=warnings.append) as opened:
        assert not list(opened._copies.directory().glob("*.jsonl.zst"))  # the walk found nothing
        found = rows(opened, "SELECT count(*) FROM requests")[0][0]
    assert len(list(iter_records([sample, SAMPLES[1]]))) == found
    assert warnings


@pytest.mark.parametrize("name", ["it's a [1]*?.jsonl.zst", "spaced name ü 日本.jsonl.zst", 'quote".jsonl.zst'])
def test_file_names_are_read_as_themselves(tmp_path: Path, name: str) -> None:
    require_duckdb()
    target = tmp_path / name
    shutil.copy(SAMPLES[0], target)
    shutil.copy(SAMPLES[1], tmp_path / "it's a 1xx.jsonl.zst")  # what the glob characters would match
    with duck.connect([target]) as opened:
        assert [(str(target), len(list(iter_records([target]))))] == rows(
            opened, "SELECT file, count(*) FROM requests GROUP BY 1"
        )


def test_no_file_gives_empty_views(tmp_path: Path) -> None:
    require_duckdb()
    with duck.connect([tmp_path]) as opened:
        assert all(rows(opened, f"SELECT count(*) FROM {name}") == [(0,)] for name in VIEW_NAMES)


def test_a_bad_statement_is_a_usage_error_with_duckdbs_message() -> None:
    require_duckdb()
    with duck.connect([SAMPLES[0]]) as opened, pytest.raises(duck.QueryError, match="Catalog Error") as raised:
        opened.run("SELECT * FROM nothing_here")
    assert raised.value.exit_code == 2


def test_no_duckdb_is_a_message_naming_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(__import__("sys").modules, "duckdb", None)
    with pytest.raises(MirrorError, match=r"pip install 'sentry-mirror\[sql\]'"):
        duck.load_duckdb()


def test_what_sql_cannot_split_exactly_is_split_in_python(tmp_path: Path) -> None:
    require_duckdb()
    bodies = [
        b'{}\n{"type":"event","type":"log"}\n{}',  # a doubled key: orjson keeps the last
        b'{}\n\n{"type":"event"}',  # a blank line before a header
        b'{}\n{"type":"attachment","length":3}\na\nb\n',  # a payload with a newline
        b'{}\n{"type":"event"}\n{"message":"\\ud800"}',  # a lone surrogate
        # @sentry/node: no newline after the last payload; a JSON-lines attachment, then an empty one
        b'{}\n{"type":"attachment","length":33}\n{"level":"info"}\n{"type":"event"}\n{"type":"attachment","length":0}\n',
        b'{}\n{"type":"attachment","length":9}\none line\n',  # the last payload ends in a newline
        b'{}\n{"type":"event","length":2}\n{}\n{"type":"event","length":4}\n{} \n',  # a length one byte off
    ]
    records = [{**make_record(make_request(body=body)), "id": f"{n:032x}"} for n, body in enumerate(bodies)]
    path = write_snapshot(tmp_path / "odd.jsonl.zst", records)
    with duck.connect([path]) as opened:
        found = items(opened)
        in_python = {row[0] for row in rows(opened, "SELECT DISTINCT request_id FROM _sm_py_items")}
    assert ref.items(iter_records([path])) == found
    types = {key: [item[0] for item in listed] for key, listed in found.items()}
    assert {"0" * 31 + "0": ["log"], "0" * 31 + "2": ["attachment"]}.items() <= types.items()
    assert ["attachment", "attachment"] == types["0" * 31 + "4"]
    assert ("attachment", 9) == found["0" * 31 + "5"][0][:2]
    assert in_python == set(found)


@pytest.mark.parametrize("number", ["123456789012345678901234567890", "-9223372036854775809"])
def test_integers_beyond_64_bits_are_exact_on_both_splits(tmp_path: Path, number: str) -> None:
    """The same event split in SQL (a text body) and in Python (a base64 body: a binary
    attachment beside it) keeps an integer beyond 64 bits digit for digit."""
    require_duckdb()
    event = b'{"n": %s}' % number.encode()
    bodies = [
        make_envelope(items=[({"type": "event"}, event)]),
        make_envelope(items=[({"type": "event"}, event), ({"type": "attachment"}, b"\xff\xfe")]),
    ]
    records = [{**make_record(make_request(body=body)), "id": f"{n:032x}"} for n, body in enumerate(bodies)]
    path = write_snapshot(tmp_path / "big.jsonl.zst", records)
    with duck.connect([path]) as opened:
        found = rows(opened, "SELECT request_id, payload->>'n' FROM items WHERE type = 'event' ORDER BY 1")
        in_python = [row[0] for row in rows(opened, "SELECT DISTINCT request_id FROM _sm_py_items")]
    assert ["0" * 31 + "1"] == in_python
    assert [("0" * 32, number), ("0" * 31 + "1", number)] == found


_line = st.one_of(
    st.just('{"type":"event"}'),
    st.just('{"type":"event","length":5}'),
    st.just('{"type":"attachment","length":0}'),
    st.just(""),
    st.just(" "),
    st.just('\t{"type":"session"}'),
    st.just('{"type":"event","length":16}'),
    st.just('{"type":"x"} '),
    st.just('{"type":"event","type":"log"}'),
    st.just("{"),
    st.just(" {}"),
    st.just('{"a":NaN}'),
    st.builds(lambda e: __import__("orjson").dumps(e).decode(), st.builds(make_event, message=st.text(max_size=8))),
    st.text(max_size=12),
)


_payload = st.lists(st.sampled_from(["", "a", "ü", '{"type":"event"}', '{"level":"info"}', "\n", " "]), max_size=4).map(
    "".join
)


def _js_envelope(parts: list[tuple[str, str, int]]) -> str:
    """An envelope as @sentry/node's serializeEnvelope writes it: each item a header with
    ``length`` (here maybe off by ``delta`` bytes) and its payload, no newline after the last."""
    out = '{"event_id":"' + "a" * 32 + '"}'
    for kind, payload, delta in parts:
        length = len(payload.encode()) + delta
        out += f'\n{{"type":"{kind}","length":{length}}}\n{payload}'
    return out


_js = st.lists(
    st.tuples(st.sampled_from(["event", "attachment"]), _payload, st.sampled_from([0, 0, 0, -1, 1])), max_size=4
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    bodies=st.lists(st.lists(_line, max_size=6).map("\n".join) | _js.map(_js_envelope), min_size=1, max_size=4),
    tail=st.booleans(),
)
def test_hostile_envelopes_never_fail_and_split_as_core_envelope(
    tmp_path_factory: pytest.TempPathFactory, bodies: list[str], tail: bool
) -> None:
    require_duckdb()
    records = []
    for n, body in enumerate(bodies):
        raw = (body + ("\n" if tail else "")).encode()
        record = make_record(make_request(body=raw or make_envelope()))
        records.append({**record, "id": f"{n:032x}"})
    path = write_snapshot(tmp_path_factory.mktemp("hostile") / "h.jsonl.zst", records)
    expected = ref.items(iter_records([path]))
    with duck.connect([path]) as opened:
        found = items(opened)
        for name in VIEW_NAMES:
            rows(opened, f"SELECT * FROM {name}")
    assert expected == found


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | st.text(max_size=6),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=8,
)
_FIELDS = ["summary", "response", "headers", "auth", "notes", "scripted", "wire_size", "project_id", "body_base64"]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(changes=st.lists(st.tuples(st.sampled_from(_FIELDS), _json), max_size=4))
def test_records_of_any_shape_never_fail_a_query(tmp_path_factory: pytest.TempPathFactory, changes: list[Any]) -> None:
    """Fields a listener writes with other types (hand-edited records): every view still
    reads, and every record our reader gives is a row of requests."""
    require_duckdb()
    good = make_record(make_request())
    odd = {**good, "id": "1" * 32, **dict(changes)}
    path = write_snapshot(tmp_path_factory.mktemp("odd") / "o.jsonl.zst", [good, odd])
    warnings: list[str] = []
    with duck.connect([path], on_warning=warnings.append) as opened:
        found = {row[0] for row in rows(opened, "SELECT id FROM requests")}
        for name in VIEW_NAMES:
            rows(opened, f"SELECT * FROM {name}")
    assert {r.id for r in iter_records([path])} <= found


def test_a_record_longer_than_duckdbs_buffers_is_read(tmp_path: Path) -> None:
    """DuckDB reads with small JSON buffers (memory), and again with bigger ones when a
    record is longer (a big attachment kept in its body)."""
    require_duckdb()
    body = make_envelope(items=[({"type": "attachment"}, b"x" * (20 << 20)), ({"type": "event"}, make_event())])
    path = write_snapshot(tmp_path / "big.jsonl.zst", [make_record(make_request(body=body))])
    with duck.connect([path]) as opened:
        assert [("attachment", 20 << 20), ("event", None)] == [
            (kind, size if kind == "attachment" else None)
            for kind, size in rows(opened, "SELECT type, size FROM items ORDER BY item_index")
        ]


def test_only_whole_zstd_frames_are_given_to_duckdb_as_they_are(tmp_path: Path) -> None:
    from sentry_mirror.io.duck_files import whole_frames
    from sentry_mirror.io.snapshot import SnapshotWriter

    open_frame = tmp_path / "writing.jsonl.zst"
    with open_frame.open("wb") as fo:
        SnapshotWriter(fo).write([make_record()])  # a group flushed, its frame still open
    (tmp_path / "empty.jsonl.zst").write_bytes(b"")
    (tmp_path / "text.jsonl.zst").write_bytes(b'{"id": "not zstd"}\n')
    assert whole_frames(SAMPLES[0])
    assert not whole_frames(open_frame)
    assert not whole_frames(tmp_path / "empty.jsonl.zst")
    assert not whole_frames(tmp_path / "text.jsonl.zst")
    require_duckdb()
    with duck.connect([open_frame, tmp_path / "empty.jsonl.zst"]) as opened:
        assert [(str(open_frame), 1)] == rows(opened, "SELECT file, count(*) FROM requests GROUP BY 1")


@pytest.mark.parametrize(
    "statement", ["SELECT json_extract('{', '$.a')", "SELECT * FROM read_csv('/nonexistent/x.csv')"]
)
def test_a_statements_own_error_reads_no_file(monkeypatch: pytest.MonkeyPatch, statement: str) -> None:
    """An error in the statement (bad JSON text, a missing file of the user's) is shown as
    DuckDB gives it, without probing every snapshot file for one DuckDB cannot read."""
    require_duckdb()
    probed: list[list[str]] = []
    real = duck.sql.source.read_json

    def spy(files: list[str], size: int) -> str:
        probed.append(files)
        return real(files, size)

    with duck.connect(SAMPLES) as opened:
        monkeypatch.setattr(duck.sql.source, "read_json", spy)
        with pytest.raises(duck.QueryError, match=r"Malformed JSON|No files found") as raised:
            opened.run(statement)
    assert raised.value.exit_code == 2
    assert probed == []


def test_a_file_that_grows_between_statements_is_read_alike_by_every_view(tmp_path: Path) -> None:
    """A snapshot still being written: the next statement of the same session sees the new
    records in ``requests`` and in the views built on items parsed in Python alike."""
    require_duckdb()
    path = tmp_path / "growing.jsonl.zst"

    def record(n: int) -> dict[str, Any]:  # an event, then an attachment with a newline: split in Python
        body = make_envelope(
            items=[({"type": "event"}, make_event(message=f"m{n}")), ({"type": "attachment"}, b"a\nb")]
        )
        return {**make_record(make_request(body=body)), "id": f"{n:032x}"}

    write_snapshot(path, [record(0)])
    with duck.connect([path]) as opened:
        both = "SELECT (SELECT count(*) FROM requests), (SELECT count(*) FROM events)"
        assert [(1, 1)] == rows(opened, both)
        write_snapshot(path, [record(0), record(1)])
        assert [(2, 2)] == rows(opened, both)
        assert 2 == rows(opened, "SELECT count(*) FROM _sm_py_items WHERE type = 'attachment'")[0][0]


_NODE_ATTACHMENTS = """
import * as Sentry from "@sentry/node";
Sentry.init({ dsn: process.env.SENTRY_DSN, defaultIntegrations: false, tracesSampleRate: 0 });
Sentry.withScope((scope) => {
  scope.addAttachment({ filename: "log.txt", data: "one line\\n" });
  Sentry.captureException(new Error("a one-line log, last"));
});
Sentry.withScope((scope) => {
  scope.addAttachment({ filename: "log.jsonl", data: '{"level":"info"}\\n{"type":"event"}' });
  scope.addAttachment({ filename: "empty.txt", data: "" });
  Sentry.captureException(new Error("JSON lines, then an empty attachment"));
});
await Sentry.flush(5000);
"""


def test_sentry_node_attachments_with_newlines_split_as_core_envelope(tmp_path: Path) -> None:
    """@sentry/node writes no newline after the last payload: attachments with newlines
    (and an empty one) must not shift the lines SQL pairs into items."""
    require_duckdb()
    node = need_node("@sentry/node")
    with Mirror(tmp_path / "node") as mirror:
        env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "SENTRY_DSN": mirror.dsn}
        ran = subprocess.run(
            [node, "--input-type=module", "-e", _NODE_ATTACHMENTS], cwd=JS_DIR, env=env, capture_output=True, timeout=60
        )
        assert ran.returncode == 0, ran.stderr
        mirror.wait_for(2, type="event", timeout=20)
    files = sorted((tmp_path / "node").glob("*.jsonl.zst"))
    with duck.connect(files) as opened:
        found = items(opened)
        events = rows(opened, "SELECT count(*) FROM events")[0][0]
    assert ref.items(iter_records(files)) == found
    assert 2 == events
    sizes = sorted(item[1] for listed in found.values() for item in listed if item[0] == "attachment")
    assert [0, 9, 33] == sizes


def test_a_duckdb_message_cut_inside_a_character_still_finds_the_file(tmp_path: Path) -> None:
    """A value of the wrong type makes DuckDB quote the line, cut inside a UTF-8 character:
    its message does not decode (UnicodeDecodeError), and the file is still copied clean."""
    require_duckdb()
    record = {**make_record(), "wire_size": {"": None, "\x80\x80𐀀": [None, "\x80𐀀"], "000\x80𐀀": "\x80"}}
    path = write_snapshot(tmp_path / "odd.jsonl.zst", [record])
    with duck.connect([path]) as opened:
        for name in VIEW_NAMES:
            rows(opened, f"SELECT * FROM {name}")
        assert list(opened._copies.directory().glob("*.jsonl.zst"))


def test_a_full_temp_disk_names_the_copy_not_the_users_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from sentry_mirror.errors import SnapshotError
    from sentry_mirror.io import duck_files

    def full(records: Iterator[Any], target: Path) -> None:
        next(iter(records))
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(duck_files, "export_snapshot", full)
    copies = duck_files.CleanCopies()
    try:
        with pytest.raises(SnapshotError) as raised:
            copies.copy(SAMPLES[0], lambda _: None)
    finally:
        copies.close()
    assert str(raised.value).startswith(f"cannot write a clean copy of {SAMPLES[0]} in ")
    assert "No space left on device" in str(raised.value)
