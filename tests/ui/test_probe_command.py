"""`sentry-mirror probe` as a real process: exit codes, messages, --json, signals, options."""

from __future__ import annotations

import contextlib
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from sentry_mirror.errors import ExitCode
from sentry_mirror.io.snapshot import iter_records

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
    assert "nothing to judge" in done.stdout
    assert "1 request(s), 0 scripted" in done.stdout
    (record,) = iter_records([tmp_path / "snapshots"])
    assert b"hello from the probe" in record.body


def test_the_command_may_come_without_the_double_dash_and_keeps_its_own_options(tmp_path: Path) -> None:
    code = "import os, sys; print(sys.argv[1:], os.environ['SENTRY_DSN'].endswith('/7'))"
    done = run_probe(tmp_path, "--project", "7", sys.executable, "-c", code, "--json", "-x")
    assert done.returncode == ExitCode.OK, done.stderr
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
    assert checks["server_error"] == "pass"
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
    )
    assert process.stdout is not None
    assert process.stdout.readline().strip() == "ready"
    os.kill(process.pid, signal.SIGINT)
    assert process.wait(timeout=30) == ExitCode.INTERRUPTED
    assert marker.read_text() == "SIGINT"


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


def test_ctrl_c_in_a_terminal_reaches_the_command_once(tmp_path: Path) -> None:
    """Ctrl-C in a terminal signals the whole foreground process group: the command has it
    already, and the probe does not send it a second one."""
    marker = tmp_path / "got"
    argv = [sys.executable, "-m", "sentry_mirror", "probe", "--dir", str(tmp_path), "--"]
    argv += [sys.executable, "-c", textwrap.dedent(COUNTING), str(marker)]
    pid, terminal = pty.fork()
    if pid == 0:  # the child: a session of its own with the pty as its controlling terminal
        os.execv(sys.executable, argv)
    try:
        read_until(terminal, b"\nready")  # the app's line (the banner quotes its code)
        os.write(terminal, b"\x03")  # Ctrl-C: the terminal sends SIGINT to its foreground process group
        read_until(terminal, None)
        _, status = os.waitpid(pid, 0)
    finally:
        with contextlib.suppress(ChildProcessError, ProcessLookupError):
            if os.waitpid(pid, os.WNOHANG) == (0, 0):
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
        os.close(terminal)
    assert os.waitstatus_to_exitcode(status) == ExitCode.INTERRUPTED
    assert marker.read_text() == "SIGINT\n"


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
