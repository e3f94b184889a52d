"""A command with a `show` subcommand: options parsed wherever they stand, show's own usage."""

from __future__ import annotations

from typing import Any

import click
from click.testing import CliRunner

from sentry_mirror.ui import showing
from sentry_mirror.ui.showing import WithShow

calls: list[tuple[str, Any]] = []


@click.command("things", cls=WithShow)
@click.argument("snapshots", nargs=-1)
@click.option("--loud", is_flag=True)
@click.option("--json", "as_json", is_flag=True)
def things(snapshots: tuple[str, ...], loud: bool, as_json: bool) -> None:
    """List things."""
    calls.append(("list", (snapshots, loud)))


@things.show_command(uses={"loud"})
@click.argument("ident", metavar="ID")
@click.argument("snapshots", nargs=-1)
@click.pass_context
def show(ctx: click.Context, ident: str, snapshots: tuple[str, ...]) -> None:
    """Show one thing."""
    calls.append(("show", (ident, snapshots, showing.options(ctx)["loud"])))


def invoke(*args: str) -> click.testing.Result:
    calls.clear()
    return CliRunner().invoke(things, list(args), prog_name="things")


def test_without_show_the_command_runs() -> None:
    assert 0 == invoke("a", "--loud", "b").exit_code
    assert [("list", (("a", "b"), True))] == calls


def test_show_gets_its_arguments_and_the_commands_options() -> None:
    assert 0 == invoke("--loud", "show", "x1", "a", "b").exit_code
    assert [("show", ("x1", ("a", "b"), True))] == calls
    assert 0 == invoke("show", "x1", "--loud").exit_code
    assert [("show", ("x1", (), True))] == calls


def test_show_without_its_argument_is_a_usage_error() -> None:
    result = invoke("show")
    assert (2, []) == (result.exit_code, calls)
    assert (
        "Usage: things show [OPTIONS] ID [SNAPSHOTS]..." in result.output and "Missing argument 'ID'" in result.output
    )


def test_help() -> None:
    listed = invoke("--help").output
    assert listed.startswith("Usage: things [OPTIONS] [SNAPSHOTS]...\n   or: things show [OPTIONS] ID [SNAPSHOTS]...\n")
    assert "Commands:" in listed and "show  Show one thing." in listed
    assert invoke("show", "--help").output.startswith("Usage: things show [OPTIONS] ID [SNAPSHOTS]...")


def test_an_option_show_does_not_use_is_a_usage_error() -> None:
    for args in (("show", "x1", "--json"), ("--json", "show", "x1")):
        result = invoke(*args)
        assert (2, []) == (result.exit_code, calls)
        assert "Usage: things show" in result.output and "show does not take --json" in result.output


def test_show_help_after_the_commands_options() -> None:
    result = invoke("--loud", "show", "--help")
    assert (0, []) == (result.exit_code, calls)
    assert result.output.startswith("Usage: things show [OPTIONS] ID [SNAPSHOTS]...")
    assert invoke("--loud", "--help").output.startswith("Usage: things [OPTIONS] [SNAPSHOTS]...")
