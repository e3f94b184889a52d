"""`ui.report_output.build`, what `report`, `diff`, `probe` and `run --report` build reports
with: no section named means the default sections, never the asked-only `normalization`."""

from __future__ import annotations

import orjson
import pytest
from click.testing import CliRunner

from sentry_mirror.core import report
from sentry_mirror.core.query import Query
from sentry_mirror.errors import MirrorError
from sentry_mirror.ui.cli import cli
from sentry_mirror.ui.report_output import build
from tests.factories import SNAPSHOTS

SAMPLE = str(SNAPSHOTS / "sample-python.jsonl.zst")


def test_no_section_named_builds_the_defaults_without_relay(monkeypatch: pytest.MonkeyPatch) -> None:
    # as `run --report` asks: without sentry-relay, the asked-only section would stop it
    monkeypatch.setattr("sentry_mirror.core.pii.relay_available", lambda: False)
    data = build((SAMPLE,), (), report.TOP_GROUPS, Query()).to_json()
    assert "normalization" not in data and "normalization" not in data["sections"]
    assert set(data["sections"]) <= set(report.DEFAULT_SECTIONS)
    assert {"traffic", "issues", "pii"} <= set(data["sections"])


def test_the_asked_only_section_when_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sentry_mirror.core.pii.relay_available", lambda: False)
    with pytest.raises(MirrorError, match="pip install sentry-relay"):
        build((SAMPLE,), ("normalization",), report.TOP_GROUPS, Query())


def test_build_and_the_report_command_agree_on_the_defaults() -> None:
    printed = CliRunner().invoke(cli, ["report", SAMPLE, "--format", "json"], env={"COLUMNS": "200"})
    assert 0 == printed.exit_code, printed.output
    built = build((SAMPLE,), (), report.TOP_GROUPS, Query()).to_json()
    assert orjson.loads(printed.stdout)["sections"] == built["sections"]
