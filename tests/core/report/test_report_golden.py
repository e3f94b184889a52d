"""``report --format json`` and ``--format markdown`` over the committed snapshots, byte for
byte as they were before the report became one module per section (the files in
tests/data/report-golden were written by that code). A change to these outputs is a change
of behaviour: regenerate the files only on purpose."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from click.testing import CliRunner

from sentry_mirror.ui.cli import cli

ROOT = Path(__file__).resolve().parents[3]
GOLDEN = ROOT / "tests" / "data" / "report-golden"
#: relative to the repository (the markdown title names the snapshot as given)
SNAPSHOTS = {
    "sample-node": "snapshots/sample-node.jsonl.zst",
    "sample-browser": "snapshots/sample-browser.jsonl.zst",
    "sample-python": "snapshots/sample-python.jsonl.zst",
    "v1-sentry-python-2.75.0": "tests/data/v1-sentry-python-2.75.0.jsonl.zst",
}


@pytest.mark.parametrize("name", sorted(SNAPSHOTS))
@pytest.mark.parametrize(("form", "suffix"), [("json", "json"), ("markdown", "md")])
def test_report_output_is_unchanged(name: str, form: str, suffix: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    result = CliRunner().invoke(cli, ["report", SNAPSHOTS[name], "--format", form], env={"NO_COLOR": "1"})
    assert 0 == result.exit_code, result.output
    expected = gzip.decompress((GOLDEN / f"{name}.{suffix}.gz").read_bytes()).decode()
    assert expected == result.stdout
