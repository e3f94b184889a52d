"""Hostile web API requests at a live listener (a real ``sentry-mirror listen`` process):
odd paths, methods, bodies and multipart garbage. Every one is answered without a traceback,
recorded, and refused with a 4xx whose JSON says why."""

from __future__ import annotations

import hashlib
import http.client
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sentry_mirror.io.snapshot import iter_records

EXAMPLES = int(os.environ.get("SENTRY_MIRROR_FUZZ_EXAMPLES", "120"))


@dataclass
class Listener:
    process: subprocess.Popen[str]
    port: int
    directory: Path
    sent: int = 0


def _start(directory: Path) -> Listener:
    argv = [sys.executable, "-m", "sentry_mirror", "listen", "--port", "0", "--dir", str(directory)]
    process = subprocess.Popen(
        [*argv, "--quiet", "--max-body", "64KiB"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    port = int(process.stdout.readline().split()[1].rsplit(":", 1)[1].split("/")[0])
    return Listener(process, port, directory)


def _stop_and_check(listener: Listener) -> None:
    """Stop the listener; every request it answered is recorded, none with a traceback or the token."""
    listener.process.send_signal(signal.SIGTERM)
    _, stderr = listener.process.communicate(timeout=30)
    assert "Traceback" not in stderr
    records = list(iter_records([listener.directory]))
    assert listener.sent == len(records)
    assert all(r.data["endpoint"].startswith("api_") for r in records)
    assert b"t0ken-value" not in b"".join(orjson.dumps(r.data) for r in records)


@pytest.fixture(scope="module")
def listener(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Listener]:
    """One listener for all the examples, checked once they are all sent."""
    running = _start(tmp_path_factory.mktemp("webapi-fuzz"))
    yield running
    _stop_and_check(running)


_SEGMENT = st.sampled_from(
    ["acme", "web", "releases", "1.0", "deploys", "commits", "repos", "chunk-upload", "artifactbundle",
     "assemble", "files", "difs", "previous-with-commits", "..", "%2F", "%00", "ü", ""]
) | st.text(st.characters(min_codepoint=33, max_codepoint=0x2FF, exclude_characters="/?#%"), max_size=12)  # fmt: skip
_PATH = st.tuples(st.sampled_from(["/api/0/organizations/", "/api/0/projects/"]), st.lists(_SEGMENT, max_size=6)).map(
    lambda p: p[0] + "/".join(quote(s, safe="%") for s in p[1]) + "/"
)
_SHA = hashlib.sha1(b"x").hexdigest()
_MULTIPART = st.lists(
    st.tuples(st.sampled_from(["file", "file_gzip", "x"]), st.sampled_from([_SHA, "zz", ""]), st.binary(max_size=60)),
    max_size=3,
).map(
    lambda parts: (
        b"".join(
            b'--B\r\nContent-Disposition: form-data; name="%s"; filename="%s"\r\n\r\n%s\r\n'
            % (n.encode(), f.encode(), d)
            for n, f, d in parts
        )
        + b"--B--\r\n"
    )
)
_BODY = st.binary(max_size=200) | _MULTIPART | st.sampled_from([b"{}", b"[]", b'{"version":"1"}', b'{"checksum":1}'])


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.sampled_from(["GET", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]),
    _PATH,
    _BODY,
    st.sampled_from(["Bearer t0ken-value", "", "Token x", "Bearer"]),
    st.sampled_from(["application/json", "multipart/form-data; boundary=B", "multipart/form-data", ""]),
)
def test_hostile_requests_are_answered_and_recorded(
    listener: Listener, method: str, path: str, body: bytes, token: str, content_type: str
) -> None:
    _send(listener, method, path, body, token, content_type)


def _send(listener: Listener, method: str, path: str, body: bytes, token: str, content_type: str) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", listener.port, timeout=10)
    headers = {k: v for k, v in (("Authorization", token), ("Content-Type", content_type)) if v}
    try:
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        answer = response.read()
    finally:
        connection.close()
    listener.sent += 1
    assert response.status < 500, (method, path, body, answer)
    if response.status >= 400:
        said = orjson.loads(answer)
        assert said.get("detail") or said.get("error") or any(said.values()), answer


_SAMPLES = [
    ("POST", "/api/0/organizations/acme/chunk-upload/", b"--B\r\n\r\n--B--\r\n", "multipart/form-data; boundary=B"),
    ("POST", "/api/0/organizations/acme/artifactbundle/assemble/", b'{"checksum":1}', "application/json"),
    ("PUT", "/api/0/organizations/%00/releases/../", b"[]", ""),
    ("DELETE", "/api/0/projects/acme/web/files/difs/assemble/", b"{}", "application/json"),
    ("GET", "/api/0/", b"", ""),
]


def test_every_request_was_recorded_without_a_traceback(tmp_path: Path) -> None:
    running = _start(tmp_path)
    try:
        for method, path, body, content_type in _SAMPLES:
            for token in ("Bearer t0ken-value", ""):
                _send(running, method, path, body, token, content_type)
    finally:
        _stop_and_check(running)
    assert running.sent == 2 * len(_SAMPLES)
