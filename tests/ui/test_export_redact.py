"""``sentry-mirror export --redact`` through the CLI: the committed real-SDK samples and a
capture from the real sentry-sdk (a user, request cookies and headers, e-mails in messages, a
card in a local variable) come out with no personal data for either engine, the same issues,
pseudonyms stable under one key, a valid snapshot, and accepted by the real Bugsink."""

from __future__ import annotations

import asyncio
import os
import stat
from pathlib import Path
from typing import Any

import orjson
import pytest
import sentry_sdk
from click.testing import CliRunner, Result

from sentry_mirror.core import envelope, pii
from sentry_mirror.core.redact import placeholder
from sentry_mirror.io.snapshot import iter_records
from sentry_mirror.ui.cli import cli
from tests.bugsink import Bugsink
from tests.conftest import Mirror
from tests.helpers import require_relay

ENV = {"COLUMNS": "200", "NO_COLOR": "1"}
REPO = Path(__file__).resolve().parent.parent.parent
SAMPLES = REPO / "snapshots"
KEY = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"
ATTACHMENT = b"\x00\x01jane.doe@example.com\xff"


def cli_run(*args: str, env: dict[str, str] | None = None) -> Result:
    result = CliRunner().invoke(cli, list(args), env={**ENV, **(env or {})})
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result


def redacted(source: Path | str, out: Path, *options: str, key: str | None = KEY) -> Path:
    env = {"SENTRY_MIRROR_REDACT_KEY": key} if key else {"SENTRY_MIRROR_REDACT_KEY": ""}
    result = cli_run("export", "--redact", "-o", str(out), *options, str(source), env=env)
    assert 0 == result.exit_code, result.output
    return out


def pii_section(snapshot: Path, engine: str) -> dict[str, Any]:
    result = cli_run("report", "--section", "pii", "--pii-engine", engine, "--format", "json", str(snapshot))
    assert 0 == result.exit_code, result.output
    section: dict[str, Any] = orjson.loads(result.stdout)["pii"]
    return section


def group_count(snapshot: Path | str) -> int:
    result = cli_run("group", "--json", str(snapshot))
    assert 0 == result.exit_code, result.output
    return sum(1 for line in result.stdout.splitlines() if line.startswith("{"))


def bodies(snapshot: Path) -> list[str]:
    return [r.data["body"] for r in iter_records([snapshot])]


# ---------------------------------------------------------------- a real sentry-sdk capture


async def capture(mirror: Mirror) -> Path:
    """What sentry-python sends with send_default_pii: a user, a request with cookies and
    headers, e-mails in messages, a card in a local variable."""
    sentry_sdk.init(mirror.dsn(), send_default_pii=True, default_integrations=False, traces_sample_rate=1.0)
    try:
        sentry_sdk.set_user({"id": "u-17", "email": "jane.doe@example.com", "ip_address": "203.0.113.7"})
        with sentry_sdk.new_scope() as scope:
            scope.add_attachment(bytes=ATTACHMENT, filename="/home/jane/state.bin")
            sentry_sdk.capture_message("password reset sent to jane.doe@example.com")
        sentry_sdk.capture_event(
            {
                "message": "checkout failed",
                "request": {
                    "url": "https://shop.example/checkout?email=jane.doe%40example.com",
                    "method": "POST",
                    "headers": {
                        "Authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJqYW5lIn0.c2lnbmF0dXJlLXNpZ24",
                        "X-Forwarded-For": "203.0.113.7, 198.51.100.23",
                        "Cookie": "sessionid=9f8e7d6c5b4a; theme=dark",
                    },
                    "cookies": {"sessionid": "9f8e7d6c5b4a", "theme": "dark"},
                    "env": {"REMOTE_ADDR": "203.0.113.7"},
                },
            }
        )
        try:
            card = "4242424242424242"  # noqa: F841 - a local variable the SDK sends
            raise ValueError("payment declined for jane.doe@example.com")
        except ValueError:
            sentry_sdk.capture_exception()
        await asyncio.to_thread(sentry_sdk.get_client().close, 10)
    finally:
        sentry_sdk.init()
    records = mirror.records()
    assert len(records) >= 3 and "jane.doe@example.com" in "".join(r.data["body"] for r in records)
    return mirror.directory


