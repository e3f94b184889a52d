"""Normalisation: the variable parts of a message replaced by placeholders
(:func:`normalize_message`, with the patterns of :mod:`sentry_mirror.core.patterns`), and a
frame's function and module reduced to what stays stable between builds and runs
(:func:`normalize_function`, :func:`normalize_type`, :func:`frame_location`)."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from sentry_mirror.core.patterns import (
    CLOCK_TIME,
    DAYS,
    DIGIT,
    EMAIL_LIKE,
    HEX_ID,
    HEX_LITERAL,
    HTTP_DATE,
    IPV4_LIKE,
    IPV6_LIKE,
    ISO_DATE,
    NUMBER,
    UUID,
)

# ---------------------------------------------------------------- messages


def _ipv6(match: re.Match[str]) -> str:
    text = match.group()
    colons = text.count(":")
    if ("::" in text or colons == 7) and any(c.isdigit() for c in text):
        return "<ip>"
    return text


def normalize_message(text: str) -> str:
    """``text`` with its variable parts replaced by placeholders, so that messages that
    differ only in ids and numbers group together: ``<uuid>``, ``<email>``, ``<date>``
    (ISO 8601 and HTTP dates), ``<time>``, ``<ip>`` (v4 and v6), ``<hex>`` (``0x…`` and
    hex ids of 8+ digits with a letter), ``<float>``, ``<int>``. Digits inside words
    (``v2``, ``sha256``) are kept; leading and trailing whitespace is dropped."""
    # Each pattern runs only when the text holds what it cannot match without (a digit,
    # "-", "@", two ":", three ".", "0x", a day's name); the placeholders hold none of it.
    dash, digit = "-" in text, DIGIT.search(text) is not None
    if dash:
        text = UUID.sub("<uuid>", text)
    if "@" in text:
        text = EMAIL_LIKE.sub("<email>", text)
    if not digit:
        return text.strip()
    if dash:
        text = ISO_DATE.sub("<date>", text)
    if any(day in text for day in DAYS):
        text = HTTP_DATE.sub("<date>", text)
    if text.count(":") >= 2:  # an IPv6 address, or a time (h:mm:ss)
        text = IPV6_LIKE.sub(_ipv6, text)  # before times: "::f0:10:10a0:0" holds a time-like "0:10:10"
        text = CLOCK_TIME.sub("<time>", text)
    if text.count(".") >= 3:
        text = IPV4_LIKE.sub("<ip>", text)
    if "0x" in text or "0X" in text:
        text = HEX_LITERAL.sub("<hex>", text)
    text = HEX_ID.sub("<hex>", text)
    text = NUMBER.sub(_number, text)
    return text.strip()


def _number(match: re.Match[str]) -> str:
    return "<float>" if match.group(1) else "<int>"


# ---------------------------------------------------------------- frames

_ADDRESS = re.compile(r"\s*(?:\bat\s+)?\b0x[0-9a-f]+", re.IGNORECASE)
_JAVA_LAMBDA_CLASS = re.compile(r"\$\$Lambda(?:\$\d+)?(?:/(?:0x)?[0-9a-f]*)?", re.IGNORECASE)
_JAVA_ACCESSOR = re.compile(r"(Generated\w*Accessor)\d+")
_CGLIB = re.compile(r"\$\$(EnhancerBy\w*?|FastClassBy\w*?)\$\$[0-9a-f]+", re.IGNORECASE)
_ANONYMOUS = re.compile(r"<lambda>|lambda\$.*|\{closure\}.*|<anonymous>|\[anonymous\]|anonymous", re.IGNORECASE)
_NUMBERED_SUFFIX = re.compile(r"(?:_\d{4,}|\$\d+)+$")
_GO_CLOSURE = re.compile(r"(?<=\.func)\d+(?:\.\d+)*$")
_DOTNET_CLOSURE = re.compile(r"(?<=b__)\d+(?:_\d+)*")
_IGNORED_FUNCTIONS = frozenset({"", "?", "<redacted>", "<unknown>", "<unknown function>"})
_NATIVE_PLATFORMS = frozenset({"native", "c", "cpp", "cocoa", "objc", "swift"})
_IGNORED_FILENAMES = frozenset({"<anonymous>", "[native code]"})
#: Frames repeat a small set of names: remembering the last few thousand saves most regex work.
CACHE_SIZE = 4096


def _without_groups(name: str, opening: str, closing: str) -> str:
    """``name`` without its (nested) ``opening…closing`` groups."""
    out, depth = [], 0
    for char in name:
        if char == opening:
            depth += 1
        elif char == closing and depth:
            depth -= 1
        elif not depth:
            out.append(char)
    return "".join(out)


def normalize_function(name: Any, platform: str | None = None) -> str | None:
    """A frame's function as it contributes to grouping, or None when it does not.

    Memory addresses are removed; lambdas and anonymous functions of every platform
    become ``<lambda>`` (``<genexpr>``, ``<listcomp>`` and ``<module>`` are stable and kept);
    generated numbered suffixes (Ruby ERB ``_1234…``, Java/JS ``$1``, Go ``func1``, .NET
    ``b__0_1``) are dropped; JavaScript's ``Object.`` prefix is dropped; native names lose
    their parameters, templates and return type. Line numbers never contribute.
    """
    if not isinstance(name, str):
        return None
    return _normalize_function(name, platform if platform in _NATIVE_PLATFORMS else None)


@lru_cache(maxsize=CACHE_SIZE)
def _normalize_function(name: str, platform: str | None) -> str | None:
    name = _ADDRESS.sub("", name).strip()
    if name in _IGNORED_FUNCTIONS:
        return None
    if platform in _NATIVE_PLATFORMS and not name.startswith(("-[", "+[")):
        name = _without_groups(_without_groups(name, "(", ")"), "<", ">").strip()
        name = name.rsplit(" ", 1)[-1] if " " in name else name
    name = name.removeprefix("Object.")
    if _ANONYMOUS.fullmatch(name):
        return "<lambda>"
    name = _GO_CLOSURE.sub("", name)
    name = _DOTNET_CLOSURE.sub("", name)
    name = _NUMBERED_SUFFIX.sub("", name)
    return name or None


@lru_cache(maxsize=CACHE_SIZE)
def _normalize_module(module: str) -> str:
    module = _JAVA_LAMBDA_CLASS.sub("$$Lambda", module)
    module = _CGLIB.sub(r"$$\1$$", module)
    module = _JAVA_ACCESSOR.sub(r"\1", module)
    return _ADDRESS.sub("", module).strip()


def frame_location(module: str | None, filename: str | None) -> str | None:
    """A frame's module, else its file's base name lower-cased (URLs and ``<anonymous>`` ignored)."""
    if module is not None and module.strip():
        return _normalize_module(module) or None
    if filename is None or filename in _IGNORED_FILENAMES or "://" in filename:
        return None
    base = re.split(r"[/\\]", filename.strip())[-1].lower()
    return base or None


def normalize_type(kind: str) -> str:
    """An exception type without memory addresses."""
    return _ADDRESS.sub("", kind).strip()
