"""io/export.py for ``--redact``: where the key comes from, and the fixtures directory."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import orjson
import pytest

from sentry_mirror.core import redact
from sentry_mirror.core.pii.pseudonym import KEY_SIZE
from sentry_mirror.errors import MirrorError
from sentry_mirror.io.export import KEY_ENV, export_fixtures, export_redacted, redaction_key
from sentry_mirror.io.snapshot import iter_records
from tests.factories import make_answer, sample_records


def redactor() -> redact.Redactor:
    return redact.Redactor(redact.BodyRedactor(redact.Pseudonyms(b"k" * 32)), "builtin")


def test_the_key_comes_from_the_file_then_the_environment_then_chance(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("ab" * 16 + "\n")
    assert (bytes([0xAB]) * 16, False) == redaction_key(key_file, {KEY_ENV: "other"})
    assert (b"from the environment", False) == redaction_key(None, {KEY_ENV: "from the environment"})
    key, made = redaction_key(None, {})
    assert made and KEY_SIZE == len(key) and key != redaction_key(None, {})[0]
    assert redaction_key(None, {KEY_ENV: ""})[1]  # an empty variable is no key


def test_a_key_file_that_cannot_be_read_or_is_empty_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(MirrorError, match="cannot read the redaction key file"):
        redaction_key(tmp_path / "missing", {})
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(MirrorError, match="empty"):
        redaction_key(tmp_path / "empty", {})


def test_a_redacted_snapshot_is_owner_only_with_the_answers_after_their_requests(tmp_path: Path) -> None:
    records = sample_records("node")
    answer = make_answer(records[0], body=b"jane@example.com")
    done = export_redacted([*records, answer], tmp_path / "out.jsonl.zst", redactor())
    assert (len(records), 1) == (done.written, done.answers)
    assert stat.S_IMODE((tmp_path / "out.jsonl.zst").stat().st_mode) == 0o600
    read = [r.data for r in iter_records([tmp_path / "out.jsonl.zst"], answers=True)]
    assert "jane@example.com" not in str(read) and all("redacted" in d for d in read)


def test_fixtures_and_their_manifest(tmp_path: Path) -> None:
    directory = tmp_path / "fixtures"
    records = sample_records("python") + sample_records("python")  # the second copy adds nothing
    done = export_fixtures(records, directory, redactor())
    manifest = orjson.loads((directory / "manifest.json").read_bytes())
    assert done.written == len(manifest["fixtures"]) == len({e["item_type"] for e in manifest["fixtures"]})
    assert {"engine": "builtin", "key_id": redact.key_id(b"k" * 32)} == manifest["redacted"]
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    with pytest.raises(MirrorError, match="already exists"):
        export_fixtures(records, directory, redactor())


def test_a_key_file_is_read_bounded_and_its_weaknesses_are_said(tmp_path: Path) -> None:
    with pytest.raises(MirrorError, match="not a key file"):
        redaction_key(Path("/dev/zero"), {})
    heard: list[str] = []
    key_file = tmp_path / "key"
    key_file.write_text("ab" * 16)
    key_file.chmod(0o644)
    redaction_key(key_file, {}, warn=heard.append)
    assert ["can be read by others"] == [m for m in ("can be read by others",) if any(m in h for h in heard)]
    key_file.chmod(0o600)
    heard.clear()
    assert (bytes([0xAB]) * 16, False) == redaction_key(key_file, {}, warn=heard.append)
    assert [] == heard  # a good key file says nothing
    redaction_key(None, {KEY_ENV: "short"}, warn=heard.append)
    assert any("can be guessed" in h for h in heard)
    heard.clear()
    assert (("a" * 33).encode(), False) == redaction_key(None, {KEY_ENV: "a" * 33}, warn=heard.append)
    assert any("33 hex digits read as text" in h for h in heard)


def test_fixture_names_made_alike_stay_apart_and_are_all_listed(tmp_path: Path) -> None:
    from tests.factories import make_envelope, make_event, make_record, make_request

    def sent_by(sdk: str) -> dict[str, Any]:
        body = make_envelope(
            {"sdk": {"name": sdk, "version": "1"}}, [({"type": "event"}, make_event(sdk={"name": sdk}))]
        )
        return make_record(make_request(body=body))

    records = [sent_by("my sdk"), sent_by("my_sdk"), sent_by("sdk-jane.doe@example.com")]
    done = export_fixtures(records, tmp_path / "fx", redactor())
    listing = sorted(p.name for p in (tmp_path / "fx").iterdir())
    manifest = (tmp_path / "fx" / "manifest.json").read_bytes()
    assert 3 == done.written and {"my_sdk-event.envelope", "my_sdk-event-2.envelope"} <= set(listing)
    assert not any("jane" in name for name in listing) and b"jane" not in manifest
    assert not any(b"jane" in (tmp_path / "fx" / name).read_bytes() for name in listing)
