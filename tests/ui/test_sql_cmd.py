"""`sentry-mirror sql`: a table, JSON or CSV; statements from -c, stdin or a prompt; every
documented query runs; bad statements exit 2, Ctrl-C 130; captured text shown escaped."""

from __future__ import annotations

import csv
import io
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from sentry_mirror.core.sql import VIEW_NAMES
from sentry_mirror.io import duck
from sentry_mirror.io.snapshot import iter_records
from sentry_mirror.ui.cli import cli
from tests.factories import SNAPSHOTS, make_answer, make_event, make_event_record, make_record, write_snapshot
from tests.helpers import require_duckdb
from tests.io.sql_reference import sdk_capture

ENV = {"COLUMNS": "250", "NO_COLOR": "1"}
REPO = Path(__file__).resolve().parents[2]
DOC = REPO / "docs" / "sql.md"
SAMPLES = [str(SNAPSHOTS / f"sample-{name}.jsonl.zst") for name in ("python", "node", "browser")]


def run(*args: str, input: str | None = None) -> Any:
    require_duckdb()
    return CliRunner().invoke(cli, ["sql", *args], env=ENV, input=input)


def test_a_table_of_the_answer() -> None:
    result = run(*SAMPLES, "-c", "SELECT sdk, count(*) AS errors FROM events GROUP BY sdk ORDER BY sdk")
    assert result.exit_code == 0, result.output
    assert re.search(r"sentry\.javascript\.browser\s*│\s*3\s*│", result.output)
    assert "3 rows" in result.output


def test_json_is_an_array_of_objects_with_iso_times_and_nested_json() -> None:
    result = run(*SAMPLES, "--json", "-c", "SELECT event_id, received_at, user, day FROM events ORDER BY event_id")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    expected = sorted(r.data["received_at"] for r in iter_records(SAMPLES) if r.data["summary"]["event_id"])
    assert len(rows) == 21
    assert {row["received_at"] for row in rows} <= set(expected)
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z", row["received_at"]) for row in rows)
    assert any(isinstance(row["user"], dict) and row["user"].get("id") == "42" for row in rows)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d", rows[0]["day"])


def test_json_keeps_integers_beyond_64_bits_in_json_columns_exact() -> None:
    big = "123456789012345678901234567890"
    query = f"""SELECT '{{"a": {big}, "b": [-{big}, 1.5, "{big}"], "c": 18446744073709551615}}'::JSON AS j"""
    result = run(SAMPLES[0], "--json", "-c", query)
    assert result.exit_code == 0, result.output
    assert [{"j": {"a": int(big), "b": [-int(big), 1.5, big], "c": 2**64 - 1}}] == json.loads(result.output)


def test_csv_has_a_header_and_every_row() -> None:
    result = run(*SAMPLES, "--csv", "-c", "SELECT id, endpoint, headers FROM requests ORDER BY id")
    assert result.exit_code == 0, result.output
    rows = list(csv.reader(io.StringIO(result.output)))
    assert ["id", "endpoint", "headers"] == rows[0]
    assert sorted(r.id for r in iter_records(SAMPLES)) == [row[0] for row in rows[1:]]
    assert isinstance(json.loads(rows[1][2]), list)


def test_statements_from_stdin_each_give_their_result() -> None:
    result = run(*SAMPLES, "--csv", input="SELECT count(*) AS n FROM requests;\nSELECT 'a;b' AS s;\n")
    assert result.exit_code == 0, result.output
    assert "n\n31\ns\na;b\n" == result.output


def test_a_bad_statement_is_duckdbs_message_and_exit_2() -> None:
    result = run(*SAMPLES, "-c", "SELECT * FROM no_such_view")
    assert result.exit_code == 2
    assert "Catalog Error" in result.output and "no_such_view" in result.output
    assert "Traceback" not in result.output
    syntax = run(*SAMPLES, "-c", "SELEC 1")
    assert syntax.exit_code == 2 and "Parser Error" in syntax.output


def test_max_rows_cuts_the_table_and_says_so() -> None:
    result = run(*SAMPLES, "--max-rows", "2", "-c", "SELECT id FROM requests")
    assert result.exit_code == 0
    assert "31 rows, 29 not shown (--max-rows 0 shows all)" in result.output
    assert len(re.findall(r"│ [0-9a-f]{32} │", result.output)) == 2


def test_captured_text_reaches_the_terminal_escaped(tmp_path: Path) -> None:
    hostile = make_event(message="\x1b[2Jgone\u202eevil[bold]x[/bold]", exception=None)
    path = write_snapshot(tmp_path / "h.jsonl.zst", [make_event_record(hostile)])
    result = run(str(path), "-c", "SELECT message FROM events")
    assert result.exit_code == 0, result.output
    assert "\x1b" not in result.output and "\u202e" not in result.output
    assert "\\x1b[2Jgone\\u202eevil[bold]x[/bold]" in result.output


