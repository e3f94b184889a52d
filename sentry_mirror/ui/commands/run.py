"""``sentry-mirror run``: run an app or a test suite against a mirror of its own, say what
its SDK sent, and exit as it did."""

from __future__ import annotations

import os
import shlex
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from rich.console import Console
from rich.text import Text

from sentry_mirror.core import report
from sentry_mirror.core.malformed import Malformed
from sentry_mirror.core.query import Query
from sentry_mirror.core.run_summary import capped, summarise
from sentry_mirror.errors import ExitCode
from sentry_mirror.ui import render, render_report_terminal, report_document
from sentry_mirror.ui.commanding import (
    SIGNALLED,
    command_options,
    diagnostics,
    directory_option,
    ended,
    interrupted_code,
    left_behind,
    run_probed,
    sent_nothing,
    settle_cut,
)
from sentry_mirror.ui.env import Env
from sentry_mirror.ui.reading import reading, warn
from sentry_mirror.ui.report_output import build, draw
from sentry_mirror.ui.safe import assemble, json_text, text

if TYPE_CHECKING:
    from sentry_mirror.io.probe import Probed

#: Distinct error event titles, SDKs, and item types per SDK the summary on stderr lists
#: (the JSON's caps: :mod:`sentry_mirror.core.run_summary`).
MAX_TITLES = 10
MAX_SDKS = 10
MAX_TYPES = 6


@click.command(
    "run",
    context_settings={"allow_interspersed_args": False},  # everything from CMD on is CMD's
)
@click.option("--report", "with_report", is_flag=True, help="Print the report over this run's requests on stdout.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON (CMD's stdout then goes to stderr).")
@directory_option
@command_options
@click.pass_obj
def run_command(
    env: Env,
    /,
    with_report: bool,
    as_json: bool,
    directory: Path,
    settle: float,
    timeout: float | None,
    command: tuple[str, ...],
) -> None:
    """Run CMD with SENTRY_DSN pointing at a mirror, wait until its SDK flushed, and say
    what it sent: requests, envelopes per SDK and item type, the errors' titles, the
    snapshot files (read them later with report, inspect, group). For any language: CMD
    is your app or your test suite.

    The exit code is CMD's (128+N when signal N ended it); 3 when CMD cannot be started;
    130 on Ctrl-C; 1 when CMD exited 0 but requests kept coming after it ended.

    Examples:

    \b
        sentry-mirror run -- python app.py
        sentry-mirror run --report -- node app.js
        sentry-mirror run --json --timeout 10m -- npm test
    """
    from sentry_mirror.io.listener import ListenOptions  # the server stack: only the commands that listen need it
    from sentry_mirror.io.probe import ProbeOptions

    listening = ListenOptions(host="127.0.0.1", port=0, directory=directory)
    options = ProbeOptions(command, listening, settle=settle, timeout=timeout, stdout_to_stderr=as_json)
    err = diagnostics()
    probed = run_probed(options, err, as_json=as_json)
    paths = tuple(str(path) for path in probed.stopped.files)
    summary = _summary(probed, paths)
    code = exit_code(probed)
    _say(err, probed, summary, code)
    data = _report(paths, err) if with_report else None
    if as_json:
        click.echo(
            json_text({**_json(probed, summary, code), **({"report": data} if with_report else {})}, indent=True)
        )
    elif data is not None:
        document = report_document.document(data)
        title = f"sentry-mirror report: {', '.join(_shown(paths))}"
        draw(env, lambda console: render_report_terminal.terminal(console, document, title), None)
    raise click.exceptions.Exit(code)


def exit_code(probed: Probed) -> int:
    """CMD's exit code; 128+N when signal N ended it (``--timeout``'s SIGTERM: 143); when
    interrupted, 128 + the signal ``run`` got (:func:`interrupted_code`: 130 for Ctrl-C, 143
    for SIGTERM); 1 for a CMD that exited 0 while what it left behind kept sending (killed at
    the settle limit): a gate must not pass on a run that did not end."""
    if probed.interrupted or probed.exit_code is None:
        return interrupted_code(probed)
    code = probed.exit_code if probed.exit_code >= 0 else SIGNALLED - probed.exit_code
    if code == 0 and probed.settle_cut is not None:
        return ExitCode.CHECK_FAILED
    return code


def _summary(probed: Probed, paths: tuple[str, ...]) -> dict[str, Any]:
    """:func:`summarise` over the records this listener wrote (none without a file)."""
    if not paths:
        return summarise(())
    malformed = Malformed(where="run")
    with reading(paths, malformed) as records:
        return summarise(row for _, row in Query().select(records, malformed))


def _report(paths: tuple[str, ...], err: Console) -> dict[str, Any] | None:
    """The report over this run's files (what ``report --format json`` prints), None without any."""
    if not paths:
        warn("no request arrived: no report", err)
        return None
    data: dict[str, Any] = build(paths, (), report.TOP_GROUPS, Query()).to_json()
    return data


