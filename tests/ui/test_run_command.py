"""`sentry-mirror run` as a real process with the real sentry-python: exit codes passed
through, the summary on stderr, --json, --report; and its summary and exit code as functions."""

from __future__ import annotations

import contextlib
import dataclasses
import io
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from sentry_mirror.core.describe import describe
from sentry_mirror.core.run_summary import summarise
from sentry_mirror.errors import ExitCode
from sentry_mirror.io.listener import Stopped
from sentry_mirror.io.probe import Probed
from sentry_mirror.io.snapshot import iter_records
from sentry_mirror.ui.commands.run import MAX_SDKS, MAX_TITLES, MAX_TYPES, _say, exit_code
from tests.factories import make_envelope, make_event, make_record, make_request, make_sdk_record
from tests.helpers import COUNTING, end, gone_soon, in_a_terminal

CSP = b'{"csp-report": {"document-uri": "https://x.test/", "violated-directive": "script-src"}}'
HELLO = str(Path(__file__).resolve().parents[1] / "e2e" / "probe_apps" / "hello.py")

#: An app with the real sentry-python: the messages of argv[1] (a JSON list), one exception
#: twice, one transaction; then "app output" on stdout and exit argv[2].
APP = """
    import json, sys
    import sentry_sdk
    sentry_sdk.init(traces_sample_rate=1.0)
    for message in json.loads(sys.argv[1]):
        sentry_sdk.capture_message(message)
    for _ in range(2):
        try:
            {}["basket"]
        except KeyError as error:
            sentry_sdk.capture_exception(error)
    with sentry_sdk.start_transaction(name="checkout"):
        pass
    sentry_sdk.flush(timeout=5)
    print("app output", flush=True)
    sys.exit(int(sys.argv[2]))
"""


def run(tmp_path: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    """``sentry-mirror run --dir tmp_path/snapshots --settle 0.2 ARGS``, to its end."""
    command = [sys.executable, "-m", "sentry_mirror", "run", "--dir", str(tmp_path / "snapshots"), "--settle", "0.2"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=timeout, cwd=tmp_path)


def end_pid(pid_file: Path) -> None:
    """In a test's finally: the process whose pid is in ``pid_file``, if still there."""
    with contextlib.suppress(FileNotFoundError, ValueError, ProcessLookupError):
        os.kill(int(pid_file.read_text()), signal.SIGKILL)


def app(messages: list[str], code: int = 0) -> list[str]:
    return [sys.executable, "-c", textwrap.dedent(APP), json.dumps(messages), str(code)]


def summary_lines(stderr: str) -> list[str]:
    """The summary: the lines after the banner's ``run`` line."""
    lines = stderr.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("  run   "))
    return [line for line in lines[start + 1 :] if line]


def test_an_app_that_exits_0_exits_0_and_the_summary_lists_what_it_sent(tmp_path: Path) -> None:
    done = run(tmp_path, "--", *app(["hello from run"]))
    assert done.returncode == ExitCode.OK, done.stderr
    assert re.search(r"DSN +http://mirror@127.0.0.1:\d+/1 ", done.stderr), done.stderr
    (snapshot,) = (tmp_path / "snapshots").iterdir()
    shown = f"snapshots/{snapshot.name}"
    version = re.search(r"sentry\.python (\d+\.\d+\.\d+)", done.stderr)
    assert version is not None, done.stderr
    assert summary_lines(done.stderr) == [
        f"{sys.executable} exited 0: 4 envelopes",
        f"  sentry.python {version[1]}  4 envelopes: 3×event+transaction",
        "  3 error events:",
        "    hello from run",
        "    KeyError: 'basket'  ×2",
        f"  into  {shown}",
        f"  more: sentry-mirror report {shown}",
    ]
    assert done.stdout == "app output\n"
    assert len(list(iter_records([snapshot]))) == 4


def test_what_the_command_left_running_is_stopped_and_said(tmp_path: Path) -> None:
    pid_file = tmp_path / "left.pid"
    try:
        done = run(tmp_path, "--", "sh", "-c", f"sleep 124 & echo $! > {pid_file}; exit 0")
        assert done.returncode == ExitCode.OK, done.stderr
        assert "warning: sh left processes running in its process group: stopped once" in done.stderr
        assert gone_soon(int(pid_file.read_text()))
    finally:
        end_pid(pid_file)


def test_the_commands_exit_code_passes_through(tmp_path: Path) -> None:
    done = run(tmp_path, "--", sys.executable, HELLO, "3")
    assert done.returncode == 3, done.stderr
    assert f"{sys.executable} exited 3: 1 envelope" in done.stderr
    assert "check failed" not in done.stderr


