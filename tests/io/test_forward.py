"""Forward mode over real HTTP on 127.0.0.1: a mirror in front of an upstream (aiohttp stubs
and a real Bugsink), its candidates (``--tee``), and what is recorded of each answer."""

from __future__ import annotations

import asyncio
import gzip
import os
import ssl
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from sentry_mirror.core import answer
from sentry_mirror.core.record import decode_bytes
from sentry_mirror.io.forward import Slots
from sentry_mirror.io.recorder import Recorder
from tests.stubs import (
    UPSTREAM_KEY,
    Forwarder,
    Stub,
    auth,
    closed_port_dsn,
    envelope_body,
    post,
    raw_upstream,
    request_and_answers,
    send_many,
)


async def test_the_upstreams_answer_reaches_the_sdk_and_both_records_are_on_disk(
    stubs: Callable[..., Awaitable[Stub]], forwarder: Callable[..., Awaitable[Forwarder]]
) -> None:
    """A gzip'd envelope to project 1 with another key: the upstream gets it for its project
    and key, the body byte for byte as sent (not compressed again); the SDK gets the
    upstream's status, headers and body; the request and the answer are recorded."""
    upstream = await stubs(headers={"X-Upstream": "yes", "Connection": "keep-alive"}, body=b'{"id":"from-upstream"}')
    mirror = await forwarder(upstream=upstream.dsn())
    event_id, body = envelope_body()
    wire = gzip.compress(body, compresslevel=1, mtime=1)
    status, headers, answer_body, _ = await post(
        f"{mirror.url}/api/1/envelope/", wire, {**auth("mirror"), "Content-Encoding": "gzip"}
    )
    assert (200, b'{"id":"from-upstream"}', "yes") == (status, answer_body, headers["X-Upstream"])
    [(method, path, sent_headers, sent_body)] = upstream.received
    assert ("POST", "/api/5/envelope/", wire, "gzip") == (method, path, sent_body, sent_headers["Content-Encoding"])
    assert f"sentry_key={UPSTREAM_KEY}" in sent_headers["X-Sentry-Auth"]
    await mirror.stop()
    [request], [answered] = mirror.records()
    assert (event_id, f"http://127.0.0.1:{upstream.port}/5") == (
        request["summary"]["event_id"],
        request["forwarded_to"],
    )
    assert (request["id"], "upstream", "listen", 200, True, True) == (
        answered["request_id"],
        answered["target"],
        answered["via"],
        answered["status"],
        answered["delivered"],
        answered["returned"],
    )
    assert b'{"id":"from-upstream"}' == decode_bytes(answered["body"], answered["body_base64"])
    assert ["X-Upstream", "yes"] in answered["headers"]
    assert UPSTREAM_KEY not in answered["to"]
    assert answered["latency_ms"] is not None and answered["latency_ms"] >= 0


async def test_a_rate_limit_reaches_the_sdk_exactly(
    stubs: Callable[..., Awaitable[Stub]], forwarder: Callable[..., Awaitable[Forwarder]]
) -> None:
    """A 429 with X-Sentry-Rate-Limits and Retry-After is the upstream's verdict: passed through
    as it came, in either failure mode, and recorded as delivered (the upstream took the request)."""
    limits = {"X-Sentry-Rate-Limits": "60:transaction:organization", "Retry-After": "60"}
    upstream = await stubs(status=429, headers=limits, body=b"")
    mirror = await forwarder(upstream=upstream.dsn())
    status, headers, body, _ = await post(f"{mirror.url}/api/5/envelope/", envelope_body()[1], auth())
    assert (429, b"") == (status, body)
    assert limits == {k: headers[k] for k in limits}
    await mirror.stop()
    _, [answered] = request_and_answers(mirror)
    assert (429, True, True) == (answered["status"], answered["delivered"], answered["returned"])
    assert [["X-Sentry-Rate-Limits", "60:transaction:organization"], ["Retry-After", "60"]] == [
        h for h in answered["headers"] if h[0] in limits
    ]


