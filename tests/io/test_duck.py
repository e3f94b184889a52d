"""The sql views agree with the project's own Python readers, on real SDK captures, damaged
and cut files, odd file names and hostile records."""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sentry_sdk
from sentry_sdk import logger as sentry_logger
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentry_mirror.core.sql import VIEW_NAMES
from sentry_mirror.errors import MirrorError
from sentry_mirror.io import duck
from sentry_mirror.io.snapshot import iter_records
from sentry_mirror.testing import Mirror
from tests.factories import SNAPSHOTS, make_envelope, make_event, make_record, make_request, write_snapshot
from tests.helpers import mode, require_duckdb
from tests.io import sql_reference as ref

DATA = Path(__file__).resolve().parent.parent / "data"
SAMPLES = [SNAPSHOTS / f"sample-{name}.jsonl.zst" for name in ("python", "node", "browser")]


def _traffic(dsn: str) -> None:
    """A small app through the real sentry-sdk: errors with breadcrumbs, a binary
    attachment (a base64 body), a transaction with spans, a session, a check-in, a log and
    an event dropped by before_send (a client report)."""

    def before_send(event: Any, hint: Any) -> Any:
        return None if event.get("message") == "drop me" else event

    sentry_sdk.init(
        dsn,
        release="shop@2.0.0",
        environment="test",
        traces_sample_rate=1.0,
        enable_logs=True,
        default_integrations=False,
        auto_session_tracking=False,
        before_send=before_send,
    )
    try:
        sentry_sdk.add_breadcrumb(category="basket", message="opened", level="info")
        try:
            try:
                {}["missing"]
            except KeyError as exc:
                raise ValueError("could not load the basket") from exc
        except ValueError:
            sentry_sdk.capture_exception()
        sentry_sdk.capture_message("payment provider slow")
        sentry_sdk.capture_message("drop me")
        with sentry_sdk.new_scope() as scope:
            scope.add_attachment(bytes=b"\x00\x01binary\xff\n\r\n", filename="state.bin")
            try:
                1 / 0  # noqa: B018
            except ZeroDivisionError:
                sentry_sdk.capture_exception()
        with sentry_sdk.start_transaction(name="GET /checkout", op="http.server"):
            with sentry_sdk.start_span(op="db.query", name="SELECT 1"):
                pass
            with sentry_sdk.start_span(op="http.client", name="POST /charge"):
                pass
        scope = sentry_sdk.get_isolation_scope()
        scope.start_session()
        scope.end_session()
        sentry_logger.info("checked out {n}", n=1)
        sentry_sdk.get_client().close(10)
    finally:
        sentry_sdk.init()


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A fresh real sentry-sdk capture, the committed samples (python, node, browser) and
    the golden v1 capture."""
    directory = tmp_path_factory.mktemp("capture")
    with Mirror(directory / "fresh") as mirror:
        _traffic(mirror.dsn)
        mirror.wait_for(1, type="client_report", timeout=20)
    files = sorted((directory / "fresh").glob("*.jsonl.zst"))
    assert files
    return [*files, *SAMPLES, DATA / "v1-sentry-python-2.75.0.jsonl.zst"]


@pytest.fixture
def session(capture: list[Path]) -> Iterator[duck.Session]:
    require_duckdb()
    with duck.connect(capture, threads=2) as opened:
        yield opened


def rows(session: duck.Session, sql: str) -> list[tuple[Any, ...]]:
    return list(session.run(sql).fetchall())


def test_requests_are_the_records_our_reader_gives(session: duck.Session, capture: list[Path]) -> None:
    records = list(iter_records(capture))
    assert sorted(r.id for r in records) == sorted(row[0] for row in rows(session, "SELECT id FROM requests"))
    endpoints = Counter(r.data["endpoint"] for r in records)
    assert endpoints == Counter(dict(rows(session, "SELECT endpoint, count(*) FROM requests GROUP BY 1")))


def test_items_per_envelope_are_core_envelopes(session: duck.Session, capture: list[Path]) -> None:
    expected = ref.item_types(iter_records(capture))
    found = dict(
        rows(
            session,
            "SELECT request_id, list(type ORDER BY item_index) FROM items "
            "WHERE endpoint IN ('envelope', 'tunnel') GROUP BY 1",
        )
    )
    assert expected == found
    types = {t for types in found.values() for t in types}
    assert {"event", "attachment", "transaction", "session", "check_in", "log", "client_report"} <= types
    # the binary attachment's envelope is base64: parsed in Python, unioned in
    assert rows(session, "SELECT count(*) FROM _sm_py_items WHERE type = 'attachment'")[0][0] >= 1


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
    assert list(VIEW_NAMES) == list(columns)
    for name in VIEW_NAMES:
        assert columns[name]
        rows(session, f"SELECT * FROM {name}")


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
        copies = list(opened._copies._dir.iterdir()) if opened._copies._dir else []
        assert all(mode(copy) == 0o600 for copy in copies)
        temp = opened._copies._dir
    assert expected == found
    assert sorted(expected_warnings) == sorted(warnings) != []
    assert files <= {str(path) for path in damaged}
    assert temp is None or not temp.exists()


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
        assert not opened._copies._dir  # the walk found nothing
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


_line = st.one_of(
    st.just('{"type":"event"}'),
    st.just('{"type":"event","length":5}'),
    st.just('{"type":"attachment","length":0}'),
    st.just(""),
    st.just("{"),
    st.just(" {}"),
    st.just('{"a":NaN}'),
    st.builds(lambda e: __import__("orjson").dumps(e).decode(), st.builds(make_event, message=st.text(max_size=8))),
    st.text(max_size=12),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(bodies=st.lists(st.lists(_line, max_size=6).map("\n".join), min_size=1, max_size=4), tail=st.booleans())
def test_hostile_envelopes_never_fail_and_split_as_core_envelope(
    tmp_path_factory: pytest.TempPathFactory, bodies: list[str], tail: bool
) -> None:
    require_duckdb()
    records = []
    for n, body in enumerate(bodies):
        raw = (body + ("\n" if tail else "")).encode()
        record = make_record(make_request(body=make_envelope() if not raw else raw))
        records.append({**record, "id": f"{n:032x}"})
    path = write_snapshot(tmp_path_factory.mktemp("hostile") / "h.jsonl.zst", records)
    expected = ref.item_types(iter_records([path]))
    with duck.connect([path]) as opened:
        found = dict(rows(opened, "SELECT request_id, list(type ORDER BY item_index) FROM items GROUP BY 1"))
        for name in VIEW_NAMES:
            rows(opened, f"SELECT * FROM {name}")
    assert expected == found
