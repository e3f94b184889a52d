"""Captured data never drives the operator's terminal.

Clients control almost every string the readers print. Every command's terminal output
(and Markdown and HTML, which are printed to the terminal without ``-o``) must show control
characters, bidi overrides, invisible characters and lone surrogates escaped, and must never
interpret Rich markup found in captured data.

The property tests draw hostile strings, record them through the real ingest path into a
real snapshot file and run every reader through the CLI. They run
``SENTRY_MIRROR_FUZZ_EXAMPLES`` examples (default 5: each runs some twenty commands);
``SENTRY_MIRROR_FUZZ_EXAMPLES=200`` for a long run.
"""

from __future__ import annotations

import io
import json
import os
import re
import socket
import threading
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import orjson
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rich.console import Console

from sentry_mirror.core import ingest
from sentry_mirror.core.text import html_text, markdown, visible, visible_lines
from sentry_mirror.io.snapshot import iter_records
from sentry_mirror.ui import render
from sentry_mirror.ui.cli import cli
from tests.factories import make_envelope, make_record, write_snapshot

EXAMPLES = int(os.environ.get("SENTRY_MIRROR_FUZZ_EXAMPLES", "5"))
PLAIN = {"COLUMNS": "200", "NO_COLOR": "1"}
COLOUR = {"COLUMNS": "200", "FORCE_COLOR": "1"}
T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)
UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
#: The renderer's own styling: SGR sequences (colours, bold, dim, reset). Nothing else.
SGR = re.compile(r"\x1b\[[0-9;]*m")
MARKUP = "[bold red]MARKUP[/bold red][link=http://evil.example]L[/link]"


def unsafe_characters(output: str) -> list[str]:
    """Every control, format or separator character in ``output`` but the newline."""
    return sorted({c for c in output if c != "\n" and unicodedata.category(c) in UNSAFE_CATEGORIES})


def assert_safe(output: str, what: Any) -> None:
    found = unsafe_characters(SGR.sub("", output))
    assert not found, f"{what}: raw {[f'U+{ord(c):04X}' for c in found]} in {output[:2000]!r}"


# ---------------------------------------------------------------- the escaping itself


def test_every_control_format_and_separator_character_is_escaped() -> None:
    """The escaped set is Unicode's own (checked against this Python's database), so a
    character the hard-coded ranges miss fails here."""
    missed = []
    for code in range(0x110000):
        char = chr(code)
        if unicodedata.category(char) in UNSAFE_CATEGORIES and visible(char) == char:
            missed.append(f"U+{code:04X}")
    assert [] == missed
    assert "a\\x1b[2Jb\\x9b\\x7f\\u202e\\u2066\\ud800\\n\\t\\r\\U000e0041" == visible(
        "a\x1b[2Jb\x9b\x7f\u202e\u2066\ud800\n\t\r\U000e0041"
    )
    assert "one\ntwo\\x1b" == visible_lines("one\ntwo\x1b")


@pytest.mark.parametrize(
    "kept", ["plain text", "Grüße, 東京, emoji 🎉", "C:\\path\\x", "tab-less [brackets]", "\u00a0nbsp", "", "42"]
)
def test_printable_text_is_left_as_it_is(kept: str) -> None:
    assert kept == visible(kept) == visible_lines(kept)


def test_markdown_and_html_escape_what_they_would_read_as_syntax() -> None:
    assert (
        "\\*a\\* \\_b\\_ \\`c\\` \\[l\\](http://x) &lt;img src=x&gt; \\| \\#h &amp;amp; \\~\\~s\\~\\~ \\$m\\$ \\\\x1b"
        == markdown("*a* _b_ `c` [l](http://x) <img src=x> | #h &amp; ~~s~~ $m$ \x1b")
    )
    assert "&lt;script&gt;&quot;x&#x27;\\x1b" == html_text("<script>\"x'\x1b")


# ---------------------------------------------------------------- hostile captures

