"""``listen --workers``: the option's values, and what cannot go with more than one worker
(the listener itself runs in tests/io/test_workers.py)."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from click.testing import CliRunner

from sentry_mirror.ui.cli import cli

ENV = {"COLUMNS": "200", "NO_COLOR": "1"}


def listen(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["listen", "--port", "0", "--dir", str(tmp_path / "s"), *args], env=ENV)
    return result.exit_code, " ".join(result.output.split())


def test_help_offers_workers() -> None:
    result = CliRunner().invoke(cli, ["listen", "--help"], env=ENV)
    assert "--workers COUNT" in result.output


@pytest.mark.parametrize(
    ("value", "says"),
    [
        ("0", "must be between 1 and 256 (or auto)"),
        ("257", "must be between 1 and 256 (or auto)"),
        ("lots", "'lots' is not a count: a whole number such as 2, or auto"),
        ("", "is not a count"),
    ],
)
def test_a_bad_count_is_a_usage_error(tmp_path: Path, value: str, says: str) -> None:
    code, output = listen(tmp_path, "--workers", value)
    assert 2 == code
    assert says in output
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize("args", [("--scenario", "outage:30s"), ("--scenario", "flaky:0.5", "--seed", "3")])
def test_scripted_answers_are_refused_with_workers(tmp_path: Path, args: tuple[str, ...]) -> None:
    code, output = listen(tmp_path, "--workers", "2", *args)
    assert 2 == code
    assert "--script/--scenario go with --workers 1: a script runs on one clock over one sequence of requests" in output
    assert not (tmp_path / "s").exists()


def test_a_port_in_use_is_refused_before_any_worker_starts(tmp_path: Path) -> None:
    """SO_REUSEPORT must not let two listeners share a port by accident (here one with
    SO_REUSEPORT too, as another ``--workers`` listener): a plain bind is tried first."""
    with socket.socket() as taken:
        if hasattr(socket, "SO_REUSEPORT"):
            taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(
            cli, ["listen", "--port", str(port), "--dir", str(tmp_path / "s"), "--workers", "2"], env=ENV
        )
    assert 3 == result.exit_code
    assert f"Error: cannot listen on 127.0.0.1:{port}:" in result.output
    assert "Traceback" not in result.output


def test_workers_that_cannot_start_stop_the_listener_with_their_reason(tmp_path: Path) -> None:
    """A snapshot directory that cannot be made: the workers' own error, once, exit 3."""
    (tmp_path / "file").write_text("")
    result = CliRunner().invoke(
        cli, ["listen", "--port", "0", "--dir", str(tmp_path / "file" / "s"), "--workers", "2", "--quiet"], env=ENV
    )
    assert 3 == result.exit_code
    assert 1 == result.output.count("Error: snapshot directory: cannot create directory")
    assert "DSN" not in result.output and "Traceback" not in result.output
