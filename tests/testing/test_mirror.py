"""Mirror with the real sentry-sdk (same process and subprocesses): start/stop, reading
back from disk, waiting, reset, group, report."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import sentry_sdk
from click.testing import CliRunner

from sentry_mirror.testing import Issue, Mirror, WaitTimeout
from sentry_mirror.testing import loop as shared
from sentry_mirror.testing import mirror as mirror_module
from sentry_mirror.ui.cli import cli
from tests.factories import make_envelope, make_event


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    with Mirror(tmp_path / "snapshots") as running:
        yield running


@pytest.fixture
def sdk(mirror: Mirror) -> Iterator[None]:
    sentry_sdk.init(dsn=mirror.dsn, default_integrations=False, release="app@1", traces_sample_rate=1.0)
    try:
        yield
    finally:
        sentry_sdk.flush()
        sentry_sdk.init()  # no DSN: the global client goes back to doing nothing


def send(mirror: Mirror, body: bytes, path: str = "envelope") -> int:
    """An envelope posted and answered (the SDK's request acknowledged)."""
    request = urllib.request.Request(
        f"http://127.0.0.1:{mirror.port}/api/1/{path}/?sentry_key=mirror&sentry_version=7", data=body, method="POST"
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        return int(answer.status)


def capture(message: str) -> None:
    try:
        raise ValueError(message)
    except ValueError:
        sentry_sdk.capture_exception()


def test_before_start_there_is_no_dsn(tmp_path: Path) -> None:
    mirror = Mirror(tmp_path)
    with pytest.raises(RuntimeError, match="not started"):
        mirror.dsn  # noqa: B018
    assert () == mirror.files
    mirror.stop()  # stopping a mirror never started is nothing


def test_start_and_stop_are_quick_and_leave_no_thread(tmp_path: Path) -> None:
    before = shared.users()
    started = time.perf_counter()
    mirror = Mirror(tmp_path).start()
    assert mirror.dsn == f"http://mirror@127.0.0.1:{mirror.port}/1"
    mirror.stop()
    mirror.stop()  # idempotent
    assert time.perf_counter() - started < 1.0  # not the 5 s grace period: nothing was in flight
    assert before == shared.users()
    assert shared.running() == (before > 0)  # no other Mirror: the thread is joined


def test_stop_with_a_keep_alive_connection_open_is_quick(tmp_path: Path) -> None:
    mirror = Mirror(tmp_path).start()
    connection = http.client.HTTPConnection("127.0.0.1", mirror.port, timeout=5)
    connection.request("POST", "/api/1/envelope/?sentry_key=k", make_envelope())
    assert 200 == connection.getresponse().status
    started = time.perf_counter()
    mirror.stop()
    assert time.perf_counter() - started < 1.0  # an idle connection is no request in flight
    connection.close()
    assert 1 == len(mirror.requests())  # what arrived stays readable after stop
    with pytest.raises(RuntimeError, match="a Mirror starts once"):
        mirror.start()


@pytest.mark.usefixtures("sdk")
def test_an_exception_captured_in_process_is_waited_for(mirror: Mirror) -> None:
    capture("boom")
    (item,) = mirror.wait_for(type="event")
    assert "boom" == item.json["exception"]["values"][0]["value"]
    assert [item.json] == mirror.events()
    (request,) = mirror.requests()
    assert request.sdk is not None and request.sdk.startswith("sentry.python/")
    assert 200 == request.status
    assert mirror.files and all(path.parent == mirror.directory for path in mirror.files)


@pytest.mark.usefixtures("sdk")
def test_transactions_are_read(mirror: Mirror) -> None:
    with sentry_sdk.start_transaction(name="checkout", op="task"):
        pass
    mirror.wait_for(type="transaction")
    assert ["checkout"] == [t["transaction"] for t in mirror.transactions()]


def test_a_record_can_be_read_as_soon_as_its_request_is_answered(mirror: Mirror) -> None:
    for n in range(5):
        assert 200 == send(mirror, make_envelope(items=[({"type": "event"}, make_event(message=str(n)))]))
        assert n + 1 == len(mirror.events())  # no wait: on disk before the answer went out


def test_wait_for_wakes_when_the_record_is_written(mirror: Mirror, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mirror_module, "LOOK_EVERY", 30)  # only the record's wake-up ends the wait in time
    timer = threading.Timer(0.2, lambda: send(mirror, make_envelope()))
    started = time.monotonic()
    timer.start()
    (item,) = mirror.wait_for(type="event", timeout=5)
    waited = time.monotonic() - started
    timer.join()
    assert "event" == item.type
    assert waited < 1.0


def test_wait_for_counts_and_filters(mirror: Mirror) -> None:
    for n in range(3):
        send(mirror, make_envelope(items=[({"type": "event"}, make_event(level="warning" if n else "error"))]))
    assert 2 == len(mirror.wait_for(2, lambda item: item.json["level"] == "warning", type="event"))
    assert 3 == len(mirror.wait_for(0))  # nothing to wait for: every item now
    assert [] == mirror.wait_for(0, type="transaction", timeout=0)


def test_wait_timeout_says_what_arrived_and_what_was_awaited(mirror: Mirror) -> None:
    send(mirror, make_envelope(items=[({"type": "event"}, make_event(message="only this"))]))

    def is_transaction(item: object) -> bool:
        return False

    with pytest.raises(WaitTimeout) as failed:
        mirror.wait_for(2, is_transaction, timeout=0.3, type="transaction")
    message = str(failed.value)
    assert isinstance(failed.value, AssertionError)
    assert message.startswith("waited 0.3 s for 2 item(s) of type 'transaction' matching ")
    assert "is_transaction, found 0; 1 request(s) arrived:" in message
    assert "POST /api/1/envelope/ -> 200  [event]" in message


def test_wait_timeout_when_nothing_arrived(mirror: Mirror) -> None:
    with pytest.raises(WaitTimeout, match=r"^waited 0.1 s for 1 item\(s\), found 0; nothing arrived$"):
        mirror.wait_for(timeout=0.1)


def test_the_summary_is_capped(mirror: Mirror) -> None:
    for _ in range(25):
        send(mirror, make_envelope())
    with pytest.raises(WaitTimeout) as failed:
        mirror.wait_for(type="transaction", timeout=0.05)
    lines = str(failed.value).splitlines()
    assert 22 == len(lines)
    assert "  ... and 5 more" == lines[-1]


def test_many_threads_sending_while_waiting(mirror: Mirror) -> None:
    threads = [threading.Thread(target=lambda: [send(mirror, make_envelope()) for _ in range(10)]) for _ in range(8)]
    for thread in threads:
        thread.start()
    items = mirror.wait_for(80, type="event", timeout=30)
    for thread in threads:
        thread.join()
    assert 80 == len(items) == len(mirror.requests())


def test_reset_forgets_what_arrived_but_not_the_files(mirror: Mirror) -> None:
    send(mirror, make_envelope())
    mirror.reset()
    assert [] == mirror.envelopes()
    send(mirror, make_envelope(items=[({"type": "event"}, make_event(message="after"))]))
    assert ["after"] == [event["message"] for event in mirror.events()]
    mirror.stop()
    assert 2 == sum(1 for _ in _cli_lines(mirror, "inspect", "--json"))


def _cli_lines(mirror: Mirror, *args: str) -> list[str]:
    result = CliRunner().invoke(cli, [*args, str(mirror.directory)], catch_exceptions=False)
    assert 0 == result.exit_code, result.output
    return [line for line in result.stdout.splitlines() if line.strip()]


def test_group_gives_the_issues_group_gives(mirror: Mirror) -> None:
    for message in ("a", "a", "b"):
        send(mirror, make_envelope(items=[({"type": "event"}, make_event(exception=None, message=message))]))
    issues = mirror.group()
    assert all(isinstance(issue, Issue) for issue in issues)
    assert [2, 1] == [issue.count for issue in issues]
    mirror.stop()
    assert [issue.to_dict() for issue in issues] == [json.loads(line) for line in _cli_lines(mirror, "group", "--json")]


def test_report_is_what_report_json_prints(mirror: Mirror) -> None:
    send(mirror, make_envelope())
    send(mirror, make_envelope(items=[({"type": "event"}, make_event(user={"email": "jane@example.com"}))]))
    mine = mirror.report()
    mirror.stop()
    printed = json.loads("\n".join(_cli_lines(mirror, "report", "--format", "json")))
    assert printed == mine


def test_report_counts_the_records_since_the_reset(mirror: Mirror) -> None:
    send(mirror, make_envelope(items=[({"type": "event"}, make_event(message="forgotten"))]))
    mirror.reset()
    send(mirror, make_envelope())
    mine = mirror.report(["traffic", "issues"])
    assert ["traffic", "issues"] == mine["sections"]
    assert 1 == mine["traffic"]["requests"] == mine["issues"]["events"]
    with pytest.raises(ValueError, match="unknown report sections: nope"):
        mirror.report(["nope"])


def test_a_subprocess_sends_with_env(mirror: Mirror) -> None:
    code = "import sentry_sdk; sentry_sdk.init(default_integrations=False); sentry_sdk.capture_message('from a child'); sentry_sdk.flush()"
    subprocess.run([sys.executable, "-c", code], env=mirror.env(), check=True, timeout=60)
    (item,) = mirror.wait_for(type="event")
    assert "from a child" == item.json["message"]


def test_environ_sets_and_restores_sentry_dsn(mirror: Mirror, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SENTRY_DSN", raising=False)
    with mirror.environ() as dsn:
        assert dsn == os.environ["SENTRY_DSN"] == mirror.dsn
    assert "SENTRY_DSN" not in os.environ
    monkeypatch.setenv("SENTRY_DSN", "http://before@example.invalid/2")
    with mirror.environ():
        assert mirror.dsn == os.environ["SENTRY_DSN"]
    assert "http://before@example.invalid/2" == os.environ["SENTRY_DSN"]
    assert {"A": "1", "SENTRY_DSN": mirror.dsn} == mirror.env({"A": "1"})


def test_a_hostile_sdk_name_is_shown_escaped_on_one_line(mirror: Mirror) -> None:
    sdk = {"name": "evil\x1b[31m\nE       fake", "version": "1"}
    send(mirror, make_envelope({"event_id": "a" * 32, "sdk": sdk}, [({"type": "event"}, make_event())]))
    with pytest.raises(WaitTimeout) as failed:
        mirror.wait_for(type="transaction", timeout=0)
    message = str(failed.value)
    assert "\x1b" not in message and 2 == len(message.splitlines())
    assert "evil\\x1b[31m\\nE       fake/1  POST" in message


def test_events_are_fresh_copies(mirror: Mirror) -> None:
    send(mirror, make_envelope())
    mirror.events()[0]["exception"] = None
    mirror.transactions()  # none: no error
    assert mirror.events()[0]["exception"] is not None