@pytest.fixture
async def captured(mirror: Mirror) -> Path:
    return await capture(mirror)


# ---------------------------------------------------------------- the round trips


@pytest.mark.parametrize("source", ["samples", "sdk"])
@pytest.mark.parametrize("engine", ["builtin", "relay"])
async def test_a_redacted_snapshot_holds_no_personal_data_and_the_same_issues(
    source: str, engine: str, captured: Path, tmp_path: Path
) -> None:
    if engine == "relay":
        require_relay()
    origin = SAMPLES if source == "samples" else captured
    out = redacted(origin, tmp_path / "red.jsonl.zst", "--pii-engine", engine)
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    before = pii_section(origin, "builtin")
    assert before["kinds"]  # there was personal data to remove
    assert [] == pii_section(out, "builtin")["fields"]
    if pii.relay_available():
        relay = pii_section(out, "relay")
        assert [] == relay["fields"]
        if engine == "relay":  # Relay itself changes nothing more
            assert [] == relay["relay_only"]
    assert group_count(origin) == group_count(out)
    verified = cli_run("verify", str(out))
    assert 0 == verified.exit_code and "every check passed" in verified.output, verified.output
    assert "jane.doe" not in "".join(bodies(out))  # not even percent-encoded in a URL
    assert '"u-17"' not in "".join(bodies(out))  # the user's id is a pseudonym too
    assert all(r.data["redacted"]["engine"] == engine for r in iter_records([out]))


def test_pseudonyms_are_stable_under_one_key_and_differ_under_another(tmp_path: Path) -> None:
    key_file = tmp_path / "team.key"
    key_file.write_text(KEY + "\n")
    one = redacted(SAMPLES, tmp_path / "one.jsonl.zst", key=KEY)
    two = redacted(SAMPLES, tmp_path / "two.jsonl.zst", "--redact-key-file", str(key_file), key=None)
    other = redacted(SAMPLES, tmp_path / "other.jsonl.zst", key="another key")
    assert bodies(one) == bodies(two)
    assert bodies(one) != bodies(other)
    ids = {r.data["redacted"]["key_id"] for path in (one, two) for r in iter_records([path])}
    assert 1 == len(ids) and KEY[:8] not in ids
    assert ids != {r.data["redacted"]["key_id"] for r in iter_records([other])}


