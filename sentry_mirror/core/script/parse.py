"""A script of answers from TOML text (docs/scripts.md): :func:`parse`.

Every mistake is a :class:`~sentry_mirror.errors.ScriptError` naming ``FILE:LINE`` and
the reason. tomllib gives no line numbers for values, so the line is found in the text:
the Nth ``[[rule]]`` table header, and the key's own line inside it where it is written
plainly (``key = ...``)."""

from __future__ import annotations

import functools
import re
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sentry_mirror.core.envelope import EVENT_ID_ITEM_TYPES, TYPE_ALIASES, canonical_type
from sentry_mirror.core.forwarding import HOP_BY_HOP, TOKEN, UNFIT
from sentry_mirror.core.ingest import ENDPOINTS
from sentry_mirror.core.limits import EVENT_LIKE, ITEM_LIMITS
from sentry_mirror.core.ratelimits import CATEGORIES, DATA_CATEGORIES
from sentry_mirror.core.script.model import Answer, Match, RateLimit, Rule, Script
from sentry_mirror.core.units import parse_duration, parse_size
from sentry_mirror.errors import ScriptError

#: The endpoints a rule may name (the record's ``endpoint``; the web API is not scripted).
ENDPOINT_NAMES = frozenset((*ENDPOINTS, "unknown"))
#: The data categories a rule may name: Relay's (core/ratelimits.py), but its ``unknown``.
KNOWN_CATEGORIES = DATA_CATEGORIES - {"unknown"}
#: The item types a rule may name: those the mirror knows (their canonical spelling; an
#: alias such as ``trace-metric`` is read as its type), and ``nel`` (the NEL endpoint's reports).
KNOWN_ITEM_TYPES = frozenset((*CATEGORIES, *ITEM_LIMITS, *EVENT_LIKE, *EVENT_ID_ITEM_TYPES, "nel"))
#: Keys that say what to answer; a rule with none of them is refused.
ANSWER_KEYS = ("status", "headers", "body", "rate_limits", "retry_after", "delay", "drop")

_REQUESTS = re.compile(r"^\s*(\d+)\s*(?:(-)\s*(\d+)?)?\s*$")
_TOML_LINE = re.compile(r"\s*\(at line (\d+), column \d+\)\s*$")
_HEADER = re.compile(r"^\s*(\[\[|\[)([^\[\]]+)(?:\]\]|\])\s*$")


class _Bad(Exception):
    """A value that cannot be used; the caller adds where (``entry``: which of a list of tables)."""

    def __init__(self, message: str, entry: int | None = None) -> None:
        super().__init__(message)
        self.entry = entry


