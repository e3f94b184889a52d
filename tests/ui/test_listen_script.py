"""``listen --script``/``--scenario``/``--seed``: refused at start with the line and reason,
the banner listing the rules, the live line and ``inspect show`` marking scripted requests."""

from __future__ import annotations

import io
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import aiohttp
import pytest
from click.testing import CliRunner
from rich.console import Console

from sentry_mirror.ui import render
from sentry_mirror.ui.cli import cli
from sentry_mirror.ui.render_inspect import show_record
from tests.factories import KEY, make_envelope, make_record

ENV = {"NO_COLOR": "1", "COLUMNS": "200"}


def listen(tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["listen", "--port", "0", "--dir", str(tmp_path / "s"), *args], env=ENV)
    return result.exit_code, result.output


def test_a_bad_script_is_refused_at_start_with_its_line_and_reason(tmp_path: Path) -> None:
    script = tmp_path / "answers.toml"
    script.write_text('[[rule]]\nname = "fine"\nstatus = 503\n\n[[rule]]\ncategory = "transactoin"\nstatus = 429\n')
    code, output = listen(tmp_path, "--script", str(script))
    assert 2 == code, output
    assert f"{script}:6: rule 2: category: unknown category 'transactoin'" in output
    assert not (tmp_path / "s").exists()  # nothing was started


def test_a_script_that_is_not_toml_is_refused_with_tomllibs_line(tmp_path: Path) -> None:
    script = tmp_path / "answers.toml"
    script.write_text("[[rule]]\nstatus = 503\ndelay = \n")
    code, output = listen(tmp_path, "--script", str(script))
    assert (2, True) == (code, f"{script}:3: not valid TOML" in output), output


def test_an_unknown_scenario_and_a_bad_value_are_refused(tmp_path: Path) -> None:
    code, output = listen(tmp_path, "--scenario", "meltdown")
    assert (2, True) == (code, "unknown scenario 'meltdown'" in output), output
    code, output = listen(tmp_path, "--scenario", "outage:soon")
    assert (2, True) == (code, "scenario outage:soon: 'soon' is not a duration" in output), output


def test_forward_with_a_script_is_refused(tmp_path: Path) -> None:
    code, output = listen(tmp_path, "--scenario", "outage", "--forward", f"http://{KEY}@127.0.0.1:9/1")
    assert 2 == code
    assert "cannot go with --forward" in output


def test_seed_without_a_script_is_refused(tmp_path: Path) -> None:
    code, output = listen(tmp_path, "--seed", "3")
    assert (2, True) == (code, "--seed goes with --script or --scenario" in output), output


def test_the_help_lists_the_scenarios() -> None:
    result = CliRunner().invoke(cli, ["listen", "--help"], env=ENV, terminal_width=200)
    for name in ("rate-limit-transactions", "rate-limit-all", "outage", "slow", "too-large", "flaky"):
        assert name in result.output


async def test_a_running_listener_lists_its_rules_and_marks_scripted_requests(tmp_path: Path) -> None:
    script = tmp_path / "answers.toml"
    script.write_text('[[rule]]\nname = "no stores"\nendpoint = "store"\nstatus = 403\n')
    listener = subprocess.Popen(
        [
            *(sys.executable, "-m", "sentry_mirror", "listen", "--port", "0", "--dir", str(tmp_path / "s")),
            *("--script", str(script), "--scenario", "outage:60s"),
        ],
        stdout=subprocess.PIPE,
        text=True,
        env={**ENV, "PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parents[2])},
    )
    try:
        assert listener.stdout is not None
        banner = [listener.stdout.readline() for _ in range(4)]
        port = banner[0].split()[1].rsplit(":", 1)[1].split("/")[0]
        event_id = uuid.uuid4().hex
        body = make_envelope({"event_id": event_id}, [({"type": "event"}, {"event_id": event_id})])
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{port}/api/1/envelope/?sentry_key={KEY}", data=body) as answer:
                assert 503 == answer.status
        line = listener.stdout.readline()
    finally:
        listener.send_signal(signal.SIGINT)
        listener.wait(10)
    assert "rule  no stores  answers 403 (endpoint store)" in banner[2]
    assert f"({script}:1)" in banner[2]
    assert "rule  outage:60s  answers 503 (until 60 s)  (scenario outage:60s)" in banner[3]
    assert "503" in line and "scripted: rule outage:60s" in line


@pytest.mark.parametrize(
    ("scripted", "expected"),
    [
        ({"rule": "slow", "delay_ms": 2000, "drop": False, "partial": False}, "scripted: rule slow, after 2 s"),
        ({"rule": "cut", "delay_ms": 0, "drop": True, "partial": False}, "scripted: rule cut, connection dropped"),
    ],
)
def test_the_live_line_and_show_mark_a_scripted_request(scripted: dict[str, object], expected: str) -> None:
    record = make_record(
        scripted={**scripted, "source": "a.toml:3", "natural": {"status": 200}},
    )
    assert expected in render.request_line(record, local_time=False).plain
    console = Console(file=io.StringIO(), width=200, no_color=True)
    show_record(console, record)
    assert f"{expected} (a.toml:3; naturally 200)" in console.file.getvalue()  # type: ignore[attr-defined]
    assert render.scripted_label(make_record()) is None
