"""io/parquet_export: DuckDB's partitioned COPY into a directory, owner-only, never outside
it, replacing only an earlier export; over hand-made views (the real ones: tests/ui/test_export_parquet.py)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentry_mirror.core import sql
from sentry_mirror.errors import MirrorError
from sentry_mirror.io import parquet_export
from sentry_mirror.io.parquet_export import MANIFEST, partitioned_select, temp_snapshot, write_parquet
from sentry_mirror.io.snapshot import iter_records
from tests.factories import make_record
from tests.helpers import mode, require_duckdb, umask


def connection(projects: list[Any]) -> Any:
    """Views like the sql ones: ``requests`` with day and project, ``items`` without (joined by request_id)."""
    require_duckdb()
    import duckdb

    con = duckdb.connect()
    for statement in sql.macro_statements():
        con.execute(statement)
    rows = [(f"r{i}", "2026-12-03" if i % 2 else "2026-12-04", project, i) for i, project in enumerate(projects)]
    con.execute("CREATE TABLE base (id VARCHAR, day DATE, project VARCHAR, n INTEGER)")
    con.executemany("INSERT INTO base VALUES (?, ?, ?, ?)", rows)
    con.execute("CREATE VIEW requests AS SELECT * FROM base")
    con.execute("CREATE VIEW items AS SELECT id AS request_id, n * 10 AS size FROM base")
    return con


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*"))


def test_tables_are_partitioned_by_day_and_project_with_a_manifest(tmp_path: Path) -> None:
    done = write_parquet(
        connection(["1", "2", "1"]).execute, ["requests", "items"], tmp_path / "out", source={"files": ["a"]}
    )
    assert {"requests": 3, "items": 3} == done.rows
    out = tmp_path / "out"
    assert {"_manifest.json", "requests", "items"} == {p.name for p in out.iterdir()}  # the staging directory is gone
    parts = {str(p.parent.relative_to(out)) for p in out.rglob("*.parquet")}
    assert {
        f"{table}/day={day}/project={project}"
        for table in ("requests", "items")
        for day, project in [("2026-12-04", "1"), ("2026-12-03", "2"), ("2026-12-04", "1")]
    } == parts
    manifest = orjson.loads((out / MANIFEST).read_bytes())
    assert "sentry-mirror-parquet" == manifest["schema"]
    assert {"files": ["a"]} == manifest["source"]
    assert ["id", "n", "day", "project"] == [c["name"] for c in manifest["tables"]["requests"]["columns"]]
    assert ["request_id", "size", "day", "project"] == [c["name"] for c in manifest["tables"]["items"]["columns"]]


def test_files_are_owner_only_whatever_the_umask(tmp_path: Path) -> None:
    with umask(0):
        write_parquet(connection(["1", "2"]).execute, ["requests", "items"], tmp_path / "out")
    entries = files_under(tmp_path / "out")
    assert entries
    for path in entries:
        assert (0o700 if path.is_dir() else 0o600) == mode(path), path
    assert 0o700 == mode(tmp_path / "out")


def test_the_umask_is_given_back(tmp_path: Path) -> None:
    with umask(0o027):
        write_parquet(connection(["1"]).execute, ["requests"], tmp_path / "out")
        assert 0o027 == os.umask(0o027)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    project=st.one_of(st.text(min_size=1, max_size=20), st.sampled_from(["../x", "../../etc", "/abs", "é/ü=%", "1/2"]))
)
def test_a_hostile_project_is_other_and_never_leaves_the_directory(tmp_path_factory: Any, project: str) -> None:
    root = tmp_path_factory.mktemp("hostile")
    write_parquet(connection([project, "7"]).execute, ["requests", "items"], root / "out")
    expected = project if project.isascii() and project.isdigit() and len(project) <= 20 else "other"
    assert {"_manifest.json", "requests", "items"} == {p.name for p in (root / "out").iterdir()}
    assert [root / "out"] == list(root.iterdir())
    projects = {p.name for p in (root / "out").rglob("project=*")}
    assert {f"project={expected}", "project=7"} == projects


def test_a_non_empty_directory_is_refused_unless_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    with pytest.raises(MirrorError, match="not empty"):
        write_parquet(connection(["1"]).execute, ["requests"], out)
    assert ["notes.txt"] == [p.name for p in out.iterdir()]
    write_parquet(connection(["1"]).execute, ["requests"], out, overwrite=True)
    assert "mine" == (out / "notes.txt").read_text()  # only an export's own entries are replaced


def test_a_file_where_the_directory_should_be_is_refused(tmp_path: Path) -> None:
    (tmp_path / "out").write_text("a file")
    with pytest.raises(MirrorError, match="not a directory"):
        parquet_export.refuse_unless_empty(tmp_path / "out", overwrite=True)


def test_overwrite_replaces_the_earlier_tables_only(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_parquet(connection(["1", "2"]).execute, ["requests", "items"], out)
    (out / "keep").mkdir()
    write_parquet(connection(["3"]).execute, ["requests"], out, overwrite=True)
    assert {"_manifest.json", "requests", "keep"} == {p.name for p in out.iterdir()}  # items was the earlier export's
    assert {"project=3"} == {p.name for p in (out / "requests").rglob("project=*")}
    assert {"requests"} == set(orjson.loads((out / MANIFEST).read_bytes())["tables"])


def ours(tables: dict[str, Any]) -> bytes:
    return orjson.dumps({"schema": "sentry-mirror-parquet", "version": 1, "tables": tables})


@pytest.mark.parametrize(
    "manifest",
    [
        b"not json",
        b"[]",
        b'{"tables": 3}',
        b'{"tables": {"src": {}}}',  # no schema: not ours
        b'{"schema": "sentry-mirror-parquet", "version": 2, "tables": {}}',
        b'{"schema": "sentry-mirror-parquet", "version": true, "tables": {}}',
        b'{"schema": "other", "version": 1, "tables": {}}',
        ours({"../x": {}}),
        ours({"src": {}}),  # not one of our tables
        b"{}",
    ],
)
def test_a_manifest_not_ours_is_refused_and_nothing_removed(tmp_path: Path, manifest: bytes) -> None:
    out = tmp_path / "out"
    (out / "src").mkdir(parents=True)
    (out / "src" / "main.py").write_text("keep")
    (out / MANIFEST).write_bytes(manifest)
    before = files_under(out)
    with pytest.raises(MirrorError, match=r"_manifest\.json is not the manifest"):
        write_parquet(connection(["1"]).execute, ["requests"], out, overwrite=True)
    assert before == files_under(out)
    assert manifest == (out / MANIFEST).read_bytes()


def test_an_earlier_manifest_names_the_tables_to_replace(tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep").mkdir()
    (out / "items" / "day=2026-12-03" / "project=1").mkdir(parents=True)
    (out / "items" / "day=2026-12-03" / "project=1" / "data_0.parquet").write_bytes(b"PAR1")
    (out / MANIFEST).write_bytes(ours({"items": {}}))
    write_parquet(connection(["1"]).execute, ["requests"], out, overwrite=True)
    assert {"_manifest.json", "requests", "keep"} == {p.name for p in out.iterdir()}


@pytest.mark.parametrize("listed", [True, False])
def test_a_directory_with_a_table_name_not_written_by_an_export_is_refused(tmp_path: Path, listed: bool) -> None:
    """A user's ``events/notes.txt``: with no manifest, with ours not listing it, or listed
    by ours but holding what DuckDB never writes: refused, naming it; nothing removed."""
    out = tmp_path / "out"
    write_parquet(connection(["1"]).execute, ["requests"], out)
    (out / "items").mkdir()
    (out / "items" / "notes.txt").write_text("precious")
    if listed:
        (out / MANIFEST).write_bytes(ours({"requests": {}, "items": {}}))
    before = files_under(out)
    with pytest.raises(MirrorError, match=r"items.* not"):
        write_parquet(connection(["2"]).execute, ["requests", "items"], out, overwrite=True)
    assert before == files_under(out)
    (out / MANIFEST).unlink()
    with pytest.raises(MirrorError, match="items"):
        write_parquet(connection(["2"]).execute, ["requests", "items"], out, overwrite=True)
    assert "precious" == (out / "items" / "notes.txt").read_text()


def test_a_symlink_inside_a_table_is_refused(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_parquet(connection(["1"]).execute, ["requests"], out)
    (tmp_path / "elsewhere").mkdir()
    (out / "requests" / "day=x").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(MirrorError, match="day=x"):
        write_parquet(connection(["1"]).execute, ["requests"], out, overwrite=True)
    assert (out / "requests" / "day=x").is_symlink()


def test_a_failure_while_moving_in_puts_the_earlier_export_back(tmp_path: Path, monkeypatch: Any) -> None:
    out = tmp_path / "out"
    write_parquet(connection(["1", "2"]).execute, ["requests", "items"], out)
    before = {p: p.read_bytes() for p in files_under(out) if p.is_file()}
    real = Path.rename

    def failing(self: Path, target: Any) -> Any:
        if Path(target) == out / "items" and ".earlier" not in str(self):
            raise OSError(28, "No space left on device")
        return real(self, target)

    monkeypatch.setattr(Path, "rename", failing)
    with pytest.raises(MirrorError, match="No space left"):
        write_parquet(connection(["3"]).execute, ["requests", "items"], out, overwrite=True)
    assert before == {p: p.read_bytes() for p in files_under(out) if p.is_file()}
    assert {"_manifest.json", "requests", "items"} == {p.name for p in out.iterdir()}


def test_overwrite_never_follows_a_symlink_where_a_table_was(tmp_path: Path) -> None:
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    write_parquet(connection(["1"]).execute, ["requests"], out)
    elsewhere.mkdir()
    (elsewhere / "precious").write_text("keep")
    shutil.rmtree(out / "requests")
    (out / "requests").symlink_to(elsewhere)
    write_parquet(connection(["1"]).execute, ["requests"], out, overwrite=True)
    assert "keep" == (elsewhere / "precious").read_text()
    assert not (out / "requests").is_symlink()


def test_a_directory_name_with_quotes_and_glob_characters(tmp_path: Path) -> None:
    out = tmp_path / "it's [a]*?"
    write_parquet(connection(["1"]).execute, ["requests"], out)
    assert ["day=2026-12-04/project=1"] == [
        str(p.parent.relative_to(out / "requests")) for p in (out / "requests").rglob("*.parquet")
    ]


def test_a_failed_export_leaves_the_directory_as_it_was(tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_parquet(connection(["1"]).execute, ["requests"], out)
    before = files_under(out)
    with pytest.raises(MirrorError, match="neither day and project"):
        con = connection(["2"])
        con.execute("CREATE VIEW odd AS SELECT 1 AS x")
        write_parquet(con.execute, ["requests", "odd"], out, overwrite=True)
    assert before == files_under(out)


def test_an_empty_table_is_an_empty_directory(tmp_path: Path) -> None:
    con = connection(["1"])
    con.execute("CREATE VIEW nothing AS SELECT * FROM requests WHERE false")
    done = write_parquet(con.execute, ["nothing"], tmp_path / "out")
    assert {"nothing": 0} == done.rows
    assert [] == list((tmp_path / "out" / "nothing").iterdir())


def test_partitioned_select_puts_day_and_project_last() -> None:
    own = partitioned_select("requests", ["day", "id", "project"])
    assert own.startswith('SELECT t."id", CASE WHEN isfinite(TRY_CAST(t.day AS DATE)) ')
    joined = partitioned_select("items", ["request_id", "project", "x"])
    assert 'SELECT t."request_id", t."x", CASE WHEN isfinite(TRY_CAST(r.day AS DATE))' in joined
    assert "ON t.request_id = r.id" in joined
    own_day = partitioned_select("answers", ["request_id", "day", "x"])
    assert "THEN TRY_CAST(t.day AS DATE) END AS day" in own_day and "r.project" in own_day


def test_a_table_with_its_own_day_takes_the_project_of_its_request(tmp_path: Path) -> None:
    con = connection(["5"])
    con.execute("CREATE VIEW answers AS SELECT id AS request_id, DATE '2020-01-01' AS day FROM base")
    write_parquet(con.execute, ["answers"], tmp_path / "out")
    assert ["day=2020-01-01/project=5"] == [
        str(p.parent.relative_to(tmp_path / "out" / "answers")) for p in (tmp_path / "out").rglob("*.parquet")
    ]


def test_temp_snapshot_is_private_and_removed_after(tmp_path: Path) -> None:
    records = [make_record(id="a" * 32), make_record(id="b" * 32)]
    with pytest.raises(RuntimeError), temp_snapshot(records) as path:
        assert 0o600 == mode(path)
        assert 0o700 == mode(path.parent)
        assert [r["id"] for r in records] == [r.data["id"] for r in iter_records([path])]
        kept = path.parent
        raise RuntimeError("boom")
    assert not kept.exists()


def test_private_umask_restores() -> None:
    with umask(0o022):
        with parquet_export.private_umask():
            assert 0o077 == os.umask(0o077)
        assert 0o022 == os.umask(0o022)


def three_frames(path: Path) -> Path:
    """A snapshot of three frames of two requests each, the middle frame damaged."""
    from sentry_mirror.io.snapshot import SnapshotWriter

    with path.open("wb") as fo:
        writer = SnapshotWriter(fo)
        ends = []
        for frame in range(3):
            writer.write([make_record(id=f"{frame}{i}".rjust(32, "a")) for i in range(2)])
            writer.finish_frame()
            ends.append(fo.tell())
    data = bytearray(path.read_bytes())
    middle = (ends[0] + ends[1]) // 2
    for index in range(middle - 4, middle + 4):
        data[index] ^= 0x55
    path.write_bytes(data)
    return path


def test_a_frame_damaged_under_a_copy_is_read_clean_and_the_copy_starts_over(tmp_path: Path) -> None:
    """The damage is met by DuckDB during the COPY itself (nothing read it before): the
    session copies the file clean, with the readers' warning, and runs the COPY again."""
    require_duckdb()
    from sentry_mirror.io import duck

    warnings: list[str] = []
    with duck.connect([three_frames(tmp_path / "in.jsonl.zst")], on_warning=warnings.append) as session:
        done = write_parquet(session.run, ["requests"], tmp_path / "out")
    assert any("damaged" in w for w in warnings)
    assert {"requests": 4} == done.rows
    import pyarrow.dataset as ds

    ids = ds.dataset(tmp_path / "out" / "requests", format="parquet", partitioning="hive").to_table()["id"]
    assert sorted(f"{f}{i}".rjust(32, "a") for f in (0, 2) for i in range(2)) == sorted(ids.to_pylist())


