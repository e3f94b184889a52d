"""HTTP-level fuzzing of a real ``sentry-mirror listen`` process over raw sockets.

Random methods, paths, queries, headers (huge ones too), content encodings (right, wrong
and unknown), envelopes and store events with lone surrogates and NULs, garbage bodies,
chunked and truncated framing, and malformed request lines. After every request the
process must still be up and the answer (if any) a well-formed HTTP response; at the end
every request the mirror answered is in the snapshot, and every 200's event id with it.

CI runs a modest, derandomized number of examples (the 'ci' profile). A longer run:
``SENTRY_MIRROR_FUZZ_EXAMPLES=20000 pytest tests/io/test_http_fuzz.py``.
"""

from __future__ import annotations

import gzip
import os
import re
import signal
import socket
import subprocess
import sys
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import brotli
import orjson
import pytest
import zstandard
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentry_mirror.io.snapshot import iter_records

EXAMPLES = int(os.environ.get("SENTRY_MIRROR_FUZZ_EXAMPLES", "120"))


@dataclass
class Listener:
    process: subprocess.Popen[str]
    port: int
    directory: Path
    examples: int = 0
    answered: int = 0  # answers from the mirror's handler (they carry its CORS header)
    ok_ids: set[str] = field(default_factory=set)


@pytest.fixture(scope="module")
def listener(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listener]:
    directory = tmp_path_factory.mktemp("fuzz")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sentry_mirror",
            "listen",
            "--port",
            "0",
            "--dir",
            str(directory),
            "--quiet",
            "--header-timeout",
            "2s",
            "--body-timeout",
            "1s",
            "--max-body",
            "2MiB",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    first = process.stdout.readline()
    port = int(first.split()[1].rsplit(":", 1)[1].split("/")[0])
    yield Listener(process, port, directory)
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)


# ---------------------------------------------------------------- what is sent

