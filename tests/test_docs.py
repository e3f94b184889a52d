"""The README stays true: its test command is what CI runs, and every command is documented."""

from __future__ import annotations

from pathlib import Path

import pytest

from sentry_mirror.ui.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()


def test_ci_runs_the_readme_test_command() -> None:
    command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert command.startswith("python3 -m venv .venv && ")
    assert f"```sh\n{command}\n```" in README


def test_readme_starts_the_listener_in_one_command() -> None:
    assert "```sh\npython3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/sentry-mirror listen\n```" in README


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_is_in_the_readme_and_has_help(name: str) -> None:
    assert f"sentry-mirror {name}" in README
    assert cli.commands[name].help


def test_every_listen_option_is_in_the_readme() -> None:
    for param in cli.commands["listen"].params:
        for opt in param.opts:
            if opt.startswith("--"):
                assert f"`{opt}" in README, opt