def test_the_files_are_the_same_whatever_threads_the_connection_has(tmp_path: Path) -> None:
    """A million rows over a table DuckDB scans in parallel: with four threads its COPY
    would write them in the order the threads finish."""
    require_duckdb()
    import duckdb

    def digests(threads: int, name: str) -> dict[str, bytes]:
        con = duckdb.connect(config={"threads": threads})
        for statement in sql.macro_statements():
            con.execute(statement)
        con.execute("CREATE TABLE base AS SELECT * FROM range(1000000) t(i)")
        con.execute(
            "CREATE VIEW requests AS SELECT 'r' || i AS id, DATE '2026-12-01' + (i % 3)::INTEGER AS day, "
            "(i % 5)::VARCHAR AS project, i AS n FROM base"
        )
        write_parquet(con.execute, ["requests"], tmp_path / name)
        assert ("1",) == con.execute("SELECT current_setting('threads')::VARCHAR").fetchone()
        return {str(p.relative_to(tmp_path / name)): p.read_bytes() for p in (tmp_path / name).rglob("*.parquet")}

    one = digests(1, "one")
    assert 15 == len(one)
    assert one == digests(4, "four") == digests(4, "four-again")


def test_duckdb_spills_to_the_private_directory_beyond_its_memory_limit(tmp_path: Path) -> None:
    """The export's session: DuckDB holds at most 512 MB (then spills to the session's
    owner-only temporary directory), whatever the machine's memory."""
    require_duckdb()
    from sentry_mirror.io import duck

    with duck.connect([three_frames(tmp_path / "in.jsonl.zst")]) as session:
        write_parquet(session.run, ["requests"], tmp_path / "out")
        ((limit, spill),) = session.con.execute(
            "SELECT current_setting('memory_limit'), current_setting('temp_directory')"
        ).fetchall()
        assert limit in ("488.2 MiB", "512.0 MB"), limit
        assert 0o700 == mode(Path(spill).parent)
