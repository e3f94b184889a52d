"""The record filters as Click options, and the Query they make."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import click
import pytest
from click.testing import CliRunner

from sentry_mirror.core.query import Query
from sentry_mirror.errors import MirrorError
from sentry_mirror.ui.filters import FILTER_NAMES, filter_options, query


def _parsed(*args: str, without: tuple[str, ...] = ()) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    @click.command()
    @filter_options(without=without)
    def command(**filters: Any) -> None:
        seen.update(filters)

    result = CliRunner().invoke(command, list(args))
    assert 0 == result.exit_code, result.output
    return seen


def test_every_filter_is_an_option() -> None:
    assert FILTER_NAMES == set(_parsed())
    assert Query() == query(_parsed())


def test_the_options_make_the_query() -> None:
    made = query(_parsed("--sdk", "sentry.python", "--sdk", "sentry.go@1.0", "--status", "4xx", "--limit", "3"))
    assert (frozenset({"sentry.python", "sentry.go@1.0"}), frozenset({"4xx"}), 3) == (
        made.sdks,
        made.statuses,
        made.limit,
    )
    assert query(_parsed("--grep", "needle", "--errors-only")) == Query(grep="needle", errors_only=True)


def test_times_are_relative_to_now() -> None:
    made = query(_parsed("--since", "1h", "--until", "2026-11-23T10:00:00Z"))
    assert made.since is not None and abs(datetime.now(UTC) - timedelta(hours=1) - made.since) < timedelta(minutes=1)
    assert datetime(2026, 11, 23, 10, tzinfo=UTC) == made.until
    with pytest.raises(MirrorError, match="'yesterday' is not a time"):
        query(_parsed("--since", "yesterday"))


def test_a_command_can_leave_filters_out() -> None:
    """group gives --item-type and --limit their own meaning."""
    assert FILTER_NAMES - {"item_types", "limit"} == set(_parsed(without=("item_types", "limit")))


@pytest.mark.parametrize("bad", ["abc", "4x", "x00", "4xxx", ""])
def test_a_bad_status_is_a_usage_error(bad: str) -> None:
    @click.command()
    @filter_options()
    def command(**filters: Any) -> None:
        pass

    result = CliRunner().invoke(command, ["--status", "404", "--status", bad])
    assert 2 == result.exit_code
    assert f"Invalid value for '--status': {bad!r} is not a status" in result.output
    assert ("404", "4XX", "2xx") == _parsed("--status", "404", "--status", "4XX", "--status", "2xx")["statuses"]
