"""`replay --verify-stored` through the CLI: the committed sample into a real Bugsink (every
event found stored through its canonical API), and into candidate stubs that answer 200 and
drop what they were sent (tests/io/test_stored_api.py has the stub)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
import pytest
from click.testing import CliRunner, Result

from sentry_mirror.errors import ExitCode
from sentry_mirror.io.stored_api import TOKEN_ENV
from sentry_mirror.ui.cli import cli
from tests.bugsink import Bugsink
from tests.io.test_stored_api import TOKEN, candidate
from tests.ui.test_replay_cmd import ENV, SAMPLE, sample

EVENTS = sum(1 for d in sample() for i in d["summary"]["items"] if i["type"] == "event")


async def run(*args: str, token: str | None = TOKEN) -> Result:
    env = {**ENV, TOKEN_ENV: token or ""}
    result = await asyncio.to_thread(CliRunner().invoke, cli, ["replay", str(SAMPLE), *args], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def verdicts(result: Result) -> dict[str, Any]:
    """The ``{"verify_stored": …}`` line ``--json`` ends stdout with."""
    last = orjson.loads(result.stdout.splitlines()[-1])
    assert isinstance(last, dict)
    summary: dict[str, Any] = last["verify_stored"]
    return summary


def auth_token(bugsink: Bugsink) -> str:
    """A Bugsink API token: ``create_auth_token`` prints it (40 hex digits) on a line of its own."""
    (token,) = re.findall(r"^[0-9a-f]{40}$", bugsink.manage("create_auth_token"), re.MULTILINE)
    return token


async def test_bugsink_stored_every_event_of_the_sample(bugsink: Bugsink) -> None:
    project, dsn = bugsink.project()
    token = auth_token(bugsink)
    result = await run(
        "--to", dsn, "--fresh-ids", "--shift-timestamps", "--concurrency", "1", "--verify-stored", "--json", token=token
    )
    assert 0 == result.exit_code, result.output
    summary = verdicts(result)
    assert "bugsink" == summary["kind"] and 0 == summary["not_stored"]
    assert {"stored": EVENTS, "not_stored": 0, "rejected": 0, "cannot_tell": 0} == summary["item_types"]["event"]
    assert EVENTS == len(bugsink.stored_events(project))
    # Bugsink's API lists error events only: what else it answered 200 to, it cannot tell about
    cannot = {entry["item_type"]: entry["reason"] for entry in summary["cannot_tell"]}
    assert {"check_in", "session", "log"} <= set(cannot)
    assert "Bugsink's API has no lookup for check_in items" == cannot["check_in"]
    assert "verify-stored: Bugsink's API at" in result.stderr and "(detected)" in result.stderr
    assert f"{EVENTS} item(s) stored, 0 answered 2xx but not stored, 0 rejected, " in result.stderr
    assert token not in result.output + result.stderr


async def test_bugsink_refuses_a_wrong_token_before_anything_is_sent(bugsink: Bugsink) -> None:
    project, dsn = bugsink.project()
    result = await run("--to", dsn, "--fresh-ids", "--verify-stored", "--api-kind", "bugsink", token="0" * 40)
    assert ExitCode.ERROR == result.exit_code
    assert "refused the token in SENTRY_MIRROR_API_TOKEN (401: Invalid Bearer token.)" in result.output
    assert [] == bugsink.stored_events(project)


async def test_bugsink_without_the_project_is_said_before_sending(bugsink: Bugsink) -> None:
    _, dsn = bugsink.project()
    missing = dsn.rsplit("/", 1)[0] + "/987654"
    result = await run("--to", missing, "--verify-stored", token=auth_token(bugsink))
    assert ExitCode.ERROR == result.exit_code
    assert f"Bugsink's API at {bugsink.url} has no project 987654" in result.output


async def test_a_candidate_that_answers_200_and_drops_fails_the_check() -> None:
    async with candidate() as stub:
        result = await run(
            "--to",
            stub.dsn(),
            "--fresh-ids",
            "--item-type",
            "event",
            "--encoding",
            "identity",
            "--verify-stored",
            "--api-project",
            "acme/backend",
            "--verify-wait",
            "1s",
        )
    assert ExitCode.CHECK_FAILED == result.exit_code, result.output
    assert EVENTS == len(stub.received) and not stub.kept
    assert f"{EVENTS} item(s) answered 2xx but not stored" in result.output
    assert re.search(rf"event\s+0\s+{EVENTS}\s+0\s+0", result.output)
    assert "verify-stored: Sentry's API at" in result.output
    (shown,) = re.findall(r"not stored \(event\): ([0-9a-f, ]+) and (\d+) more", result.output)
    assert set(shown[0].split(", ")) < set(stub.received) and EVENTS - 5 == int(shown[1])


async def test_a_candidate_that_keeps_some(tmp_path: Any) -> None:
    async with candidate(keeps=lambda event_id: int(event_id[-1], 16) % 2 == 0) as stub:
        result = await run(
            "--to",
            stub.dsn(),
            "--fresh-ids",
            "--item-type",
            "event",
            "--encoding",
            "identity",
            "--verify-stored",
            "--api-kind",
            "sentry",
            "--api-project",
            "acme/backend",
            "--verify-wait",
            "0s",
            "--json",
        )
    summary = verdicts(result)
    kept = len(stub.kept)
    assert {"stored": kept, "not_stored": EVENTS - kept, "rejected": 0, "cannot_tell": 0} == summary["item_types"][
        "event"
    ]
    assert (ExitCode.CHECK_FAILED if kept < EVENTS else ExitCode.OK) == result.exit_code
    assert set(summary["not_stored_examples"]["event"]) == set(stub.received) - stub.kept


async def test_a_token_the_api_refuses_is_a_clear_error_and_nothing_is_sent() -> None:
    async with candidate() as stub:
        result = await run(
            "--to", stub.dsn(), "--verify-stored", "--api-project", "acme/backend", token="not-the-token"
        )
    assert ExitCode.ERROR == result.exit_code
    assert "refused the token in SENTRY_MIRROR_API_TOKEN (401: Invalid token)" in result.output
    assert [] == stub.received and "not-the-token" not in result.output


@pytest.mark.parametrize(
    ("args", "token", "message"),
    [
        (("--verify-stored",), None, f"set {TOKEN_ENV}"),
        (("--verify-stored", "--api-project", "acme"), TOKEN, "expected ORG/SLUG"),
        (("--verify-stored", "--api-kind", "glitchtip"), TOKEN, "needs --api-project ORG/SLUG"),
        (("--api-project", "acme/backend"), TOKEN, "go with --verify-stored"),
    ],
)
async def test_what_is_missing_is_said_before_sending(args: tuple[str, ...], token: str | None, message: str) -> None:
    async with candidate() as stub:
        result = await run("--to", stub.dsn(), *args, token=token)
    assert result.exit_code in (ExitCode.ERROR, ExitCode.USAGE)
    assert message in result.output
    assert [] == stub.received


def test_the_stored_table_fits_80_columns_and_shows_captured_text_literally() -> None:
    from rich.console import Console

    from sentry_mirror.core.replay.stored import StoredCheck
    from sentry_mirror.ui.render_replay import stored_report
    from tests.io.test_stored_api import accepted

    check = StoredCheck("sentry", project="1", api="Sentry's API at http://127.0.0.1:9")
    for n in range(3):
        check.add(accepted(f"{n:032x}"))
    check.add(accepted("f" * 32, item_types=("event", "[bold]x\x1b[2J")))
    check.found(f"{0:032x}")
    check.finish()
    console = Console(width=80, record=True, color_system=None)
    stored_report(console, check)
    out = console.export_text()
    assert all(len(line) <= 80 for line in out.splitlines()[:6]), out
    assert re.search(r"event\s+1\s+3\s+0\s+0", out)
    assert "[bold]x\\x1b[2J" in out and "\x1b" not in out  # the item type as captured, escaped
    assert "1 item(s) stored, 3 answered 2xx but not stored, 0 rejected, 1 cannot tell (" in out