def _json(probed: Probed, summary: dict[str, Any], code: int) -> dict[str, Any]:
    return {
        "command": list(probed.command),
        "dsn": probed.dsn,
        "exit_code": code,
        "command_exit_code": probed.exit_code,
        "timed_out": probed.timed_out,
        "interrupted": probed.interrupted,
        "settle_cut_s": round(probed.settle_cut, 3) if probed.settle_cut is not None else None,
        **capped(summary),
        "snapshots": [str(path) for path in probed.stopped.files],
    }


def _shown(paths: tuple[str, ...]) -> list[str]:
    return [os.path.relpath(path) for path in paths]


def _say(err: Console, probed: Probed, summary: dict[str, Any], code: int) -> None:
    """The summary on stderr: how CMD ended and what it sent; what went wrong; how to read more."""
    files = _shown(tuple(str(path) for path in probed.stopped.files))
    err.print()
    err.print(
        assemble((ended(probed), "yellow" if probed.timed_out else "bold"), f": {_counts(summary)}"), soft_wrap=True
    )
    _sdks(err, summary, files)
    _titles(err, summary, files)
    _rejected(err, summary, files)
    cut = settle_cut(probed)
    if cut is not None:
        warn(cut + (f"; exit {code}" if probed.exit_code == 0 else ""), err)
    left = left_behind(probed)
    if left is not None:
        warn(left, err)
    if not sent_nothing(err, probed) and files:
        err.print(assemble("  into  ", (", ".join(files), "bold")), soft_wrap=True)
        _hint(err, "  more: ", ["report"], files)


def _sdks(err: Console, summary: dict[str, Any], files: list[str]) -> None:
    """Per SDK (MAX_SDKS at most, most requests first): what it sent, MAX_TYPES item types at most."""
    for sdk in summary["sdks"][:MAX_SDKS]:
        name = " ".join(part for part in (sdk["sdk"], sdk["version"]) if part) or render.NO_SDK
        types = list(sdk["items"].items())
        label = render.item_label(list(Counter(dict(types[:MAX_TYPES])).elements()))
        label += f" +{len(types) - MAX_TYPES} more types" if len(types) > MAX_TYPES else ""
        err.print(_cut(err, "  ", (name, "bold"), f"  {_counts(sdk)}: {label}"), no_wrap=True, overflow="ellipsis")
    more = len(summary["sdks"]) - MAX_SDKS
    if more > 0:
        _hint(err, f"  … {more} more SDK(s): ", ["report", "--section", "traffic"], files)


def _titles(err: Console, summary: dict[str, Any], files: list[str]) -> None:
    """The error events' titles, MAX_TITLES at most, each on one line: the title cut to the
    terminal, its count kept."""
    if not summary["events"]:
        return
    err.print(f"  {_count(summary['events'], 'error event')}:")
    for entry in summary["event_titles"][:MAX_TITLES]:
        times = f"  ×{entry['count']}" if entry["count"] > 1 else ""
        err.print(_cut(err, "    ", (entry["title"], "red"), times), no_wrap=True, overflow="ellipsis")
    more = len(summary["event_titles"]) - MAX_TITLES
    if more > 0:
        _hint(err, f"    … {more} more title(s): ", ["inspect"], files)


def _rejected(err: Console, summary: dict[str, Any], files: list[str]) -> None:
    """The requests answered with an error, by status, and how to list them."""
    if not summary["rejected"]:
        return
    statuses = ", ".join(f"{n}×{status}" for status, n in summary["rejected"].items())
    err.print(f"  answered with an error: {statuses}", style="yellow")
    for family in sorted({f"{status[0]}xx" for status in summary["rejected"]}):
        _hint(err, "    see ", ["inspect", "--status", family], files)


def _hint(err: Console, lead: str, arguments: list[str], files: list[str]) -> None:
    """A dim line: ``lead`` and the sentry-mirror command over this run's files."""
    err.print(text(lead + shlex.join(["sentry-mirror", *arguments, *files]), style="dim"), soft_wrap=True)


def _cut(err: Console, lead: str, cell: tuple[str, str], tail: str) -> Text:
    """``lead``, ``cell`` and ``tail`` on one line of the console's width: the cell cut (with
    an ellipsis) so that the tail (a count) stays whole."""
    head = assemble(lead, cell)
    end = assemble(tail)
    head.truncate(max(err.width - end.cell_len, len(lead) + 1), overflow="ellipsis")
    head.append_text(end)
    return head


def _counts(summary: dict[str, Any]) -> str:
    requests, envelopes = summary["requests"], summary["envelopes"]
    if requests == envelopes:
        return _count(envelopes, "envelope")
    return f"{_count(requests, 'request')}, {_count(envelopes, 'envelope')}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")
