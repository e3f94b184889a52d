"""The CLI: help, option parsing, error mapping, and the listener's live line."""

from __future__ import annotations

import io
import re
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from rich.console import Console

from sentry_mirror import __version__
from sentry_mirror.errors import CheckFailed, ExitCode, MirrorError
from sentry_mirror.ui import render
from sentry_mirror.ui.cli import cli
from tests.factories import EVENT_ID, T0, make_envelope, make_event, make_record, make_request

ENV = {"COLUMNS": "120", "NO_COLOR": "1"}


def run(*args: str) -> object:
    return CliRunner().invoke(cli, list(args), env=ENV, catch_exceptions=False)


def test_version() -> None:
    result = run("--version")
    assert (0, f"sentry-mirror, version {__version__}\n") == (result.exit_code, result.output)


def test_listen_help_names_every_option() -> None:
    result = run("listen", "--help")
    assert 0 == result.exit_code
    for option in (
        "--host",
        "--port",
        "--dir",
        "--rotate-size",
        "--rotate-every",
        "--fsync",
        "--key",
        "--tunnel",
        "--max-body",
        "--quiet",
    ):
        assert option in result.output


def test_bad_size_is_a_usage_error() -> None:
    result = CliRunner().invoke(cli, ["listen", "--rotate-size", "lots"], env=ENV)
    assert 2 == result.exit_code
    assert "'lots' is not a size like 100MB, 200MiB or 65536" in result.output


def test_port_in_use_is_one_clear_message_and_exit_3(tmp_path: Path) -> None:
    """A MirrorError becomes 'Error: …' and exit code 3 (ERROR), without a traceback."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["listen", "--port", str(port), "--dir", str(tmp_path / "snapshots")], env=ENV)
    assert 3 == result.exit_code
    assert f"Error: cannot listen on 127.0.0.1:{port}:" in result.output
    assert "(try --port 0 for a free port)" in result.output
    assert "Traceback" not in result.output
    assert [] == list((tmp_path / "snapshots").iterdir())


def _record(body: bytes) -> dict[str, object]:
    """A request to project 7 from sentry-python, as recorded at 10:00:01."""
    request = make_request(
        path="/api/7/envelope/", body=body, headers=[("User-Agent", "sentry.python/2.75.0")], query="sentry_key=k"
    )
    return make_record(request, received_at=T0 + timedelta(seconds=1), remote_addr="127.0.0.1:5000")


def _line(entry: dict[str, object]) -> str:
    console = Console(width=200, no_color=True, record=True, file=io.StringIO())
    console.print(render.request_line(entry, local_time=False), soft_wrap=True)
    return console.export_text().rstrip("\n")


def test_live_line_for_an_event_with_an_attachment() -> None:
    event = {"exception": {"values": [{"type": "ZeroDivisionError", "value": "division by zero"}]}}
    body = make_envelope(
        {"event_id": EVENT_ID, "sdk": {"name": "sentry.python", "version": "2.75.0"}},
        [({"type": "event"}, event), ({"type": "attachment"}, b"abc")],
    )
    expected = f"10:00:01  project 7  sentry.python 2.75.0  event+attachment  ZeroDivisionError: division by zero  {len(body)} B"
    assert expected == _line(_record(body))


def test_live_line_for_a_refused_request_says_why() -> None:
    assert (
        "10:00:01  project 7  sentry.python/2.75.0  -  15 B  400 invalid event envelope; invalid envelope header"
        == _line(_record(b"not an envelope"))
    )


def test_live_lines_match_the_rich_rendering_on_a_pipe() -> None:
    """The fast writer prints exactly the Rich line's text when output is not a terminal."""
    entry = _record(b"not an envelope")
    out = io.StringIO()
    render.LiveLines(Console(file=out, width=200)).write(entry)
    assert render.request_line(entry).plain + "\n" == out.getvalue()


def test_live_lines_are_styled_on_a_terminal() -> None:
    entry = _record(b"not an envelope")
    out = io.StringIO()
    render.LiveLines(Console(file=out, width=200, force_terminal=True, color_system="standard")).write(entry)
    text = out.getvalue()
    assert "\x1b[" in text
    assert render.request_line(entry).plain == re.sub(r"\x1b\[[0-9;]*m", "", text).rstrip("\n")


# ---------------------------------------------------------------- help and exit codes


def _commands() -> Iterator[tuple[list[str], click.Command]]:
    yield [], cli
    for name, command in sorted(cli.commands.items()):
        yield [name], command
        show = getattr(command, "show", None)
        if show is not None:
            yield [name, "show"], show


