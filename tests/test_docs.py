"""The docs stay true: the README's commands are what CI runs, every command is in the
README, every option and exit code is in docs/cli.md, and every relative link resolves."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from sentry_mirror.errors import ExitCode
from sentry_mirror.ui.cli import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
DOCS = ROOT / "docs"
CLI_DOC = (DOCS / "cli.md").read_text()
MARKDOWN = [ROOT / "README.md", ROOT / "CHANGELOG.md", ROOT / "benchmarks" / "README.md", *sorted(DOCS.glob("*.md"))]


def section(text: str, heading: str) -> str:
    """The body of the level-2 section titled ``heading`` (up to the next level-2 heading)."""
    parts = text.split(f"\n## {heading}\n", 1)
    assert len(parts) == 2, f"no section '## {heading}'"
    return parts[1].split("\n## ", 1)[0]


def documented_for(name: str) -> str:
    """What docs/cli.md says about command ``name``: its section, plus the shared filters it links."""
    text = section(CLI_DOC, f"sentry-mirror {name}")
    if "(#filters)" in text:
        text += section(CLI_DOC, "Filters")
    return text


def test_ci_runs_the_readme_test_command() -> None:
    command = (ROOT / ".ci" / "run").read_text().strip().splitlines()[-1]
    assert command.startswith("python3 -m venv .venv && ")
    assert f"```sh\n{command}\n```" in README


def test_readme_starts_the_listener_in_one_command() -> None:
    assert "```sh\npython3 -m venv .venv && .venv/bin/pip install -e . && .venv/bin/sentry-mirror listen\n```" in README


def test_readme_shows_the_dsn_listen_prints() -> None:
    assert "$ sentry-mirror listen\n  DSN   http://mirror@127.0.0.1:9001/1 " in README


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_command_is_in_the_readme_and_has_help(name: str) -> None:
    assert f"sentry-mirror {name}" in README
    assert cli.commands[name].help


@pytest.mark.parametrize("name", sorted(cli.commands))
def test_every_option_and_choice_is_in_the_cli_reference(name: str) -> None:
    text = documented_for(name)
    for param in cli.commands[name].params:
        if not isinstance(param, click.Option):
            continue
        for opt in [*param.opts, *param.secondary_opts]:
            assert re.search(rf"`{re.escape(opt)}(?![\w-])", text), f"{name} {opt}: not in its section of docs/cli.md"
        if isinstance(param.type, click.Choice):
            for choice in param.type.choices:
                assert f"`{choice}`" in text, f"{name} {param.opts[0]} {choice}: not in docs/cli.md"


def test_global_options_are_in_the_cli_reference() -> None:
    text = section(CLI_DOC, "Global options")
    for param in cli.params:
        for opt in param.opts:
            if opt.startswith("--") and opt != "--help":
                assert f"`{opt}`" in text, opt


def test_every_exit_code_is_in_the_cli_reference() -> None:
    codes = re.findall(r"^\| (\d+) \|", section(CLI_DOC, "Exit codes"), re.MULTILINE)
    assert sorted(int(code) for code in codes) == sorted(code.value for code in ExitCode)


@pytest.mark.parametrize("path", MARKDOWN, ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_resolve(path: Path) -> None:
    text = path.read_text()
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # an external address
        file, _, anchor = target.partition("#")
        linked = (path.parent / file).resolve() if file else path
        assert linked.exists(), f"{path.name}: {target}"
        if anchor and linked.suffix == ".md":
            assert anchor in slugs(linked.read_text()), f"{path.name}: {target}"


def slugs(text: str) -> set[str]:
    """GitHub's anchors for a Markdown file's headings."""
    found = set()
    for heading in re.findall(r"^#+ (.+)$", text, re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def test_changelog_keeps_an_unreleased_section_for_users() -> None:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    unreleased = section(changelog, "[Unreleased]")
    for kind in ("Added", "Changed", "Fixed"):
        assert f"\n### {kind}\n" in unreleased, kind