_TEXT = st.text(st.characters() | st.characters(categories=["Cs"]) | st.sampled_from('\x00"\\\n'), max_size=30)
_JSON_STRING = _TEXT.map(
    lambda text: re.sub(
        r"[\ud800-\udfff]",
        lambda m: f"\\u{ord(m.group()):04x}",
        orjson.dumps(text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")).decode(),
    )
)
_SURROGATE_ESCAPES = st.sampled_from(
    [
        '"\\ud800"',
        '"\\udfff"',
        '"a\\ud83d"',
        '"\\ud83d\\ude00"',
        '"\\u0000"',
        "NaN",
        "1e999",
        "123456789012345678901234567890",
    ]
)
_VALUE = _JSON_STRING | _SURROGATE_ESCAPES | st.integers().map(str)


@st.composite
def event_json(draw: st.DrawFn) -> bytes:
    fields = {
        "event_id": draw(st.sampled_from(['"' + "a" * 32 + '"', '"' + os.urandom(16).hex() + '"', "null", "1", '"x"'])),
        "message": draw(_VALUE),
        "level": draw(_VALUE),
        "exception": '{"values":[{"type":' + draw(_VALUE) + ',"value":' + draw(_VALUE) + "}]}",
    }
    chosen = draw(st.lists(st.sampled_from(sorted(fields)), unique=True))
    return ("{" + ",".join(f'"{k}":{fields[k]}' for k in chosen) + "}").encode("utf-8", "surrogatepass")


@st.composite
def envelope(draw: st.DrawFn) -> bytes:
    event = draw(event_json())
    header = draw(
        st.sampled_from(
            [
                b"{}",
                b'{"event_id":"' + os.urandom(16).hex().encode() + b'"}',
                b'{"dsn":"http://k@h/1"}',
                b"not json",
                b'{"sdk":{"name":' + draw(_VALUE).encode("utf-8", "surrogatepass") + b"}}",
            ]
        )
    )
    item_type = draw(
        st.sampled_from(
            [b"event", b"transaction", b"attachment", b"session", b"client_report", b"check_in", b"log", b"bogus", b""]
        )
    )
    length = draw(
        st.sampled_from([b',"length":' + str(len(event)).encode(), b"", b',"length":999999', b',"length":-1'])
    )
    body = header + b"\n" + b'{"type":"' + item_type + b'"' + length + b"}\n" + event
    return body + draw(st.sampled_from([b"", b"\n", b"\n\n", b"\x00"]))


_ENCODERS = {
    "gzip": gzip.compress,
    "deflate": zlib.compress,
    "br": brotli.compress,
    "zstd": lambda data: zstandard.ZstdCompressor().compress(data),
}


@st.composite
def request_bytes(draw: st.DrawFn) -> tuple[bytes, bool, bool]:
    """(raw request, sent whole, is HEAD)."""
    if draw(st.integers(0, 19)) == 0:  # a malformed request line or garbage
        return draw(st.binary(max_size=200)) + b"\r\n\r\n", True, False
    if draw(st.booleans()):  # a request an SDK could send: it reaches the parsers
        return well_formed(draw), True, False
    method = draw(
        st.sampled_from(["POST", "POST", "POST", "GET", "OPTIONS", "PUT", "DELETE", "HEAD", "PATCH", "post", "BREW"])
    )
    path = draw(
        st.sampled_from(
            [
                "/api/1/envelope/",
                "/api/1/store/",
                "/api/store/",
                "/api/1/minidump/",
                "/api/1/security/",
                "/api/1/nel/",
                "/api/1/unreal/key/",
                "/api/1/events/" + "b" * 32 + "/attachments/",
                "/api/1/cron/nightly/key/",
                "/api/1/integration/otlp/v1/traces",
                "/tunnel",
                "//api//1//envelope",
                "/api/x/envelope/",
                "/",
                "/%ff%fe",
            ]
        )
    )
    query = draw(
        st.sampled_from(
            ["", "sentry_key=k&sentry_version=7", "sentry_key=k&sentry_version=99", "status=ok&sentry_key=k"]
        )
    )
    if "store" in path and draw(st.booleans()):
        data = draw(event_json()).decode("utf-8", "surrogatepass").encode("utf-8", "surrogatepass")
        query += "&sentry_data=" + "".join(f"%{b:02X}" for b in data)
    headers = [("Host", "127.0.0.1")]
    headers += draw(
        st.lists(
            st.sampled_from(
                [
                    ("Content-Type", "application/json"),
                    ("Content-Type", "application/x-sentry-envelope"),
                    ("Content-Type", "application/octet-stream"),
                    ("Content-Type", "multipart/form-data; boundary=xyz"),
                    ("Content-Type", "application/csp-report"),
                    ("X-Sentry-Auth", "Sentry sentry_key=k, sentry_version=7"),
                    ("X-Sentry-Auth", "Sentry sentry_key=k, sentry_version=x"),
                    ("Authorization", "Basic Ojo="),
                    ("Origin", "http://app.test"),
                    ("Access-Control-Request-Method", "POST"),
                    ("Expect", "100-continue"),
                    ("X-Big", "v" * 70_000),
                    ("Connection", "close"),
                    ("User-Agent", "fuzz/1.0 \x7f"),
                ]
            ),
            max_size=5,
        )
    )
    body = draw(st.one_of(envelope(), event_json(), st.binary(max_size=300), st.just(b"")))
    encoding = draw(
        st.sampled_from([None, None, "gzip", "deflate", "br", "zstd", "identity", "compress", "", "gzip, br"])
    )
    if encoding is not None:
        headers.append(("Content-Encoding", encoding))
        if encoding in _ENCODERS and draw(st.integers(0, 3)):  # usually right, sometimes a lie
            body = _ENCODERS[encoding](body)
    framing = draw(st.sampled_from(["length", "length", "chunked", "truncated", "none"]))
    whole = True
    if framing == "length":
        headers.append(("Content-Length", str(len(body))))
    elif framing == "chunked":
        headers.append(("Transfer-Encoding", "chunked"))
        step = draw(st.integers(1, 64))
        body = (
            b"".join(b"%x\r\n%s\r\n" % (len(body[i : i + step]), body[i : i + step]) for i in range(0, len(body), step))
            + b"0\r\n\r\n"
        )
    elif framing == "truncated":
        headers.append(("Content-Length", str(len(body) + draw(st.integers(1, 1000)))))
        whole = False
    head = (
        f"{method} {path}{'?' + query if query else ''} HTTP/1.1\r\n"
        + "".join(f"{k}: {v}\r\n" for k, v in headers)
        + "\r\n"
    )
    return head.encode("latin-1") + body, whole, method == "HEAD"


def well_formed(draw: st.DrawFn) -> bytes:
    """A store POST or GET, or an envelope, authenticated and framed right: only the payload is odd."""
    kind = draw(st.sampled_from(["store", "store-get", "envelope"]))
    query = "sentry_key=k&sentry_version=7"
    body = draw(event_json()) if kind != "envelope" else draw(envelope())
    if kind == "store-get":
        query += "&sentry_data=" + "".join(f"%{b:02X}" for b in body)
        return f"GET /api/1/store/?{query} HTTP/1.1\r\nHost: x\r\n\r\n".encode()
    headers = "Content-Type: application/json\r\n" if kind == "store" else ""
    encoding = draw(st.sampled_from([None, *_ENCODERS]))
    if encoding is not None:
        body = _ENCODERS[encoding](body)
        headers += f"Content-Encoding: {encoding}\r\n"
    path = "/api/1/store/" if kind == "store" else "/api/1/envelope/"
    return f"POST {path}?{query} HTTP/1.1\r\nHost: x\r\n{headers}Content-Length: {len(body)}\r\n\r\n".encode() + body


# ---------------------------------------------------------------- what comes back

_STATUS = re.compile(rb"HTTP/1\.[01] ([1-5]\d\d) [^\r\n]*")


def read_response(sock: socket.socket, head_only: bool) -> tuple[int, dict[str, str], bytes] | None:
    """The final response on ``sock`` (1xx skipped), checked for well-formedness; None if
    the connection closed without one."""
    buffer = b""

    def fill() -> bool:
        nonlocal buffer
        chunk = sock.recv(65536)
        buffer += chunk
        return bool(chunk)

    while True:
        while b"\r\n\r\n" not in buffer:
            if not fill():
                assert b"" == buffer, f"a partial response: {buffer[:200]!r}"
                return None
        head, buffer = buffer.split(b"\r\n\r\n", 1)
        status_line, *lines = head.split(b"\r\n")
        match = _STATUS.fullmatch(status_line)
        assert match, f"not an HTTP status line: {status_line[:200]!r}"
        headers = {}
        for line in lines:
            name, sep, value = line.partition(b":")
            assert sep and name and name.strip() == name, f"a malformed header line: {line[:200]!r}"
            headers[name.decode("latin-1").lower()] = value.strip().decode("latin-1")
        status = int(match.group(1))
        if 100 <= status < 200:
            continue
        length = 0 if head_only else int(headers.get("content-length", "0"))
        while len(buffer) < length:
            assert fill(), "the connection closed in the middle of a response body"
        return status, headers, buffer[:length]


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(request=request_bytes())
def test_any_request_gets_a_valid_answer_and_the_listener_stays_up(
    listener: Listener, request: tuple[bytes, bool, bool]
) -> None:
    raw, whole, head_only = request
    listener.examples += 1
    with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as sock:
        try:
            sock.sendall(raw)
            if not whole:
                sock.shutdown(socket.SHUT_WR)  # a body cut short: the client is gone
        except (BrokenPipeError, ConnectionResetError):  # answered (and closed) before all of it was sent
            pass
        try:
            answer = read_response(sock, head_only)
        except ConnectionResetError:
            answer = None
    assert listener.process.poll() is None, "the listener exited"
    if answer is None:  # only a client that left before its body was whole gets no answer
        assert not whole or not raw.strip(b"\r\n"), raw[:300]  # (blank lines are no request)
        return
    status, headers, body = answer
    if headers.get("access-control-allow-origin") == "*":  # the mirror's own answer: recorded
        listener.answered += 1
        if status == 200 and headers.get("content-type") == "application/json":
            event_id = orjson.loads(body).get("id")
            if event_id:
                listener.ok_ids.add(event_id)
    assert status != 500, body


def test_every_answered_request_is_in_the_snapshot(listener: Listener) -> None:
    """Runs after the fuzzing (file order): stop the listener cleanly and read what it wrote."""
    if listener.examples == 0:
        pytest.skip("checks what the fuzz test above sent: run the whole module")
    assert listener.answered > 0
    listener.process.send_signal(signal.SIGTERM)
    _, stderr = listener.process.communicate(timeout=30)
    assert 0 == listener.process.returncode, stderr
    warnings: list[str] = []
    records = list(iter_records([listener.directory], on_warning=warnings.append))
    assert [] == warnings
    assert listener.answered == len(records)
    assert listener.ok_ids <= {r.event_id for r in records}
    assert "Traceback" not in stderr, stderr[-3000:]