@pytest.mark.parametrize(("mode", "expected"), [("answer", 200), ("pass", 502)])
async def test_an_upstream_that_is_down(
    forwarder: Callable[..., Awaitable[Forwarder]], mode: str, expected: int
) -> None:
    """Nothing listens upstream: ``answer`` gives the SDK the mirror's own 200 (the request is
    on disk), ``pass`` a 502; either way the request is recorded as forwarded and undelivered."""
    mirror = await forwarder(upstream=closed_port_dsn(), failure=mode)
    event_id, body = envelope_body()
    status, _, answer_body, _ = await post(f"{mirror.url}/api/5/envelope/", body, auth())
    assert expected == status
    if mode == "answer":
        assert {"id": event_id} == orjson.loads(answer_body)
    else:
        assert b"the upstream could not be reached" in answer_body
    await mirror.stop()
    request, [answered] = request_and_answers(mirror)
    assert request["forwarded_to"] == answered["to"]
    assert (None, False, mode == "pass") == (answered["status"], answered["delivered"], answered["returned"])
    assert "ConnectionRefusedError" in answered["error"]
    assert [(0, 1)] == [(t.delivered, t.undelivered) for t in mirror.forwarding.tallies]


async def test_a_timeout_is_a_504_in_pass_mode(
    stubs: Callable[..., Awaitable[Stub]], forwarder: Callable[..., Awaitable[Forwarder]]
) -> None:
    upstream = await stubs(delay=3.0)
    mirror = await forwarder(upstream=upstream.dsn(), failure="pass", timeout=0.3)
    status, _, body, elapsed = await post(f"{mirror.url}/api/5/envelope/", envelope_body()[1], auth())
    assert (504, True) == (status, b"did not answer in time" in body)
    assert elapsed < 2.5
    await mirror.stop()
    _, [answered] = request_and_answers(mirror)
    assert (None, False, True) == (answered["status"], answered["delivered"], answered["returned"])
    assert "no answer within 0.3 s" == answered["error"]
    assert answered["latency_ms"] >= 300


@pytest.mark.parametrize("mode", ["answer", "pass"])
async def test_a_5xx_is_undelivered_and_passed_on_only_in_pass_mode(
    stubs: Callable[..., Awaitable[Stub]], forwarder: Callable[..., Awaitable[Forwarder]], mode: str
) -> None:
    upstream = await stubs(status=503, headers={"Retry-After": "7"}, body=b"busy")
    mirror = await forwarder(upstream=upstream.dsn(), failure=mode)
    event_id, body = envelope_body()
    status, headers, answer_body, _ = await post(f"{mirror.url}/api/5/envelope/", body, auth())
    if mode == "pass":
        assert (503, "7", b"busy") == (status, headers["Retry-After"], answer_body)
    else:
        assert (200, {"id": event_id}) == (status, orjson.loads(answer_body))
    await mirror.stop()
    _, [answered] = request_and_answers(mirror)
    assert (503, False, mode == "pass") == (answered["status"], answered["delivered"], answered["returned"])


@pytest.mark.parametrize("mode", ["answer", "pass"])
async def test_a_redirect_is_undelivered_and_never_passed_on(
    stubs: Callable[..., Awaitable[Stub]], forwarder: Callable[..., Awaitable[Forwarder]], mode: str
) -> None:
    """An upstream that redirects (an HTTP DSN for an HTTPS-only server) took nothing: the
    SDK gets the mirror's own answer, or in ``pass`` mode a 502 saying so, never the 302
    (sentry-python would follow it, sending the envelope again past the mirror)."""
    location = "https://127.0.0.1:1/api/5/envelope/"
    upstream = await stubs(status=302, headers={"Location": location}, body=b"")
    mirror = await forwarder(upstream=upstream.dsn(), failure=mode)
    event_id, body = envelope_body()
    status, headers, answer_body, _ = await post(f"{mirror.url}/api/5/envelope/", body, auth())
    assert "Location" not in headers
    if mode == "pass":
        assert (502, True) == (status, f"redirected (302 to {location!r})".encode() in answer_body)
    else:
        assert (200, {"id": event_id}) == (status, orjson.loads(answer_body))
    await mirror.stop()
    _, [answered] = request_and_answers(mirror)
    assert (302, False, mode == "pass", None) == (
        answered["status"],
        answered["delivered"],
        answered["returned"],
        answered["error"],
    )
    assert [(0, 1)] == [(t.delivered, t.undelivered) for t in mirror.forwarding.tallies]