HOSTILE_PIECES = [
    "\x1b[2J",  # clear the screen
    "\x1b]8;;http://evil.example\x1b\\",  # a hyperlink
    "\x9b31m",  # C1 CSI
    "\x07",
    "\x00",
    "\x7f",
    "\r",
    "\n",
    "\t",
    "\x08",
    "\u202e",
    "\u2066",
    "\u200b",
    "\u200f",
    "\ufeff",
    "\u2028",
    "\xad",
    "\U000e0041",
    "\ud800",  # a lone surrogate (only where JSON escapes can carry it)
    "[bold red]",
    "[/]",
    "[link=http://evil.example]",
    "*_`<b>|#",
]
hostile = st.lists(st.one_of(st.sampled_from(HOSTILE_PIECES), st.text(max_size=4)), min_size=1, max_size=6).map("".join)


def no_surrogates(text: str) -> str:
    return "".join(c for c in text if not 0xD800 <= ord(c) <= 0xDFFF)


def latin1(text: str) -> str:
    """As a header value arrives (latin-1 decoded), without line breaks (they end a header)."""
    return "".join(c for c in text if ord(c) < 256 and c not in "\r\n") or "x"


def payload(value: dict[str, Any], ascii_json: bool) -> bytes:
    """JSON as SDKs write it: raw UTF-8 (controls escaped as JSON requires), or all \\u escapes
    (which can carry lone surrogates)."""
    if ascii_json:
        return json.dumps(value, ensure_ascii=True).encode()
    return json.dumps(no_surrogates_deep(value), ensure_ascii=False).encode()


def no_surrogates_deep(value: Any) -> Any:
    if isinstance(value, str):
        return no_surrogates(value)
    if isinstance(value, dict):
        return {no_surrogates(k): no_surrogates_deep(v) for k, v in value.items()}
    if isinstance(value, list):
        return [no_surrogates_deep(v) for v in value]
    return value


def hostile_records(s: list[str], ascii_json: bool, n: int = 0) -> list[dict[str, Any]]:
    """Requests carrying ``s`` (hostile strings) in every field a reader shows."""
    a, b, c, d = s[0], s[1 % len(s)], s[2 % len(s)], s[3 % len(s)]
    frames = [{"module": a, "function": b, "filename": c, "abs_path": d, "lineno": 3, "in_app": True}]
    event = {
        "event_id": f"{n:x}".rjust(32, "a"),
        "timestamp": 1777629600.0,
        "platform": "python",
        "level": b,
        "logger": c,
        "environment": c,
        "release": d,
        "dist": a,
        "server_name": b,
        "transaction": a,
        "culprit": d,
        "message": a + MARKUP,
        "fingerprint": [a] if n % 2 else ["{{ default }}"],
        "tags": {a: b, "k": c},
        "user": {"id": a, "email": b, "ip_address": c},
        "sdk": {"name": a, "version": b},
        "request": {"url": b, "method": c, "headers": {a: d}},
        "contexts": {"os": {"name": a}, "runtime": {"name": b}},
        "breadcrumbs": {"values": [{"message": c, "category": d}]},
        "exception": {"values": [{"type": a + MARKUP, "value": b, "module": c, "stacktrace": {"frames": frames}}]},
    }
    transaction = {
        "type": "transaction",
        "event_id": "b" * 32,
        "transaction": b,
        "start_timestamp": 1777629600.0,
        "timestamp": 1777629600.5,
        "release": d,
        "environment": c,
        "contexts": {"trace": {"op": a, "trace_id": "c" * 32, "span_id": "d" * 16}},
        "spans": [
            {
                "op": c,
                "description": d,
                "start_timestamp": 1777629600.0,
                "timestamp": 1777629600.2,
                "span_id": "e" * 16,
                "trace_id": "c" * 32,
            }
        ],
    }
    sdk = no_surrogates_deep({"name": a, "version": b})  # a JSON header with a lone surrogate is refused (as by Relay)
    bodies = [
        make_envelope(
            {"event_id": event["event_id"], "sdk": sdk},
            [
                ({"type": "event"}, payload(event, ascii_json)),
                (
                    {"type": "attachment", "filename": no_surrogates(c), "content_type": no_surrogates(d)},
                    no_surrogates(a).encode("utf-8", "replace"),
                ),
                ({"type": no_surrogates(b) or "x"}, payload({"x": d}, ascii_json)),
            ],
            ascii_headers=True,
        ),
        make_envelope(
            {"event_id": "b" * 32, "sdk": sdk},
            [({"type": "transaction"}, payload(transaction, ascii_json))],
            ascii_headers=True,
        ),
        make_envelope(
            {"sdk": sdk},
            [
                (
                    {"type": "check_in"},
                    payload({"check_in_id": "f" * 32, "monitor_slug": a, "status": b, "release": c}, ascii_json),
                )
            ],
            ascii_headers=True,
        ),
        make_envelope(
            {"sdk": sdk},
            [
                (
                    {"type": "session"},
                    payload({"sid": "1" * 32, "status": a, "attrs": {"release": b, "environment": c}}, ascii_json),
                )
            ],
            ascii_headers=True,
        ),
        make_envelope(
            {"sdk": sdk},
            [
                (
                    {"type": "client_report"},
                    payload({"discarded_events": [{"reason": a, "category": b, "quantity": 1}]}, ascii_json),
                )
            ],
            ascii_headers=True,
        ),
    ]
    client = quote(no_surrogates(d), safe="")
    requests = [
        ingest.Request(
            "POST",
            "/api/1/envelope/",
            f"sentry_key=k&sentry_client={client}",
            (("User-Agent", latin1(a)), ("X-Custom", latin1(b))),
            body,
        )
        for body in bodies
    ]
    requests += [
        ingest.Request(
            "POST", "/api/1/" + no_surrogates(a), "sentry_key=k", (("User-Agent", latin1(c)),), b"{}"
        ),  # an unknown endpoint
        ingest.Request(
            "POST", "/api/1/store/", "sentry_key=k", (), no_surrogates(b + MARKUP).encode()
        ),  # not JSON: shown as text
        ingest.Request(
            "POST", "/api/1/envelope/", "sentry_key=k", (), no_surrogates(c).encode() + b"\n\xff\x1b[2J"
        ),  # a broken envelope
    ]
    return [
        make_record(
            request,
            received_at=T0 + timedelta(seconds=n * 10 + i),
            remote_addr="127.0.0.1:1",
            id=f"{n:02x}{i:02x}".ljust(32, "0"),
        )
        for i, request in enumerate(requests)
    ]