def parse(text: str, source: str) -> Script:
    """The script in ``text`` (TOML); ``source`` names it in errors (a file name)."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        found = _TOML_LINE.search(message)
        line = found.group(1) if found else str(max(1, len(text.splitlines())))  # "at end of document"
        raise ScriptError(f"{source}:{line}: not valid TOML: {_TOML_LINE.sub('', message)}") from None
    where = _Lines(text, source)
    for key in data:
        if key not in ("seed", "rule"):
            raise ScriptError(f"{where.top(key)}: unknown key {key!r} (a script has `seed` and [[rule]] tables)")
    seed = data.get("seed", 0)
    if type(seed) is not int:
        raise ScriptError(f"{where.top('seed')}: seed must be a whole number, not {_kind(seed)}")
    tables = data.get("rule")
    if tables is None:
        raise ScriptError(f"{source}:1: the script has no [[rule]] table")
    if not isinstance(tables, list) or not all(isinstance(table, dict) for table in tables):
        raise ScriptError(f"{where.top('rule')}: `rule` must be [[rule]] tables")
    return Script(_rules(tables, where), seed)


def parse_rules(tables: list[dict[str, Any]], source: str) -> tuple[Rule, ...]:
    """The rules of ``tables`` (each as a [[rule]] table's keys, already TOML values),
    checked as a script's are; errors name ``source`` (line 1: there is no text)."""
    return _rules(tables, _Lines("", source))


def _rules(tables: list[dict[str, Any]], where: _Lines) -> tuple[Rule, ...]:
    return tuple(_rule(table, index, where) for index, table in enumerate(tables))


@dataclass(frozen=True)
class _Lines:
    """Where things are in the text: the line of each [[rule]] header, of a key in it.

    Lines are read as TOML code: comments cut off, and lines inside a multi-line string
    blank (a ``[[rule]]`` there is text, not a header)."""

    text: str
    source: str

    @functools.cached_property
    def lines(self) -> list[str]:
        return _code_lines(self.text)

    def rule(self, index: int) -> int:
        """The 1-based line of the ``index``-th [[rule]] header (1 when not found)."""
        headers = [n for n, line in enumerate(self.lines, 1) if _header(line) == (True, ("rule",))]
        return headers[index] if index < len(headers) else 1

    def key(self, index: int, key: str, entry: int | None = None) -> str:
        """``source:LINE`` of ``key`` in the ``index``-th rule, else of the rule's header;
        ``entry``: for a key written as [[rule.KEY]] tables, the line of that one (0-based)."""
        lines, start = self.lines, self.rule(index)
        pattern, seen = _key_pattern(key), 0
        for number in range(start + 1, len(lines) + 1):
            header = _header(lines[number - 1])
            if header is not None:
                names = header[1]
                if len(names) < 2 or names[0] != "rule":  # the next rule, or a table of the script
                    break
                if names[1] == key:  # [rule.headers], [[rule.rate_limits]]: a key of this rule as a table
                    if entry is None or seen == entry:
                        return f"{self.source}:{number}"
                    seen += 1
                continue
            if pattern.match(lines[number - 1]):
                return f"{self.source}:{number}"
        return f"{self.source}:{start}"

    def top(self, key: str) -> str:
        """``source:LINE`` of a top-level ``key``: written before the first table, or a table
        of its own (``[meta]``, ``[[rules]]``); else line 1."""
        pattern, before = _key_pattern(key), True
        for number, line in enumerate(self.lines, 1):
            header = _header(line)
            if header is not None:
                if header[1][:1] == (key,):
                    return f"{self.source}:{number}"
                before = False
            elif before and pattern.match(line):
                return f"{self.source}:{number}"
        return f"{self.source}:1"


def _header(line: str) -> tuple[bool, tuple[str, ...]] | None:
    """A table header's (array of tables?, dotted names), quotes taken off; None for other lines."""
    found = _HEADER.match(line)
    if found is None:
        return None
    names = tuple(name.strip().strip("\"'") for name in found.group(2).split("."))
    return found.group(1) == "[[", names


def _code_lines(text: str) -> list[str]:
    """``text``'s lines with their comments cut off, and blank where they start inside a
    multi-line string."""
    result = []
    inside: str | None = None  # the closing quotes of the multi-line string we are in
    for line in text.splitlines():
        begins_inside, index, cut = inside is not None, 0, len(line)
        while index < len(line):
            if inside is not None:
                end = _closing(line, index, inside)
                if end < 0:
                    break
                index, inside = end + 3, None
            elif line[index] == "#":
                cut = index
                break
            elif line.startswith(('"""', "'''"), index):
                inside, index = line[index : index + 3], index + 3
            elif line[index] in "\"'":
                index = _closing(line, index + 1, line[index]) + 1 or len(line)
            else:
                index += 1
        result.append("" if begins_inside else line[:cut])
    return result


def _closing(line: str, start: int, quotes: str) -> int:
    """Where ``quotes`` close a string in ``line`` from ``start`` (-1: not on this line); a
    backslash escapes in basic strings (``"``), not in literal ones (``'``)."""
    index = line.find(quotes, start)
    while index >= 0 and quotes[0] == '"' and _escaped(line, index):
        index = line.find(quotes, index + 1)
    return index


def _escaped(line: str, index: int) -> bool:
    before = line[:index]
    return (len(before) - len(before.rstrip("\\"))) % 2 == 1


def _key_pattern(key: str) -> re.Pattern[str]:
    name = re.escape(key)
    return re.compile(rf"""^\s*(?:{name}|"{name}"|'{name}')\s*[=.]""")


def _kind(value: Any) -> str:
    """How a TOML value is named in errors."""
    names = {bool: "true/false", int: "a number", float: "a number", str: "text", list: "a list", dict: "a table"}
    return names.get(type(value), type(value).__name__)


def _rule(table: dict[str, Any], index: int, where: _Lines) -> Rule:
    """One [[rule]] table: each key converted, then the rule checked as a whole."""
    label = f"rule {index + 1}"
    if isinstance(table.get("name"), str) and table["name"].strip():
        label = f"rule {table['name']!r}"
    values: dict[str, Any] = {}
    for key, value in table.items():
        convert = _CONVERTERS.get(key)
        if convert is None:
            known = ", ".join(sorted(_CONVERTERS))
            raise ScriptError(f"{where.key(index, key)}: {label}: unknown key {key!r} (known: {known})")
        try:
            values[key] = convert(value)
        except _Bad as bad:
            raise ScriptError(f"{where.key(index, key, bad.entry)}: {label}: {key}: {bad}") from None
    try:
        return _assemble(values, index, where)
    except _Bad as bad:
        raise ScriptError(f"{where.source}:{where.rule(index)}: {label}: {bad}") from None


def _assemble(values: dict[str, Any], index: int, where: _Lines) -> Rule:
    """The rule from its converted values; :class:`_Bad` when they do not go together."""
    if not any(key in values for key in ANSWER_KEYS):
        raise _Bad(f"empty rule: it answers nothing (give one of {', '.join(ANSWER_KEYS)})")
    if values.get("drop") and any(key in values for key in ("body", "status", "headers", "rate_limits")):
        raise _Bad("drop closes the connection without an answer: it takes no status, headers, body or rate_limits")
    if "body" in values and "status" not in values:
        raise _Bad("body goes with a status")
    after, before = values.get("after"), values.get("before")
    if after is not None and before is not None and before <= after:
        raise _Bad(f"before ({before:g} s) must be later than after ({after:g} s)")
    status = values.get("status")
    if status is None and values.get("rate_limits"):
        status = 429
    match = Match(
        endpoints=values.get("endpoint"),
        item_types=values.get("item_type"),
        categories=values.get("category"),
        projects=values.get("project"),
        sdks=values.get("sdk"),
        requests=values.get("requests"),
        after=after,
        before=before,
        larger_than=values.get("larger_than"),
        share=values.get("share"),
    )
    answer = Answer(
        status=status,
        headers=values.get("headers", ()),
        body=values.get("body"),
        rate_limits=values.get("rate_limits", ()),
        retry_after=values.get("retry_after"),
        delay=values.get("delay", 0.0),
        drop=values.get("drop", False),
    )
    name = values.get("name") or f"rule {index + 1}"
    source = f"{where.source}:{where.rule(index)}"
    return Rule(name, match, answer, values.get("lasts"), values.get("times"), source)


def _texts(value: Any) -> tuple[str, ...]:
    """Text or a list of texts, none empty."""
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(item, str) and item.strip() for item in items):
        raise _Bad(f"must be text or a list of text, not {_kind(value)}")
    return tuple(item.strip() for item in items)