def test_damaged_files_warn_and_read_what_our_reader_reads(tmp_path: Path) -> None:
    data = Path(SAMPLES[1]).read_bytes()
    cut = tmp_path / "cut.jsonl.zst"
    cut.write_bytes(data[: len(data) // 2])
    result = CliRunner().invoke(cli, ["sql", str(cut), "--csv", "-c", "SELECT count(*) AS n FROM requests"], env=ENV)
    assert result.exit_code == 0
    assert f"n\n{len(list(iter_records([cut])))}\n" in result.stdout
    assert "warning:" in result.stderr and "cut.jsonl.zst" in result.stderr


def test_no_snapshot_file_is_a_warning_and_empty_views(tmp_path: Path) -> None:
    require_duckdb()
    result = CliRunner().invoke(cli, ["sql", str(tmp_path), "--csv", "-c", "SELECT count(*) AS n FROM events"], env=ENV)
    assert result.exit_code == 0
    assert "n\n0\n" == result.stdout
    assert "no snapshot files" in result.stderr


def test_without_duckdb_the_message_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "duckdb", None)
    result = CliRunner().invoke(cli, ["sql", *SAMPLES, "-c", "SELECT 1"], env=ENV)
    assert result.exit_code == 3
    assert "pip install 'sentry-mirror[sql]'" in result.output


def test_answers_have_their_view(tmp_path: Path) -> None:
    path = write_snapshot(tmp_path / "f.jsonl.zst", [make_record(), make_answer()])
    result = run(str(path), "--csv", "-c", "SELECT target, status, delivered FROM answers")
    assert "target,status,delivered\nupstream,200,true\n" == result.output


def _doc_queries() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", DOC.read_text(), re.S)


@pytest.fixture(scope="module")
def captures(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    """A fresh real sentry-sdk capture, the committed ones, and an answer record."""
    directory = tmp_path_factory.mktemp("captures")
    answers = write_snapshot(directory / "answers.jsonl.zst", [make_answer()])
    data = REPO / "tests" / "data" / "v1-sentry-python-2.75.0.jsonl.zst"
    return [*map(str, sdk_capture(directory)), *SAMPLES, str(data), str(answers)]


@pytest.mark.parametrize("query", _doc_queries(), ids=lambda q: q.split("\n")[0][:50])
def test_every_documented_query_runs_on_real_captures(query: str, captures: list[str]) -> None:
    result = run(*captures, "--json", "-c", query)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output), "every example finds rows in the committed captures"


def test_the_documented_columns_are_the_views() -> None:
    require_duckdb()
    documented: dict[str, list[tuple[str, str]]] = {}
    view = None
    for line in DOC.read_text().splitlines():
        if heading := re.fullmatch(r"### `(\w+)`", line):
            view = heading.group(1)
            documented[view] = []
        elif view and (row := re.match(r"\| `(\w+)` \| ([A-Z]+) \|", line)):
            documented[view].append((row.group(1), row.group(2)))
    with duck.connect(SAMPLES) as session:
        actual = {
            name: [(column, kind.replace("TIMESTAMP WITH TIME ZONE", "TIMESTAMPTZ")) for column, kind in columns]
            for name, columns in session.columns().items()
        }
    assert list(VIEW_NAMES) == list(documented)
    assert actual == documented


def _spawn(args: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    main, child = pty.openpty()
    env = {**os.environ, "PYTHONPATH": str(REPO), "COLUMNS": "200", "NO_COLOR": "1", "TERM": "dumb"}
    process = subprocess.Popen(
        [sys.executable, "-m", "sentry_mirror", "sql", *args], stdin=child, stdout=child, stderr=child, env=env
    )
    os.close(child)
    return process, main


def _read_until(fd: int, marker: bytes, timeout: float = 30) -> bytes:
    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        assert left > 0, seen.decode(errors="replace")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
    return seen


def test_the_prompt_runs_statements_over_lines_and_dot_commands() -> None:
    require_duckdb()
    process, fd = _spawn(SAMPLES)
    try:
        _read_until(fd, b"sql> ")
        os.write(fd, b".tables\n")
        assert b"breadcrumbs" in _read_until(fd, b"sql> ")
        os.write(fd, b".schema spans\n")
        assert b"duration_ms" in _read_until(fd, b"sql> ")
        os.write(fd, b"SELECT count(*)\n")
        _read_until(fd, b"...> ")
        os.write(fd, b"AS n FROM requests;\n")
        assert b"31" in _read_until(fd, b"sql> ")
        os.write(fd, b"SELECT nope;\n")
        assert b"Binder Error" in _read_until(fd, b"sql> ")
        os.write(fd, b".quit\n")
        assert process.wait(timeout=30) == 0
    finally:
        process.kill()
        os.close(fd)


def test_ctrl_c_stops_the_query_and_exits_130() -> None:
    require_duckdb()
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    query = "SELECT count(*) FROM range(100000000000) WHERE hash(range) = 0"  # hours
    process = subprocess.Popen(
        [sys.executable, "-m", "sentry_mirror", "sql", *SAMPLES, "-c", query],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        time.sleep(4)
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130
    assert b"Traceback" not in err
