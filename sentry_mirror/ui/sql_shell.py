"""The interactive prompt of ``sentry-mirror sql``: statements end with ``;`` (and may span
lines), dot commands list the views (``.tables``), their columns (``.schema NAME``), and end
it (``.quit``). Line editing comes from readline where Python has it; no history is written
to disk (the queries may quote personal data). A bad statement prints DuckDB's message and
the prompt goes on; Ctrl-C drops the statement being typed (or stops the running one),
Ctrl-D ends."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from rich.table import Table

from sentry_mirror.core.sql import VIEW_NAMES
from sentry_mirror.errors import MirrorError
from sentry_mirror.ui.env import Env
from sentry_mirror.ui.render_sql import emit, split
from sentry_mirror.ui.safe import text

if TYPE_CHECKING:
    from sentry_mirror.io.duck import Session

PROMPT = "sql> "
MORE = "...> "
HELP = ".tables: the views and tables · .schema NAME: a view's columns · .quit: end · statements end with ;"


def _readline() -> None:
    try:
        import readline  # noqa: F401  (line editing for input(); history kept in memory only)
    except ImportError:  # Windows
        pass


def shell(session: Session, env: Env, max_rows: int) -> None:
    """Read statements and dot commands from the terminal until ``.quit`` or end of input."""
    _readline()
    console = env.console
    console.print(text(f"DuckDB over the snapshots. Views: {', '.join(VIEW_NAMES)}. {HELP}", style="dim"))
    pending: list[str] = []
    while True:
        try:
            line = input(MORE if pending else PROMPT)
        except EOFError:
            console.print()
            return
        except KeyboardInterrupt:
            console.print()
            pending = []
            continue
        if not pending and line.strip().startswith("."):
            if not _dot(session, env, line.strip()):
                return
            continue
        pending.append(line)
        if line.rstrip().endswith(";"):
            _run(session, env, "\n".join(pending), max_rows)
            pending = []


def _run(session: Session, env: Env, statements: str, max_rows: int) -> None:
    try:
        for statement in split(session, statements):
            emit(session.run(statement), env, "table", max_rows, sys.stdout)
    except MirrorError as error:
        env.console.print(text(f"Error: {error}", style="red"))
    except KeyboardInterrupt:
        env.console.print(text("interrupted", style="yellow"))


def _dot(session: Session, env: Env, command: str) -> bool:
    """Run a dot command; False for ``.quit``."""
    name, _, argument = command.partition(" ")
    console = env.console
    if name in (".quit", ".exit", ".q"):
        return False
    if name == ".tables":
        console.print(text("  ".join(session.columns())))
    elif name == ".schema" and argument.strip():
        columns = session.columns().get(argument.strip().rstrip(";"), [])
        if not columns:
            console.print(text(f"no view or table named {argument.strip()}", style="red"))
            return True
        table = Table("column", "type", header_style="bold")
        for column, kind in columns:
            table.add_row(text(column), text(kind))
        console.print(table)
    else:
        console.print(text(HELP, style="dim"))
    return True