def _one_of(known: frozenset[str], what: str) -> Callable[[Any], frozenset[str]]:
    def convert(value: Any) -> frozenset[str]:
        names = _texts(value)
        for name in names:
            if name not in known:
                raise _Bad(f"unknown {what} {name!r} (known: {', '.join(sorted(known))})")
        return frozenset(names)

    return convert


def _item_types(value: Any) -> frozenset[str]:
    """Item types, each in its canonical spelling (``trace-metric`` is ``trace_metric``)."""
    names = frozenset(canonical_type(name) for name in _texts(value))
    for name in sorted(names):
        if name not in KNOWN_ITEM_TYPES:
            known = ", ".join(sorted(KNOWN_ITEM_TYPES | TYPE_ALIASES.keys()))
            raise _Bad(f"unknown item type {name!r} (known: {known})")
    return names


def _projects(value: Any) -> frozenset[str]:
    items = value if isinstance(value, list) else [value]
    if not items or not all(type(item) in (int, str) and str(item).strip() for item in items):
        raise _Bad(f"must be a project id (a number or text) or a list of them, not {_kind(value)}")
    return frozenset(str(item).strip() for item in items)


def _requests(value: Any) -> tuple[int, int | None]:
    """``3`` / ``"3"`` (the 3rd), ``"3-"`` (from the 3rd on), ``"1-5"``."""
    if type(value) is int:
        value = str(value)
    found = _REQUESTS.match(value) if isinstance(value, str) else None
    if found is None:
        raise _Bad(f'must be a request number or range like 3, "3-" or "1-5", not {value!r}')
    first = int(found.group(1))
    last = int(found.group(3)) if found.group(3) else (None if found.group(2) else first)
    if first < 1 or (last is not None and last < first):
        raise _Bad(f"{value!r} is not a range of requests counted from 1")
    return first, last


def _duration(value: Any) -> float:
    if type(value) in (int, float):
        seconds = float(value)
    elif isinstance(value, str):
        try:
            seconds = parse_duration(value)
        except ValueError as exc:
            raise _Bad(str(exc)) from None
    else:
        raise _Bad(f'must be a duration like "30s" or a number of seconds, not {_kind(value)}')
    if not 0 <= seconds < 10**9:
        raise _Bad(f"{value!r} is not a duration from 0 on")
    return seconds


