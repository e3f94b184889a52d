"""A small HTTP/1.1 client for one origin (the replay target), with kept-alive connections.

Replay sends thousands of small requests a second to one server; a general-purpose client
(aiohttp's) spends about three times as much CPU per request as this one, more than
replay's whole budget per request (``benchmarks/replay.py`` runs an aiohttp client loop as
its baseline in the same run), so replay keeps a client of its own. :class:`Client` sends exactly the headers it is
given, plus ``Host`` and ``Content-Length``, in one write; it does not follow redirects or
decode bodies. Each connection carries one request at a time and is used again when the
answer allows it (an idle connection the server closed is retried once on a new one).
Answers are framed by ``Content-Length``, chunked, or the end of the connection; of each
answer's body the first :data:`BODY_KEEP` bytes are kept and the rest is read only to be
dropped, so a target answering with gigabytes costs no memory. One timer gives up the
requests past their :data:`REQUEST_TIMEOUT`.
"""

from __future__ import annotations

import asyncio
import math
import re
import ssl
from collections.abc import Iterable
from typing import NamedTuple

from sentry_mirror.core.memo import Memo

REQUEST_TIMEOUT = 30.0
#: Response bytes kept per answer (the report and --results need the start only); the rest
#: of an answer is read and dropped as it arrives, so a huge answer costs no memory.
BODY_KEEP = 64 << 10
#: The longest line accepted in a chunked body's framing (a chunk-size line, a trailer).
MAX_LINE = 64 << 10


class ServerDisconnected(ConnectionError):
    """The target closed the connection before its answer was complete."""


class InvalidResponse(ConnectionError):
    """The target's answer is not HTTP/1.x."""


_FRAMING = frozenset({"content-length", "transfer-encoding", "connection"})
#: A chunk size (before any ``;extension``) and a Content-Length as HTTP writes them: plain
#: digits only (Python's ``int`` also takes a sign, ``0x`` and ``_``).
_CHUNK_SIZE = re.compile(rb"[ \t]*([0-9A-Fa-f]{1,16})[ \t]*")
_LENGTH = re.compile(r"[0-9]{1,19}")


#: Heads kept: request heads a :class:`Client` keeps built (see :meth:`Client.head`), answer
#: heads kept parsed (see :func:`_head`), and the longest head kept.
HEADS = 256
KEPT_HEAD = 2048
#: The longest head :meth:`_Connection._whole` waits for; a longer one is read by :meth:`_Connection.response`.
QUICK_HEAD = 64 << 10


#: Answer heads kept parsed, by their bytes (a server repeats its head from one answer to the
#: next, but for its ``Date`` each second): :data:`HEADS` of them at most, each at most :data:`KEPT_HEAD` bytes.
_parsed: Memo[bytes, tuple[int, tuple[tuple[str, str], ...], int | None, bool, bool]] = Memo(HEADS, KEPT_HEAD)


def _head(buffer: bytearray, end: int) -> tuple[int, list[tuple[str, str]], int | None, bool, bool]:
    """The answer head in ``buffer[:end]``: (status, headers, Content-Length, chunked, whether
    the connection may be used again as far as the head says). An interim answer's (1xx)
    headers are not read. :class:`InvalidResponse` when it is not HTTP/1.x."""
    raw = bytes(buffer[:end])
    known = _parsed.get(raw)
    if known is None:
        status, headers, length, chunked, keep = _parse_head(raw)
        if end > KEPT_HEAD:
            return status, headers, length, chunked, keep
        known = _parsed.keep(raw, end, (status, tuple(headers), length, chunked, keep))
    status, kept, length, chunked, keep = known
    return status, list(kept), length, chunked, keep


