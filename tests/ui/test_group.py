"""`sentry-mirror group` through the CLI, on the committed sample of the shop example."""

from __future__ import annotations

import io
import re
from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
from click.testing import CliRunner
from rich.cells import cell_len
from rich.console import Console

from sentry_mirror.ui.cli import cli

ENV = {"COLUMNS": "200", "NO_COLOR": "1"}
SAMPLE = str(Path(__file__).resolve().parent.parent.parent / "snapshots" / "sample-python.jsonl.zst")


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), env=ENV)


def groups(*options: str) -> list[dict[str, Any]]:
    result = run("group", SAMPLE, "--json", *options)
    assert 0 == result.exit_code, result.output
    return [orjson.loads(line) for line in result.output.splitlines()]


def test_sentry_grouping_of_the_shop() -> None:
    """KeyError twice from one place, PaymentDeclined from two lines of one function and the two
    'payment provider slow' messages each make one issue; the rest are single events."""
    found = groups()
    assert [
        ("KeyError: 7", 2, "error", "__main__ in load_basket"),
        ("PaymentDeclined: card ending 0000 declined for 2500 cents", 2, "error", "__main__ in charge"),
        ("payment provider slow: 2300 ms for order 1001", 2, "warning", "POST /checkout"),
        ("ZeroDivisionError: float division by zero", 1, "error", "__main__ in average_price"),
        ("RuntimeError: checkout failed for basket 3", 1, "error", "__main__ in checkout"),
    ] == [(g["title"], g["count"], g["level"], g["culprit"]) for g in found[:5]]
    assert found[5]["title"].startswith("webhook ") and 1 == found[5]["count"]
    assert {1} == {g["users"] for g in found}
    assert {("shop@1.4.2",)} == {tuple(g["releases"]) for g in found}
    assert all(len(g["short_id"]) == 12 and g["hash"].startswith(g["short_id"]) for g in found)


def test_strategies() -> None:
    assert 6 == len(groups("--strategy", "type"))
    assert [1, 1] == [g["count"] for g in groups("--strategy", "message") if g["title"].startswith("PaymentDeclined")]
    assert [9] == [g["count"] for g in groups("--strategy", "fingerprint")]


def test_table_and_limit() -> None:
    result = run("group", SAMPLE, "--limit", "2")
    lines = result.output.splitlines()
    assert [
        "group",
        "events",
        "users",
        "level",
        "title",
        "culprit",
        "first",
        "seen",
        "last",
        "seen",
        "sdk",
        "release",
        "env",
    ] == lines[0].split()
    assert "KeyError: 7" in lines[2] and "PaymentDeclined" in lines[3]
    assert "6 group(s), 9 event(s)" == lines[-1]


def test_show_a_group() -> None:
    short_id = groups()[0]["short_id"]
    result = run("group", "show", short_id[:6], SAMPLE)
    assert 0 == result.exit_code
    assert result.output.startswith(f"{short_id}  KeyError: 7\n")
    assert "grouped by    type:KeyError" in result.output
    assert "frame:__main__:load_basket" in result.output
    assert 2 == sum(1 for line in result.output.splitlines() if len(line.split()) == 2 and len(line.split()[0]) == 32)


def test_unknown_group() -> None:
    result = run("group", "show", "ffffffffffff", SAMPLE)
    assert (3, "Error: no group 'ffffffffffff'\n") == (result.exit_code, result.output)


def test_compare_shows_counts_splits_and_merges() -> None:
    result = run("group", SAMPLE, "--compare", "type", "--compare", "message")
    assert 0 == result.exit_code
    lines = [line.strip() for line in result.output.splitlines()]
    assert ["sentry 6", "type 6", "message 7"] == [
        " ".join(line.split())
        for line in lines
        if line.split()[:1] in (["sentry"], ["type"], ["message"]) and len(line.split()) == 2
    ]
    assert "sentry → type: the same issues" in lines
    assert "sentry → message" in lines
    splits = [line for line in lines if line.startswith("splits")]
    assert 2 == len(splits)  # sentry→message and type→message both split PaymentDeclined
    assert all("'PaymentDeclined: card ending 0000 declined for 2500 cents' into" in line for line in splits)


def test_transactions_by_name_and_op() -> None:
    found = groups("--item-type", "transaction")
    assert [("POST /checkout", "http.server", 1)] == [(g["name"], g["op"], g["count"]) for g in found]
    assert found[0]["p50_ms"] == found[0]["p95_ms"] > 0
    table = run("group", SAMPLE, "--item-type", "transaction").output
    assert "POST /checkout" in table and "http.server" in table and "1 group(s), 1 transaction(s)" in table


def test_the_record_filters_apply() -> None:
    """inspect's filters work here too (--item-type and --limit keep group's own meaning)."""
    warnings = groups("--level", "warning")
    assert warnings and {"warning"} == {g["level"] for g in warnings}
    assert len(warnings) < len(groups())
    assert [] == groups("--since", "2026-11-24T00:00:00Z")
    result = run("group", "show", warnings[0]["short_id"], SAMPLE, "--level", "error")
    assert (3, f"Error: no group {warnings[0]['short_id']!r}\n") == (result.exit_code, result.output)


def test_the_table_fits_80_columns() -> None:
    """Titles and culprits are cut in the middle, so both ends show; --json has them whole."""
    result = CliRunner().invoke(cli, ["group", SAMPLE], env={**ENV, "COLUMNS": "80"})
    lines = result.output.splitlines()
    assert lines and max(cell_len(line) for line in lines) <= 80
    declined = next(line for line in lines if line.startswith(groups()[1]["short_id"]))
    assert re.search(r"PaymentDec\S*….*2500 cents\s", declined), declined
    assert "PaymentDeclined: card ending 0000 declined for 2500 cents" == groups()[1]["title"]


def test_a_group_with_no_sdk_is_labelled() -> None:
    """On a wide terminal the SDK column shows; a group none of whose events names an SDK says so."""
    from sentry_mirror.ui.render import NO_SDK
    from sentry_mirror.ui.render_group import groups_table

    group = replace(_any_group(), sdks=())
    out = io.StringIO()
    Console(file=out, width=200, no_color=True).print(groups_table([group], 200))
    assert NO_SDK in out.getvalue() and "(no SDK)" == NO_SDK


def _any_group() -> Any:
    from sentry_mirror.core import grouping
    from sentry_mirror.io.snapshot import iter_records

    return grouping.group_records(r.data for r in iter_records([SAMPLE]))[0]


def test_show_of_a_transaction_group_is_a_usage_error() -> None:
    result = run("group", "--item-type", "transaction", "show", "x", SAMPLE)
    assert 2 == result.exit_code, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    assert "transaction groups have no id" in result.output


def test_show_refuses_the_options_it_does_not_use() -> None:
    short_id = groups()[0]["short_id"]
    for option in (["--compare", "type"], ["--json"], ["--limit", "1"]):
        result = run("group", *option, "show", short_id, SAMPLE)
        assert 2 == result.exit_code, result.output
        assert f"show does not take {option[0]}" in result.output
    assert 0 == run("group", "--level", "error", "show", short_id, SAMPLE).exit_code
    helped = run("group", "--strategy", "type", "show", "--help")
    assert helped.output.startswith("Usage: cli group show [OPTIONS] GROUP [SNAPSHOT]...")
