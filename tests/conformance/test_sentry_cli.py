"""The real sentry-cli (npm @sentry/cli, its binary from the @sentry/cli-<platform> package).

``send-event`` and ``send-envelope``, each parsed and ``--raw``, with ``SENTRY_DSN`` pointing
at a real listener. With ``--log-level=debug`` sentry-cli prints the envelope it serialised
and the answer's body; both must match the snapshot.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from sentry_mirror.core import envelope
from tests.conformance.clients import SENTRY_CLI, header, installed_version, need_node, run

EVENT_ID = "0f2ab79ecb144f54b5ef3a36ec2d41a7"
ENVELOPE = (
    b'{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc"}\n'
    b'{"type":"event"}\n'
    b'{"event_id":"9ec79c33ec9942ab8353589fcb2e04dc","message":"from an envelope file","level":"info"}\n'
    b'{"type":"attachment","length":7,"filename":"state.bin"}\n'
    b"ab\r\nc\x00\n\n"
)


def _logged_envelope(log: str) -> bytes:
    """The envelope sentry-cli's debug log says it sent (the log adds one newline after it)."""
    start = log.index("Sending envelope:\n") + len("Sending envelope:\n")
    end = log.index("\n  DEBUG ", start)
    return log[start:end].encode("utf-8", "surrogateescape")


async def _cli(mirror: Any, tmp_path: Path, *args: str) -> tuple[str, bytes, dict[str, Any]]:
    """Run sentry-cli; its stdout, the envelope it logged, and the one new record."""
    need_node("@sentry/cli")
    binary = SENTRY_CLI
    before = len(mirror.records())
    env = {
        "HOME": str(tmp_path),  # no ~/.sentryclirc
        "SENTRY_DSN": mirror.dsn(),
        "SENTRY_LOAD_DOTENV": "0",
        "SENTRY_DISABLE_UPDATE_CHECK": "true",
        "SENTRY_HTTP_MAX_RETRIES": "0",  # an error answer must show, not be retried away
        "SENTRY_RELEASE": "",
        "SENTRY_ENVIRONMENT": "",
        "NO_COLOR": "1",
    }
    ran = await run([str(binary), "--log-level=debug", *args], env=env, cwd=tmp_path, timeout=30)
    assert 0 == ran.returncode, ran.stderr
    assert "< HTTP/1.1 200 OK" in ran.stderr
    records = mirror.records()
    assert before + 1 == len(records)
    record = records[-1].data
    assert records[-1].body == _logged_envelope(ran.stderr)
    assert f"body: {record['response']['body']}\n" in ran.stderr  # the answer the CLI read
    assert 200 == record["response"]["status"]
    assert record["error"] is None and [] == record["notes"]
    # sentry-cli authenticates with X-Sentry-Auth, including sentry_timestamp; no Content-Type.
    assert "x-sentry-auth" == record["auth"]["form"]
    assert "mirror" == record["auth"]["public_key"]
    auth_header = header(record["headers"], "x-sentry-auth")
    assert auth_header is not None
    assert re.fullmatch(
        r"Sentry sentry_key=mirror, sentry_version=7, sentry_timestamp=\d+\.\d+, sentry_client=sentry-cli/\S+",
        auth_header,
    )
    assert f"sentry-cli/{installed_version('@sentry/cli')}" == header(record["headers"], "user-agent")
    assert header(record["headers"], "content-type") is None
    assert "/api/1/envelope/" == record["path"]
    return ran.stdout, records[-1].body, record


def _dashed(event_id: str) -> str:
    return f"{event_id[:8]}-{event_id[8:12]}-{event_id[12:16]}-{event_id[16:20]}-{event_id[20:]}"


