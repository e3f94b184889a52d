"""``listen``'s forward-mode options and output: DSNs checked before anything starts, the
banner and stop lines naming servers without their keys, the live line's upstream answer."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from rich.console import Console

from sentry_mirror.ui import render
from sentry_mirror.ui.cli import cli
from tests.factories import KEY, make_answer, make_record, make_request

ENV = {"NO_COLOR": "1", "COLUMNS": "200"}


def test_a_bad_dsn_in_the_tee_environment_variable_stops_it_before_it_listens(tmp_path: Path) -> None:
    """SENTRY_MIRROR_TEE holds whitespace-separated DSNs; each is checked before the listener starts."""
    env = {**ENV, "SENTRY_MIRROR_TEE": f"http://{KEY}@127.0.0.1:1/1   not-a-dsn"}
    result = CliRunner().invoke(cli, ["listen", "--port", "0", "--dir", str(tmp_path / "s")], env=env)
    assert 3 == result.exit_code, result.output
    assert "invalid DSN 'not-a-dsn'" in result.output
    assert not (tmp_path / "s").exists()


def test_the_banner_names_the_upstream_and_candidates_without_keys() -> None:
    out = io.StringIO()
    console = Console(file=out, width=200, no_color=True)
    render.banner(
        console,
        f"http://{KEY}@127.0.0.1:9001/123",
        "snapshots/x.jsonl.zst",
        keys=frozenset(),
        upstream="https://o1.ingest.sentry.io/123",
        candidates=("http://127.0.0.1:8000/1",),
    )
    lines = out.getvalue().splitlines()
    assert "(the upstream's key and project" in lines[0]
    assert "  forwarding to https://o1.ingest.sentry.io/123" == lines[2]
    assert lines[3].startswith("  tee to http://127.0.0.1:8000/1")
    assert KEY not in "".join(lines[1:])


def test_the_live_line_shows_the_upstream_answer_after_the_local_status() -> None:
    entry = make_record(make_request())
    limited = make_answer(entry, status=429, latency_ms=12.4)
    line = render.request_line(entry, upstream=limited).plain
    assert line.endswith("200 → upstream 429 12ms"), line
    down = make_answer(entry, status=None, latency_ms=None, error="ConnectionRefusedError")
    assert render.request_line(entry, upstream=down).plain.endswith("200 → upstream failed: ConnectionRefusedError")
    out = io.StringIO()
    render.LiveLines(Console(file=out, width=200)).write(entry, limited)
    assert line + "\n" == out.getvalue()


def test_the_stop_lines_count_per_server() -> None:
    out = io.StringIO()
    rows = [("upstream", "https://o1.ingest.sentry.io/123", 9, 1, 0), ("candidate", "http://127.0.0.1:8000/1", 7, 1, 2)]
    render.stop_lines(Console(file=out, width=200, no_color=True), rows, 3, 2)
    assert [
        "  upstream https://o1.ingest.sentry.io/123: 9 delivered, 1 undelivered",
        "  candidate http://127.0.0.1:8000/1: 7 delivered, 1 undelivered, 2 dropped",
        "  3 request(s) were sent on but not recorded: the snapshot could not be written",
        "  2 answer record(s) could not be written: replay --undelivered would send their requests again",
    ] == out.getvalue().splitlines()


def test_the_forward_environment_variable_is_read_and_checked(tmp_path: Path) -> None:
    env = {**ENV, "SENTRY_MIRROR_FORWARD": "https://o1.ingest.sentry.io/123"}  # no key: not a DSN
    result = CliRunner().invoke(cli, ["listen", "--port", "0", "--dir", str(tmp_path / "s")], env=env)
    assert 3 == result.exit_code, result.output
    assert "expected scheme://public_key@host/project_id" in result.output


def test_forwarding_to_the_mirror_itself_is_refused(tmp_path: Path) -> None:
    """``--forward`` (or ``--tee``) at the listener's own address would loop forever."""
    for option in ("--forward", "--tee"):
        result = CliRunner().invoke(
            cli,
            ["listen", "--port", "9123", "--dir", str(tmp_path / "s"), option, f"http://{KEY}@localhost:9123/1"],
            env=ENV,
        )
        assert 3 == result.exit_code, result.output
        assert "http://localhost:9123/1 is this mirror itself" in result.output
        assert KEY not in result.output


def test_an_invalid_forward_dsn_is_named_without_its_key_or_secret(tmp_path: Path) -> None:
    secret = "0123456789abcdef0123456789abcdef"
    env = {**ENV, "SENTRY_MIRROR_FORWARD": f"https://{KEY}:{secret}@o1.ingest.sentry.io:notaport/1"}
    result = CliRunner().invoke(cli, ["listen", "--port", "0", "--dir", str(tmp_path / "s")], env=env)
    assert 3 == result.exit_code, result.output
    assert "invalid DSN 'https://***@o1.ingest.sentry.io:notaport/1'" in result.output
    assert KEY not in result.output and secret not in result.output
    tee = CliRunner().invoke(cli, ["listen", "--port", "0", "--tee", f"ftp://{KEY}@h/1"], env=ENV)
    assert 3 == tee.exit_code and KEY not in tee.output, tee.output


def listen(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> Any:
    return CliRunner().invoke(
        cli, ["listen", "--port", "0", "--dir", str(tmp_path / "s"), *args], env={**ENV, **(env or {})}
    )


UP = f"https://{KEY}@o1.ingest.sentry.io/42"
CAND = f"http://{KEY}@127.0.0.1:8000/1"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--upstream-failure", "pass"], "--upstream-failure goes with --forward"),
        (["--upstream-failure", "answer", "--tee", CAND], "--upstream-failure goes with --forward"),
        (["--forward-timeout", "3s"], "--forward-timeout goes with --forward or --tee"),
        (["--forward-concurrency", "64"], "--forward-concurrency goes with --forward or --tee"),
        (["--tee-queue", "5", "--forward", UP], "--tee-queue goes with --tee"),
        (["--ca-file", __file__], "--ca-file goes with --forward or --tee"),
    ],
)
def test_forward_options_without_their_server_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    """Given explicitly (even with the default value), an option with nothing to apply to is refused."""
    result = listen(tmp_path, *args)
    assert 2 == result.exit_code, result.output
    assert message in result.output
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    ("args", "env"),
    [
        (["--forward", UP, "--tee", UP.replace(KEY, "0" * 32)], {}),
        (["--tee", CAND, "--tee", CAND], {}),
        ([], {"SENTRY_MIRROR_TEE": f"{CAND}  {CAND.replace('@', ':secret@')}"}),
        (["--tee", CAND], {"SENTRY_MIRROR_FORWARD": CAND}),
        (["--forward", "http://k@example.com/1", "--tee", "http://k2@EXAMPLE.com:80/1"], {}),
    ],
)
def test_a_server_named_twice_is_refused(tmp_path: Path, args: list[str], env: dict[str, str]) -> None:
    """The same project of the same server twice (whatever the key) would get every request twice."""
    result = listen(tmp_path, "--forward-timeout", "3s", "--tee-queue", "5", *args, env=env)
    assert 2 == result.exit_code, result.output
    assert "is named twice in --forward/--tee: it would get every request twice" in result.output
    assert KEY not in result.output
    assert not (tmp_path / "s").exists()
