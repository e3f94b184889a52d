"""The linters and the type checker, run with the test suite (configured in pyproject.toml).

ruff (lint and format) and mypy (strict on ``sentry_mirror/core``) come with the ``test``
extra, pinned, so the README's test command and ``.ci/run`` run them like any test.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ["."]  # what pyproject.toml excludes (node_modules, virtualenvs) stays out


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


@pytest.mark.parametrize(
    "args",
    [("ruff", "check", "--no-cache", *CHECKED), ("ruff", "format", "--check", "--no-cache", *CHECKED), ("mypy",)],
    ids=["ruff-check", "ruff-format", "mypy"],
)
def test_tool_passes(args: tuple[str, ...]) -> None:
    result = _run(*args)
    assert 0 == result.returncode, result.stdout + result.stderr
