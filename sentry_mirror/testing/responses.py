"""The scripted answers :meth:`Mirror.respond_with` asks for, as one :class:`Script`: through
core/script's own parsers (``--scenario`` specs, TOML scripts, rule tables), so a bad one
raises :class:`~sentry_mirror.errors.ScriptError` as ``listen`` would."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sentry_mirror.core.script import Rule, Script, parse, parse_rules, scenario
from sentry_mirror.errors import ScriptError

#: How a rule made from keywords is named in errors and in the records' ``scripted.source``.
KEYWORDS_SOURCE = "respond_with()"


def _script_text(script: str | os.PathLike[str]) -> tuple[str, str]:
    """The TOML text and its source name: ``script`` is a path when it is an ``os.PathLike``
    or a ``str`` naming an existing file; any other ``str`` is TOML text (one with no ``=``
    and no newline, which no TOML script is, is read as a path that is not there)."""
    if isinstance(script, os.PathLike) or _is_file(script) or ("\n" not in script and "=" not in script):
        path = Path(script)
        try:
            return path.read_text(encoding="utf-8"), str(path)
        except (OSError, UnicodeDecodeError) as exc:
            raise ScriptError(f"{path}: cannot be read: {exc}") from None
    return script, "respond_with(script=...)"


def _is_file(name: str) -> bool:
    try:
        return Path(name).is_file()
    except (OSError, ValueError):  # too long, a NUL: not a file name
        return False


def script_of(
    scenarios: Iterable[str], script: str | os.PathLike[str] | None, status: int | None, rule: dict[str, Any]
) -> Script:
    """The script's rules first, then the scenarios', then the keyword rule (as ``listen``
    puts ``--script`` before ``--scenario``); its seed is the script's."""
    rules: tuple[Rule, ...] = ()
    seed = 0
    if script is not None:
        parsed = parse(*_script_text(script))
        rules, seed = parsed.rules, parsed.seed
    for spec in scenarios:
        rules += scenario(spec)
    table = {**({"status": status} if status is not None else {}), **rule}
    if table:
        rules += parse_rules([table], KEYWORDS_SOURCE)
    return Script(rules, seed)