def invoke(args: list[str], env: dict[str, str]) -> str:
    """What the command printed: stdout and stderr; with colour, stdout only (stderr then is
    a terminal, with a progress bar moving the cursor about)."""
    result = CliRunner().invoke(cli, args, env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        args,
        result.exception,
        result.output[:2000],
    )
    assert result.exit_code in (0, 1, 3), (args, result.output[:2000])  # 1: verify found damage; 3: an error
    return result.stdout if env is COLOUR else result.output


def commands(snapshot: Path, other: Path, env: dict[str, str]) -> Iterator[list[str]]:
    """Every reader, over the hostile snapshot (``other``: a benign one for diff)."""
    path = str(snapshot)
    yield ["inspect", path]
    for data in (r.data for r in iter_records([snapshot])):
        yield ["inspect", "show", data["id"], path]
    yield ["group", path]
    for line in filter(None, invoke(["group", "--json", path], env).split("\n")):
        yield ["group", "show", json.loads(line)["short_id"], path]  # (orjson refuses a lone surrogate)
    yield ["group", "--compare", "type", "--compare", "message", "--compare", "fingerprint", path]
    yield ["group", "--item-type", "transaction", path]
    for fmt in ("terminal", "markdown", "html"):
        yield ["report", "--format", fmt, path]
    for fmt in ("terminal", "markdown"):
        yield ["diff", str(other), path, "--format", fmt]
        yield ["diff", path, str(other), "--format", fmt]
    yield ["export", path, "--envelopes", str(snapshot.parent / f"envelopes-{env is COLOUR}")]
    yield ["replay", path, "--to", "http://k@127.0.0.1:9/1", "--dry-run"]
    yield ["replay", path, "--to", "http://k@127.0.0.1:9/1", "--dry-run", "--status", "4xx"]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(strings=st.lists(hostile, min_size=1, max_size=4), ascii_json=st.booleans(), colour=st.booleans())
