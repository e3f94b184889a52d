"""`sentry-mirror probe` as a real process: exit codes, messages, --json, signals, options."""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sentry_mirror.errors import ExitCode
from sentry_mirror.io.snapshot import iter_records
from sentry_mirror.ui.commands.probe import _failures
from tests.helpers import COUNTING, end, gone_soon, in_a_terminal

APPS = Path(__file__).resolve().parents[1] / "e2e" / "probe_apps"
HELLO = str(APPS / "hello.py")


def run_probe(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``sentry-mirror probe --dir tmp_path/snapshots --settle 0.2 ARGS``, to its end."""
    command = [sys.executable, "-m", "sentry_mirror", "probe", "--dir", str(tmp_path / "snapshots"), "--settle", "0.2"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout, cwd=tmp_path)


def test_an_app_that_exits_0_without_a_scenario_passes(tmp_path: Path) -> None:
    done = run_probe(tmp_path, "--", sys.executable, HELLO)
    assert done.returncode == ExitCode.OK, done.stderr
    assert re.search(r"DSN +http://mirror@127.0.0.1:\d+/1 ", done.stderr), done.stderr
    assert "nothing to judge" in done.stderr
    assert "1 request(s), 0 scripted" in done.stdout
    (record,) = iter_records([tmp_path / "snapshots"])
    assert b"hello from the probe" in record.body


def test_the_command_may_come_without_the_double_dash_and_keeps_its_own_options(tmp_path: Path) -> None:
    code = "import os, sys; print(sys.argv[1:], os.environ['SENTRY_DSN'].endswith('/7'))"
    done = run_probe(tmp_path, "--project", "7", sys.executable, "-c", code, "--json", "-x")
    assert done.returncode == ExitCode.CHECK_FAILED, done.stderr  # it sent nothing
    assert "['--json', '-x'] True" in done.stdout


def test_a_command_that_exits_non_zero_fails_the_probe_saying_so(tmp_path: Path) -> None:
    done = run_probe(tmp_path, "--", sys.executable, HELLO, "3")
    assert done.returncode == ExitCode.CHECK_FAILED
    assert "check failed:" in done.stderr
    assert "exited 3" in done.stderr.splitlines()[-1]
    assert len(list(iter_records([tmp_path / "snapshots"]))) == 1


def test_a_command_that_cannot_start_is_an_error(tmp_path: Path) -> None:
    done = run_probe(tmp_path, "--", "no-such-command-anywhere", "x")
    assert done.returncode == ExitCode.ERROR
    assert "Error: cannot run no-such-command-anywhere: no such command" in done.stderr


def test_no_command_is_a_usage_error(tmp_path: Path) -> None:
    done = run_probe(tmp_path)
    assert done.returncode == ExitCode.USAGE
    assert "Missing argument" in done.stderr
    done = run_probe(tmp_path, "--")
    assert done.returncode == ExitCode.USAGE


def test_an_unknown_probe_option_is_a_usage_error_not_a_command(tmp_path: Path) -> None:
    done = run_probe(tmp_path, "--bogus", "--", sys.executable, HELLO)
    assert done.returncode == ExitCode.USAGE
    assert "--bogus" in done.stderr
    assert not (tmp_path / "snapshots").exists()


def test_a_bad_scenario_or_script_is_a_usage_error_before_anything_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    command = ["--", sys.executable, "-c", f"open({str(marker)!r}, 'w')"]
    done = run_probe(tmp_path, "--scenario", "no-such-scenario", *command)
    assert done.returncode == ExitCode.USAGE
    assert "unknown scenario 'no-such-scenario'" in done.stderr
    script = tmp_path / "answers.toml"
    script.write_text('[[rule]]\nname = "x"\nstatus = 429\n\n[[rule]]\nstatus = 999\n')
    done = run_probe(tmp_path, "--script", str(script), *command)
    assert done.returncode == ExitCode.USAGE
    assert f"{script}:6: rule 2: status: 999 is outside 200-599" in done.stderr
    assert not marker.exists()


def test_the_timeout_stops_the_command_and_fails_the_probe(tmp_path: Path) -> None:
    started = time.monotonic()
    done = run_probe(tmp_path, "--timeout", "1s", "--", sys.executable, "-c", "import time; time.sleep(60)")
    assert done.returncode == ExitCode.CHECK_FAILED
    assert "did not end within --timeout: stopped by SIGTERM" in done.stderr
    assert time.monotonic() - started < 30


def test_json_is_alone_on_stdout(tmp_path: Path) -> None:
    code = "import runpy, sys; print('app output'); sys.argv = ['hello.py']; runpy.run_path(sys.argv[0])"
    hello = tmp_path / "hello.py"
    hello.write_text(Path(HELLO).read_text())
    done = run_probe(tmp_path, "--json", "--", sys.executable, "-c", code)
    assert done.returncode == ExitCode.OK, done.stderr
    data = json.loads(done.stdout)
    assert data["command"] == [sys.executable, "-c", code]
    assert data["exit_code"] == 0
    assert data["timed_out"] is False
    assert data["scripted"] == 0
    (snapshot,) = data["snapshots"]
    assert Path(tmp_path / snapshot).is_file() or Path(snapshot).is_file()
    assert "app output" in done.stderr


def test_a_scenario_answers_the_command_and_json_says_so(tmp_path: Path) -> None:
    done = run_probe(tmp_path, "--scenario", "outage:30s", "--json", "--", sys.executable, HELLO)
    assert done.returncode == ExitCode.OK, done.stderr  # sentry-python drops what got a 503: no verdict fails
    data = json.loads(done.stdout)
    records = list(iter_records([tmp_path / "snapshots"]))  # the event, and the client reports of its loss
    assert data["scripted"] == len(records) >= 1
    assert {record.status for record in records} == {503}
    assert {record.data["scripted"]["source"] for record in records} == {"scenario outage:30s"}
    (sdk,) = data["sdks"]
    assert sdk["sdk"] == "sentry.python"
    checks = {verdict["check"]: verdict["status"] for verdict in sdk["verdicts"]}
    # what came after the 503 (the client reports of its loss, at close) came within a second:
    # too short to say the SDK would not have retried
    assert checks["server_error"] == "not_seen"
    assert checks["backoff"] == "not_seen"


#: An app that says when it is ready, and on SIGINT writes a file and exits 130.
TRAPPING = """
    import signal, sys, time
    def stop(signum, frame):
        open(sys.argv[1], "w").write("SIGINT")
        sys.exit(130)
    signal.signal(signal.SIGINT, stop)
    print("ready", flush=True)
    time.sleep(60)
"""


def test_sigint_is_passed_on_to_the_command_and_the_probe_exits_130(tmp_path: Path) -> None:
    marker = tmp_path / "got"
    command = [sys.executable, "-m", "sentry_mirror", "probe", "--dir", str(tmp_path), "--"]
    process = subprocess.Popen(
        [*command, sys.executable, "-c", textwrap.dedent(TRAPPING), str(marker)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # no terminal: the SIGINT comes from elsewhere
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "ready"
        os.kill(process.pid, signal.SIGINT)
        assert process.wait(timeout=30) == ExitCode.INTERRUPTED
        assert marker.read_text() == "SIGINT"
    finally:
        end(process)


def test_ctrl_c_in_a_terminal_reaches_the_command_once(tmp_path: Path) -> None:
    """Ctrl-C in a terminal signals the whole foreground process group: the command has it
    already, and the probe does not send it a second one."""
    marker = tmp_path / "got"
    argv = [sys.executable, "-m", "sentry_mirror", "probe", "--dir", str(tmp_path), "--"]
    argv += [sys.executable, "-c", textwrap.dedent(COUNTING), str(marker)]
    status = in_a_terminal(argv, b"\x03")  # Ctrl-C: the terminal sends SIGINT to its foreground process group
    assert os.waitstatus_to_exitcode(status) == ExitCode.INTERRUPTED
    assert marker.read_text() == "SIGINT\n"


def start_probe(tmp_path: Path, *command: str) -> subprocess.Popen[str]:
    """The probe in a session of its own (no terminal: a signal to it comes from elsewhere)."""
    argv = [sys.executable, "-m", "sentry_mirror", "probe", "--dir", str(tmp_path / "snapshots"), "--settle", "0.5"]
    return subprocess.Popen(
        [*argv, "--", *command],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


#: Starts ``argv[1]`` (Python code) with the pid file ``argv[2]``, says "ready" once the
#: child wrote it, then sleeps (``argv[3]`` == "stay") or ends.
PARENT = """
    import os, subprocess, sys, time
    subprocess.Popen([sys.executable, "-c", sys.argv[1], sys.argv[2]])
    while not os.path.exists(sys.argv[2]) or not open(sys.argv[2]).read():
        time.sleep(0.05)
    print("ready", flush=True)
    if sys.argv[3] == "stay":
        time.sleep(120)
"""

#: Writes its pid into ``argv[1]``; on SIGINT writes "SIGINT" into ``argv[1] + ".got"`` and exits.
CHILD_TRAPPING = """
    import os, signal, sys, time
    def stop(signum, frame):
        open(sys.argv[1] + ".got", "w").write("SIGINT")
        sys.exit(130)
    signal.signal(signal.SIGINT, stop)
    open(sys.argv[1], "w").write(str(os.getpid()))
    time.sleep(120)
"""

#: Writes its pid into ``argv[1]``, then sends an envelope to SENTRY_DSN every 0.1 s, for ever.
LOOPING_SENDER = (APPS / "looping_sender.py").read_text()


def parent(child: str, pid_file: Path, how: str) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(PARENT), textwrap.dedent(child), str(pid_file), how]


@contextlib.contextmanager
def probing(
    tmp_path: Path, child: str, pid_file: Path, how: str, *, ready: bool = True
) -> Iterator[subprocess.Popen[str]]:
    """The probe (:func:`start_probe`) running :func:`parent` with ``child``; with ``ready``,
    once the command said so; killed with what it started at the end."""
    process = start_probe(tmp_path, *parent(child, pid_file, how))
    try:
        if ready:
            assert process.stdout is not None
            assert process.stdout.readline().strip() == "ready"
        yield process
    finally:
        end(process, pid_file)


def test_sigint_reaches_what_the_command_started(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    with probing(tmp_path, CHILD_TRAPPING, pid_file, "stay") as process:
        os.kill(process.pid, signal.SIGINT)
        assert process.wait(timeout=60) == ExitCode.INTERRUPTED
        assert Path(f"{pid_file}.got").read_text() == "SIGINT"


def test_sighup_is_passed_on_as_sigterm_is(tmp_path: Path) -> None:
    pid_file = tmp_path / "child.pid"
    with probing(tmp_path, SLEEPING, pid_file, "stay") as process:
        os.kill(process.pid, signal.SIGHUP)
        assert process.wait(timeout=60) == ExitCode.INTERRUPTED
        assert gone_soon(int(pid_file.read_text()))


#: Writes its pid into ``argv[1]``, then sleeps.
SLEEPING = """
    import os, sys, time
    open(sys.argv[1], "w").write(str(os.getpid()))
    time.sleep(120)
"""


def test_a_signal_while_settling_stops_the_probe_and_what_the_command_left(tmp_path: Path) -> None:
    pid_file = tmp_path / "sender.pid"
    with probing(tmp_path, LOOPING_SENDER, pid_file, "end") as process:
        time.sleep(1.5)  # the command ended; its sender keeps the probe settling
        started = time.monotonic()
        os.kill(process.pid, signal.SIGTERM)
        assert process.wait(timeout=60) == ExitCode.INTERRUPTED
        assert time.monotonic() - started < 30
        assert gone_soon(int(pid_file.read_text()))


def test_a_sender_left_behind_does_not_hold_the_probe_for_ever(tmp_path: Path) -> None:
    """Settling stops at max(30 s, 10 x --settle): 30 s here; the sender is killed, the probe fails."""
    pid_file = tmp_path / "sender.pid"
    with probing(tmp_path, LOOPING_SENDER, pid_file, "end", ready=False) as process:
        _, err = process.communicate(timeout=120)
        assert process.returncode == ExitCode.CHECK_FAILED, err
        assert re.search(r"requests kept arriving 3\d s after \S+ ended \(a process it left behind\?\)", err), err
        assert gone_soon(int(pid_file.read_text()))


@pytest.mark.parametrize(
    ("signum", "name"), [(signal.SIGUSR1, "SIGUSR1"), (signal.SIGRTMIN + 1, f"signal {signal.SIGRTMIN + 1}")]
)
def test_a_command_ended_by_a_signal_fails_the_probe_naming_it(tmp_path: Path, signum: int, name: str) -> None:
    done = run_probe(tmp_path, "--", sys.executable, "-c", f"import os; os.kill(os.getpid(), {int(signum)})")
    assert done.returncode == ExitCode.CHECK_FAILED, done.stderr
    assert f"was ended by {name}" in done.stderr.splitlines()[-1]


def test_a_command_that_sends_nothing_fails_the_probe_loudly(tmp_path: Path) -> None:
    done = run_probe(tmp_path, "--json", "--", sys.executable, "-c", "pass")
    assert done.returncode == ExitCode.CHECK_FAILED
    assert "sent nothing to SENTRY_DSN: does its SDK read it?" in done.stderr
    data = json.loads(done.stdout)
    assert data["requests"] == 0
    assert data["interrupted"] is False
    assert data["failed"] == [f"{sys.executable} sent nothing to SENTRY_DSN: nothing to probe"]


def test_json_says_how_many_requests_came_and_that_nothing_failed(tmp_path: Path) -> None:
    done = run_probe(tmp_path, "--json", "--", sys.executable, HELLO)
    assert done.returncode == ExitCode.OK, done.stderr
    data = json.loads(done.stdout)
    assert (data["requests"], data["scripted"], data["failed"], data["interrupted"]) == (1, 0, [], False)
    assert "no request got a scripted answer: nothing to judge" in done.stderr


def test_a_command_that_cannot_start_still_gives_json(tmp_path: Path) -> None:
    done = run_probe(tmp_path, "--json", "--", "no-such-command-anywhere")
    assert done.returncode == ExitCode.ERROR
    data = json.loads(done.stdout)
    assert data["command"] == ["no-such-command-anywhere"]
    assert "no such command" in data["error"]


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [("--project", "abc", "not a valid integer"), ("--project", "-1", "-1"), ("--timeout", "0", "more than 0")],
)
def test_bad_project_or_timeout_is_a_usage_error(tmp_path: Path, option: str, value: str, message: str) -> None:
    done = run_probe(tmp_path, option, value, "--", sys.executable, HELLO)
    assert done.returncode == ExitCode.USAGE, done.stderr
    assert message in done.stderr
    assert not (tmp_path / "snapshots").exists()


def test_the_report_reads_only_this_runs_files(tmp_path: Path) -> None:
    first = run_probe(tmp_path, "--scenario", "outage:30s", "--json", "--", sys.executable, HELLO)
    second = run_probe(tmp_path, "--scenario", "outage:30s", "--json", "--", sys.executable, HELLO)
    one, two = json.loads(first.stdout), json.loads(second.stdout)
    assert len(list((tmp_path / "snapshots").iterdir())) == 2
    assert len(two["snapshots"]) == 1 and two["snapshots"] != one["snapshots"]
    assert two["sdks"][0]["requests"] == one["sdks"][0]["requests"] == two["requests"]


def test_the_command_has_the_terminal_while_it_runs(tmp_path: Path) -> None:
    """In its own process group the command could not read the terminal (SIGTTIN stops it)
    unless the probe gives it the terminal's foreground: it reads a line typed there."""
    answer = tmp_path / "answer"
    code = f"print('ready', flush=True); open({str(answer)!r}, 'w').write(input())"
    argv = [sys.executable, "-m", "sentry_mirror", "probe", "--dir", str(tmp_path), "--", sys.executable, "-c", code]
    status = in_a_terminal(argv, b"typed\n")
    assert answer.read_text() == "typed"
    assert os.waitstatus_to_exitcode(status) == ExitCode.CHECK_FAILED  # it sent nothing


def test_a_failed_verdict_names_the_dsn_when_one_sdk_sent_to_two() -> None:
    fail = {"check": "backoff", "status": "fail"}
    rows = [
        {"sdk": "sentry.python", "version": "2.75.0", "project": "1", "public_key": "aaaaaaaa11", "verdicts": [fail]},
        {"sdk": "sentry.python", "version": "2.75.0", "project": "2", "public_key": "bbbbbbbb22", "verdicts": []},
    ]
    assert ["sentry.python 2.75.0 (project 1, key aaaaaaaa): backoff"] == _failures({"sdks": rows})
    assert ["sentry.python 2.75.0: backoff"] == _failures({"sdks": rows[:1]})


#: An app that says when it is ready, works for a while, then writes that it finished.
WORKING = """
import pathlib, sys, time
print("ready", flush=True)
for _ in range(20):
    time.sleep(0.1)
pathlib.Path(sys.argv[1]).write_text("done")
"""


def test_ctrl_z_in_a_terminal_does_not_hang_the_probe(tmp_path: Path) -> None:
    """Ctrl-Z stops the command (it has the terminal); the probe sees it, takes the terminal
    back and stops too under a shell (here, with no shell above it, it cannot: it resumes the
    command), so the run goes on to its end instead of waiting on a stopped command for ever."""
    marker = tmp_path / "finished"
    argv = [sys.executable, "-m", "sentry_mirror", "probe", "--settle", "0.2", "--dir", str(tmp_path), "--"]
    argv += [sys.executable, "-c", textwrap.dedent(WORKING), str(marker)]
    status = in_a_terminal(argv, b"\x1a", seconds=60)  # Ctrl-Z: SIGTSTP to the terminal's foreground group
    assert marker.read_text() == "done"
    assert os.waitstatus_to_exitcode(status) == ExitCode.CHECK_FAILED  # it sent nothing: said so, exit 1