SDK_SENDS_ONE = """
import sys, sentry_sdk
sentry_sdk.init(dsn=sys.argv[1], default_integrations=False, send_client_reports=False)
sentry_sdk.capture_message("through a redirect")
sentry_sdk.flush(5)
"""


async def test_sentry_python_does_not_follow_a_redirect_through_the_mirror(
    stubs: Callable[..., Awaitable[Stub]], forwarder: Callable[..., Awaitable[Forwarder]]
) -> None:
    """sentry-python (urllib3) follows a 301/302/307/308 with the same POST: given the
    upstream's 307 to its own path, it would send the envelope back into the mirror again and
    again. In ``pass`` mode it gets a 502 instead: one request, recorded and sent on once."""
    upstream = await stubs(status=307, headers={"Location": "/api/5/envelope/"}, body=b"")
    mirror = await forwarder(upstream=upstream.dsn(), failure="pass")
    dsn = f"http://{UPSTREAM_KEY}@127.0.0.1:{mirror.running.port}/5"
    process = await asyncio.create_subprocess_exec(sys.executable, "-c", SDK_SENDS_ONE, dsn)
    assert 0 == await asyncio.wait_for(process.wait(), 30)
    await mirror.stop()
    requests, answers = mirror.records()
    assert (1, 1) == (len(requests), len(upstream.received))
    assert [(307, False, True)] == [(a["status"], a["delivered"], a["returned"]) for a in answers]


async def test_headers_unfit_to_write_are_left_out_for_the_sdk_and_kept_in_the_record(
    forwarder: Callable[..., Awaitable[Forwarder]],
) -> None:
    """An upstream answering a control character in a header value and a name with a space
    (bytes no HTTP library writes): the SDK gets the answer whole without those two headers
    (not an empty reply); the answer record keeps them as received, delivered and returned."""
    answer_body = b'{"id":"from-upstream"}'
    raw = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-Bad: a\nb\r\nX-Ctl: a\x01b\r\n"
        b"X Space: 1\r\nX-Tab: a\tb\r\nX-Sentry-Rate-Limits: 60:transaction:organization\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(answer_body), answer_body)
    )
    async with raw_upstream(raw) as upstream:
        mirror = await forwarder(upstream=upstream.dsn(), failure="pass")
        for _ in range(2):  # the first answer did not break the connection to the SDK or upstream
            status, headers, got, _ = await post(f"{mirror.url}/api/5/envelope/", envelope_body()[1], auth())
            assert (200, answer_body) == (status, got)
            assert ("a\tb", "60:transaction:organization") == (headers["X-Tab"], headers["X-Sentry-Rate-Limits"])
            assert not {"X-Bad", "X-Ctl", "X Space"} & set(headers)
        await mirror.stop()
        assert 2 == upstream.received
    _, answers = mirror.records()
    for answered in answers:
        assert (200, True, True, None) == (
            answered["status"],
            answered["delivered"],
            answered["returned"],
            answered["error"],
        )
        assert [["X-Bad", "a\nb"], ["X-Ctl", "a\x01b"], ["X Space", "1"]] == [
            h for h in answered["headers"] if h[0] in ("X-Bad", "X-Ctl", "X Space")
        ]