@pytest.mark.parametrize("signum", [signal.SIGUSR1, signal.SIGTERM])
def test_a_command_ended_by_signal_n_exits_128_plus_n(tmp_path: Path, signum: int) -> None:
    done = run(tmp_path, "--", sys.executable, "-c", f"import os; os.kill(os.getpid(), {int(signum)})")
    assert done.returncode == 128 + signum, done.stderr
    assert f"was ended by {signal.Signals(signum).name}: 0 envelopes" in done.stderr


def test_a_command_that_does_not_exist_is_an_error(tmp_path: Path) -> None:
    done = run(tmp_path, "--", "no-such-command-anywhere", "x")
    assert done.returncode == ExitCode.ERROR
    assert "Error: cannot run no-such-command-anywhere: no such command" in done.stderr
    done = run(tmp_path, "--json", "--", "no-such-command-anywhere")
    assert done.returncode == ExitCode.ERROR
    assert json.loads(done.stdout) == {
        "command": ["no-such-command-anywhere"],
        "error": "cannot run no-such-command-anywhere: no such command (or file)",
    }


@pytest.mark.parametrize(
    ("content", "why"),
    [
        (None, "it is a directory"),
        ("#!/nonexistent/interpreter\n", "its interpreter (the #! line) was not found"),
        ("\x7fELF not really\n", "not a program this system runs (a script needs a #! line)"),
    ],
)
def test_a_command_that_cannot_start_says_why(tmp_path: Path, content: str | None, why: str) -> None:
    program = tmp_path / "program"
    if content is None:
        program.mkdir()
    else:
        program.write_text(content)
        program.chmod(0o755)
    done = run(tmp_path, "--", str(program))
    assert done.returncode == ExitCode.ERROR
    assert f"cannot run {program}: {why}" in " ".join(done.stderr.split()), done.stderr


def test_an_empty_command_is_a_usage_error(tmp_path: Path) -> None:
    done = run(tmp_path, "--", "")
    assert done.returncode == ExitCode.USAGE
    assert "CMD is empty" in done.stderr


def test_no_command_is_a_usage_error(tmp_path: Path) -> None:
    assert run(tmp_path).returncode == ExitCode.USAGE
    assert run(tmp_path, "--").returncode == ExitCode.USAGE


def test_the_command_keeps_its_own_options(tmp_path: Path) -> None:
    done = run(tmp_path, sys.executable, "-c", "import sys; print(sys.argv[1:])", "--json", "--report")
    assert done.returncode == ExitCode.OK, done.stderr
    assert done.stdout == "['--json', '--report']\n"


def test_a_command_that_sends_nothing_is_said_but_keeps_its_code(tmp_path: Path) -> None:
    done = run(tmp_path, "--", sys.executable, "-c", "pass")
    assert done.returncode == ExitCode.OK, done.stderr
    assert "sent nothing to SENTRY_DSN: does its SDK read it?" in done.stderr
    assert "more: sentry-mirror report" not in done.stderr


def test_json_is_alone_on_stdout_and_says_what_was_sent(tmp_path: Path) -> None:
    done = run(tmp_path, "--json", "--", *app(["first", "second"], 5))
    assert done.returncode == 5, done.stderr
    data = json.loads(done.stdout)
    assert "app output" in done.stderr
    (sdk,) = data.pop("sdks")
    assert (sdk["sdk"], sdk["requests"], sdk["envelopes"], list(sdk["items"].items())) == (
        "sentry.python",
        5,
        5,
        [("event", 4), ("transaction", 1)],
    )
    (snapshot,) = data.pop("snapshots")
    assert (tmp_path / snapshot).is_file()
    assert data.pop("dsn").startswith("http://mirror@127.0.0.1:")
    assert data == {
        "command": app(["first", "second"], 5),
        "exit_code": 5,
        "command_exit_code": 5,
        "timed_out": False,
        "interrupted": False,
        "settle_cut_s": None,
        "requests": 5,
        "envelopes": 5,
        "events": 4,
        "event_titles": [
            {"title": "first", "count": 1},
            {"title": "second", "count": 1},
            {"title": "KeyError: 'basket'", "count": 2},
        ],
        "event_titles_more": 0,
        "sdks_more": 0,
        "rejected": {},
    }


def test_report_prints_the_report_over_this_runs_files_only(tmp_path: Path) -> None:
    run(tmp_path, "--", sys.executable, HELLO)
    done = run(tmp_path, "--report", "--", *app([]))
    assert done.returncode == ExitCode.OK, done.stderr
    assert len(list((tmp_path / "snapshots").iterdir())) == 2
    output, report = done.stdout.split("\n", 1)
    assert output == "app output"  # the command's, before the report
    assert report.startswith("sentry-mirror report: snapshots/")
    for title in ("1. Traffic", "3. Issues", "9. What a server must support"):
        assert re.search(rf"^{re.escape(title)} ─", report, re.MULTILINE), title
    assert re.search(r"^requests +3 *$", report, re.MULTILINE), report  # two events, one transaction: not HELLO's
    assert "KeyError" in report


