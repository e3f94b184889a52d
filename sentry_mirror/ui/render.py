"""Rich renderings shared by the commands: sizes and labels, the live request line, the
listener's banner. Every function takes the Console (or returns a renderable); none makes one.

Each command's own tables are in ``render_inspect``, ``render_group``, ``render_report``
and ``render_replay``."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from rich.console import COLOR_SYSTEMS, Console
from rich.style import Style
from rich.text import Text

from sentry_mirror.core.record import parse_time
from sentry_mirror.core.summary import record_title
from sentry_mirror.core.text import visible
from sentry_mirror.ui.safe import assemble

#: Cells between two columns of a ``box.SIMPLE_HEAD`` table: padding on both sides, the blank divider.
COLUMN_GAP = 3
#: What a table shows for a request or group with no SDK, or no project (never a bare ``-``).
NO_SDK = "(no SDK)"
NO_PROJECT = "(no project)"


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
    sdk: str | None = record["summary"].get("sdk")
    if sdk:
        return sdk.replace("/", " ", 1)
    for name, value in record["headers"]:
        if name.lower() == "user-agent":
            return str(value)
    return "-"


Segments = list[tuple[str, str | None]]


def line_segments(
    record: dict[str, Any], *, local_time: bool = True, upstream: dict[str, Any] | None = None
) -> Segments:
    """The live line as ``(text, style)`` pieces, shared by :func:`request_line` and :class:`LiveLines`;
    every piece visible (captured control characters escaped), none read as markup.

    ``upstream``: in forward mode, the upstream's answer record, shown after the local status."""
    moment: datetime = parse_time(record["received_at"])
    clock = (moment.astimezone() if local_time else moment).strftime("%H:%M:%S")
    status = record["response"]["status"]
    summary = record["summary"]
    project = record.get("project_id")
    items = item_label([item["type"] for item in summary["items"]])
    if record["endpoint"] not in ("envelope", "tunnel", "upload") and not record["endpoint"].startswith("api_"):
        items = f"{record['endpoint']}:{items}"  # web API and upload records show their endpoint already
    segments: Segments = [
        (clock, "dim"),
        ("  ", None),
        (f"project {project}" if project else record["endpoint"], "cyan"),
        ("  ", None),
        (sdk_label(record), "magenta"),
        ("  ", None),
        (items, "bold"),
    ]
    title = record_title(record)
    if title:
        segments += [("  ", None), (title, None)]
    segments += [("  ", None), (human_size(record["wire_size"]), "dim")]
    if upstream is not None:
        segments += [("  ", None), (str(status), "bold red" if status >= 300 else "dim")]
        segments += upstream_segments(upstream)
    elif status >= 300:
        segments += [("  ", None), (f"{status} {record.get('error') or ''}".rstrip(), "bold red")]
    label = scripted_label(record)
    if label is not None:
        segments += [("  ", None), (label, "yellow")]
    if "".join(piece for piece, _ in segments).isprintable():  # the common case: one check for the line
        return segments
    return [(visible(piece), style) for piece, style in segments]


def scripted_label(record: dict[str, Any]) -> str | None:
    """``scripted: rule outage:30s``, with the delay and a drop: for a request whose answer a
    script gave (``listen --script``/``--scenario``); None for the others."""
    scripted = record.get("scripted")
    if not isinstance(scripted, dict):
        return None
    label = f"scripted: rule {scripted.get('rule')}"
    delay = scripted.get("delay_ms")
    if isinstance(delay, int | float) and not isinstance(delay, bool) and math.isfinite(delay) and delay > 0:
        label += f", after {delay / 1000:g} s"
    if scripted.get("drop"):
        label += ", connection dropped"
    elif scripted.get("partial"):
        label += ", rate limits on a partly taken request"
    return label


def upstream_segments(answered: dict[str, Any]) -> Segments:
    """`` → upstream 429 12ms``: what the upstream answered (an answer record), and how fast."""
    status, latency = answered["status"], answered["latency_ms"]
    text = str(status) if status is not None else f"failed: {answered['error']}"
    if latency is not None:
        text += f" {latency:.0f}ms"
    ok = status is not None and status < 300 and answered["error"] is None
    return [(" → upstream ", "dim"), (text, "green" if ok else "bold red")]


