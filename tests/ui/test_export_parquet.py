"""``sentry-mirror export --format parquet`` through the CLI, over the committed real-SDK
samples and hand-made hostile records: every sql table read back with pyarrow (a dataset
with hive partitioning) and with DuckDB (``read_parquet(..., hive_partitioning = true)``)
holds the rows of the sql views; project ids from clients never become paths; owner-only
files; ``--overwrite``; filters; ``--redact`` leaves no planted personal data in any value;
docs/parquet.md lists every column of every table."""

from __future__ import annotations

import base64
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentry_mirror.core import sql
from sentry_mirror.io import duck
from sentry_mirror.io.parquet_export import MANIFEST, exported_select
from sentry_mirror.io.snapshot import ExpandedPaths
from tests.factories import make_answer, make_envelope, make_event, make_record, make_request, write_snapshot
from tests.helpers import mode, require_duckdb, umask
from tests.ui.test_export_redact import KEY, SAMPLES, cli_run
from tests.ui.test_export_redact_planted import EMAIL, PLANTED, planted

REPO = Path(__file__).resolve().parent.parent.parent
DOC = REPO / "docs" / "parquet.md"
HIVE = "hive_partitioning = true, hive_types = {'day': DATE, 'project': VARCHAR}"


@pytest.fixture(autouse=True)
def _duckdb_and_pyarrow() -> None:
    """Both are in the test extras: in CI a missing one fails (at import), elsewhere it skips."""
    require_duckdb()
    if os.environ.get("CI") != "true":
        pytest.importorskip("pyarrow")


def export(*args: str, code: int = 0, env: dict[str, str] | None = None) -> str:
    result = cli_run("export", *args, env=env)
    assert code == result.exit_code, result.output
    return result.output


def read_pyarrow(directory: Path, table: str) -> Any:
    import pyarrow as pa
    import pyarrow.dataset as ds

    partitioning = ds.partitioning(pa.schema([("day", pa.date32()), ("project", pa.string())]), flavor="hive")
    return ds.dataset(directory / table, format="parquet", partitioning=partitioning).to_table()


def read_parquet(directory: Path, table: str) -> str:
    return f"read_parquet({sql.literal(str(directory / table) + '/*/*/*.parquet')}, {HIVE})"


def forward_capture(path: Path) -> Path:
    """A request of forward mode and its upstream's answer (the answers table)."""
    request = make_record(make_request(body=make_envelope(None, [({"type": "event"}, make_event())])))
    return write_snapshot(path, orjson.loads(orjson.dumps([request, make_answer(request)], default=str)))


def test_every_table_reads_back_as_the_views_with_pyarrow_and_duckdb(tmp_path: Path) -> None:
    sources = [str(SAMPLES), str(forward_capture(tmp_path / "fwd" / "forward.jsonl.zst"))]
    out = tmp_path / "lake"
    export("--format", "parquet", "-o", str(out), *sources)
    manifest = orjson.loads((out / MANIFEST).read_bytes())
    assert list(sql.VIEW_NAMES) == list(manifest["tables"])
    with duck.connect(sources, needs=sql.VIEW_NAMES) as session:
        for table in sql.VIEW_NAMES:
            select, columns = exported_select(session.run, table)
            names = ", ".join(sql.identifier(name) for name, _ in columns)
            (rows,) = session.run(f"SELECT count(*) FROM {table}").fetchall()[0]
            assert rows == manifest["tables"][table]["rows"], table
            if table in ("requests", "answers", "items", "events", "frames", "spans", "sessions"):
                assert rows > 0, table  # the samples hold them
            expected = session.con.sql(select).to_arrow_table()
            if rows == 0:
                assert [] == list((out / table).iterdir())
                continue
            arrow = read_pyarrow(out, table)
            assert expected.schema == arrow.schema, table
            assert sorted(map(repr, expected.to_pylist())) == sorted(map(repr, arrow.to_pylist())), table
            parquet = f"SELECT {names} FROM {read_parquet(out, table)}"
            assert [(rows,)] == session.run(f"SELECT count(*) FROM ({parquet})").fetchall()
            assert [(0,)] == session.run(f"SELECT count(*) FROM ({select} EXCEPT ALL {parquet})").fetchall(), table
            assert [(0,)] == session.run(f"SELECT count(*) FROM ({parquet} EXCEPT ALL {select})").fetchall(), table
            view = f"SELECT {names} FROM {table}"
            if table != "answers":  # every other table has its own day and project: the view's rows as they are
                assert [(0,)] == session.run(f"SELECT count(*) FROM ({view} EXCEPT ALL {parquet})").fetchall()


