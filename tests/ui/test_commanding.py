"""What ``probe`` and ``run`` share (sentry_mirror.ui.commanding): best-effort stderr, how the
command ended in words, the settle-cut warning, --timeout's check, the banner."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from rich.console import Console

from sentry_mirror.errors import ExitCode
from sentry_mirror.io.listener import Stopped
from sentry_mirror.io.probe import Probed
from sentry_mirror.ui.commanding import (
    BestEffort,
    ended,
    left_behind,
    masked,
    positive,
    sent_nothing,
    settle_cut,
    signal_name,
)

MIRROR = [sys.executable, "-m", "sentry_mirror"]


def probed(
    code: int | None, *, timed_out: bool = False, interrupted: bool = False, records: int = 1, **more: Any
) -> Probed:
    stopped = Stopped(records=records, files=(Path("snapshots/a.jsonl.zst"),))
    return Probed(
        ("app",), "http://mirror@127.0.0.1:1/1", code, stopped, timed_out=timed_out, interrupted=interrupted, **more
    )


@pytest.mark.parametrize("command", ["run", "probe"])
def test_a_closed_stderr_pipe_neither_stops_the_command_nor_changes_its_code(tmp_path: Path, command: str) -> None:
    marker = tmp_path / "ran"
    reader, writer = os.pipe()
    os.close(reader)  # nobody reads stderr: every write to it is EPIPE
    try:
        done = subprocess.run(
            [*MIRROR, command, "--dir", str(tmp_path), "--settle", "0.1", "--", "sh", "-c", f"touch {marker}; exit 7"],
            stderr=writer,
            stdout=subprocess.DEVNULL,
            timeout=60,
        )
    finally:
        os.close(writer)
    assert marker.exists()  # the banner's failed write did not stop CMD from starting
    assert done.returncode == (7 if command == "run" else ExitCode.CHECK_FAILED)


def test_run_json_with_stderr_closed_runs_the_command_and_prints_its_json(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    argv = [*MIRROR, "run", "--json", "--dir", str(tmp_path), "--settle", "0.1", "--"]
    argv += ["sh", "-c", f"touch {marker}; exit 7"]
    done = subprocess.run(argv, stdout=subprocess.PIPE, text=True, timeout=60, pass_fds=(), stderr=subprocess.DEVNULL,
                          preexec_fn=lambda: os.close(2))  # fmt: skip
    assert done.returncode == 7
    assert marker.exists()
    assert '"command_exit_code": 7' in done.stdout


def test_best_effort_drops_what_it_cannot_write_and_points_fd_2_at_dev_null(tmp_path: Path) -> None:
    code = (
        "import os, sys\n"
        "from sentry_mirror.ui.commanding import diagnostics\n"
        "err = diagnostics()\n"
        "err.print('lost')\n"
        "os.write(2, b'x')\n"  # fd 2 is /dev/null now: no EPIPE
        "print('went on', flush=True)\n"
    )
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run(
            [sys.executable, "-c", code], stderr=writer, stdout=subprocess.PIPE, text=True, timeout=60
        )
    finally:
        os.close(writer)
    assert (done.returncode, done.stdout) == (0, "went on\n")


def test_best_effort_writes_through_while_it_can(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stderr", out)
    stream = BestEffort()
    assert stream.write("said") == 4
    assert (out.getvalue(), stream.isatty()) == ("said", False)


def test_best_effort_without_stderr_says_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stderr", None)
    stream = BestEffort()
    assert (stream.write("lost"), stream.isatty(), stream.encoding) == (4, False, "utf-8")
    with pytest.raises(io.UnsupportedOperation):
        stream.fileno()


@pytest.mark.parametrize(
    ("code", "timed_out", "expected"),
    [
        (0, False, "app exited 0"),
        (3, False, "app exited 3"),
        (-signal.SIGTERM, False, "app was ended by SIGTERM"),
        (-signal.SIGTERM, True, "app did not end within --timeout: stopped by SIGTERM"),
        (0, True, "app did not end within --timeout: exited 0 once stopped"),
        (None, False, "app was not run (interrupted first)"),
        (-(signal.SIGRTMIN + 1), False, f"app was ended by signal {signal.SIGRTMIN + 1}"),
    ],
)
def test_ended_says_how_the_command_ended(code: int | None, timed_out: bool, expected: str) -> None:
    assert ended(probed(code, timed_out=timed_out)) == expected


def test_signal_name_names_what_python_names() -> None:
    assert (signal_name(signal.SIGKILL), signal_name(signal.SIGRTMIN + 1)) == (
        "SIGKILL",
        f"signal {signal.SIGRTMIN + 1}",
    )


def test_positive_refuses_0_and_less() -> None:
    assert positive(click.Context(click.Command("x")), click.Option(["--timeout"]), 2.0) == 2.0
    with pytest.raises(click.BadParameter, match="must be more than 0"):
        positive(click.Context(click.Command("x")), click.Option(["--timeout"]), 0)


def test_sent_nothing_is_said_unless_something_came_or_it_was_interrupted() -> None:
    out = io.StringIO()
    console = Console(file=out, width=300)
    assert sent_nothing(console, probed(0, records=0)) is True
    assert "app sent nothing to SENTRY_DSN: does its SDK read it?" in out.getvalue()
    assert sent_nothing(console, probed(0, records=2)) is False
    assert sent_nothing(console, probed(None, records=0, interrupted=True)) is False


def test_the_settle_cut_says_the_group_was_killed_and_whether_a_sender_escaped_it() -> None:
    assert settle_cut(probed(0)) is None
    killed = "requests kept arriving 31 s after app ended (a process it left behind?): its process group was killed"
    assert settle_cut(probed(0, settle_cut=31.2)) == killed
    assert settle_cut(probed(0, settle_cut=31.2, escaped=True)) == (
        killed + "; requests still came after that, from a process outside it (one that called setsid()?), not stopped"
    )


def test_what_was_left_running_is_said() -> None:
    assert left_behind(probed(0)) is None
    assert left_behind(probed(0, left_behind=True)) == (
        "app left processes running in its process group: stopped once its requests settled"
    )


def test_a_sentry_dsn_set_before_is_replaced_and_said_without_its_key(tmp_path: Path) -> None:
    code = "import os; print(os.environ['SENTRY_DSN'])"
    env = {**os.environ, "SENTRY_DSN": "https://secretkey@o1.ingest.sentry.io/2"}
    argv = [*MIRROR, "run", "--dir", str(tmp_path), "--settle", "0.1", "--", sys.executable, "-c", code]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)
    assert done.stdout.startswith("http://mirror@127.0.0.1:")
    assert "  replaces SENTRY_DSN=https://***@o1.ingest.sentry.io/2 for the command" in done.stderr
    assert "secretkey" not in done.stderr


@pytest.mark.parametrize(
    ("dsn", "shown"),
    [
        ("https://key:secret@host.test:9000/5", "https://***@host.test:9000/5"),
        ("http://host.test/1?x=key", "http://host.test/1"),
        ("http://[::1", "***"),
    ],
)
def test_masked_hides_what_comes_before_the_host(dsn: str, shown: str) -> None:
    assert masked(dsn) == shown


def test_probe_help_lists_dir_after_the_script_options_as_it_always_did() -> None:
    done = subprocess.run([*MIRROR, "probe", "--help"], capture_output=True, text=True, timeout=60)
    options = [line.split()[0] for line in done.stdout.splitlines() if line.startswith("  --")]
    assert options == ["--scenario", "--script", "--seed", "--dir", "--project", "--json", "--settle", "--timeout"]
