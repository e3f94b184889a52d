"""Beyond one machine (docs/scaling.md): three real listeners, each its own process on its
own port, write into one shared directory while real sentry-sdk senders (processes of their
own) feed them at the same time; stopped with SIGINT. Then the union is read: each writer
has its own file, ``report`` counts the sum of what was sent, ``sql`` counts the same over
the union, and the Parquet export read back with pyarrow and with DuckDB agrees with both.
The listeners served at the same time by construction: the test sends each one a request
once all three are up, before the senders, and another after the senders, and checks the
received times overlap. Over the union, ``report``, ``group`` and ``export`` (snapshot and
Parquet) with ``--jobs 2`` write what ``--jobs 1`` writes."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import require_duckdb

APP = Path(__file__).with_name("scaling_app.py")
DSN_LINE = re.compile(r"DSN\s+(http://\S+)")
LISTENERS = 3
SENDERS_PER_LISTENER = 2
ROUNDS = 6


def _environment() -> dict[str, str]:
    """This environment without Sentry's or the mirror's own settings."""
    return {k: v for k, v in os.environ.items() if not k.upper().startswith("SENTRY_")}


def mirror(*args: str) -> subprocess.CompletedProcess[str]:
    """``sentry-mirror ARGS`` as its own process; it must succeed."""
    done = subprocess.run(
        [sys.executable, "-m", "sentry_mirror", *args], capture_output=True, text=True, timeout=300, env=_environment()
    )
    assert 0 == done.returncode, done.stderr
    return done


@dataclass(frozen=True)
class Capture:
    directory: Path
    pids: list[int]  # the listeners'
    sent: list[dict[str, Any]]  # every request the senders made: its item types and status, and the project

    @property
    def types(self) -> Counter[str]:
        return Counter(t for request in self.sent for t in request["types"])


def _start_listener(directory: Path) -> tuple[subprocess.Popen[str], str]:
    argv = [sys.executable, "-m", "sentry_mirror", "listen", "--port", "0", "--dir", str(directory), "--quiet"]
    listener = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_environment())
    assert listener.stdout is not None
    for line in listener.stdout:  # the banner: the DSN first
        if match := DSN_LINE.search(line):
            return listener, match.group(1)
    raise AssertionError(f"the listener exited before printing its DSN: {listener.communicate()}")


def _stop(listener: subprocess.Popen[str]) -> str:
    """SIGINT, as Ctrl-C would: the listener finishes and exits 0; its output."""
    listener.send_signal(signal.SIGINT)
    out, err = listener.communicate(timeout=60)
    assert 0 == listener.returncode, err
    return out


def _bracket(dsns: list[str]) -> list[dict[str, Any]]:
    """One client report to each listener (project 1), as the SDK would send it; what was sent."""
    sent = []
    for dsn in dsns:
        key, rest = dsn.removeprefix("http://").split("@", 1)
        url = f"http://{rest.rsplit('/', 1)[0]}/api/1/envelope/?sentry_key={key}"
        item = json.dumps(
            {"timestamp": time.time(), "discarded_events": [{"reason": "x", "category": "error", "quantity": 1}]}
        )
        body = f'{{"sent_at": null}}\n{{"type": "client_report", "length": {len(item)}}}\n{item}\n'.encode()
        request = urllib.request.Request(url, body, {"Content-Type": "application/x-sentry-envelope"})
        with urllib.request.urlopen(request, timeout=30) as response:
            sent.append({"types": ["client_report"], "status": response.status, "project": "1"})
    return sent


def _send(dsns: list[str], reports: Path) -> list[dict[str, Any]]:
    """Every sender at once, each to one listener and one of two projects; what they sent."""
    senders = []
    for index in range(LISTENERS * SENDERS_PER_LISTENER):
        project = str(1 + index % SENDERS_PER_LISTENER)
        dsn = dsns[index // SENDERS_PER_LISTENER].rsplit("/", 1)[0] + f"/{project}"
        report = reports / f"sender-{index}.json"
        argv = [sys.executable, str(APP), dsn, str(report), str(ROUNDS), f"sender{index}"]
        senders.append((subprocess.Popen(argv, env=_environment()), report, project))
    sent = []
    for process, report, project in senders:
        assert 0 == process.wait(timeout=180)
        sent += [{**request, "project": project} for request in json.loads(report.read_text())]
    return sent


@pytest.fixture(scope="module")
def capture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Capture]:
    directory = tmp_path_factory.mktemp("shared")
    reports = tmp_path_factory.mktemp("senders")
    listeners: list[subprocess.Popen[str]] = []
    try:
        dsns = []
        for _ in range(LISTENERS):
            listener, dsn = _start_listener(directory)
            listeners.append(listener)
            dsns.append(dsn)
        assert len(set(dsns)) == LISTENERS  # each on its own port
        sent = _bracket(dsns)  # all three are up and serving
        sent += _send(dsns, reports)
        sent += _bracket(dsns)  # and still serving
        for listener in listeners:
            assert "stopped" in _stop(listener)
    finally:
        for listener in listeners:
            if listener.poll() is None:
                listener.kill()
                listener.communicate()
    yield Capture(directory, [listener.pid for listener in listeners], sent)


def test_each_listener_wrote_its_own_file(capture: Capture) -> None:
    files = sorted(capture.directory.iterdir())
    assert LISTENERS == len(files)
    assert sorted(capture.pids) == sorted(int(re.search(r"-(\d+)\.jsonl\.zst$", f.name)[1]) for f in files)  # type: ignore[index]


def test_report_over_the_union_counts_everything_sent(capture: Capture) -> None:
    assert {200} == {request["status"] for request in capture.sent}
    types = capture.types
    assert ROUNDS * LISTENERS * SENDERS_PER_LISTENER == types["event"] == types["transaction"]
    assert types["session"] > 0

    traffic = json.loads(mirror("report", "--format", "json", "--section", "traffic", str(capture.directory)).stdout)[
        "traffic"
    ]
    assert len(capture.sent) == traffic["requests"] == traffic["accepted"]
    assert sum(types.values()) == traffic["items"]
    assert types == Counter(traffic["items_by_type"])
    assert Counter(request["project"] for request in capture.sent) == Counter(traffic["by_project"])


def sql_rows(capture: Capture, statement: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = json.loads(mirror("sql", str(capture.directory), "-c", statement, "--json").stdout)
    return rows


def test_sql_over_the_union_counts_everything_sent(capture: Capture) -> None:
    require_duckdb()
    by_project = sql_rows(capture, "SELECT project, count(*) AS n FROM requests GROUP BY project")
    assert Counter(request["project"] for request in capture.sent) == {row["project"]: row["n"] for row in by_project}
    types = sql_rows(capture, "SELECT type, count(*) AS n FROM items GROUP BY type")
    assert capture.types == {row["type"]: row["n"] for row in types}
    events = sql_rows(capture, "SELECT count(*) AS n, count(DISTINCT release) AS releases FROM events")
    assert [{"n": capture.types["event"], "releases": LISTENERS * SENDERS_PER_LISTENER}] == events
    files = sql_rows(capture, "SELECT count(DISTINCT file) AS n FROM requests")
    assert [{"n": LISTENERS}] == files


def test_the_parquet_export_of_the_union_agrees(capture: Capture, tmp_path: Path) -> None:
    require_duckdb()
    import duckdb
    import pyarrow as pa
    import pyarrow.dataset as ds

    lake = tmp_path / "lake"
    mirror("export", "--format", "parquet", "-o", str(lake), str(capture.directory))
    partitioning = ds.partitioning(pa.schema([("day", pa.date32()), ("project", pa.string())]), flavor="hive")
    con = duckdb.connect()
    counts: dict[str, Counter[str]] = {}
    for table, column in [("requests", "project"), ("items", "type"), ("events", "project")]:
        arrow = Counter(
            ds.dataset(lake / table, format="parquet", partitioning=partitioning).to_table()[column].to_pylist()
        )
        files = str(lake / table / "*" / "*" / "*.parquet")
        rows = con.execute(
            f"SELECT {column}, count(*) FROM read_parquet(?, hive_partitioning = true, "
            "hive_types = {'day': DATE, 'project': VARCHAR}) GROUP BY ALL",
            [files],
        ).fetchall()
        assert arrow == dict(rows), table
        counts[table] = arrow
    assert Counter(request["project"] for request in capture.sent) == counts["requests"]
    assert capture.types == counts["items"]
    assert capture.types["event"] == sum(counts["events"].values())


def test_the_listeners_served_at_the_same_time(capture: Capture) -> None:
    require_duckdb()
    spans = sql_rows(
        capture, "SELECT file, min(received_at) AS first, max(received_at) AS last FROM requests GROUP BY file"
    )
    assert LISTENERS == len(spans)
    assert max(row["first"] for row in spans) < min(row["last"] for row in spans)


@pytest.mark.parametrize(
    "command",
    [
        ["report", "--format", "json"],
        ["group", "--json"],
        ["export", "-o", "{out}/capture.jsonl.zst"],
        ["export", "--format", "parquet", "-o", "{out}/lake"],
    ],
)
def test_jobs_2_writes_what_jobs_1_writes(capture: Capture, tmp_path: Path, command: list[str]) -> None:
    if "parquet" in command:
        require_duckdb()
    outputs = []
    for jobs in ("1", "2"):
        out = tmp_path / f"jobs{jobs}"
        out.mkdir()
        done = mirror(*[arg.format(out=out) for arg in command], "--jobs", jobs, str(capture.directory))
        files = {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
        outputs.append((done.stdout.replace(str(out), "OUT"), files))
    assert outputs[0] == outputs[1]
    assert outputs[0][0] or outputs[0][1]