def _parse_head(raw: bytes) -> tuple[int, list[tuple[str, str]], int | None, bool, bool]:
    """:func:`_head`'s work, for the head's bytes ``raw``."""
    lines = raw.decode("utf-8", "replace").split("\r\n")
    version, _, rest = lines[0].partition(" ")
    code = rest[:3]
    # three ASCII digits (not "²²²"), then a space or the end (not "1000"), from 100 to 599
    if not version.startswith("HTTP/1.") or not (code.isascii() and code.isdigit()) or rest[3:4] not in ("", " "):
        raise InvalidResponse(f"not an HTTP/1.x status line: {lines[0][:80]!r}")
    status = int(code)
    if not 100 <= status <= 599 or status == 101:  # 101: nothing here asked to switch protocols
        raise InvalidResponse(f"not a status to answer a request with: {lines[0][:80]!r}")
    headers: list[tuple[str, str]] = []
    length: int | None = None
    chunked = False
    connection = ""
    if 100 <= status < 200:
        return status, headers, length, chunked, False
    for line in lines[1:]:
        if line[:1] in (" ", "\t") and headers:  # obsolete line folding
            name, value = headers[-1]
            headers[-1] = (name, f"{value} {line.strip()}")
            continue
        name, _, value = line.partition(":")
        name, value = name.strip(), value.strip()
        headers.append((name, value))
        lower = name.lower()
        if lower in _FRAMING:
            if lower == "content-length":
                if not _LENGTH.fullmatch(value):
                    raise InvalidResponse(f"invalid Content-Length {value[:40]!r}")
                length = int(value)
            elif lower == "transfer-encoding":
                chunked = value.lower().endswith("chunked")
            else:
                connection = value.lower()
    keep = "close" not in connection if version == "HTTP/1.1" else "keep-alive" in connection
    return status, headers, length, chunked, keep


class _Whole(NamedTuple):
    """An answer read whole at once (see :meth:`_Connection._whole`)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    keep: bool  # the connection may be used again


#: What :meth:`_Connection._whole` says while an answer's head is still arriving.
_WAIT = _Whole(0, [], b"", False)


class _Connection(asyncio.Protocol):
    """One HTTP/1.1 connection: one request at a time, kept alive between requests.

    Bytes are collected as they arrive. An answer that arrives whole (a plain one, framed
    by ``Content-Length``) is read as it arrives (:meth:`_whole`) and handed to ``quick``;
    any other is parsed by :meth:`response` (status line, headers, then a body framed by
    ``Content-Length``, chunked, or the end of the connection)."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[None] | None = None
        self.closed = False
        self.received = False  # any byte of the current answer
        self.deadline = math.inf  # loop time by which the current answer must be complete
        self.error: BaseException | None = None  # why it was given up (a timeout)
        #: the current answer read whole as it arrives, or None: :meth:`response` reads it
        self.quick: asyncio.Future[_Whole | None] | None = None
        self.head_request = False
        self.keep_bytes = BODY_KEEP

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        self.received = True
        quick = self.quick
        if quick is not None and not quick.done():
            whole = self._whole()
            if whole is not _WAIT:
                quick.set_result(whole)
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def expect(self, head_request: bool, keep_bytes: int) -> asyncio.Future[_Whole | None] | None:
        """A future for the answer to the request just written, done when it has arrived
        whole (see :meth:`_whole`) or with None when :meth:`response` must read it; None
        when bytes are already waiting (or the connection is closed): :meth:`response` reads them."""
        if self.buffer or self.closed:
            return None
        self.head_request = head_request
        self.keep_bytes = keep_bytes
        self.quick = asyncio.get_running_loop().create_future()
        return self.quick

    def eof_received(self) -> bool:
        self._end()
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()

    def _end(self) -> None:
        self.closed = True
        quick = self.quick
        if quick is not None and not quick.done():
            quick.set_result(None)  # response() says what became of the answer
        waiter = self.waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def fail(self, error: BaseException) -> None:
        """Give up the current request: it raises ``error``."""
        self.error = error
        self.close()
        self._end()

    async def _more(self) -> None:
        """Wait for more bytes; :class:`ServerDisconnected` when the server closed instead."""
        if self.error is not None:
            raise self.error
        if self.closed:
            raise ServerDisconnected("the server closed the connection without a complete answer")
        self.waiter = asyncio.get_running_loop().create_future()
        try:
            await self.waiter
        finally:
            self.waiter = None

    async def _line(self, pos: int = 0) -> int:
        """The index of the next CRLF at or after ``pos``, waiting for it (at most :data:`MAX_LINE` bytes)."""
        while (end := self.buffer.find(b"\r\n", pos)) < 0:
            if len(self.buffer) - pos > MAX_LINE:
                raise InvalidResponse(f"a line of the chunked framing over {MAX_LINE} bytes")
            await self._more()
        return end

    async def _read(self, body: _Body, count: int | None) -> None:
        """Move the next ``count`` bytes (None: up to the end of the connection) into ``body``
        as they arrive: the buffer never holds more than one read's worth of them."""
        buffer = self.buffer
        while count is None or count > 0:
            if not buffer:
                if count is None and self.closed:
                    if self.error is not None:
                        raise self.error
                    return
                await self._more()
                continue
            n = len(buffer) if count is None else min(count, len(buffer))
            body.add(buffer, n)
            del buffer[:n]
            if count is not None:
                count -= n

    async def response(
        self, head_request: bool, keep_bytes: int = BODY_KEEP
    ) -> tuple[int, list[tuple[str, str]], _Body, bool]:
        """(status, headers, body, whether the connection may be used again); the body keeps
        its first ``keep_bytes`` bytes and counts the rest."""
        buffer = self.buffer
        while True:
            while (end := buffer.find(b"\r\n\r\n")) < 0:
                if len(buffer) > 1 << 20:
                    raise InvalidResponse("response headers over 1 MiB")
                await self._more()
            status, headers, length, chunked, keep = _head(buffer, end)
            del buffer[: end + 4]
            if not 100 <= status < 200:
                break  # an interim answer (100 Continue, 103 Early Hints): the real one follows
        body = _Body(keep_bytes)
        if head_request or status in (204, 304):
            pass
        elif chunked:
            await self._chunked(body)
        elif length is not None:
            await self._read(body, length)
        else:  # the body ends with the connection
            await self._read(body, None)
            keep = False
        return status, headers, body, keep and not self.closed and not buffer

    def _whole(self) -> _Whole | None:
        """The answer when the buffer holds all of it and it is a plain one (the common case:
        Sentry's answers are a few dozen bytes, in one packet): read at once, without waiting.
        :data:`_WAIT`: the head is not all in yet; None: :meth:`response` reads it (an interim answer,
        a chunked body, a body still arriving or bigger than kept, a head over
        :data:`QUICK_HEAD` bytes, an invalid head: it raises the same error again)."""
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return _WAIT if len(buffer) <= QUICK_HEAD else None
        try:
            status, headers, length, chunked, keep = _head(buffer, end)
        except Exception:  # response() raises it again, for the request (not in this callback)
            return None
        if 100 <= status < 200 or chunked:
            return None
        if self.head_request or status in (204, 304):
            length = 0
        elif length is None or length > self.keep_bytes or len(buffer) - end - 4 < length:
            return None
        stop = end + 4 + length
        body = bytes(buffer[end + 4 : stop])
        del buffer[:stop]
        return _Whole(status, headers, body, keep and not buffer)

    async def _chunked(self, body: _Body) -> None:
        buffer = self.buffer
        while True:
            end = await self._line()
            digits = _CHUNK_SIZE.fullmatch(bytes(buffer[:end]).split(b";")[0])
            if digits is None:
                raise InvalidResponse("invalid chunk size")
            size = int(digits.group(1), 16)
            del buffer[: end + 2]
            if size == 0:
                while (end := await self._line()) > 0:  # trailers, up to an empty line
                    del buffer[: end + 2]
                del buffer[:2]
                return
            await self._read(body, size)
            while len(buffer) < 2:
                await self._more()
            del buffer[:2]


