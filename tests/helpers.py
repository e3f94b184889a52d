"""Small helpers shared by tests."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import pty
import select
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def require_relay() -> None:
    """Sentry's own scrubber (the optional ``sentry-relay`` wheel): CI installs it (the test
    extras), so there a missing one fails; elsewhere the test skips saying what to install."""
    if importlib.util.find_spec("sentry_relay") is not None:
        return
    message = "sentry-relay is not installed: pip install 'sentry-mirror[relay]'"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (required in CI: the test extras install it)")
    pytest.skip(message)


def mode(path: Path) -> int:
    """The permission bits of ``path`` itself (a symlink's own)."""
    return stat.S_IMODE(path.lstat().st_mode)


@contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent to reap it does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def gone_soon(pid: int, seconds: float = 15.0) -> bool:
    """Whether ``pid`` stops running within ``seconds``."""
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


#: An app that writes a line into a file for each SIGINT it gets, and exits 130 a second after the first.
COUNTING = """
    import signal, sys, time
    got = []
    def count(signum, frame):
        open(sys.argv[1], "a").write("SIGINT\\n")
        got.append(signum)
    signal.signal(signal.SIGINT, count)
    print("ready", flush=True)
    while not got:
        time.sleep(0.05)
    time.sleep(1)
    sys.exit(130)
"""


def in_a_terminal(argv: list[str], key: bytes, seconds: float = 30) -> int:
    """Run ``argv`` with a pty as its controlling terminal, type ``key`` once the command said
    ``ready``, and return its wait status once every process left the terminal."""
    pid, terminal = pty.fork()
    if pid == 0:  # the child: a session of its own with the pty as its controlling terminal
        os.execv(sys.executable, argv)
    try:
        read_until(terminal, b"\nready")  # the app's line (the banner quotes its code)
        os.write(terminal, key)
        read_until(terminal, None, seconds)
        return os.waitpid(pid, 0)[1]
    finally:
        with contextlib.suppress(ChildProcessError, ProcessLookupError):
            if os.waitpid(pid, os.WNOHANG) == (0, 0):
                os.killpg(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        os.close(terminal)


def read_until(terminal: int, wanted: bytes | None, seconds: float = 30) -> None:
    """Read the terminal until ``wanted`` came (None: until every process left it)."""
    output = b""
    deadline = time.monotonic() + seconds
    while wanted is None or wanted not in output:
        assert time.monotonic() < deadline, output
        if not select.select([terminal], [], [], 0.5)[0]:
            continue
        try:
            data = os.read(terminal, 4096)
        except OSError:  # EIO: every process holding the terminal has gone
            data = b""
        if not data:
            assert wanted is None, output
            return
        output += data


def end(process: subprocess.Popen[str], *pid_files: Path) -> None:
    """In a test's finally: the probe's session and the processes named in ``pid_files``, killed if still there."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    for pid_file in pid_files:
        with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
            os.kill(int(pid_file.read_text()), signal.SIGKILL)
    process.wait(timeout=30)
    for stream in (process.stdout, process.stderr):
        if stream is not None:
            stream.close()


def require_duckdb() -> None:
    """DuckDB (the ``sql`` extra, also in the test extras): CI installs it, so there a missing
    one fails; elsewhere the test skips saying what to install."""
    if importlib.util.find_spec("duckdb") is not None:
        return
    message = "duckdb is not installed: pip install 'sentry-mirror[sql]'"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (required in CI: the test extras install it)")
    pytest.skip(message)