def request_line(record: dict[str, Any], *, local_time: bool = True, upstream: dict[str, Any] | None = None) -> Text:
    """One line per request, as ``listen`` prints it while running."""
    segments = line_segments(record, local_time=local_time, upstream=upstream)
    return Text.assemble(*((piece, style or "") for piece, style in segments))


class LiveLines:
    """Writes live lines to a Console's file fast: styles are rendered to escape codes once.

    Printing a Text through Rich costs about 70 µs a line, more than the listener spends on
    the request itself; this writes the same line, styled for the Console's terminal (or
    plain for a pipe or NO_COLOR), at a fraction of that.
    """

    def __init__(self, console: Console) -> None:
        self._console = console
        self._codes: dict[str | None, tuple[str, str]] = {None: ("", "")}
        if console.is_terminal and not console.no_color and console.color_system is not None:
            for name in ("dim", "cyan", "magenta", "bold", "bold red", "green", "yellow"):
                rendered = Style.parse(name).render("\0", color_system=COLOR_SYSTEMS[console.color_system])
                start, _, reset = rendered.partition("\0")
                self._codes[name] = (start, reset)

    def write(self, record: dict[str, Any], upstream: dict[str, Any] | None = None) -> None:
        self.write_segments(line_segments(record, upstream=upstream))

    def write_segments(self, segments: Segments) -> None:
        """A line from its pieces (made by :func:`line_segments` in a ``--workers`` worker)."""
        codes = self._codes
        parts = []
        for segment, style in segments:
            start, reset = codes.get(style, ("", ""))
            parts.append(f"{start}{segment}{reset}")
        parts.append("\n")
        self._console.file.write("".join(parts))
        self._console.file.flush()


def banner(
    console: Console,
    dsn: str,
    path: str,
    *,
    keys: frozenset[str],
    upstream: str | None = None,
    candidates: tuple[str, ...] = (),
    rules: tuple[tuple[str, str, str], ...] = (),
) -> None:
    """What ``listen`` prints on start: the DSN to paste and the snapshot file; in forward
    mode where requests go (``upstream`` and ``candidates``: ``to`` strings, never a key);
    the scripted answers' ``rules`` as (name, what it answers, source)."""
    if upstream is not None:
        hint = "(the upstream's key and project: requests go on to it)"
    elif not keys:
        hint = "(any key, any project id works)"
    else:
        hint = f"(keys accepted: {', '.join(sorted(keys))})"
    console.print(assemble("  DSN   ", (dsn, "bold green"), "     ", (hint, "dim")), soft_wrap=True)
    into_line(console, path)
    if upstream is not None:
        console.print(assemble("  forwarding to ", (upstream, "bold")), soft_wrap=True)
    for candidate in candidates:
        console.print(
            assemble("  tee to ", (candidate, "bold"), ("  (shadow copies, answers recorded)", "dim")), soft_wrap=True
        )
    for name, answers, source in rules:
        console.print(
            assemble("  rule  ", (name, "bold yellow"), f"  {answers}", (f"  ({source})", "dim")), soft_wrap=True
        )


def into_line(console: Console, path: str) -> None:
    """``  into  <file>``: on start, and again whenever the listener rotates to a new file."""
    console.print(assemble("  into  ", (path, "bold")), soft_wrap=True)


def stop_lines(
    console: Console, rows: list[tuple[str, str, int, int, int]], unrecorded: int, answers_lost: int = 0
) -> None:
    """What ``listen`` says on stop in forward mode: per server (kind, ``to``, delivered,
    undelivered, dropped), the requests sent on that could not be recorded, and the answer
    records that could not be written."""
    for kind, to, delivered, undelivered, dropped in rows:
        counts = f"{delivered} delivered, {undelivered} undelivered" + (f", {dropped} dropped" if dropped else "")
        style = "yellow" if undelivered or dropped else "dim"
        console.print(assemble(f"  {kind} ", (to, "bold"), ": ", (counts, style)), soft_wrap=True)
    if unrecorded:
        console.print(
            f"  {unrecorded} request(s) were sent on but not recorded: the snapshot could not be written",
            style="yellow",
        )
    if answers_lost:
        console.print(
            f"  {answers_lost} answer record(s) could not be written: "
            "replay --undelivered would send their requests again",
            style="yellow",
        )