def test_no_reader_prints_a_raw_control_character(
    tmp_path_factory: pytest.TempPathFactory, strings: list[str], ascii_json: bool, colour: bool
) -> None:
    directory = tmp_path_factory.mktemp("hostile")
    snapshot = write_snapshot(
        directory / "a" / "2026-11-23T10-00-00Z-test-1.jsonl.zst", hostile_records(strings, ascii_json)
    )
    other = write_snapshot(
        directory / "b" / "2026-11-23T09-00-00Z-test-1.jsonl.zst", hostile_records(["plain"], False, n=1)[:2]
    )
    env = COLOUR if colour else PLAIN
    for args in commands(snapshot, other, env):
        assert_safe(invoke(args, env), args)


@settings(max_examples=EXAMPLES * 4, deadline=None)
@given(strings=st.lists(hostile, min_size=1, max_size=4), ascii_json=st.booleans())
def test_the_live_line_prints_no_raw_control_character(strings: list[str], ascii_json: bool) -> None:
    """``listen``'s line per request (and ``inspect --follow``'s), on a colour terminal and on a pipe."""
    for console in (
        Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", width=200),
        Console(file=io.StringIO(), force_terminal=False, no_color=True, width=200),
    ):
        lines = render.LiveLines(console)
        for data in hostile_records(strings, ascii_json):
            lines.write(data)
            console.print(render.request_line(data), soft_wrap=True)
        output = console.file.getvalue()  # type: ignore[attr-defined]
        assert_safe(output, "live line")
        assert output.count("\n") == 2 * len(
            hostile_records(strings, ascii_json)
        )  # a captured newline cannot start a line


# ---------------------------------------------------------------- markup is shown, never applied


@pytest.fixture
def marked(tmp_path: Path) -> Path:
    """Two error events with markup in their titles; Sentry's grouping splits them (one has a fingerprint), grouping by type does not."""
    return write_snapshot(
        tmp_path / "2026-11-23T10-00-00Z-test-1.jsonl.zst",
        hostile_records(["E"], False) + hostile_records(["E"], False, n=1),
    )


@pytest.mark.parametrize(
    "args",
    [
        ["inspect"],
        ["inspect", "show", "0000"],
        ["inspect", "show", "0006"],
        ["group"],
        ["group", "--compare", "type"],
        ["report", "--section", "issues"],
        ["report", "--section", "issues", "--format", "markdown"],
    ],
)
def test_rich_markup_in_captured_data_is_shown_literally(marked: Path, args: list[str]) -> None:
    output = invoke([*args, str(marked)], {**PLAIN, "COLUMNS": "400"})
    if "markdown" in args:
        assert "\\[bold red\\]MARKUP\\[/bold red\\]\\[link=http://evil.example\\]L\\[/link\\]" in output
    else:
        assert MARKUP in output or "[bold red]MARKUP[/bold red]" in output, output


def test_the_live_line_shows_markup_literally() -> None:
    console = Console(file=io.StringIO(), force_terminal=True, color_system="truecolor", width=400)
    data = hostile_records(["E"], False)[0]
    render.LiveLines(console).write(data)
    console.print(render.request_line(data), soft_wrap=True)
    output = SGR.sub("", console.file.getvalue())  # type: ignore[attr-defined]
    assert (0, 2) == (output.count("EMARKUPL"), output.count(f"E{MARKUP}"))


# ---------------------------------------------------------------- a hostile candidate


class HostileCandidate:
    """A server on 127.0.0.1 (in a thread: the replay runs its own loop) refusing every
    request with ``reason`` in X-Sentry-Error and in its JSON body."""

    def __init__(self) -> None:
        self.reason = ""
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn, conn.makefile("rb") as reader:
            while True:
                head = b""
                while not head.endswith(b"\r\n\r\n"):
                    line = reader.readline()
                    if not line:
                        return
                    head += line
                length = next(
                    (int(v.split(b":")[1]) for v in head.split(b"\r\n") if v.lower().startswith(b"content-length:")), 0
                )
                reader.read(length)
                header = self.reason.encode("utf-8", "surrogateescape").replace(b"\r", b"").replace(b"\n", b"")
                body = orjson.dumps({"detail": no_surrogates(self.reason)})
                conn.sendall(
                    b"HTTP/1.1 400 Bad Request\r\nX-Sentry-Error: "
                    + header
                    + b"\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body)
                    + body
                )

    def close(self) -> None:
        self.sock.close()