async def test_an_answer_too_big_to_pass_on_is_a_502_not_a_cut_body(
    stubs: Callable[..., Awaitable[Stub]], forwarder: Callable[..., Awaitable[Forwarder]]
) -> None:
    from sentry_mirror.core.forwarding import ANSWER_CAP

    upstream = await stubs(body=b"x" * (ANSWER_CAP + 10))
    mirror = await forwarder(upstream=upstream.dsn(), failure="pass")
    status, _, body, _ = await post(f"{mirror.url}/api/5/envelope/", envelope_body()[1], auth())
    assert (502, True) == (status, b"over" in body)
    await mirror.stop()
    _, [answered] = request_and_answers(mirror)
    assert (200, ANSWER_CAP + 10, answer.BODY_KEEP) == (
        answered["status"],
        answered["body_size"],
        len(answered["body"]),
    )
    assert "over" in answered["error"] and answered["returned"]  # the 502 stands for it


def _full_disk(recorder: Recorder) -> None:
    full = os.open("/dev/full", os.O_WRONLY)
    try:
        os.dup2(full, recorder._fd)  # type: ignore[arg-type]
    finally:
        os.close(full)


async def test_a_full_disk_still_forwards_and_answers_503_only_when_the_upstream_fails_too(
    stubs: Callable[..., Awaitable[Stub]], forwarder: Callable[..., Awaitable[Forwarder]]
) -> None:
    """The snapshot cannot be written: the request still goes upstream and the SDK gets the
    upstream's answer (counted as unrecorded); with the upstream down too, a 503 + Retry-After."""
    upstream = await stubs(body=b'{"id":"up"}')
    mirror = await forwarder(upstream=upstream.dsn(), failure="pass")
    _full_disk(mirror.recorder)
    status, _, body, _ = await post(f"{mirror.url}/api/5/envelope/", envelope_body()[1], auth())
    assert (200, b'{"id":"up"}', 1) == (status, body, len(upstream.received))
    down = await forwarder(upstream=closed_port_dsn(), failure="pass")
    _full_disk(down.recorder)
    status, headers, _, _ = await post(f"{down.url}/api/5/envelope/", envelope_body()[1], auth())
    assert (503, "2") == (status, headers["Retry-After"])
    await mirror.stop()
    await down.stop()
    assert (1, 1) == (mirror.forwarding.unrecorded, down.forwarding.unrecorded)
    assert ([1], [0]) == (
        [t.delivered for t in mirror.forwarding.tallies],
        [t.delivered for t in down.forwarding.tallies],
    )
    assert ([], []) == mirror.records()


async def test_an_https_upstream_is_trusted_through_ca_file_and_refused_without_it(
    stubs: Callable[..., Awaitable[Stub]], forwarder: Callable[..., Awaitable[Forwarder]], tmp_path: Path
) -> None:
    """A test CA (trustme): with ``--ca-file`` the upstream's certificate is verified and the
    request delivered; without it the certificate is refused (never sent unverified)."""
    trustme = pytest.importorskip("trustme") if os.environ.get("CI") != "true" else __import__("trustme")
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    upstream = await stubs(ssl_context=server_context, body=b'{"id":"tls"}')
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    trusting = await forwarder(upstream=upstream.dsn(), ca_file=ca_file, failure="pass")
    status, _, body, _ = await post(f"{trusting.url}/api/5/envelope/", envelope_body()[1], auth())
    assert (200, b'{"id":"tls"}', 1) == (status, body, len(upstream.received))
    refusing = await forwarder(upstream=upstream.dsn(), failure="pass")
    status, _, body, _ = await post(f"{refusing.url}/api/5/envelope/", envelope_body()[1], auth())
    assert (502, 1) == (status, len(upstream.received))
    assert b"CERTIFICATE_VERIFY_FAILED" in body
    await refusing.stop()
    _, [answered] = request_and_answers(refusing)
    assert answered["to"].startswith("https://127.0.0.1:") and not answered["delivered"]