def test_json_with_report_holds_the_report(tmp_path: Path) -> None:
    done = run(tmp_path, "--json", "--report", "--", sys.executable, HELLO)
    assert done.returncode == ExitCode.OK, done.stderr
    data = json.loads(done.stdout)
    assert data["report"]["sections"][0] == "traffic"
    assert data["report"]["traffic"]["requests"] == data["requests"] == 1


def test_report_without_a_request_says_so(tmp_path: Path) -> None:
    done = run(tmp_path, "--report", "--", sys.executable, "-c", "pass")
    assert done.returncode == ExitCode.OK, done.stderr
    assert done.stdout == ""
    assert "warning: no request arrived: no report" in done.stderr


def test_titles_are_shown_escaped_and_capped(tmp_path: Path) -> None:
    messages = ["[bold]markup[/bold] \x1b[31mred"] + [f"message {n}" for n in range(MAX_TITLES + 1)]
    done = run(tmp_path, "--", *app(messages))
    assert done.returncode == ExitCode.OK, done.stderr
    lines = summary_lines(done.stderr)
    assert "    [bold]markup[/bold] \\x1b[31mred" in lines
    assert "\x1b" not in done.stderr
    assert f"    message {MAX_TITLES - 2}" in lines
    assert f"    message {MAX_TITLES - 1}" not in lines
    (snapshot,) = (tmp_path / "snapshots").iterdir()
    assert f"    … 3 more title(s): sentry-mirror inspect snapshots/{snapshot.name}" in lines


def test_the_timeout_ends_the_command_and_run_exits_as_it_did(tmp_path: Path) -> None:
    started = time.monotonic()
    done = run(tmp_path, "--timeout", "1s", "--", sys.executable, "-c", "import time; time.sleep(60)")
    assert done.returncode == 128 + signal.SIGTERM, done.stderr
    assert "did not end within --timeout: stopped by SIGTERM" in done.stderr
    assert time.monotonic() - started < 30


def _ready(tmp_path: Path, code: str, *args: str) -> subprocess.Popen[str]:
    """``run -- python -c CODE ARGS`` in a session of its own, once CODE printed ``ready``."""
    argv = [sys.executable, "-m", "sentry_mirror", "run", "--dir", str(tmp_path), "--", sys.executable, "-c", code]
    process = subprocess.Popen(
        [*argv, *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    assert process.stdout is not None
    if process.stdout.readline().strip() != "ready":
        end(process)
        raise AssertionError("the command did not get ready")
    return process


def test_sigint_to_run_reaches_the_command_and_run_exits_130(tmp_path: Path) -> None:
    marker = tmp_path / "got"
    code = """
        import signal, sys, time
        def stop(signum, frame):
            open(sys.argv[1], "w").write("SIGINT")
            sys.exit(0)
        signal.signal(signal.SIGINT, stop)
        print("ready", flush=True)
        time.sleep(60)
    """
    process = _ready(tmp_path, textwrap.dedent(code), str(marker))
    try:
        os.kill(process.pid, signal.SIGINT)
        assert process.wait(timeout=30) == ExitCode.INTERRUPTED  # though the command exited 0
        assert marker.read_text() == "SIGINT"
    finally:
        end(process)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP])
def test_sigterm_or_sighup_to_run_exits_128_plus_that_signal(tmp_path: Path, signum: int) -> None:
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_DFL); print('ready', flush=True); time.sleep(60)"
    )
    process = _ready(tmp_path, code)
    try:
        os.kill(process.pid, signum)
        assert process.wait(timeout=30) == 128 + signum  # as a shell says a job ended by it
    finally:
        end(process)


def test_ctrl_c_in_a_terminal_ends_the_command_and_run_exits_130(tmp_path: Path) -> None:
    marker = tmp_path / "got"
    argv = [sys.executable, "-m", "sentry_mirror", "run", "--dir", str(tmp_path), "--"]
    argv += [sys.executable, "-c", textwrap.dedent(COUNTING), str(marker)]
    status = in_a_terminal(argv, b"\x03")  # Ctrl-C: SIGINT to the terminal's foreground group, the command's
    assert os.waitstatus_to_exitcode(status) == ExitCode.INTERRUPTED
    assert marker.read_text() == "SIGINT\n"  # once: run did not send it a second


# ---------------------------------------------------------------- as functions


def probed(
    code: int | None, *, settle_cut: float | None = None, interrupted: bool = False, signalled: int | None = None
) -> Probed:
    stopped = Stopped(records=1, files=(Path("snapshots/a.jsonl.zst"),))
    return Probed(
        ("app",),
        "http://mirror@127.0.0.1:1/1",
        code,
        stopped,
        settle_cut=settle_cut,
        interrupted=interrupted,
        signalled=signalled,
    )


