"""What every command receives from the root group: the Console and ``--traceback``."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console


@dataclass
class Env:
    """Per-invocation state: the Console (made here, never at import) and --traceback."""

    console: Console
    traceback: bool