def _size(value: Any) -> int:
    if type(value) is int and value >= 0:
        return int(value)
    if isinstance(value, str):
        try:
            return parse_size(value)
        except ValueError as exc:
            raise _Bad(str(exc)) from None
    raise _Bad(f'must be a size like "100KiB" or a number of bytes, not {value!r}')


def _share(value: Any) -> float:
    if type(value) not in (int, float) or not 0 <= value <= 1:
        raise _Bad(f"must be a number from 0 to 1, not {value!r}")
    return float(value)


def _whole(low: int, high: int) -> Callable[[Any], int]:
    def convert(value: Any) -> int:
        if type(value) is not int:
            raise _Bad(f"must be a whole number, not {_kind(value)}")
        if not low <= value <= high:
            raise _Bad(f"{value} is outside {low}-{high}")
        return int(value)

    return convert


def _status(value: Any) -> int:
    """A final answer's status: 200-599 (a 1xx is interim, never an answer on its own)."""
    if type(value) is int and 100 <= value < 200:
        raise _Bad(f"{value} is an interim status, not an answer (a status is 200-599)")
    return _whole(200, 599)(value)


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise _Bad(f"must be text, not {_kind(value)}")
    return value


def _body(value: Any) -> bytes:
    return _text(value).encode("utf-8")


def _flag(value: Any) -> bool:
    if type(value) is not bool:
        raise _Bad(f"must be true or false, not {_kind(value)}")
    return bool(value)


def _headers(value: Any) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise _Bad(f'must be a table like {{ "X-Custom" = "1" }}, not {_kind(value)}')
    headers = []
    for name, text in value.items():
        if not name or not TOKEN.issuperset(name):
            raise _Bad(f"{name!r} is not a header name")
        # the listener frames the answer and runs the connection: a wrong one desyncs the client
        if name.lower() in HOP_BY_HOP or name.lower().startswith("proxy-"):
            raise _Bad(f"{name!r} frames the answer or the connection: the listener sets it itself")
        if type(text) is int:
            text = str(text)
        if not isinstance(text, str) or UNFIT.search(text):
            raise _Bad(f"the value of {name!r} must be text on one line, without control characters")
        headers.append((name, text))
    return tuple(headers)


_LIMIT_KEYS = ("categories", "seconds", "scope", "reason")


def _rate_limits(value: Any) -> tuple[RateLimit, ...]:
    """``[{ categories = ["transaction"], seconds = 60, scope = "organization", reason = "quota_exceeded" }]``."""
    entries = value if isinstance(value, list) else [value]
    if not entries or not all(isinstance(entry, dict) for entry in entries):
        raise _Bad('must be a list of tables like { categories = ["transaction"] }')
    limits = []
    for number, entry in enumerate(entries):
        try:
            limits.append(_rate_limit(entry))
        except _Bad as bad:
            raise _Bad(str(bad), number) from None
    return tuple(limits)


def _rate_limit(entry: dict[str, Any]) -> RateLimit:
    for key in entry:
        if key not in _LIMIT_KEYS:
            raise _Bad(f"unknown key {key!r} in a rate limit (known: {', '.join(_LIMIT_KEYS)})")
    categories = entry.get("categories", [])
    names = tuple(sorted(_one_of(KNOWN_CATEGORIES, "category")(categories))) if categories != [] else ()
    seconds = _whole(0, 10**9)(entry["seconds"]) if "seconds" in entry else None
    scope = _token(entry.get("scope", "organization"), "scope")
    reason = _token(entry["reason"], "reason") if "reason" in entry else None
    return RateLimit(names, seconds, scope, reason)


def _token(value: Any, what: str) -> str:
    """A scope or reason: it goes between colons and commas in the header."""
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_.-]+", value):
        raise _Bad(f"the {what} must be a word like organization or quota_exceeded, not {value!r}")
    return value


def _name(value: Any) -> str:
    text = _text(value).strip()
    if not text or not text.isprintable():
        raise _Bad("must be printable text")
    return text


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "name": _name,
    "endpoint": _one_of(ENDPOINT_NAMES, "endpoint"),
    "item_type": _item_types,
    "category": _one_of(KNOWN_CATEGORIES, "category"),
    "project": _projects,
    "sdk": _texts,
    "requests": _requests,
    "after": _duration,
    "before": _duration,
    "larger_than": _size,
    "share": _share,
    "lasts": _duration,
    "times": _whole(1, 10**9),
    "status": _status,
    "headers": _headers,
    "body": _body,
    "rate_limits": _rate_limits,
    "retry_after": _whole(0, 10**9),
    "delay": _duration,
    "drop": _flag,
}