class _Body:
    """An answer's body as it streams in: the first ``keep`` bytes, and the size of all of it."""

    __slots__ = ("keep", "kept", "size")

    def __init__(self, keep: int) -> None:
        self.kept = bytearray()
        self.keep = keep
        self.size = 0

    def add(self, buffer: bytearray, n: int) -> None:
        """The first ``n`` bytes of ``buffer`` are the next part of the body."""
        room = self.keep - len(self.kept)
        if room > 0:
            self.kept += buffer[: min(n, room)]
        self.size += n


class Answer(NamedTuple):
    """What :meth:`Client.request` returns: the body is the answer's first bytes (``size`` is all of it)."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    written: float  # the loop time the request was written at
    size: int


class Client:
    """A small HTTP/1.1 client for one origin (the target), with kept-alive connections
    (see the module's docstring). Of each answer's body it keeps the first ``keep_bytes``."""

    def __init__(
        self,
        scheme: str,
        host: str,
        port: int | None,
        timeout: float = REQUEST_TIMEOUT,
        ssl_context: ssl.SSLContext | None = None,
        keep_bytes: int = BODY_KEEP,
    ) -> None:
        self.timeout = timeout
        self.keep_bytes = keep_bytes
        self.host_header = host if port is None else f"{host}:{port}"
        self.origin = f"{scheme}://{self.host_header}"
        self._host = host[1:-1] if host.startswith("[") else host
        self._port = port if port is not None else (443 if scheme == "https" else 80)
        self._ssl = (
            (ssl_context or ssl.create_default_context()) if scheme == "https" else None
        )  # certificates verified
        self._idle: list[_Connection] = []
        self._open: set[_Connection] = set()
        self._busy: set[_Connection] = set()
        self._watchdog: asyncio.TimerHandle | None = None
        self._heads: Memo[tuple[str, str, tuple[tuple[str, str], ...]], bytes] = Memo(HEADS, KEPT_HEAD)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        async with asyncio.timeout(self.timeout):
            _, connection = await loop.create_connection(
                _Connection, self._host, self._port, ssl=self._ssl, server_hostname=self._host if self._ssl else None
            )
        self._open.add(connection)
        return connection

    def _watch(self) -> None:
        """Every so often: give up the requests past their deadline (one timer for all of
        them is far cheaper than one per request)."""
        loop = asyncio.get_running_loop()
        now = loop.time()
        for connection in [c for c in self._busy if c.deadline <= now]:
            self._busy.discard(connection)
            connection.fail(TimeoutError(f"no complete answer within {self.timeout:g} s"))
        self._watchdog = loop.call_later(min(1.0, self.timeout / 4), self._watch) if self._busy else None

    def head(self, method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes) -> bytes:
        """The request line and headers for ``url`` (which must be on this origin).

        Requests repeat their line and headers (one SDK, one endpoint): given as a tuple, the
        head up to ``Content-Length`` is built once and kept (:data:`HEADS` of them at most,
        each at most :data:`KEPT_HEAD` bytes)."""
        length = f"Content-Length: {len(body)}\r\n\r\n" if body or method not in ("GET", "HEAD") else "\r\n"
        key = (method, url, headers) if type(headers) is tuple else None
        start = None
        if key is not None:
            try:
                start = self._heads.get(key)
            except TypeError:  # a header given as a list
                key = None
        if start is None:
            start = self._start(method, url, headers)
            if key is not None:
                self._heads.keep(key, len(start), start)
        return start + length.encode("ascii")

    def _start(self, method: str, url: str, headers: Iterable[tuple[str, str]]) -> bytes:
        """The request line and the given headers (with ``Host``), checked and encoded."""
        if not url.startswith(self.origin) or url[len(self.origin) : len(self.origin) + 1] not in ("/", "?", ""):
            raise ValueError(f"{url!r} is not on {self.origin}")
        target = url[len(self.origin) :] or "/"
        lines = [f"{method} {target} HTTP/1.1\r\nHost: {self.host_header}\r\n"]
        for name, value in headers:
            lines.append(f"{name}: {value}\r\n")
        text = "".join(lines)
        if text.count("\n") != len(lines) + 1 or text.count("\r") != len(lines) + 1:
            raise ValueError("a header name or value holds a line break")
        try:
            # headers are recorded latin-1 decoded (lossless): the bytes that came go out again
            return text.encode("latin-1")
        except UnicodeEncodeError:  # text that never came off the wire (a hand-made record)
            return text.encode("utf-8", "surrogateescape")

    async def request(self, method: str, url: str, headers: Iterable[tuple[str, str]], body: bytes) -> Answer:
        """Send one request; its answer, of which the first :attr:`keep_bytes` bytes of body are kept."""
        data = self.head(method, url, headers, body) + body
        loop = asyncio.get_running_loop()
        while True:
            connection = None
            while self._idle:
                candidate = self._idle.pop()
                if not candidate.closed and not candidate.buffer:
                    connection = candidate
                    break
                self._drop(candidate)
            reused = connection is not None
            if connection is None:
                connection = await self._connect()
            connection.received = False
            written = loop.time()
            connection.deadline = written + self.timeout
            self._busy.add(connection)
            if self._watchdog is None:
                self._watch()
            assert connection.transport is not None
            connection.transport.write(data)
            quick = connection.expect(method == "HEAD", self.keep_bytes)
            try:
                whole = None if quick is None else await quick
                if whole is None:
                    status, answer_headers, answer, keep = await connection.response(method == "HEAD", self.keep_bytes)
                    kept, size = bytes(answer.kept), answer.size
                else:
                    status, answer_headers, kept, keep = whole
                    size = len(kept)
            except ServerDisconnected:
                self._drop(connection)
                if reused and not connection.received:
                    continue  # the server had closed this idle connection: once more on a new one
                raise
            except BaseException:
                self._drop(connection)
                raise
            finally:
                connection.quick = None
                self._busy.discard(connection)
            if keep and not connection.closed:
                self._idle.append(connection)
            else:
                self._drop(connection)
            return Answer(status, answer_headers, kept, written, size)

    def _drop(self, connection: _Connection) -> None:
        connection.close()
        self._open.discard(connection)

    def close(self) -> None:
        for connection in list(self._open):
            self._drop(connection)
        self._idle.clear()
        self._busy.clear()
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
