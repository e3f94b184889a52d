"""``sentry-mirror probe``: run an app against scripted answers and judge what its SDK did."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console

from sentry_mirror.core import report
from sentry_mirror.core.query import Query
from sentry_mirror.core.report.behaviour import failed
from sentry_mirror.errors import CheckFailed, ExitCode
from sentry_mirror.ui import render_report_behaviour
from sentry_mirror.ui.commanding import (
    command_options,
    diagnostics,
    directory_option,
    ended,
    left_behind,
    run_probed,
    sent_nothing,
    settle_cut,
)
from sentry_mirror.ui.env import Env
from sentry_mirror.ui.reading import warn
from sentry_mirror.ui.report_output import build
from sentry_mirror.ui.safe import json_text
from sentry_mirror.ui.scripting import load_script, script_options

if TYPE_CHECKING:
    from sentry_mirror.io.probe import Probed

#: The banner's line when no answer is scripted.
UNSCRIPTED = "no scenario or script: every request is answered as a healthy Relay"


@click.command(
    "probe",
    context_settings={"allow_interspersed_args": False},  # everything from CMD on is CMD's
)
@script_options
@directory_option
@click.option(
    "--project", type=click.IntRange(min=0), default=1, show_default=True, help="Project id in the DSN given to CMD."
)
@click.option("--json", "as_json", is_flag=True, help="Print the verdicts as JSON (CMD's stdout then goes to stderr).")
@command_options
@click.pass_obj
def probe_command(
    env: Env,
    /,
    scenarios: tuple[str, ...],
    script_file: Path | None,
    seed: int | None,
    project: int,
    as_json: bool,
    directory: Path,
    settle: float,
    timeout: float | None,
    command: tuple[str, ...],
) -> None:
    """Run CMD with SENTRY_DSN pointing at a mirror that answers as scripted, then say
    what its SDK did: backed off on 429, honoured Retry-After, retried after 5xx, what it
    reported dropping. Works for any language: CMD is your app or your test suite.

    Exit code 0 when every verdict passes and CMD exited 0; 1 when a verdict failed, CMD
    did not exit 0, CMD sent nothing, or requests kept coming after CMD ended; 2 for a bad
    script; 3 when CMD cannot be started; 130 on Ctrl-C.

    Examples:

    \b
        sentry-mirror probe --scenario rate-limit-all:10s -- python app.py
        sentry-mirror probe --scenario outage:20s --json -- node app.js
        sentry-mirror probe --script answers.toml --timeout 5m -- npm test
    """
    script = load_script(script_file, scenarios, seed)
    from sentry_mirror.io.listener import ListenOptions  # the server stack: only the commands that listen need it
    from sentry_mirror.io.probe import ProbeOptions

    listening = ListenOptions(host="127.0.0.1", port=0, directory=directory, script=script)
    options = ProbeOptions(command, listening, str(project), settle, timeout, stdout_to_stderr=as_json)
    err = diagnostics()
    probed = run_probed(options, err, as_json=as_json, note=UNSCRIPTED if script is None else None)
    data = _behaviour(probed)
    problems = _problems(probed, data)
    _warn(err, probed)
    if as_json:
        click.echo(json_text(_json(probed, data, problems), indent=True))
    else:
        _render(env.console, probed, data)
    _exit(probed, problems)


def _behaviour(probed: Probed) -> dict[str, Any]:
    """The behaviour section over the records this listener wrote (empty without any)."""
    if not probed.stopped.files:
        return {}
    paths = tuple(str(path) for path in probed.stopped.files)
    section: dict[str, Any] = build(paths, ("behaviour",), report.TOP_GROUPS, Query()).section("behaviour")
    return section


def _json(probed: Probed, data: dict[str, Any], problems: list[str]) -> dict[str, Any]:
    return {
        **data,
        "command": list(probed.command),
        "exit_code": probed.exit_code,
        "timed_out": probed.timed_out,
        "interrupted": probed.interrupted,
        "snapshots": [str(path) for path in probed.stopped.files],
        "requests": probed.stopped.records,
        "scripted": probed.scripted,
        "failed": problems,
    }


def _render(console: Console, probed: Probed, data: dict[str, Any]) -> None:
    if data:
        render_report_behaviour.render(console, data)
    files = ", ".join(str(path) for path in probed.stopped.files) or "none"
    console.print(
        f"{probed.stopped.records} request(s), {probed.scripted} scripted; {ended(probed)}; snapshots: {files}",
        style="dim",
        highlight=False,
        markup=False,
        soft_wrap=True,
    )


def _warn(err: Console, probed: Probed) -> None:
    """On stderr: a command that sent nothing (loud: nothing was probed), or nothing scripted;
    what it left running."""
    if not sent_nothing(err, probed) and not probed.interrupted and probed.scripted == 0:
        err.print("no request got a scripted answer: nothing to judge", style="yellow")
    left = left_behind(probed)
    if left is not None:
        warn(left, err)


def _problems(probed: Probed, data: dict[str, Any]) -> list[str]:
    """What fails the probe (the ``check failed:`` line's parts), in order."""
    problems = []
    cut = settle_cut(probed)
    if cut is not None:
        problems.append(cut)
    if probed.stopped.records == 0 and not probed.interrupted:
        problems.append(f"{probed.command[0]} sent nothing to SENTRY_DSN: nothing to probe")
    if data and failed(data):
        problems.append("a verdict failed: " + ", ".join(_failures(data)))
    if probed.timed_out or probed.exit_code != 0:
        problems.append(ended(probed))
    return problems


def _exit(probed: Probed, problems: list[str]) -> None:
    """130 when interrupted; 1 (a failed check) when there is a problem, saying which."""
    if probed.interrupted:
        raise click.exceptions.Exit(ExitCode.INTERRUPTED)
    if problems:
        raise CheckFailed("; ".join(problems))


def _failures(data: dict[str, Any]) -> list[str]:
    """``sdk version: check`` of each failed verdict (with the project and key when one SDK
    sent to two DSNs, as the report labels it)."""
    rows = data.get("sdks") or []
    return [
        f"{label}: {verdict.get('check')}"
        for label, sdk in zip(render_report_behaviour.labels(rows), rows, strict=True)
        for verdict in sdk.get("verdicts", ())
        if verdict.get("status") == "fail"
    ]
