"""``export --redact`` on a hostile snapshot with personal data planted where review C found
it kept (keys, strings that hold pairs, unparsed items, a cut envelope, record fields,
answers, a user report, sdk names, nesting past 32 levels, a long string), for both engines:
and review F's (span and breadcrumb query strings, URL fragments, JSON inside strings,
objects under secrets' keys, user ids in tags, the geo context, attachment file names):
the decompressed output is searched byte by byte for every planted string, and the
redacted snapshot stays valid (``verify``; ``report`` finds nothing)."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import orjson
import pytest
import zstandard

from sentry_mirror.core import record
from tests.factories import make_answer, make_envelope, make_event, make_record, make_request, write_snapshot
from tests.helpers import require_relay
from tests.ui.test_export_redact import cli_run, pii_section, redacted

EMAIL = "jane.doe@example.com"
IP = "203.0.113.77"
PLANTED = (EMAIL, IP, "hunter2pass", "SECRETTOKEN123", "abc123secret", "zz9secret", "u-48213", "Jane Doe",
           "+33612345678", "sk_live_abc", "jane.doe:pw",
           # review F: span/breadcrumb queries, fragments, JSON in strings, secrets' objects, tags, geo, file names
           "QUERYSECRET5", "FRAGTOKEN77", "jsonpw99secret", "objpw77secret", "janedoe-passport", "Villeurbanne")  # fmt: skip


def hostile_event() -> dict[str, Any]:
    deep: Any = {"password": "hunter2pass", "mail": EMAIL}
    for _ in range(40):
        deep = {"a": deep}
    return make_event(
        user={"id": "u-48213", "email": EMAIL, "data": {"mobile": "+33612345678"}},
        sdk={"name": f"sdk-{EMAIL}", "version": "1.0"},
        message="x" * 5000 + f" contact {EMAIL} from {IP}",
        extra={
            EMAIL: "key",
            "nested": {f"ip_{IP}": 1},
            "deep": deep,
            "body": '{"password": "jsonpw99secret"}',
            "secret": {"value": "objpw77secret"},
        },
        tags={"user.id": "u-48213"},
        contexts={"geo": {"city": "Villeurbanne"}},
        breadcrumbs={
            "values": [
                {"data": {"http.query": "token=QUERYSECRET5"}},
                {"data": {"url": "https://app.test/cb#access_token=FRAGTOKEN77&state=x"}},
            ]
        },
        request={
            "url": "https://shop.test/?token=SECRETTOKEN123",
            "query_string": "token=SECRETTOKEN123&x=1",
            "cookies": "session=abc123secret; theme=dark",
            "data": "user=x&password=hunter2pass",
        },
    )


def planted(path: Path) -> Path:
    broken = orjson.dumps(make_event(extra={"api_key": "sk_live_abc"}, request={"cookies": {"sid": "zz9secret"}}))
    body = make_envelope(
        {"sdk": {"name": f"sdk-{EMAIL}"}},
        [
            ({"type": "event"}, hostile_event()),
            ({"type": "event"}, broken + b" garbage"),
            ({"type": "user_report"}, {"event_id": "c" * 32, "name": "Jane Doe", "email": EMAIL, "comments": "x"}),
            ({"type": "attachment", EMAIL: "header key", "filename": "janedoe-passport.pdf"}, b"data"),
        ],
    )
    one = make_record(
        make_request(body=body, headers=[(f"X-Custom-{EMAIL}", "v"), ("Referer", "/?token=SECRETTOKEN123")])
    )
    one["scripted"] = {"rule": f"rule-{EMAIL}"}
    one["forwarded_to"] = "https://jane.doe:pw@up.test/1"
    cut = make_record(make_request(body=make_envelope(None, [({"type": "event"}, hostile_event())])[:-60]))
    echo = orjson.dumps({"echo": {"user": {"id": "u-48213", "email": EMAIL}}})
    answer = make_answer(one, body=echo, to="https://jane.doe:pw@up.test/1")
    return write_snapshot(path, orjson.loads(orjson.dumps([one, cut, answer], default=str)))


def everything(snapshot: Path) -> bytes:
    """The decompressed snapshot, with each record's body decoded (base64 bodies too)."""
    with snapshot.open("rb") as fi:
        text = zstandard.ZstdDecompressor().stream_reader(fi, read_across_frames=True).read()
    decoded = b""
    for line in text.splitlines():
        data = orjson.loads(line)
        if isinstance(data.get("body"), str):
            decoded += record.decode_bytes(data["body"], bool(data.get("body_base64")))
    return text + decoded


@pytest.mark.parametrize("engine", ["builtin", "relay"])
def test_nothing_planted_is_left_anywhere(tmp_path: Path, engine: str) -> None:
    if engine == "relay":
        require_relay()
    source = planted(tmp_path / "in.jsonl.zst")
    assert all(s.encode() in everything(source) for s in PLANTED)  # planted indeed
    out = redacted(source, tmp_path / "out.jsonl.zst", "--pii-engine", engine)
    data = everything(out)
    assert [] == [s for s in PLANTED if s.encode() in data]
    assert base64.b64encode(EMAIL.encode()) not in data
    assert 0 == cli_run("verify", str(out)).exit_code
    assert {} == pii_section(out, engine)["kinds"]
