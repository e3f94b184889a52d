"""The real sentry-sdk, pointed at a real listener, with every compression it uses.

The SDK's transport is subclassed only to keep a copy of each envelope it serialises;
it still compresses and sends them over HTTP itself. Every envelope it sent must be in
the snapshot byte for byte, with the encoding it used, answered 200.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any, ClassVar

import pytest
import sentry_sdk
from sentry_sdk import logger as sentry_logger
from sentry_sdk.crons import capture_checkin
from sentry_sdk.transport import HttpTransport

from sentry_mirror.core import envelope
from sentry_mirror.core.summary import record_title
from sentry_mirror.io.snapshot import iter_records


class CapturingTransport(HttpTransport):
    """sentry-python's own HTTP transport, remembering the bytes it serialised."""

    sent: ClassVar[list[bytes]] = []

    def _serialize_envelope(self, env: Any) -> Any:
        CapturingTransport.sent.append(env.serialize())
        return super()._serialize_envelope(env)


def _app_traffic() -> None:
    """What a small app does: errors, a message, a transaction, a session, a check-in, logs."""
    try:
        try:
            {}["missing"]
        except KeyError as exc:
            raise ValueError("could not load the basket") from exc
    except ValueError:
        sentry_sdk.capture_exception()
    sentry_sdk.capture_message("payment provider slow: 2300 ms")
    with sentry_sdk.new_scope() as scope:
        scope.add_attachment(bytes=b"\x00\x01binary\xff\n\r\n", filename="state.bin")
        try:
            1 / 0  # noqa: B018
        except ZeroDivisionError:
            sentry_sdk.capture_exception()
    with sentry_sdk.start_transaction(name="GET /checkout", op="http.server"):
        with sentry_sdk.start_span(op="db.query", name="SELECT * FROM basket"):
            pass
        with sentry_sdk.start_span(op="http.client", name="POST https://payments.example/charge"):
            pass
    scope = sentry_sdk.get_isolation_scope()
    scope.start_session()
    scope.end_session()
    capture_checkin(monitor_slug="nightly-report", status="ok")
    sentry_logger.info("basket {basket_id} checked out", basket_id=42)


async def send_app_traffic(dsn: str, **options: Any) -> None:
    """Run :func:`_app_traffic` through a real sentry-sdk client sending to ``dsn``; return
    once the client has sent everything (and the global client is reset)."""
    sentry_sdk.init(
        dsn,
        release="shop@1.4.2",
        environment="test",
        traces_sample_rate=1.0,
        enable_logs=True,
        default_integrations=False,
        auto_session_tracking=False,
        **options,
    )
    client = sentry_sdk.get_client()
    try:
        _app_traffic()
        # the transport sends from its own thread: flush off the loop that serves the mirror
        await asyncio.to_thread(client.close, 10)
    finally:
        sentry_sdk.init()  # no DSN: the global client goes back to doing nothing


@pytest.mark.parametrize(
    ("experiments", "expected_encoding"),
    [
        ({"transport_compression_algo": "br"}, "br"),
        ({"transport_compression_algo": "gzip"}, "gzip"),
        ({"transport_compression_level": 0}, None),
    ],
    ids=["br", "gzip", "none"],
)
async def test_real_sdk_traffic_is_recorded_byte_exact(
    mirror: Any, experiments: dict[str, Any], expected_encoding: str | None
) -> None:
    """Every envelope sentry-python sent is on disk, decoded byte-exact, and got 200."""
    CapturingTransport.sent = []
    await send_app_traffic(mirror.dsn(), transport=CapturingTransport, _experiments=experiments)

    records = mirror.records()
    sent = CapturingTransport.sent
    assert len(sent) >= 6
    assert sorted(sent) == sorted(r.body for r in records)
    assert {200} == {r.status for r in records}
    assert {expected_encoding} == {r.data["content_encoding"] for r in records}
    assert {"x-sentry-auth"} == {r.data["auth"]["form"] for r in records}
    assert {"1"} == {r.data["project_id"] for r in records}

    sent_event_ids = {envelope.parse(body).event_id for body in sent} - {None}
    assert sent_event_ids == {r.event_id for r in records} - {None}
    for record in records:
        if record.event_id:
            assert {"id": record.event_id} == json.loads(record.data["response"]["body"])

    types = sorted(t for r in records for t in r.item_types)
    for expected in ("event", "attachment", "transaction", "session", "check_in", "log"):
        assert expected in types
    titles = {record_title(r.data) for r in records}
    assert "ValueError: could not load the basket" in titles
    assert "ZeroDivisionError: division by zero" in titles
    assert "payment provider slow: 2300 ms" in titles
    assert "GET /checkout" in titles
    assert "nightly-report ok" in titles
    chained = next(r for r in records if record_title(r.data) == "ValueError: could not load the basket")
    event = envelope.parse(chained.body).items[0].json()
    assert ["KeyError", "ValueError"] == [e["type"] for e in event["exception"]["values"]]
    attachment = next(item for r in records for item in envelope.parse(r.body).items if item.type == "attachment")
    assert b"\x00\x01binary\xff\n\r\n" == attachment.payload


def test_sdk_in_a_separate_process_flushes_at_exit(tmp_path: Path) -> None:
    """A script that only calls init and capture_message: its exit-time flush reaches the listener."""
    listener = subprocess.Popen(
        [sys.executable, "-m", "sentry_mirror", "listen", "--port", "0", "--dir", str(tmp_path), "--quiet"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert listener.stdout is not None
        dsn = listener.stdout.readline().split()[1]
        script = textwrap.dedent(
            f"""
            import sentry_sdk
            sentry_sdk.init({dsn!r})
            sentry_sdk.capture_message("goodbye from a short script")
            """
        )
        subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
    finally:
        listener.terminate()
        assert 0 == listener.wait(timeout=30)
    records = list(iter_records([tmp_path]))
    assert ["goodbye from a short script"] == [record_title(r.data) for r in records]