async def test_a_bad_ca_file_says_so() -> None:
    from sentry_mirror.errors import MirrorError
    from sentry_mirror.io.forward import tls_context

    with pytest.raises(MirrorError, match="--ca-file"):
        tls_context(Path(__file__))


async def test_forwarding_to_bugsink_stores_the_event(
    bugsink: Any, forwarder: Callable[..., Awaitable[Forwarder]]
) -> None:
    """A real Bugsink as the upstream: the envelope sent through the mirror is stored there,
    and the request and Bugsink's answer are both on disk."""
    project_id, dsn = bugsink.project()
    key = dsn.split("//")[1].split("@")[0]
    mirror = await forwarder(upstream=dsn, failure="pass")
    event_id, body = envelope_body()
    status, _, answer_body, _ = await post(f"{mirror.url}/api/{project_id}/envelope/", body, auth(key))
    assert 200 == status, answer_body
    assert [event_id] == bugsink.stored_events(project_id)
    await mirror.stop()
    request, [answered] = request_and_answers(mirror)
    assert (event_id, 200, True) == (request["summary"]["event_id"], answered["status"], answered["delivered"])


async def test_listen_forward_on_the_command_line(stubs: Callable[..., Awaitable[Stub]], tmp_path: Path) -> None:
    """``listen --forward``: the banner gives the upstream's key and project at the mirror's
    address and says where requests go (no key); the stop line counts what was delivered."""
    upstream = await stubs(status=200)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "sentry_mirror",
        "listen",
        "--port",
        "0",
        "--dir",
        str(tmp_path),
        "--forward",
        upstream.dsn(),
        "--upstream-failure",
        "pass",
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    banner = [(await process.stdout.readline()).decode() for _ in range(3)]
    dsn = banner[0].split()[1]
    assert dsn.startswith(f"http://{UPSTREAM_KEY}@127.0.0.1:") and dsn.endswith("/5")
    assert f"forwarding to http://127.0.0.1:{upstream.port}/5" == banner[2].strip()
    port = dsn.rsplit(":", 1)[1].split("/")[0]
    status, _, _, _ = await post(f"http://127.0.0.1:{port}/api/5/envelope/", envelope_body()[1], auth())
    assert 200 == status
    live = (await process.stdout.readline()).decode()
    process.terminate()
    rest = (await asyncio.wait_for(process.stdout.read(), 30)).decode()
    assert 0 == await process.wait()
    assert "→ upstream 200" in live
    assert f"upstream http://127.0.0.1:{upstream.port}/5: 1 delivered, 0 undelivered" in rest
    assert "stopped: 1 requests in 1 file(s)" in rest
    assert UPSTREAM_KEY not in "".join(banner[1:]) + live + rest


async def test_connections_are_kept_alive_and_concurrency_is_bounded(
    stubs: Callable[..., Awaitable[Stub]], forwarder: Callable[..., Awaitable[Forwarder]]
) -> None:
    """One after the other, requests share one kept-alive connection; 6 at once with
    ``--forward-concurrency 2`` reach the upstream 2 at a time (the others wait, none fail)."""
    upstream = await stubs()
    mirror = await forwarder(upstream=upstream.dsn())
    await send_many(mirror.url, 5)
    assert 1 == len(upstream.peers)
    slow = await stubs(delay=0.2)
    bounded = await forwarder(upstream=slow.dsn(), concurrency=2)
    results = await asyncio.gather(
        *(post(f"{bounded.url}/api/5/envelope/", envelope_body()[1], auth()) for _ in range(6))
    )
    assert [200] * 6 == [status for status, _, _, _ in results]
    assert (2, 6) == (slow.most_in_flight, len(slow.received))


