"""A real Bugsink for the tests: started once per test session, on 127.0.0.1.

Bugsink stands in for a candidate server (replay, ``--tee``) and for the upstream
(``listen --forward``). It is installed in its own virtualenv (its Django pins stay out of
the test one): ``.ci/run`` does it; outside CI a missing Bugsink skips the tests that need it.
Tests that count what Bugsink stored make a project of their own (:meth:`Bugsink.project`).
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
BUGSINK_KEY = "0123456789abcdef0123456789abcdef"
BUGSINK_INSTALL = "python3 -m venv .venv-bugsink && .venv-bugsink/bin/pip install bugsink==2.6.1"


def bugsink_bin() -> Path:
    """The directory holding ``bugsink-manage``: $SENTRY_MIRROR_BUGSINK_BIN, the repository's
    ``.venv-bugsink`` (what .ci/run installs) or PATH. Outside CI a missing Bugsink skips."""
    candidates = [
        os.environ.get("SENTRY_MIRROR_BUGSINK_BIN"),
        str(REPO / ".venv-bugsink" / "bin"),
        os.path.dirname(shutil.which("bugsink-manage") or ""),
    ]
    for candidate in candidates:
        if candidate and (Path(candidate) / "bugsink-manage").exists() and (Path(candidate) / "gunicorn").exists():
            return Path(candidate)
    message = f"Bugsink is not installed; install it with: {BUGSINK_INSTALL}"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (required in CI: .ci/run must install it)")
    pytest.skip(message)


@dataclass
class Bugsink:
    """A running Bugsink on 127.0.0.1; its first project's key is :data:`BUGSINK_KEY`."""

    directory: Path
    port: int
    project_id: int
    bin_dir: Path
    env: dict[str, str] = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def dsn(self) -> str:
        return f"http://{BUGSINK_KEY}@127.0.0.1:{self.port}/{self.project_id}"

    def manage(self, *args: str) -> str:
        """``bugsink-manage ARGS`` against this instance; its stdout."""
        done = subprocess.run(
            [str(self.bin_dir / "bugsink-manage"), *args],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert 0 == done.returncode, done.stderr
        return done.stdout

    def project(self, name: str | None = None) -> tuple[int, str]:
        """A new project: (its id, its DSN), for a test that counts what it stored."""
        key = uuid.uuid4().hex
        script = (
            "import uuid; from projects.models import Project; "
            f"print(Project.objects.create(name={name or key!r}, sentry_key=uuid.UUID(hex={key!r})).id)"
        )
        project_id = int(self.manage("shell", "-c", script).split()[-1])
        return project_id, f"http://{key}@127.0.0.1:{self.port}/{project_id}"

    def stored_events(self, project_id: int | None = None) -> list[str]:
        """Event ids Bugsink stored (read from its SQLite database), of one project or all."""
        query = "SELECT event_id FROM events_event"
        args: tuple[int, ...] = ()
        if project_id is not None:
            query += " WHERE project_id = ?"
            args = (project_id,)
        with closing(sqlite3.connect(self.directory / "db.sqlite3")) as db:
            return [row[0].replace("-", "") for row in db.execute(query, args)]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _configure(bin_dir: Path, directory: Path, port: int) -> None:
    subprocess.run(
        [
            str(bin_dir / "bugsink-create-conf"),
            "--template=local",
            f"--port={port}",
            "--host=127.0.0.1",
            "-o",
            "bugsink_conf.py",
        ],
        cwd=directory,
        check=True,
        capture_output=True,
        timeout=60,
    )
    with (directory / "bugsink_conf.py").open("a") as conf:
        conf.write(f'\nBUGSINK["INGEST_STORE_BASE_DIR"] = {str(directory / "ingestion")!r}\n')


def _wait_listening(server: subprocess.Popen[bytes], port: int, log: Path) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            assert server.poll() is None, log.read_text()
            assert time.monotonic() < deadline, "Bugsink did not start listening within 60 s"
            time.sleep(0.2)


@pytest.fixture(scope="session")
def bugsink(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Bugsink]:
    """Bugsink set up as its docs describe a local install: ``bugsink-create-conf --template=local``,
    migrations on SQLite, then gunicorn on 127.0.0.1. Ingestion runs in the request
    (the local template's ``TASK_ALWAYS_EAGER``), so an answered event is stored."""
    bin_dir = bugsink_bin()
    directory = tmp_path_factory.mktemp("bugsink")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(directory), "DJANGO_SETTINGS_MODULE": "bugsink_conf"}
    _configure(bin_dir, directory, port)
    instance = Bugsink(directory, port, 0, bin_dir, env)
    instance.manage("migrate", "-v0")
    instance.manage("migrate", "snappea", "--database=snappea", "-v0")
    script = (
        "import uuid; from projects.models import Project; "
        f"print(Project.objects.create(name='replay', sentry_key=uuid.UUID(hex='{BUGSINK_KEY}')).id)"
    )
    instance.project_id = int(instance.manage("shell", "-c", script).split()[-1])
    log = directory / "gunicorn.log"
    server = subprocess.Popen(
        [
            str(bin_dir / "gunicorn"),
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--no-control-socket",
            "bugsink.wsgi",
        ],
        cwd=directory,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    try:
        _wait_listening(server, port, log)
        yield instance
    finally:
        server.terminate()
        server.wait(timeout=30)
