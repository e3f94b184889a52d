"""Rich renderings. Every function takes the Console (or returns a renderable); none makes one."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.console import Console
from rich.text import Text

from sentry_mirror.core.record import parse_time


def human_size(size: int) -> str:
    """``2.1 KB``: decimal units, as the listener's live line shows sizes."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{int(value)} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    raise AssertionError("unreachable")


def item_label(types: list[str]) -> str:
    """``event+attachment``, ``3×log`` for repeats, ``-`` for none."""
    counts: dict[str, int] = {}
    for kind in types:
        counts[kind or "?"] = counts.get(kind or "?", 0) + 1
    return "+".join(kind if n == 1 else f"{n}×{kind}" for kind, n in counts.items()) or "-"


def sdk_label(record: dict[str, Any]) -> str:
    sdk = record["summary"].get("sdk")
    if sdk:
        return sdk.replace("/", " ", 1)
    for name, value in record["headers"]:
        if name.lower() == "user-agent":
            return value
    return "-"


def request_line(record: dict[str, Any], *, local_time: bool = True) -> Text:
    """One line per request, as ``listen`` prints it while running."""
    moment: datetime = parse_time(record["received_at"])
    clock = (moment.astimezone() if local_time else moment).strftime("%H:%M:%S")
    status = record["response"]["status"]
    summary = record["summary"]
    line = Text(no_wrap=True, overflow="ellipsis")
    line.append(clock, style="dim")
    line.append("  ")
    project = record.get("project_id")
    line.append(f"project {project}" if project else record["endpoint"], style="cyan")
    line.append("  ")
    line.append(sdk_label(record), style="magenta")
    line.append("  ")
    if record["endpoint"] in ("envelope", "tunnel"):
        line.append(item_label([item["type"] for item in summary["items"]]), style="bold")
    else:
        line.append(f"{record['endpoint']}:{item_label([item['type'] for item in summary['items']])}", style="bold")
    if summary.get("title"):
        line.append("  ")
        line.append(summary["title"])
    line.append("  ")
    line.append(human_size(record["wire_size"]), style="dim")
    if status >= 300:
        line.append("  ")
        line.append(f"{status} {record.get('error') or ''}".rstrip(), style="bold red")
    return line


def banner(console: Console, dsn: str, path: str, *, keys: frozenset[str]) -> None:
    """What ``listen`` prints on start: the DSN to paste and the snapshot file."""
    hint = "(any key, any project id works)" if not keys else f"(keys accepted: {', '.join(sorted(keys))})"
    console.print(Text.assemble("  DSN   ", (dsn, "bold green"), "     ", (hint, "dim")), soft_wrap=True)
    console.print(Text.assemble("  into  ", (path, "bold")), soft_wrap=True)