@pytest.fixture(scope="module")
def candidate() -> Iterator[HostileCandidate]:
    server = HostileCandidate()
    yield server
    server.close()


@settings(max_examples=EXAMPLES * 2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(reason=hostile, strings=st.lists(hostile, min_size=1, max_size=2), colour=st.booleans())
def test_replay_prints_what_a_hostile_candidate_answers_escaped(
    candidate: HostileCandidate, tmp_path_factory: pytest.TempPathFactory, reason: str, strings: list[str], colour: bool
) -> None:
    candidate.reason = no_surrogates(reason)
    snapshot = write_snapshot(
        tmp_path_factory.mktemp("replay") / "2026-11-23T10-00-00Z-test-1.jsonl.zst", hostile_records(strings, False)
    )
    output = invoke(
        ["replay", str(snapshot), "--to", f"http://k@127.0.0.1:{candidate.port}/1", "--concurrency", "1"],
        COLOUR if colour else PLAIN,
    )
    assert "refused:" in output
    assert_safe(output, "replay")


# ---------------------------------------------------------------- listen, end to end


def test_listen_prints_a_hostile_request_escaped(tmp_path: Path) -> None:
    """The real listener in its own process, on a colour terminal (FORCE_COLOR), and a real
    client sending escape sequences in its SDK name, its event and its path, and a C1 CSI in
    its User-Agent (aiohttp refuses C0 characters in header values before the mirror sees them)."""
    import http.client
    import signal
    import subprocess
    import sys

    process = subprocess.Popen(
        [sys.executable, "-m", "sentry_mirror", "listen", "--port", "0", "--dir", str(tmp_path / "snapshots")],
        env={
            **os.environ,
            "FORCE_COLOR": "1",
            "COLUMNS": "300",
            "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
        },
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = process.stdout.readline()
        port = int(re.search(r"127\.0\.0\.1:(\d+)/1", SGR.sub("", banner)).group(1))  # type: ignore[union-attr]
        evil = "\x1b]8;;http://evil.example\x1b\\\x1b[2J\u202e" + MARKUP
        body = make_envelope(
            {"event_id": "a" * 32, "sdk": {"name": evil, "version": "1"}},
            [({"type": "event"}, payload({"message": evil, "level": evil}, False))],
            ascii_headers=True,
        )
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        for path in ("/api/1/envelope/?sentry_key=k", "/api/1/" + quote(evil) + "/"):
            connection.request("POST", path, body=body, headers={"User-Agent": "\x9b2J\x85agent"})
            connection.getresponse().read()
        connection.close()
        time_limit = datetime.now(UTC) + timedelta(seconds=10)
        lines: list[str] = []
        while len(lines) < 3 and datetime.now(UTC) < time_limit:
            lines.append(process.stdout.readline())
    finally:
        process.send_signal(signal.SIGINT)
        rest, _ = process.communicate(timeout=10)
    output = banner + "".join(lines) + rest
    assert_safe(output, "listen")
    assert visible(evil) in output and "\\x9b2J\\x85agent" in output, output


# ---------------------------------------------------------------- JSON stays exact


def test_json_output_keeps_captured_strings_exact(tmp_path: Path) -> None:
    """--json is for programs: nothing escaped beyond JSON's own escapes, which give back
    every character, a lone surrogate too (orjson cannot write one; the standard escape can)."""
    evil = "\x1b[2J\u202e\x9b"
    entries = hostile_records(["\ud800" + evil], True)
    snapshot = write_snapshot(tmp_path / "2026-11-23T10-00-00Z-test-1.jsonl.zst", entries)
    rows = [orjson.loads(line) for line in invoke(["inspect", "--json", str(snapshot)], PLAIN).split("\n") if line]
    assert [e["error"] for e in entries] == [row["error"] for row in rows]
    assert any(evil in (row["error"] or "") for row in rows)
    groups = [json.loads(line) for line in invoke(["group", "--json", str(snapshot)], PLAIN).split("\n") if line]
    assert any("\ud800" + evil in component for group in groups for component in group["components"])
    report = json.loads(invoke(["report", "--format", "json", "--section", "issues", str(snapshot)], PLAIN))
    assert "\ud800" + evil in report["issues"]["top"][0]["title"]
