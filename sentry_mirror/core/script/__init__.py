"""Scripted answers for ``listen`` (docs/scripts.md): rules that answer some requests
otherwise than Relay would (a 429, a 503, a delay, a dropped connection), to see what
an SDK does then.

``model`` (the rules), ``parse`` (TOML scripts, errors with their line), ``presets``
(``--scenario`` names), ``answers`` (Relay's wording), ``engine`` (which rule answers
a request). Pure: the listener (io/server.py) asks the engine and sends the answer."""

from sentry_mirror.core.script.engine import Decision, Engine, Facts
from sentry_mirror.core.script.model import Answer, Match, RateLimit, Rule, Script, describe
from sentry_mirror.core.script.parse import parse, parse_rules
from sentry_mirror.core.script.presets import SCENARIOS, scenario

__all__ = [
    "SCENARIOS",
    "Answer",
    "Decision",
    "Engine",
    "Facts",
    "Match",
    "RateLimit",
    "Rule",
    "Script",
    "describe",
    "parse",
    "parse_rules",
    "scenario",
]