@pytest.mark.parametrize(
    ("path", "command"), list(_commands()), ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_help_examples_render_as_written(path: list[str], command: click.Command) -> None:
    """Each example (the block after ``\\b`` in the docstring) keeps its line at 80 columns."""
    assert "\b" in (command.help or ""), "no example block: put \\b before it"
    examples = [line.strip() for line in (command.help or "").split("\b", 1)[1].splitlines() if line.strip()]
    assert examples and all(example.startswith("sentry-mirror ") for example in examples), examples
    result = CliRunner().invoke(cli, [*path, "--help"], env={"COLUMNS": "80", "NO_COLOR": "1"}, terminal_width=80)
    assert 0 == result.exit_code, result.output
    lines = [line.strip() for line in result.output.splitlines()]
    for example in examples:
        assert example in lines, f"{' '.join(path)} --help wraps {example!r}"


@pytest.mark.parametrize(
    ("path", "command"), list(_commands()), ids=lambda v: " ".join(v) if isinstance(v, list) else ""
)
def test_help_fits_80_columns(path: list[str], command: click.Command) -> None:
    """Long choice lists are named by a metavar and listed in the wrapped help text."""
    result = CliRunner().invoke(cli, [*path, "--help"], env={"COLUMNS": "80", "NO_COLOR": "1"}, terminal_width=80)
    assert 0 == result.exit_code, result.output
    assert [] == [line for line in result.output.splitlines() if len(line) > 80]


def test_the_exit_codes() -> None:
    assert {"OK": 0, "CHECK_FAILED": 1, "USAGE": 2, "ERROR": 3, "INTERRUPTED": 130, "OUTPUT_CLOSED": 141} == {
        code.name: code.value for code in ExitCode
    }


def test_a_mirror_error_exits_3_with_its_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def broken(path: Path) -> None:
        raise MirrorError("cannot read snapshot x: the disk is on fire")

    monkeypatch.setattr("sentry_mirror.ui.commands.verify.verify_file", broken)
    (tmp_path / "a.jsonl.zst").write_bytes(b"")
    result = CliRunner().invoke(cli, ["verify", str(tmp_path)], env=ENV)
    assert (3, "Error: cannot read snapshot x: the disk is on fire\n") == (result.exit_code, result.output)
    traced = CliRunner().invoke(cli, ["--traceback", "verify", str(tmp_path)], env=ENV)
    assert 3 == traced.exit_code
    assert "Traceback (most recent call last)" in traced.stderr and "MirrorError: cannot read" in traced.stderr


def test_a_failed_check_exits_1_without_a_traceback(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def failing(path: Path) -> None:
        raise CheckFailed("--fail-on: any: 1")

    monkeypatch.setattr("sentry_mirror.ui.commands.verify.verify_file", failing)
    (tmp_path / "a.jsonl.zst").write_bytes(b"")
    for options in ([], ["--traceback"]):
        result = CliRunner().invoke(cli, [*options, "verify", str(tmp_path)], env=ENV)
        assert (1, "check failed: --fail-on: any: 1\n") == (result.exit_code, result.stderr)


def test_an_unexpected_exception_exits_3_with_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def buggy(path: Path) -> None:
        raise ValueError("bad\nthing")

    monkeypatch.setattr("sentry_mirror.ui.commands.verify.verify_file", buggy)
    (tmp_path / "a.jsonl.zst").write_bytes(b"")
    result = CliRunner().invoke(cli, ["verify", str(tmp_path)], env=ENV)
    assert 3 == result.exit_code
    assert result.stderr.startswith("internal error: ValueError: bad") and result.stderr.count("\n") == 1
    assert result.stderr.endswith(" (run with --traceback for details)\n")
    traced = CliRunner().invoke(cli, ["--traceback", "verify", str(tmp_path)], env=ENV)
    assert 3 == traced.exit_code
    assert "Traceback (most recent call last)" in traced.stderr and "ValueError: bad" in traced.stderr


def test_ctrl_c_exits_130(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def interrupted(path: Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr("sentry_mirror.ui.commands.verify.verify_file", interrupted)
    (tmp_path / "a.jsonl.zst").write_bytes(b"")
    assert 130 == CliRunner().invoke(cli, ["verify", str(tmp_path)], env=ENV).exit_code


@pytest.mark.parametrize(("command", "missing"), [("inspect", "ID"), ("group", "GROUP")])
def test_show_without_its_argument_is_a_usage_error(command: str, missing: str) -> None:
    result = CliRunner().invoke(cli, [command, "show"], env=ENV, prog_name="sentry-mirror")
    assert 2 == result.exit_code
    assert f"Usage: sentry-mirror {command} show [OPTIONS] {missing} [SNAPSHOT]..." in result.output
    assert f"Missing argument '{missing}'" in result.output


def test_show_help_is_the_subcommands() -> None:
    result = CliRunner().invoke(cli, ["inspect", "show", "--help"], env=ENV, prog_name="sentry-mirror")
    assert result.output.startswith("Usage: sentry-mirror inspect show [OPTIONS] ID [SNAPSHOT]...\n")
    assert "Commands:" in run("inspect", "--help").output and "show " in run("group", "--help").output


@pytest.mark.parametrize("args", [["inspect", "--json"], ["inspect"]], ids=["json", "table"])
def test_output_closed_by_its_reader_stops_quietly(args: list[str], tmp_path: Path) -> None:
    """``sentry-mirror inspect --json | head -1``: no traceback, no ``internal error``, and
    141 (as a process ended by SIGPIPE), so `set -o pipefail` scripts see it was cut."""
    import os
    import subprocess
    import sys

    from sentry_mirror.io.snapshot import SnapshotWriter

    path = tmp_path / "many.jsonl.zst"
    with path.open("wb") as fo:
        writer = SnapshotWriter(fo)
        for n in range(2000):
            event = make_event(message=f"event {n} " + "x" * 200)
            request = make_request(body=make_envelope(items=[({"type": "event"}, event)]))
            writer.write([make_record(request, received_at=T0 + timedelta(seconds=n))])
    process = subprocess.Popen(
        [sys.executable, "-m", "sentry_mirror", *args, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "COLUMNS": "120"},
    )
    assert process.stdout is not None and process.stderr is not None
    assert process.stdout.readline()
    process.stdout.close()
    error = process.stderr.read().decode()
    assert (ExitCode.OUTPUT_CLOSED, "") == (process.wait(timeout=60), error)
