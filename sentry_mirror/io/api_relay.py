"""The web API across ``listen --workers``: one worker answers every web API request.

The web API remembers between requests what sentry-cli built up (releases, files already
put together, debug file ids: io/webapi.py); a release created through one connection and
finalized through another must be found, whatever worker the kernel gave each connection.
So the first worker keeps that state and answers every web API request: the others send
it each one they receive, as received (method, path, query, headers already redacted, the
wire body, the client's address, its wire size), over a Unix socket the parent made
(:func:`api_socket`: abstract on Linux, where only this user's peers are answered;
elsewhere in a private 0700 directory), and send back its answer. The first worker runs
exactly what one listener runs for it (:func:`sentry_mirror.io.server.answer_api`): records (its own, and
the upload records of files put together) go into its file before the answer comes back,
so an answer is still sent only once its records are on disk.

While the first worker is being started again the others answer web API requests 503 with
``Retry-After`` (recorded in their own files); what it remembered is gone with it, as when a
single listener is started again. Frames: a 4-byte length of a JSON head and an 8-byte
length of the body, then both; one request per connection.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import socket
import struct
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from aiohttp import web

from sentry_mirror.core import ingest, record
from sentry_mirror.core.webapi import routes as api_routes
from sentry_mirror.errors import MirrorError

_LENGTHS = struct.Struct("!IQ")
#: SO_PEERCRED: pid, uid, gid.
_CREDENTIALS = struct.Struct("3i")

#: Puts a record on disk and answers: the server's own ``_store(incoming, response, entry, close=)``.
Store = Callable[..., Awaitable[web.Response]]
#: The server's web API answer (io/server.py answer_api), with the mirror bound.
Answer = Callable[[ingest.Request, int, bool, str | None], Awaitable[web.Response]]


@dataclass(frozen=True)
class SharedApi:
    """Where the web API of a ``--workers`` listener is answered: ``path`` of the Unix
    socket; ``sock``: its listening socket, given to the worker that answers (else None)."""

    path: str
    sock: socket.socket | None = None


async def _read_frame(reader: asyncio.StreamReader) -> tuple[dict[str, Any], bytes]:
    head_size, body_size = _LENGTHS.unpack(await reader.readexactly(_LENGTHS.size))
    head = orjson.loads(await reader.readexactly(head_size))
    return head, await reader.readexactly(body_size)


def _frame(head: dict[str, Any], body: bytes) -> bytes:
    encoded = orjson.dumps(head)
    return _LENGTHS.pack(len(encoded), len(body)) + encoded + body


# ---------------------------------------------------------------- the worker that answers


async def serve(sock: socket.socket, answer: Answer) -> asyncio.Server:
    """Answer the other workers' web API requests on ``sock`` until the server is closed."""

    async def one(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not _same_user(writer.get_extra_info("socket")):
            writer.close()  # another user found the name: no answer (it is not a worker)
            return
        try:
            head, body = await _read_frame(reader)
            headers = tuple((str(name), str(value)) for name, value in head["headers"])
            incoming = ingest.Request(head["method"], head["path"], head["query"], headers, body)
            response = await answer(incoming, head["wire_size"], head["truncated"], head["remote"])
            sent = {"status": response.status, "headers": list(response.headers.items())}
            sent["close"] = response.keep_alive is False
            assert response.body is None or isinstance(response.body, bytes)
            writer.write(_frame(sent, response.body or b""))
            await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass  # the worker that asked is gone: it answers its client itself
        finally:
            writer.close()

    return await asyncio.start_unix_server(one, sock=sock)


def _same_user(sock: Any) -> bool:
    """Whether the peer of ``sock`` runs as this user (Linux's SO_PEERCRED; elsewhere the
    socket's private directory keeps others out)."""
    if not hasattr(socket, "SO_PEERCRED"):
        return True
    _, uid, _ = _CREDENTIALS.unpack(sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CREDENTIALS.size))
    return bool(uid == os.getuid())


def api_socket(abstract: bool = sys.platform == "linux") -> tuple[socket.socket, str]:
    """The listening Unix socket the workers reach the web API on (io/workers.py makes it), and its address.

    Linux: in the abstract namespace (no file: nothing left behind, whatever the length of
    TMPDIR), a random name never shown; the worker that answers checks each peer is this
    user (SO_PEERCRED). Elsewhere: in a new private (0700) directory under /tmp, short
    whatever TMPDIR says (a Unix socket's path has about 100 bytes)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    directory = None
    try:
        if abstract:
            address = f"\0sentry-mirror-{secrets.token_hex(16)}"
        else:
            directory = tempfile.mkdtemp(prefix="sentry-mirror-", dir="/tmp" if os.path.isdir("/tmp") else None)
            address = os.path.join(directory, "api.sock")
        sock.bind(address)
        sock.listen(socket.SOMAXCONN)
    except OSError as exc:
        sock.close()
        if directory is not None:
            shutil.rmtree(directory, ignore_errors=True)
        raise MirrorError(f"cannot make the workers' web API socket: {exc.strerror or exc}") from None
    return sock, address


def remove_socket(address: str) -> None:
    """Remove the web API's socket file and its private directory (nothing for an abstract one)."""
    if address.startswith("\0"):
        return
    with contextlib.suppress(OSError):
        os.unlink(address)
    with contextlib.suppress(OSError):
        os.rmdir(os.path.dirname(address))


# ---------------------------------------------------------------- the others


async def relay(
    path: str, incoming: ingest.Request, wire_size: int, truncated: bool, remote: str | None, store: Store
) -> web.Response:
    """The answer of the worker that answers the web API to ``incoming``; a 503 with
    ``Retry-After``, recorded here, when it cannot be reached."""
    head = {
        "method": incoming.method,
        "path": incoming.path,
        "query": incoming.query,
        "headers": incoming.headers,
        "wire_size": wire_size,
        "truncated": truncated,
        "remote": remote,
    }
    try:
        reader, writer = await asyncio.open_unix_connection(path)
        try:
            writer.write(_frame(head, incoming.body))
            await writer.drain()
            answer, body = await _read_frame(reader)
        finally:
            writer.close()
    except (OSError, asyncio.IncompleteReadError) as exc:
        return await _unreachable(incoming, wire_size, truncated, remote, store, exc)
    headers = [(name, value) for name, value in answer["headers"] if name.lower() != "content-length"]
    response = web.Response(status=answer["status"], body=body, headers=headers)
    if answer["close"]:
        response.force_close()
    return response


async def _unreachable(
    incoming: ingest.Request, wire_size: int, truncated: bool, remote: str | None, store: Store, exc: BaseException
) -> web.Response:
    reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    detail = f"the mirror's web API cannot be reached now (its worker is starting again): {reason}"
    response = ingest.unavailable(detail)
    outcome = ingest.Outcome(response, api_routes.route(incoming.path)[0], incoming.body, False, error=detail)
    entry = record.build(
        incoming, outcome, received_at=datetime.now(UTC), remote_addr=remote, wire_size=wire_size, truncated=truncated
    )
    return await store(incoming, response, entry, close=True)