async def test_send_event_message(mirror: Any, tmp_path: Path) -> None:
    args = ["send-event", "-m", "hello from sentry-cli", "-m", "second line", "-r", "shop@1.4.2", "--no-environ"]
    stdout, body, record = await _cli(mirror, tmp_path, *args)
    printed = re.search(r"Event id: ([0-9a-f-]{36})", stdout)
    assert printed is not None, stdout
    event_id = printed.group(1).replace("-", "")
    assert event_id == record["summary"]["event_id"]
    assert {"id": event_id} == json.loads(record["response"]["body"])
    parsed = envelope.parse(body)
    assert {"event_id": printed.group(1)} == parsed.headers  # dashed in the envelope header
    event = parsed.items[0].json()
    assert event_id == event["event_id"]  # 32 hex digits in the event
    assert "hello from sentry-cli\nsecond line" == event["logentry"]["message"]
    assert "shop@1.4.2" == event["release"]


async def test_send_event_file(mirror: Any, tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    path.write_text(json.dumps({"event_id": EVENT_ID, "message": "from a file", "level": "warning"}))
    stdout, body, record = await _cli(mirror, tmp_path, "send-event", str(path))
    assert f"dispatched: {_dashed(EVENT_ID)}" in stdout
    assert EVENT_ID == record["summary"]["event_id"]
    assert ["event"] == [item.type for item in envelope.parse(body).items]
    assert "from a file" == envelope.parse(body).items[0].json()["message"]


async def test_send_event_file_raw(mirror: Any, tmp_path: Path) -> None:
    path = tmp_path / "event.json"
    raw = json.dumps({"event_id": EVENT_ID, "message": "from a file, raw", "level": "warning"}).encode()
    path.write_bytes(raw)
    stdout, body, record = await _cli(mirror, tmp_path, "send-event", "--raw", str(path))
    assert f"dispatched: {_dashed(EVENT_ID)}" in stdout
    assert EVENT_ID == record["summary"]["event_id"]
    prefix = b'{"event_id":"%s"}\n{"type":"event","length":%d}\n' % (_dashed(EVENT_ID).encode(), len(raw))
    assert prefix + raw == body  # the file's bytes as the payload, and no newline after them


async def test_send_event_file_raw_without_event_id(mirror: Any, tmp_path: Path) -> None:
    """--raw does not parse the file: with no event_id in it, the envelope carries the nil UUID."""
    path = tmp_path / "event.json"
    path.write_text('{"message":"no id","level":"info"}')
    stdout, _body, record = await _cli(mirror, tmp_path, "send-event", "--raw", str(path))
    nil = "0" * 32
    assert f"dispatched: {_dashed(nil)}" in stdout
    assert nil == record["summary"]["event_id"]
    assert {"id": nil} == json.loads(record["response"]["body"])


async def test_send_envelope_raw(mirror: Any, tmp_path: Path) -> None:
    path = tmp_path / "envelope.bin"
    path.write_bytes(ENVELOPE)
    stdout, body, record = await _cli(mirror, tmp_path, "send-envelope", "--raw", str(path))
    assert "dispatched" in stdout
    assert ENVELOPE == body  # byte for byte, as the file
    assert "9ec79c33ec9942ab8353589fcb2e04dc" == record["summary"]["event_id"]
    assert {"id": "9ec79c33ec9942ab8353589fcb2e04dc"} == json.loads(record["response"]["body"])


async def test_send_envelope_parsed(mirror: Any, tmp_path: Path) -> None:
    """Without --raw sentry-cli re-serialises: dashed header id, `length` everywhere, defaults added."""
    path = tmp_path / "envelope.bin"
    path.write_bytes(ENVELOPE)
    stdout, body, record = await _cli(mirror, tmp_path, "send-envelope", str(path))
    assert "dispatched" in stdout
    assert "9ec79c33ec9942ab8353589fcb2e04dc" == record["summary"]["event_id"]
    parsed = envelope.parse(body)
    assert {"event_id": "9ec79c33-ec99-42ab-8353-589fcb2e04dc"} == parsed.headers
    assert ["event", "attachment"] == [item.type for item in parsed.items]
    assert all("length" in item.headers for item in parsed.items)
    assert "from an envelope file" == parsed.items[0].json()["message"]
    assert b"ab\r\nc\x00\n" == parsed.items[1].payload