def test_without_a_key_a_random_one_is_used_and_stderr_says_so(tmp_path: Path) -> None:
    result = cli_run("export", "--redact", "-o", str(tmp_path / "a.jsonl.zst"), str(SAMPLES))
    assert 0 == result.exit_code, result.output
    assert "a random key is used and not kept" in result.stderr
    again = redacted(SAMPLES, tmp_path / "b.jsonl.zst", key=None)
    assert bodies(tmp_path / "a.jsonl.zst") != bodies(again)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--pii-rules", "KEYFILE", "-o", "x.jsonl.zst"], "go with --redact"),
        (["--redact", "--envelopes", "dir"], "--redact writes a snapshot"),
        (["--redact"], "--redact writes a snapshot"),
        (["--redact", "-o", "x.jsonl.zst", "--fixtures", "dir"], "--redact writes a snapshot"),
    ],
)
def test_usage_errors(args: list[str], message: str, tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("secret")
    args = [str(key_file) if a == "KEYFILE" else str(tmp_path / a) if a in ("x.jsonl.zst", "dir") else a for a in args]
    result = cli_run("export", *args, str(SAMPLES))
    assert 2 == result.exit_code and message in result.output, result.output


def test_rules_relay_refuses_are_a_usage_error(tmp_path: Path) -> None:
    require_relay()
    rules = tmp_path / "rules.json"
    rules.write_text('{"rules": {"x": {"type": "nonsense"}}}')
    result = cli_run("export", "--redact", "--pii-rules", str(rules), "-o", str(tmp_path / "x.jsonl.zst"), str(SAMPLES))
    assert 2 == result.exit_code and "not a valid Relay PII config" in result.output, result.output
    assert not (tmp_path / "x.jsonl.zst").exists()


def test_a_projects_rules_redact_what_they_name(tmp_path: Path) -> None:
    require_relay()
    rules = tmp_path / "rules.json"
    rules.write_text(
        '{"rules": {"basket": {"type": "pattern", "pattern": "basket [0-9]+", '
        '"redaction": {"method": "replace", "text": "[basket]"}}}, "applications": {"$string": ["basket"]}}'
    )
    out = redacted(SAMPLES / "sample-python.jsonl.zst", tmp_path / "r.jsonl.zst", "--pii-rules", str(rules))
    events = [i for b in bodies(out) for i in envelope.items_of(b.encode()) if i.type == "event"]
    assert any("basket 3" in body for body in bodies(SAMPLES / "sample-python.jsonl.zst"))
    assert events and all(b"basket 3" not in item.payload for item in events)


# ---------------------------------------------------------------- fixtures


def test_fixtures_are_one_redacted_envelope_per_sdk_and_item_type(tmp_path: Path) -> None:
    directory = tmp_path / "fixtures"
    result = cli_run(
        "export", "--redact", "--fixtures", str(directory), str(SAMPLES), env={"SENTRY_MIRROR_REDACT_KEY": KEY}
    )
    assert 0 == result.exit_code, result.output
    manifest = orjson.loads((directory / "manifest.json").read_bytes())
    entries = manifest["fixtures"]
    pairs = {(e["sdk"], e["item_type"]) for e in entries}
    assert len(pairs) == len(entries)
    assert {
        ("sentry.python", "event"),
        ("sentry.javascript.node", "span"),
        ("sentry.javascript.browser", "session"),
    } <= pairs
    for entry in entries:
        path = directory / entry["file"]
        assert stat.S_IMODE(path.stat().st_mode) == 0o600 and entry["size"] == path.stat().st_size
        parsed = envelope.parse(path.read_bytes())
        assert entry["item_type"] in parsed.item_types
        for item in parsed.items:
            assert [] == list(pii.scan(orjson.loads(item.payload), item.type)), entry["file"]
    assert sorted(os.listdir(directory)) == sorted([*(e["file"] for e in entries), "manifest.json"])


# ---------------------------------------------------------------- into the real Bugsink


async def test_bugsink_takes_the_redacted_snapshot_as_it_took_the_original(
    bugsink: Bugsink, captured: Path, tmp_path: Path
) -> None:
    """Replayed into two fresh projects, the original and the redacted capture are stored alike."""
    out = redacted(captured, tmp_path / "red.jsonl.zst")
    stored = []
    for snapshot in (captured, out):
        project, dsn = bugsink.project()
        result = await asyncio.to_thread(
            cli_run, "replay", str(snapshot), "--to", dsn, "--fresh-ids", "--shift-timestamps", "--concurrency", "1"
        )
        assert 0 == result.exit_code, result.output
        stored.append(len(bugsink.stored_events(project)))
    assert stored[0] > 0 and stored[0] == stored[1]


@pytest.mark.parametrize("mode", ["placeholder", "drop"])
async def test_attachments_are_replaced_by_as_many_bytes_or_dropped(mode: str, captured: Path, tmp_path: Path) -> None:
    out = redacted(captured, tmp_path / "red.jsonl.zst", "--attachments", mode)
    items = [item for r in iter_records([out]) for item in envelope.parse(r.body).items]
    attachments = [item for item in items if item.type == "attachment"]
    if mode == "drop":
        assert [] == attachments
    else:
        assert [placeholder(len(ATTACHMENT))] == [item.payload for item in attachments]
        assert "jane" not in attachments[0].headers["filename"]
    assert any(item.type == "event" for item in items)