@pytest.mark.parametrize("minimal", [False, True], ids=["the 500's full record", "a minimal record"])
async def test_a_request_the_mirror_fails_on_still_reaches_the_upstream(
    stubs: Callable[..., Awaitable[Stub]],
    forwarder: Callable[..., Awaitable[Forwarder]],
    monkeypatch: pytest.MonkeyPatch,
    minimal: bool,
) -> None:
    """A bug in the mirror's own handling (its record cannot be built: a 500 for plain
    ``listen``) does not harm production traffic: the gzip body goes upstream as it came and
    the SDK gets the upstream's answer."""
    from sentry_mirror.core import ingest, record

    real_build = record.build

    def build(incoming: ingest.Request, outcome: ingest.Outcome, **kwargs: Any) -> dict[str, Any]:
        if minimal or outcome.response.status != 500:
            raise RuntimeError("boom in build")
        return real_build(incoming, outcome, **kwargs)

    monkeypatch.setattr(record, "build", build)
    upstream = await stubs(body=b'{"id":"up"}')
    mirror = await forwarder(upstream=upstream.dsn())
    wire = gzip.compress(envelope_body()[1])
    status, _, body, _ = await post(f"{mirror.url}/api/5/envelope/", wire, {**auth(), "Content-Encoding": "gzip"})
    assert (200, b'{"id":"up"}') == (status, body)
    [(_, path, headers, sent)] = upstream.received
    assert ("/api/5/envelope/", wire, "gzip") == (path, sent, headers["Content-Encoding"])
    await mirror.stop()
    request, [answered] = request_and_answers(mirror)
    assert (500, 200, minimal) == (
        request["response"]["status"],
        answered["status"],
        any("this is a minimal one" in note for note in request["notes"]),
    )


# ------------------------------------------------------------------ the slots of --forward-concurrency


async def test_slots_bound_the_requests_in_flight_first_come_first_served() -> None:
    slots = Slots(1)
    assert slots.take()
    assert not slots.take()
    order: list[int] = []

    async def waiter(n: int) -> None:
        assert await slots.wait(5)
        order.append(n)
        await asyncio.sleep(0)
        slots.release()

    tasks = [asyncio.create_task(waiter(n)) for n in range(3)]
    await asyncio.sleep(0)
    assert not slots.take()  # others wait: no jumping the queue
    slots.release()
    await asyncio.gather(*tasks)
    assert [0, 1, 2] == order
    assert 1 == slots.free


async def test_a_slot_not_free_in_time_is_a_timeout_and_a_cancelled_wait_loses_no_slot() -> None:
    slots = Slots(1)
    assert slots.take()
    assert not await slots.wait(0.05)
    task = asyncio.create_task(slots.wait(5))
    await asyncio.sleep(0)
    slots.release()  # handed over to the waiting task...
    task.cancel()  # ...which is cancelled before it runs: the slot goes back
    with pytest.raises(asyncio.CancelledError):
        await task
    assert 1 == slots.free
    assert slots.take()
    slots.release()
    assert 1 == slots.free


async def test_every_answer_record_handed_to_the_recorder_is_counted_written_or_lost(tmp_path: Path) -> None:
    """Answer records are looked at in batches, not one callback each: the counts are
    still exact once the recorder is done, and a record it refused is counted lost."""
    from sentry_mirror.io.forward import ForwardOptions, Tally
    from sentry_mirror.io.forwarding_app import SWEEP, Forwarding
    from tests.factories import make_answer

    recorder = Recorder(tmp_path)
    await recorder.start()
    forwarding = Forwarding(ForwardOptions(upstream="http://key@127.0.0.1:9/1"), recorder)
    tally = Tally("http://127.0.0.1:9/1", "upstream")
    for _ in range(SWEEP * 2 + 5):
        forwarding.record(make_answer(), tally)
    await recorder.close()
    forwarding.record(make_answer(), tally)  # the recorder is closed: refused
    assert (SWEEP * 2 + 5, 1) == (forwarding.answers, forwarding.answers_lost)
    assert SWEEP * 2 + 6 == tally.delivered
    await forwarding.close(0)