def test_a_capture_given_twice_has_as_many_rows_as_the_views(tmp_path: Path) -> None:
    """The same file in two directories: each request twice, as the views count it, and
    each answer or item no more than the views hold (no join multiplies them)."""
    first = forward_capture(tmp_path / "a" / "forward.jsonl.zst")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "forward.jsonl.zst").write_bytes(first.read_bytes())
    sources = [str(tmp_path / "a"), str(tmp_path / "b")]
    out = tmp_path / "lake"
    export("--format", "parquet", "-o", str(out), *sources)
    manifest = orjson.loads((out / MANIFEST).read_bytes())
    with duck.connect(sources, needs=sql.VIEW_NAMES) as session:
        for table in sql.VIEW_NAMES:
            (rows,) = session.run(f"SELECT count(*) FROM {table}").fetchall()[0]
            assert rows == manifest["tables"][table]["rows"] == read_pyarrow(out, table).num_rows, table
            if table in ("requests", "answers"):
                assert 2 == rows, table


def test_damaged_and_cut_files_export_as_the_views_read_them(tmp_path: Path) -> None:
    """DuckDB fails on the damaged frame in the middle of the COPY: the session copies the
    file clean and runs the COPY again, which starts the table over."""
    sample = (REPO / "tests" / "data" / "v1-sentry-python-2.75.0.jsonl.zst").read_bytes()
    damaged = bytearray(sample)
    for index in range(len(sample) // 2, len(sample) // 2 + 40):
        damaged[index] ^= 0x55
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "damaged.jsonl.zst").write_bytes(damaged)
    (tmp_path / "in" / "cut.jsonl.zst").write_bytes(sample[:-100])
    output = export("--format", "parquet", "-o", str(tmp_path / "out"), str(tmp_path / "in"))
    assert "damaged" in output and "cut short" in output  # the readers' warnings
    manifest = orjson.loads((tmp_path / "out" / MANIFEST).read_bytes())
    with duck.connect([str(tmp_path / "in")], needs=sql.VIEW_NAMES) as session:
        for table in ("requests", "items", "events"):
            (rows,) = session.run(f"SELECT count(*) FROM {table}").fetchall()[0]
            assert 0 < rows == manifest["tables"][table]["rows"] == read_pyarrow(tmp_path / "out", table).num_rows


def hostile_capture(path: Path) -> Path:
    records = []
    for index, project in enumerate(["../x", "..", "ü", "1/2", "/etc", "42", "%2e%2e", "0" * 21]):
        request = make_request(path=f"/api/{index}/envelope/", body=make_envelope(None, [({"type": "event"}, {})]))
        records.append(make_record(request, id=f"{index:032x}", project_id=project))
    return write_snapshot(path, orjson.loads(orjson.dumps(records, default=str)))


def test_project_ids_from_clients_never_become_paths(tmp_path: Path) -> None:
    source = hostile_capture(tmp_path / "in" / "hostile.jsonl.zst")
    export("--format", "parquet", "-o", str(tmp_path / "out"), str(source))
    assert {"in", "out"} == {p.name for p in tmp_path.iterdir()}
    projects = {p.name for p in (tmp_path / "out").rglob("project=*")}
    assert {"project=42", "project=other"} == projects
    requests = read_pyarrow(tmp_path / "out", "requests").to_pylist()
    assert {("42", "42")} | {(p, "other") for p in ["../x", "..", "ü", "1/2", "/etc", "%2e%2e", "0" * 21]} == {
        (r["project_id"], r["project"]) for r in requests
    }


HOSTILE_TIMES = ["-0044-03-15T00:00:00+00:00", "infinity", "-infinity", "294247-01-01T00:00:00+00:00", "0000-01-01"]


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    received_at=st.one_of(
        st.sampled_from(HOSTILE_TIMES),
        st.integers(-300000, 300000).map(lambda year: f"{year:04d}-06-01T12:00:00+00:00"),
    )
)
def test_a_hostile_received_at_is_a_sane_day_or_the_default_partition(
    tmp_path_factory: pytest.TempPathFactory, received_at: str
) -> None:
    base = tmp_path_factory.mktemp("hday")
    plain = make_record()
    odd = make_record()
    odd["received_at"] = received_at
    write_snapshot(base / "s" / "cap.jsonl.zst", orjson.loads(orjson.dumps([plain, odd], default=str)))
    export("--format", "parquet", "-o", str(base / "out"), str(base / "s"))
    days = {p.name for p in (base / "out" / "requests").iterdir()}
    assert all(re.fullmatch(r"day=(\d{4}-\d{2}-\d{2}|__HIVE_DEFAULT_PARTITION__)", d) for d in days), days
    assert 2 == read_pyarrow(base / "out", "requests").num_rows


def test_files_are_owner_only_and_a_full_directory_needs_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with umask(0):
        export("--format", "parquet", "-o", str(out), str(SAMPLES))
    for path in [out, *out.rglob("*")]:
        assert (0o700 if path.is_dir() else 0o600) == mode(path), path
    before = (out / MANIFEST).read_bytes()
    assert "not empty" in export("--format", "parquet", "-o", str(out), str(SAMPLES), code=3)
    assert before == (out / MANIFEST).read_bytes()
    export("--format", "parquet", "--overwrite", "-o", str(out), "--item-type", "transaction", str(SAMPLES))
    assert orjson.loads((out / MANIFEST).read_bytes())["source"]["filtered"] is True