@pytest.mark.parametrize(
    ("code", "settle_cut", "interrupted", "expected"),
    [
        (0, None, False, 0),
        (7, None, False, 7),
        (255, None, False, 255),
        (-signal.SIGKILL, None, False, 137),
        (None, None, True, ExitCode.INTERRUPTED),
        (0, None, True, ExitCode.INTERRUPTED),
        (0, 31.0, False, ExitCode.CHECK_FAILED),  # it "passed", but what it left kept sending
        (-signal.SIGTERM, None, signal.SIGTERM, 143),  # SIGTERM to run, passed on
        (0, None, signal.SIGHUP, 129),  # though the command caught it and exited 0
        (None, None, signal.SIGINT, ExitCode.INTERRUPTED),
        (4, 31.0, False, 4),
    ],
)
def test_the_exit_code(code: int | None, settle_cut: float | None, interrupted: bool | int, expected: int) -> None:
    signalled = interrupted if not isinstance(interrupted, bool) else None
    done = probed(code, settle_cut=settle_cut, interrupted=bool(interrupted), signalled=signalled)
    assert exit_code(done) == expected


def test_requests_past_the_settle_limit_are_a_warning() -> None:
    out = io.StringIO()
    gone = probed(0, settle_cut=31.2)
    _say(Console(file=out, width=200), gone, summarise(()), exit_code(gone))
    assert (
        "warning: requests kept arriving 31 s after app ended (a process it left behind?): "
        "its process group was killed; exit 1\n"
    ) in out.getvalue()


def said(records: list[dict[str, Any]], width: int = 200) -> list[str]:
    """The summary ``_say`` prints for ``records`` (the command exited 0; one snapshot file)."""
    out = io.StringIO()
    done = probed(0)
    _say(Console(file=out, width=width), done, summarise(describe(r) for r in records), exit_code(done))
    return out.getvalue().splitlines()[1:]


def test_the_summary_names_sdks_escaped_errors_and_where_to_look() -> None:
    hostile = ("evil\x1b[31m[bold]sdk", "1")
    items = [({"type": "event"}, make_event()), ({"type": "transaction"}, {"type": "transaction"})]
    store = make_request(path="/api/1/store/", headers=[("Content-Type", "application/x-sentry-envelope")])
    records = [
        make_sdk_record(("event", "attachment")),
        make_sdk_record(("event",), status=502),
        make_record(dataclasses.replace(store, body=make_envelope(items=items))),  # no SDK; answered 413
        make_record(
            make_request(path="/api/1/security/", body=CSP, headers=[("Content-Type", "application/csp-report")])
        ),
        make_sdk_record(("evil\x1b]8;;x\x07type",), sdk=hostile),
    ]
    assert said(records) == [
        "app exited 0: 5 requests, 4 envelopes",
        "  sentry.python 2.75.0  2 envelopes: 2×event+attachment",
        "  (no SDK)  2 requests, 1 envelope: event+transaction+raw_security",
        "  evil\\x1b[31m[bold]sdk 1  1 envelope: evil\\x1b]8;;x\\x07type",
        "  3 error events:",
        "    ZeroDivisionError: division by zero  ×3",
        "  answered with an error: 1×413, 1×502",
        "    see sentry-mirror inspect --status 4xx snapshots/a.jsonl.zst",
        "    see sentry-mirror inspect --status 5xx snapshots/a.jsonl.zst",
        "  into  snapshots/a.jsonl.zst",
        "  more: sentry-mirror report snapshots/a.jsonl.zst",
    ]


def test_a_long_title_is_cut_and_keeps_its_count() -> None:
    title = "PaymentDeclined: the card ending 0000 was declined by the issuer for order 12345 " * 2
    lines = said([make_sdk_record((({"type": "event"}, make_event(message=title, exception=None)),))] * 3, width=80)
    (line,) = (line for line in lines if line.startswith("    Payment"))
    assert line.endswith("…  ×3")
    assert len(line) == 80


def test_sdks_and_their_item_types_are_capped() -> None:
    kinds = tuple(f"t{n}" for n in range(MAX_TYPES + 4))
    records = [make_sdk_record(kinds, sdk=(f"sdk{n}", "1")) for n in range(MAX_SDKS + 2)]
    lines = said(records)
    assert lines[1] == "  sdk0 1  1 envelope: " + "+".join(kinds[:MAX_TYPES]) + " +4 more types"
    assert sum(line.startswith("  sdk") for line in lines) == MAX_SDKS
    assert "  … 2 more SDK(s): sentry-mirror report --section traffic snapshots/a.jsonl.zst" in lines
