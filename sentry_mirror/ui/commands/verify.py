"""``sentry-mirror verify``: is a capture whole? Every frame and group against its checks."""

from __future__ import annotations

import sys

import click
import orjson
from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from sentry_mirror.errors import ExitCode, MirrorError
from sentry_mirror.io.snapshot import expand
from sentry_mirror.io.verify import FileCheck, verify_file
from sentry_mirror.ui.env import Env
from sentry_mirror.ui.fit import middle
from sentry_mirror.ui.render import COLUMN_GAP, human_size


def _plain(value: object) -> Text:
    """Text as it is: a file name is never read as markup, and control characters are shown escaped."""
    return Text("".join(c if c.isprintable() else repr(c)[1:-1] for c in str(value)))


def _checks_label(check: FileCheck) -> str:
    if check.checked:
        return "full"
    return "frames only" if check.frames else "none"


def _table(checks: list[FileCheck], width: int) -> Table:
    """One row per file; a path too long for ``width`` is cut in the middle (``--json`` has it)."""
    rows = []
    for check in checks:
        status = check.status + (", last frame open" if check.open_frame and check.ok else "")
        cells = [str(check.records), str(check.frames + check.unchecked_frames), _checks_label(check)]
        rows.append(
            (_plain(check.path), [human_size(check.size), *cells], Text(status, style="" if check.ok else "red"))
        )
    others = [
        max(len(name), *(len(row[1][i]) for row in rows))
        for i, name in enumerate(("size", "records", "frames", "checks"))
    ]
    others.append(max(len("status"), *(len(row[2]) for row in rows)))
    room = width - sum(others) - COLUMN_GAP * len(others) - 2  # the two edges
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("file", overflow="fold", ratio=1)
    for name in ("size", "records", "frames"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("checks", no_wrap=True)
    table.add_column("status", no_wrap=True)
    for path, cells, shown in rows:
        table.add_row(Text(middle(path.plain, max(room, 12))), *cells, shown)
    return table


def _summary(checks: list[FileCheck]) -> str:
    damaged = [c for c in checks if not c.ok]
    answers = sum(c.answers for c in checks)
    records = f"{sum(c.records for c in checks)} record(s)" + (f" ({answers} answer records)" if answers else "")
    if damaged:
        lost = sum(d.end - d.start for c in damaged for d in c.damage)
        return f"{len(damaged)} of {len(checks)} file(s) damaged ({lost} bytes skipped); {records} passed their checks"
    return f"{len(checks)} file(s), {records}: every check passed"


def _json(checks: list[FileCheck], failed: bool) -> None:
    out = sys.stdout.buffer
    for check in checks:
        out.write(orjson.dumps(check.to_dict(), option=orjson.OPT_APPEND_NEWLINE))
    summary = {
        "summary": True,
        "ok": not failed,
        "files": len(checks),
        "damaged_files": sum(not c.ok for c in checks),
        "records": sum(c.records for c in checks),
        "answers": sum(c.answers for c in checks),
    }
    out.write(orjson.dumps(summary, option=orjson.OPT_APPEND_NEWLINE))
    out.flush()


@click.command("verify")
@click.argument("snapshots", nargs=-1, metavar="[SNAPSHOT]...")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file, then a summary object.")
@click.pass_obj
def verify_command(env: Env, snapshots: tuple[str, ...], as_json: bool) -> None:
    """Check that snapshot files are whole: exit 0 when they are, 1 when anything is damaged.

    Every zstd frame is checked against its checksum and every group of records against
    its mark; damage is listed with its file and byte range. SNAPSHOT is a file, a
    directory or a glob (default: snapshots/). A last frame still open (a listener
    writing it, or killed) is no damage; files from older versions carry fewer checks.

    Examples:

    \b
        sentry-mirror verify
        sentry-mirror verify snapshots/ --json
    """
    paths = expand(snapshots or ("snapshots",))
    if not paths:
        raise MirrorError(f"no snapshot files in {', '.join(snapshots or ('snapshots',))}: nothing to verify")
    checks = [verify_file(path) for path in paths]
    failed = any(not c.ok for c in checks)
    if as_json:
        _json(checks, failed)
    else:
        console: Console = env.console
        console.print(_table(checks, console.width))
        for check in checks:
            for problem in check.problems:
                console.print(_plain(f"damage: {problem}"), style="red", soft_wrap=True)
        console.print(_summary(checks), style="red" if failed else "green", markup=False)
    if failed:
        raise click.exceptions.Exit(ExitCode.CHECK_FAILED)