def test_filters_apply_first_and_leave_no_temporary_copy(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    source = hostile_capture(tmp_path / "in" / "hostile.jsonl.zst")
    export("--format", "parquet", "-o", str(tmp_path / "out"), "--project", "42", str(source))
    requests = read_pyarrow(tmp_path / "out", "requests").to_pylist()
    assert [("42", None)] == [(r["project"], r["file"]) for r in requests]  # file: not the temporary selection
    assert [] == list(scratch.iterdir())
    manifest = orjson.loads((tmp_path / "out" / MANIFEST).read_bytes())
    assert {"files": [str(source)], "filtered": True, "redacted": None} == manifest["source"]
    assert 1 == manifest["tables"]["requests"]["rows"]


def decoded_values(directory: Path) -> str:
    """Every value of every Parquet file under ``directory``, decoded, as one text."""
    import pyarrow.parquet as pq

    files = sorted(directory.rglob("*.parquet"))
    assert files
    return "\n".join(repr(pq.read_table(path).to_pylist()) for path in files)


def test_redact_leaves_no_planted_personal_data_in_any_parquet_file(tmp_path: Path) -> None:
    source = planted(tmp_path / "in.jsonl.zst")
    out = tmp_path / "out"
    export("--format", "parquet", "--redact", "-o", str(out), str(source), env={"SENTRY_MIRROR_REDACT_KEY": KEY})
    values = decoded_values(out)
    assert "event" in values  # the tables hold the records
    assert [] == [s for s in PLANTED if s in values]
    assert base64.b64encode(EMAIL.encode()).decode() not in values
    assert [] == [s for s in PLANTED if any(s.encode() in p.read_bytes() for p in out.rglob("*.parquet"))]
    redacted = orjson.loads((out / MANIFEST).read_bytes())["source"]["redacted"]
    assert "builtin" == redacted["engine"] and redacted["key_id"]


def test_unredacted_export_does_hold_the_planted_data(tmp_path: Path) -> None:
    """The check above can fail: without --redact the same search finds the planted values."""
    source = planted(tmp_path / "in.jsonl.zst")
    export("--format", "parquet", "-o", str(tmp_path / "out"), str(source))
    assert EMAIL in decoded_values(tmp_path / "out")


def test_without_duckdb_it_says_what_to_install_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "duckdb", None)  # import duckdb fails as if it were not installed
    output = export("--format", "parquet", "-o", str(tmp_path / "out"), "--sdk", "x", str(SAMPLES), code=3)
    assert "pip install 'sentry-mirror[sql]'" in output
    assert [] == list(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--overwrite", "-o", "x.jsonl.zst"], "--overwrite goes with --format parquet"),
        (["--format", "parquet"], "give -o DIR"),
        (["--format", "parquet", "-o", "d", "--envelopes", "e"], "give -o DIR"),
        (["--format", "parquet", "-o", "d", "--redact-key-file", __file__], "go with --redact"),
    ],
)
def test_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    output = export(*args, str(SAMPLES), code=2)
    assert message in output


# docs/parquet.md: the schema block is generated from the views (run this module to rewrite it)
BEGIN, END = "<!-- schema: generated by tests/ui/test_export_parquet.py -->\n", "<!-- /schema -->\n"


def schema_markdown() -> str:
    """Each table's columns as exported: name and DuckDB type (what DESCRIBE gives)."""
    blocks = []
    with duck.connect(ExpandedPaths(), needs=sql.VIEW_NAMES) as session:
        for table in sql.VIEW_NAMES:
            _, columns = exported_select(session.run, table)
            rows = "\n".join(f"| `{name}` | `{kind}` |" for name, kind in columns)
            blocks.append(f"### `{table}`\n\n| Column | Type (DuckDB) |\n|---|---|\n{rows}\n")
    return BEGIN + "\n".join(blocks) + END


def test_docs_list_every_column_of_every_table() -> None:
    text = DOC.read_text()
    assert BEGIN in text and END in text
    documented = BEGIN + text.split(BEGIN, 1)[1].split(END, 1)[0] + END
    assert schema_markdown() == documented, "run: python tests/ui/test_export_parquet.py (it rewrites docs/parquet.md)"


if __name__ == "__main__":
    current = DOC.read_text()
    head, rest = current.split(BEGIN, 1)
    DOC.write_text(head + schema_markdown() + rest.split(END, 1)[1])
    print(f"rewrote the schema in {DOC}")


@pytest.mark.parametrize("options", [(), ("--sdk", "x")])
def test_no_snapshot_files_is_one_warning(tmp_path: Path, options: tuple[str, ...]) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    result = cli_run("export", "--format", "parquet", "-o", str(tmp_path / "out"), *options, str(empty))
    assert 0 == result.exit_code, result.output
    assert 1 == result.stderr.count(f"no snapshot files in {empty}")
