"""Group error events into issues the way Sentry does, and transactions by name and op.

Sentry's priority order (protocol reference, section 8.1) is fingerprint, then the
exception chain with its stack traces, then type + value, then the message. This module
follows it with the simplification the reference suggests: one hash per event, the MD5
of its *grouping components* joined with ``"\\x00"`` (Sentry associates several variant
hashes with a group; here the in-app variant wins, then the all-frames variant). Expect
Sentry's behaviour, not its hashes.

Grouping components are short, self-describing strings, so a renderer can show *why*
events share a group:

``type:KeyError``                  an exception's type (skipped when ``mechanism.synthetic``)
``frame:__main__:load_basket``     one contributing frame: module (or file name) and function
``value:card ending <int> …``      an exception's normalised value, when it has no frame
``message:payment slow: <int> ms`` the normalised message
``fingerprint:payments``           one value of an explicit fingerprint
``<no grouping info>``             nothing to group by (every such event lands in one group)

Strategies (:data:`STRATEGIES`): ``sentry`` (the default, above), ``type`` (exception
types only), ``message`` (the normalised message or exception value only) and
``fingerprint`` (the explicit fingerprint only). :func:`compare` runs several over the
same events and says where they split or merge groups.

Everything streams: :func:`group_records` keeps one small aggregate per group, never the
events. The bounded parts are documented where they are bounded: at most ``max_ids``
event ids per group, :data:`MAX_VALUES` distinct releases (environments, SDKs, platforms),
:data:`MAX_USERS` distinct users, and a reservoir of :data:`RESERVOIR_SIZE` transaction
durations per transaction group.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import random
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

import orjson

from sentry_mirror.core import bodies, envelope
from sentry_mirror.core.ingest import store_json
from sentry_mirror.core.lenient import loads_or_none
from sentry_mirror.core.malformed import FATAL, Malformed
from sentry_mirror.core.record import Record, format_time, parse_time
from sentry_mirror.core.stats import interpolated
from sentry_mirror.core.summary import event_title
from sentry_mirror.errors import EnvelopeError

Components = tuple[str, ...]
Strategy = Callable[[Mapping[str, Any]], Components]
RecordLike = Record | Mapping[str, Any]

EVENT = "event"
TRANSACTION = "transaction"
ITEM_TYPES = frozenset({EVENT, TRANSACTION})

DEFAULT_STRATEGY = "sentry"
NO_GROUPING_INFO = "<no grouping info>"
NO_FINGERPRINT = "<no fingerprint>"
UNLABELED = "<unlabeled event>"
UNNAMED_TRANSACTION = "<unnamed transaction>"

#: Event and record ids kept per group by default (the count is always exact).
MAX_IDS = 100
#: Distinct users counted exactly per group; a group showing this many has at least as many.
MAX_USERS = 10_000
#: Distinct releases, environments, SDKs and platforms kept per group (the first seen).
MAX_VALUES = 50
#: Durations kept per transaction group: percentiles are exact up to this many
#: transactions, then computed over a uniform random sample of this size.
RESERVOIR_SIZE = 10_000
#: Groups (and transaction names) kept apart; the events of any further ones are counted
#: together in one group, :data:`OTHER_GROUPS`, so memory stays bounded whatever the input.
MAX_GROUPS = 20_000
OTHER_GROUPS = "(other)"
SHORT_ID_LENGTH = 12


# ---------------------------------------------------------------- the events a record carries


def _data(record: RecordLike) -> Mapping[str, Any]:
    return record.data if isinstance(record, Record) else record


def _store_payload(body: bytes) -> Any:
    """A store body as Relay reads it (raw JSON, base64(JSON) or base64(zlib(JSON))); None if none."""
    data = store_json(body)
    return None if data is None else loads_or_none(data)


def _store_events(body: bytes, types: frozenset[str] | set[str]) -> Iterator[tuple[dict[str, Any], str]]:
    event = _store_payload(body)
    if isinstance(event, dict):
        kind = TRANSACTION if event.get("type") == TRANSACTION else EVENT
        if kind in types:
            yield event, kind


def events_of(
    record: RecordLike, types: frozenset[str] | set[str] = ITEM_TYPES
) -> Iterator[tuple[dict[str, Any], str]]:
    """The events a record carries, as ``(event, item_type)`` with ``item_type`` in ``types``
    (``"event"`` for errors and messages, ``"transaction"``).

    Envelope and tunnel items, store bodies (raw JSON, base64(JSON), base64(zlib(JSON)),
    the GET pixel's ``sentry_data``, or an envelope posted to the store endpoint). Whatever
    does not parse is skipped, as are truncated and undecoded bodies. Records whose
    summary lists no item of ``types`` are skipped without parsing their body.
    """
    data = _data(record)
    endpoint = data.get("endpoint")
    if endpoint not in ("envelope", "tunnel", "store"):
        return
    if not data.get("body_decoded", True) or data.get("body_truncated"):
        return
    summary = data.get("summary")
    listed = summary.get("items") if isinstance(summary, dict) else None
    if endpoint != "store" and isinstance(listed, list) and listed:
        for item in listed:
            if isinstance(item, dict) and item.get("type") in types:
                break
        else:
            return
    if endpoint == "store" and str(data.get("method") or "POST").upper() == "GET":
        text = dict(parse_qsl(data.get("query") or "")).get("sentry_data")
        if text:
            yield from _store_events(text.encode(), types)
        return
    body = bodies.readable(data)  # a body kept encoded: without its big items
    if endpoint == "store" and not (body.startswith(b"{") and b"\n{" in body[:65536]):
        yield from _store_events(body, types)
        return
    try:
        items = envelope.items_of(body)
    except EnvelopeError:
        if endpoint == "store":
            yield from _store_events(body, types)
        return
    for item in items:
        kind = item.type
        if kind in types:
            try:
                payload = orjson.loads(item.payload)
            except orjson.JSONDecodeError:
                payload = loads_or_none(item.payload)  # NaN, Infinity: the fallback parser reads them
            if isinstance(payload, dict):
                yield payload, kind


# ---------------------------------------------------------------- normalisation

_UUID = re.compile(
    r"(?<![0-9a-f])[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(?![0-9a-f])", re.IGNORECASE
)
# Starts only where a run of address characters starts: linear, not quadratic, on long text.
_EMAIL = re.compile(r"(?<![\w.+%-])[\w.+%-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
_ISO_DATE = re.compile(
    r"(?<!\d)\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:[.,]\d+)?)?(?:Z|[+-]\d{2}(?::?\d{2})?)?)?(?!\d)"
)
_DAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_HTTP_DATE = re.compile(
    r"\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),?\s+\d{1,2}\s+(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)\s+\d{4}"
    r"(?:\s+\d{2}:\d{2}(?::\d{2})?)?(?:\s*(?:[+-]\d{4}|[A-Z]{2,4}\b))?"
)
_TIME = re.compile(r"(?<![\d:])\d{1,2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?(?![\d:])")
_IPV6 = re.compile(
    r"(?<![\w:.])(?:[0-9a-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9a-f]{1,4})?(?![\w:])", re.IGNORECASE
)
_IPV4 = re.compile(r"(?<![\w.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)(?!\w)")
_HEX_LITERAL = re.compile(r"\b0x[0-9a-f]+\b", re.IGNORECASE)
_HEX_ID = re.compile(r"(?<!\w)(?=[0-9a-f]*\d)(?=[0-9a-f]*[a-f])[0-9a-f]{8,}(?!\w)", re.IGNORECASE)
_NUMBER = re.compile(r"(?<!\w)-?\d+(\.\d+)?")
_DIGIT = re.compile(r"\d")


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
    dash, digit = "-" in text, _DIGIT.search(text) is not None
    if dash:
        text = _UUID.sub("<uuid>", text)
    if "@" in text:
        text = _EMAIL.sub("<email>", text)
    if not digit:
        return text.strip()
    if dash:
        text = _ISO_DATE.sub("<date>", text)
    if any(day in text for day in _DAYS):
        text = _HTTP_DATE.sub("<date>", text)
    if text.count(":") >= 2:  # an IPv6 address, or a time (h:mm:ss)
        text = _IPV6.sub(_ipv6, text)  # before times: "::f0:10:10a0:0" holds a time-like "0:10:10"
        text = _TIME.sub("<time>", text)
    if text.count(".") >= 3:
        text = _IPV4.sub("<ip>", text)
    if "0x" in text or "0X" in text:
        text = _HEX_LITERAL.sub("<hex>", text)
    text = _HEX_ID.sub("<hex>", text)
    text = _NUMBER.sub(_number, text)
    return text.strip()


def _number(match: re.Match[str]) -> str:
    return "<float>" if match.group(1) else "<int>"


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
_CACHE_SIZE = 4096


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


@lru_cache(maxsize=_CACHE_SIZE)
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


@lru_cache(maxsize=_CACHE_SIZE)
def _normalize_module(module: str) -> str:
    module = _JAVA_LAMBDA_CLASS.sub("$$Lambda", module)
    module = _CGLIB.sub(r"$$\1$$", module)
    module = _JAVA_ACCESSOR.sub(r"\1", module)
    return _ADDRESS.sub("", module).strip()


def _where(module: str | None, filename: str | None) -> str | None:
    """A frame's module, else its file's base name lower-cased (URLs and ``<anonymous>`` ignored)."""
    if module is not None and module.strip():
        return _normalize_module(module) or None
    if filename is None or filename in _IGNORED_FILENAMES or "://" in filename:
        return None
    base = re.split(r"[/\\]", filename.strip())[-1].lower()
    return base or None


# ---------------------------------------------------------------- reading an event


def exceptions_of(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    exception = event.get("exception")
    values = exception.get("values") if isinstance(exception, dict) else exception
    return [value for value in values if isinstance(value, dict)] if isinstance(values, list) else []


def frames_of(container: Any) -> list[Mapping[str, Any]]:
    stacktrace = container.get("stacktrace") if isinstance(container, dict) else None
    frames = stacktrace.get("frames") if isinstance(stacktrace, dict) else None
    return [frame for frame in frames if isinstance(frame, dict)] if isinstance(frames, list) else []


def _threads(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    threads = event.get("threads")
    values = threads.get("values") if isinstance(threads, dict) else threads
    return [thread for thread in values if isinstance(thread, dict)] if isinstance(values, list) else []


def _exception_frames(event: Mapping[str, Any], exception: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """An exception's frames; a native exception without one points at its thread's."""
    frames = frames_of(exception)
    thread_id = exception.get("thread_id")
    if not frames and thread_id is not None:
        for thread in _threads(event):
            if thread.get("id") == thread_id:
                return frames_of(thread)
    return frames


def event_frames(event: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The stack trace of an event without exception: top-level, or its single thread's."""
    frames = frames_of(event)
    if frames:
        return frames
    traced = [frames for thread in _threads(event) if (frames := frames_of(thread))]
    return traced[0] if len(traced) == 1 else []


def _message_text(event: Mapping[str, Any]) -> str | None:
    """``logentry.message`` (the template) when present, else ``formatted``, else ``message``."""
    for source in (event.get("logentry"), event.get("message")):
        if isinstance(source, dict):
            for key in ("message", "formatted"):
                text = source.get(key)
                if isinstance(text, str) and text.strip():
                    return text
        elif isinstance(source, str) and source.strip():
            return source
    return None


def _is_synthetic(exception: Mapping[str, Any]) -> bool:
    mechanism = exception.get("mechanism")
    return isinstance(mechanism, dict) and mechanism.get("synthetic") is True


# ---------------------------------------------------------------- components


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _frame_components(event: Mapping[str, Any], frames: Sequence[Mapping[str, Any]]) -> list[str]:
    components: list[str] = []
    last = None
    event_platform = event.get("platform")
    for frame in frames:
        get = frame.get
        module, function = get("module"), get("function")
        filename, platform = get("filename") or get("abs_path"), get("platform") or event_platform
        try:
            component = _frame_component(module, filename, function, platform)
        except TypeError:  # a list or an object where a name belongs: no name
            component = _frame_component(_text(module), _text(filename), _text(function), _text(platform))
        if component is not None and component != last:  # direct recursion adds nothing
            components.append(component)
            last = component
    return components


@lru_cache(maxsize=_CACHE_SIZE)
def _frame_component(
    module: str | None, filename: str | None, function: str | None, platform: str | None
) -> str | None:
    """``frame:<where>:<function>``; None when the frame has neither. Values that are not
    text count as missing."""
    where = _where(_text(module), _text(filename))
    name = normalize_function(function, _text(platform))
    if where is None and name is None:
        return None
    return f"frame:{where or ''}:{name or ''}"


def _in_app(frame: Mapping[str, Any]) -> bool:
    return frame.get("in_app") is True


def _stack_components(event: Mapping[str, Any], frames: Sequence[Mapping[str, Any]], app_only: bool) -> list[str]:
    return _frame_components(event, [frame for frame in frames if frame.get("in_app") is True] if app_only else frames)


@lru_cache(maxsize=_CACHE_SIZE)
def _type_component(kind: str) -> str:
    return f"type:{_ADDRESS.sub('', kind).strip()}"


def _exception_components(event: Mapping[str, Any]) -> list[str]:
    """Each exception of the chain, oldest first: its type, then its contributing frames
    (in-app ones when any frame of the chain is in-app, else all), or its normalised
    value when no frame contributes."""
    chain = []
    app_only = False
    for exception in exceptions_of(event):
        frames = _exception_frames(event, exception)
        in_app = [frame for frame in frames if frame.get("in_app") is True]
        app_only = app_only or bool(in_app)
        chain.append((exception, frames, in_app))
    components: list[str] = []
    for exception, frames, in_app in chain:
        synthetic = _is_synthetic(exception)
        kind = exception.get("type")
        if isinstance(kind, str) and kind.strip() and not synthetic:
            components.append(_type_component(kind))
        stack = _frame_components(event, in_app if app_only else frames)
        if stack:
            components += stack
            continue
        value = exception.get("value")
        if isinstance(value, str) and value.strip() and not synthetic:
            components.append(f"value:{normalize_message(value)}")
    return components


def default_components(event: Mapping[str, Any]) -> Components:
    """Sentry's grouping without the fingerprint: exception chain, else the event's own
    stack trace (in-app frames, else all), else the normalised message."""
    components = _exception_components(event)
    if components:
        return tuple(components)
    frames = event_frames(event)
    components = _stack_components(event, frames, any(_in_app(frame) for frame in frames))
    if components:
        return tuple(components)
    message = _message_text(event)
    if message is not None:
        return (f"message:{normalize_message(message)}",)
    return (NO_GROUPING_INFO,)


_VARIABLE = re.compile(r"\{\{\s*([\w.\-]+)\s*\}\}")


def _fingerprint(event: Mapping[str, Any]) -> list[str] | None:
    """The explicit fingerprint as strings; None when absent, empty or just ``{{ default }}``."""
    values = event.get("fingerprint")
    if not isinstance(values, list) or not values:
        return None
    strings = [value if isinstance(value, str) else json.dumps(value) for value in values]
    if len(strings) == 1 and (match := _VARIABLE.fullmatch(strings[0].strip())) and match.group(1).lower() == "default":
        return None
    return strings


def _crashing_frame(event: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The topmost in-app frame of the raised exception (else its topmost frame)."""
    exceptions = exceptions_of(event)
    frames = _exception_frames(event, exceptions[-1]) if exceptions else event_frames(event)
    in_app = [frame for frame in frames if _in_app(frame)]
    return (in_app or frames or [None])[-1]


def _tag(event: Mapping[str, Any], name: str) -> Any:
    tags = event.get("tags")
    if isinstance(tags, dict):
        return tags.get(name)
    if isinstance(tags, list):
        for pair in tags:
            if isinstance(pair, list | tuple) and len(pair) == 2 and pair[0] == name:
                return pair[1]
    return None


def _variable(event: Mapping[str, Any], name: str) -> str | None:
    """A fingerprint variable's value (Sentry's ``<no-…>`` placeholders when missing); None
    for an unknown variable, which is then kept as written."""
    exceptions = exceptions_of(event)
    last = exceptions[-1] if exceptions else {}
    frame = _crashing_frame(event) or {}
    sources: dict[str, tuple[Any, str]] = {
        "transaction": (event.get("transaction"), "<no-transaction>"),
        "type": (last.get("type"), "<no-type>"),
        "value": (last.get("value"), "<no-value>"),
        "function": (frame.get("function"), "<no-function>"),
        "module": (frame.get("module"), "<no-module>"),
        "path": (frame.get("abs_path"), "<no-abs-path>"),
        "filename": (frame.get("filename"), "<no-filename>"),
        "package": (frame.get("package"), "<no-package>"),
        "logger": (event.get("logger"), "<no-logger>"),
        "level": (event.get("level"), "<no-level>"),
        "message": (_message_text(event), "<no-message>"),
    }
    aliases = {"error.type": "type", "error.value": "value", "stack.function": "function", "stack.module": "module"}
    aliases |= {"stack.abs_path": "path", "stack.filename": "filename", "stack.package": "package"}
    if name.startswith("tags."):
        tag = name[len("tags.") :]
        value, missing = _tag(event, tag), f"<no-value-for-tag-{tag}>"
    elif (key := aliases.get(name, name)) in sources:
        value, missing = sources[key]
    else:
        return None
    return str(value) if value not in (None, "") else missing


def _expand_fingerprint(event: Mapping[str, Any], values: list[str]) -> Components:
    components: list[str] = []
    for value in values:
        match = _VARIABLE.fullmatch(value.strip())
        name = match.group(1).lower() if match else None
        if name == "default":
            components += default_components(event)
            continue
        expanded = _variable(event, name) if name else None
        components.append(f"fingerprint:{value if expanded is None else expanded}")
    return tuple(components)


def sentry_components(event: Mapping[str, Any]) -> Components:
    """The explicit fingerprint (``{{ default }}`` and the other variables expanded), else
    :func:`default_components`."""
    values = _fingerprint(event)
    return default_components(event) if values is None else _expand_fingerprint(event, values)


def type_components(event: Mapping[str, Any]) -> Components:
    """The exception types of the chain, else the normalised message."""
    types = [
        _type_component(kind)
        for exception in exceptions_of(event)
        if isinstance(kind := exception.get("type"), str) and kind.strip() and not _is_synthetic(exception)
    ]
    if types:
        return tuple(types)
    message = _message_text(event)
    return (f"message:{normalize_message(message)}",) if message is not None else (NO_GROUPING_INFO,)


def message_components(event: Mapping[str, Any]) -> Components:
    """The normalised message, else the raised exception's normalised value (else its type)."""
    text = _message_text(event)
    if text is None:
        exceptions = exceptions_of(event)
        last = exceptions[-1] if exceptions else {}
        for key in ("value", "type"):
            value = last.get(key)
            if isinstance(value, str) and value.strip():
                text = value
                break
    return (f"message:{normalize_message(text)}",) if text is not None else (NO_GROUPING_INFO,)


def fingerprint_components(event: Mapping[str, Any]) -> Components:
    """The explicit fingerprint only; events without one share the ``<no fingerprint>`` group."""
    values = _fingerprint(event)
    return (NO_FINGERPRINT,) if values is None else _expand_fingerprint(event, values)


#: The grouping strategies by name; ``sentry`` is the default.
STRATEGIES: Mapping[str, Strategy] = {
    "sentry": sentry_components,
    "type": type_components,
    "message": message_components,
    "fingerprint": fingerprint_components,
}


def get_strategy(strategy: str | Strategy) -> Strategy:
    """The strategy function for a name in :data:`STRATEGIES` (a function is returned as is)."""
    if callable(strategy):
        return strategy
    try:
        return STRATEGIES[strategy]
    except KeyError:
        raise ValueError(f"unknown grouping strategy {strategy!r} (choose from: {', '.join(STRATEGIES)})") from None


def components(event: Mapping[str, Any], strategy: str | Strategy = DEFAULT_STRATEGY) -> Components:
    """The grouping components of one event under ``strategy``."""
    return get_strategy(strategy)(event)


def group_hash(values: Sequence[str]) -> str:
    """MD5 hex of the components joined with NUL (Sentry's ``hash_from_values``, with a
    separator so that ``("ab", "c")`` and ``("a", "bc")`` differ)."""
    return hashlib.md5("\x00".join(values).encode("utf-8", "surrogatepass"), usedforsecurity=False).hexdigest()


# ---------------------------------------------------------------- groups

_LEVEL_ALIASES = {"warn": "warning", "critical": "fatal", "log": "info"}
_SEVERITY = {"debug": 0, "info": 1, "warning": 2, "error": 3, "fatal": 4}


def _level(event: Mapping[str, Any]) -> str:
    level = event.get("level")
    if not isinstance(level, str) or not level:
        return "error"  # Sentry's default
    level = level.lower()
    return _LEVEL_ALIASES.get(level, level)


def _user_key(event: Mapping[str, Any], data: Mapping[str, Any]) -> str | None:
    """Who an event is about, as Sentry's ``user`` tag picks it: id, username, email, IP."""
    user = event.get("user")
    if not isinstance(user, dict):
        return None
    for key in ("id", "username", "email", "ip_address"):
        value = user.get(key)
        if key == "ip_address" and value == "{{auto}}":
            remote = data.get("remote_addr")
            value = remote.rsplit(":", 1)[0].strip("[]") if isinstance(remote, str) and ":" in remote else remote
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and value != "":
            return f"{key}:{value}"
    return None


def _frame_label(frame: Mapping[str, Any]) -> str | None:
    where = frame.get("module") or frame.get("filename") or frame.get("abs_path")
    function = frame.get("function")
    parts = [str(part) for part in (where, function) if part]
    return " in ".join(parts) or None


def culprit(event: Mapping[str, Any]) -> str | None:
    """``module in function`` of the topmost in-app frame of the raised exception (or of the
    event's stack trace), else the event's ``culprit`` or ``transaction``, else its topmost frame."""
    exceptions = exceptions_of(event)
    frames = _exception_frames(event, exceptions[-1]) if exceptions else event_frames(event)
    for frame in reversed(frames):
        if _in_app(frame) and (label := _frame_label(frame)):
            return label
    for key in ("culprit", "transaction"):
        value = event.get(key)
        if isinstance(value, str) and value:
            return value
    for frame in reversed(frames):
        if label := _frame_label(frame):
            return label
    return None


def _sdk(event: Mapping[str, Any], data: Mapping[str, Any]) -> str | None:
    sdk = event.get("sdk")
    if isinstance(sdk, dict) and isinstance(sdk.get("name"), str):
        return f"{sdk['name']}/{sdk['version']}" if sdk.get("version") else sdk["name"]
    summary = data.get("summary")
    value = summary.get("sdk") if isinstance(summary, dict) else None
    return value if isinstance(value, str) else None


def _event_id(event: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    value = envelope.normalize_uuid(event.get("event_id"))
    if value is None:
        summary = data.get("summary")
        value = summary.get("event_id") if isinstance(summary, dict) else None
    return value or ""


@dataclass(frozen=True, slots=True)
class Group:
    """One issue: the events whose components hash alike, aggregated.

    ``users`` is exact up to :data:`MAX_USERS`; ``event_ids`` and ``record_ids`` are
    parallel (one entry per event, in the order read) and hold the first ``max_ids``
    events only, while ``count`` counts them all. ``level`` is the most common level
    (the most severe on a tie); ``title`` and ``culprit`` are the first event's.
    """

    short_id: str
    hash: str
    components: Components
    count: int
    users: int
    first_seen: datetime
    last_seen: datetime
    level: str
    title: str
    culprit: str | None
    sdks: tuple[str, ...]
    platforms: tuple[str, ...]
    releases: tuple[str, ...]
    environments: tuple[str, ...]
    event_ids: tuple[str, ...]
    record_ids: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times as RFC 3339 ``…Z`` strings, tuples as lists)."""
        return {item.name: _jsonable(getattr(self, item.name)) for item in fields(self)}


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    return list(value) if isinstance(value, tuple) else value


def _remember(values: dict[str, None], value: Any) -> None:
    if isinstance(value, str) and value and value not in values and len(values) < MAX_VALUES:
        values[value] = None


class _GroupBuilder:
    """The running aggregate of one group: constant size whatever the number of events."""

    __slots__ = (
        "components",
        "count",
        "culprit",
        "environments",
        "event_ids",
        "first_seen",
        "hash",
        "last_seen",
        "levels",
        "max_ids",
        "platforms",
        "record_ids",
        "releases",
        "sdks",
        "title",
        "users",
    )

    def __init__(self, digest: str, values: Components, event: Mapping[str, Any], max_ids: int) -> None:
        self.hash = digest
        self.components = values
        self.max_ids = max_ids
        self.count = 0
        self.users: set[str] = set()
        self.first_seen = self.last_seen = ""
        self.levels: Counter[str] = Counter()
        self.title = event_title(event) or UNLABELED
        self.culprit = culprit(event)
        self.sdks: dict[str, None] = {}
        self.platforms: dict[str, None] = {}
        self.releases: dict[str, None] = {}
        self.environments: dict[str, None] = {}
        self.event_ids: list[str] = []
        self.record_ids: list[str] = []

    def add(self, event: Mapping[str, Any], data: Mapping[str, Any]) -> None:
        self.count += 1
        received = data.get("received_at") or ""
        # format_time writes fixed-width UTC strings: they compare like the times they hold
        if received < self.first_seen or not self.first_seen:
            self.first_seen = received
        self.last_seen = max(self.last_seen, received)
        if len(self.users) < MAX_USERS and (user := _user_key(event, data)) is not None:
            self.users.add(user)
        level = _level(event)
        levels = self.levels
        if level in levels or level in _SEVERITY or len(levels) < MAX_VALUES:
            levels[level] = levels.get(level, 0) + 1
        _remember(self.sdks, _sdk(event, data))
        _remember(self.platforms, event.get("platform"))
        _remember(self.releases, event.get("release"))
        _remember(self.environments, event.get("environment"))
        if len(self.event_ids) < self.max_ids:
            self.event_ids.append(_event_id(event, data))
            self.record_ids.append(str(data.get("id") or ""))

    def merge(self, other: _GroupBuilder) -> None:
        """Add ``other``'s events (of this group, read after this one's): exact but for the
        users, values and levels ``other`` met past its limits."""
        self.count += other.count
        if other.first_seen and (not self.first_seen or other.first_seen < self.first_seen):
            self.first_seen = other.first_seen
        self.last_seen = max(self.last_seen, other.last_seen)
        for user in other.users:
            if len(self.users) >= MAX_USERS:
                break
            self.users.add(user)
        levels = self.levels
        for level, n in other.levels.items():
            if level in levels or level in _SEVERITY or len(levels) < MAX_VALUES:
                levels[level] = levels.get(level, 0) + n
        for mine, theirs in ((self.sdks, other.sdks), (self.platforms, other.platforms),
                             (self.releases, other.releases), (self.environments, other.environments)):  # fmt: skip
            for value in theirs:
                _remember(mine, value)
        room = self.max_ids - len(self.event_ids)
        self.event_ids += other.event_ids[:room]
        self.record_ids += other.record_ids[:room]

    def build(self) -> Group:
        level = max(self.levels.items(), key=lambda pair: (pair[1], _SEVERITY.get(pair[0], -1)))[0]
        return Group(
            short_id=self.hash[:SHORT_ID_LENGTH],
            hash=self.hash,
            components=self.components,
            count=self.count,
            users=len(self.users),
            first_seen=parse_time(self.first_seen),
            last_seen=parse_time(self.last_seen),
            level=level,
            title=self.title,
            culprit=self.culprit,
            sdks=tuple(sorted(self.sdks)),
            platforms=tuple(sorted(self.platforms)),
            releases=tuple(sorted(self.releases)),
            environments=tuple(sorted(self.environments)),
            event_ids=tuple(self.event_ids),
            record_ids=tuple(self.record_ids),
        )


class Grouper:
    """Groups events pushed one at a time (``add``) by one strategy; ``groups()`` at the end.
    :func:`group_records` and the report use it."""

    def __init__(self, strategy: str | Strategy, max_ids: int, max_groups: int = MAX_GROUPS) -> None:
        self.strategy = get_strategy(strategy)
        self.max_ids = max_ids
        self.max_groups = max_groups
        self.builders: dict[str, _GroupBuilder] = {}
        self.digests: dict[Components, str] = {}  # as many as groups, or fewer: saves the MD5

    def add(self, event: Mapping[str, Any], data: Mapping[str, Any]) -> str:
        values = self.strategy(event)
        digest = self.digests.get(values)
        if digest is None:
            digest = group_hash(values)
            if digest not in self.builders and len(self.digests) >= self.max_groups:
                digest, values = OTHER_GROUPS, (OTHER_GROUPS,)
            else:
                self.digests[values] = digest
        builder = self.builders.get(digest)
        if builder is None:
            builder = self.builders[digest] = _GroupBuilder(digest, values, event, self.max_ids)
            if digest == OTHER_GROUPS:
                self._label_other(builder)
        builder.add(event, data)
        return digest

    def _label_other(self, builder: _GroupBuilder) -> None:
        builder.title = f"the events of further groups (over {self.max_groups:,})"
        builder.culprit = None

    def merge(self, other: Grouper) -> None:
        """Add ``other``'s groups (same strategy, its events read after this one's). Its new
        groups past ``max_groups`` go to :data:`OTHER_GROUPS`; exact unless ``other`` had
        groups there itself (their events stay there, whatever this grouper holds)."""
        merged: set[str] = set()
        for values, digest in other.digests.items():  # in the order first met
            if digest in merged or (digest not in self.builders and len(self.digests) >= self.max_groups):
                continue
            merged.add(digest)
            self.digests.setdefault(values, digest)
            theirs = other.builders[digest]
            mine = self.builders.get(digest)
            if mine is None:
                self.builders[digest] = copy.deepcopy(theirs)
            else:
                mine.merge(theirs)
        for digest, theirs in other.builders.items():
            if digest in merged:
                continue
            builder = self.builders.get(OTHER_GROUPS)
            if builder is None:
                builder = self.builders[OTHER_GROUPS] = _GroupBuilder(OTHER_GROUPS, (OTHER_GROUPS,), {}, self.max_ids)
                self._label_other(builder)
            builder.merge(theirs)

    def groups(self) -> list[Group]:
        groups = [builder.build() for builder in self.builders.values()]
        groups.sort(key=lambda group: (-group.count, group.first_seen, group.short_id))
        return groups


_ERRORS = frozenset({EVENT})


def _each(
    records: Iterable[RecordLike],
    types: frozenset[str],
    add: Callable[[dict[str, Any], Mapping[str, Any]], Any],
    malformed: Malformed | None,
) -> None:
    """``add(event, record data)`` for the events of ``types`` in ``records``. A record whose
    events cannot be read or added is counted in ``malformed`` and the rest go on: the last
    resort (every record's shape was checked where it was read, and the walkers take any
    payload)."""
    for record in records:
        data = _data(record)
        try:
            for event, _ in events_of(data, types):
                add(event, data)
        except FATAL:
            raise
        except Exception as exc:
            (malformed or Malformed(where="group")).failed(data, exc)


def group_records(
    records: Iterable[RecordLike],
    strategy: str | Strategy = DEFAULT_STRATEGY,
    *,
    max_ids: int = MAX_IDS,
    max_groups: int = MAX_GROUPS,
    malformed: Malformed | None = None,
) -> list[Group]:
    """The error events of ``records`` grouped by ``strategy``, most frequent first (then
    first seen). One pass over ``records``; transactions are left out (see
    :func:`group_transactions`). Past ``max_groups`` groups, the events of new ones go to
    one :data:`OTHER_GROUPS` group. Records that cannot be read are counted in ``malformed``."""
    grouper = Grouper(strategy, max_ids, max_groups)
    _each(records, _ERRORS, grouper.add, malformed)
    return grouper.groups()


# ---------------------------------------------------------------- comparing strategies


@dataclass(frozen=True, slots=True)
class Flow:
    """``events`` events that strategy A put in group ``a`` and strategy B in group ``b``
    (both short ids)."""

    a: str
    b: str
    events: int


@dataclass(frozen=True, slots=True)
class PairComparison:
    """How strategy ``b`` regroups the events of strategy ``a``.

    ``flows`` lists, for each group of ``a`` (in ``a``'s group order), the groups of ``b``
    its events fall in (most events first). ``splits``: groups of ``a`` spread over two or
    more groups of ``b``. ``merges``: groups of ``b`` that take events from two or more
    groups of ``a``.
    """

    a: str
    b: str
    flows: tuple[Flow, ...]
    splits: tuple[str, ...]
    merges: tuple[str, ...]

    def targets(self, a_short_id: str) -> tuple[tuple[str, int], ...]:
        """The groups of ``b`` that group ``a_short_id`` of ``a`` falls in, with event counts."""
        return tuple((flow.b, flow.events) for flow in self.flows if flow.a == a_short_id)


@dataclass(frozen=True, slots=True)
class Comparison:
    """Several strategies over the same events: each one's groups, and every pair
    (in the order given: first against second, first against third, …, second against third…)."""

    strategies: tuple[str, ...]
    groups: Mapping[str, tuple[Group, ...]]
    pairs: tuple[PairComparison, ...]
    counts: Mapping[str, int] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "counts", {name: len(self.groups[name]) for name in self.strategies})

    def pair(self, a: str, b: str) -> PairComparison:
        for pair in self.pairs:
            if (pair.a, pair.b) == (a, b):
                return pair
        raise KeyError((a, b))


def _pair(
    a: str, b: str, a_groups: Sequence[Group], b_groups: Sequence[Group], joint: Counter[tuple[str, str]]
) -> PairComparison:
    a_order = {group.hash: index for index, group in enumerate(a_groups)}
    b_order = {group.hash: index for index, group in enumerate(b_groups)}
    cells = sorted(joint.items(), key=lambda cell: (a_order[cell[0][0]], -cell[1], b_order[cell[0][1]]))
    flows = tuple(
        Flow(a_hash[:SHORT_ID_LENGTH], b_hash[:SHORT_ID_LENGTH], events) for (a_hash, b_hash), events in cells
    )
    spread: Counter[str] = Counter(a_hash for a_hash, _ in joint)
    fed: Counter[str] = Counter(b_hash for _, b_hash in joint)
    return PairComparison(
        a=a,
        b=b,
        flows=flows,
        splits=tuple(group.short_id for group in a_groups if spread[group.hash] > 1),
        merges=tuple(group.short_id for group in b_groups if fed[group.hash] > 1),
    )


def compare(
    records: Iterable[RecordLike],
    strategies: Sequence[str],
    *,
    max_ids: int = MAX_IDS,
    malformed: Malformed | None = None,
) -> Comparison:
    """Group the error events of ``records`` with each of ``strategies`` (two or more
    names from :data:`STRATEGIES`) in one pass, and say where each pair splits or merges."""
    names = tuple(dict.fromkeys(strategies))
    if len(names) < 2:
        raise ValueError("compare needs two or more different strategies")
    groupers = [Grouper(name, max_ids) for name in names]
    joint: Counter[tuple[str, ...]] = Counter()  # one cell per distinct combination of groups

    def add(event: dict[str, Any], data: Mapping[str, Any]) -> None:
        joint[tuple([grouper.add(event, data) for grouper in groupers])] += 1

    _each(records, _ERRORS, add, malformed)
    groups = {name: tuple(grouper.groups()) for name, grouper in zip(names, groupers, strict=True)}
    pairs = []
    for i, a in enumerate(names):
        for j in range(i + 1, len(names)):
            b = names[j]
            cells: Counter[tuple[str, str]] = Counter()
            for hashes, events in joint.items():
                cells[(hashes[i], hashes[j])] += events
            pairs.append(_pair(a, b, groups[a], groups[b], cells))
    return Comparison(strategies=names, groups=groups, pairs=tuple(pairs))


# ---------------------------------------------------------------- transactions

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _microseconds(value: Any) -> int | None:
    """A timestamp (unix seconds or RFC 3339) as integer microseconds since the epoch."""
    kind = type(value)
    if kind is float or kind is int:  # the common case, first: spans carry two each
        return round(value * 1_000_000) if -1e12 < value < 1e12 else None  # NaN and infinities fail both
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return round(value * 1_000_000) if math.isfinite(value) and abs(value) < 1e12 else None
    if isinstance(value, str):
        if len(value) >= 10 and value[4] == "-":
            # RFC 3339, as sentry-python writes them: read as a date first (a failed float()
            # costs an exception); a number with a "-" there ("  1e-5") is read below
            micros = _iso_microseconds(value)
            if micros is not None:
                return micros
        try:
            number = float(value)
        except ValueError:
            return _iso_microseconds(value)
        return round(number * 1_000_000) if -1e12 < number < 1e12 else None  # "nan", "inf" fail both
    return None


def _iso_microseconds(text: str) -> int | None:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(microseconds=1)


def duration_ms(transaction: Mapping[str, Any]) -> float | None:
    """``timestamp - start_timestamp`` in milliseconds (exact to the microsecond); None
    when either is missing or unreadable, or when it ends before it starts."""
    start = _microseconds(transaction.get("start_timestamp"))
    end = _microseconds(transaction.get("timestamp"))
    if start is None or end is None or end < start:
        return None
    return (end - start) / 1000


@dataclass(frozen=True, slots=True)
class TransactionGroup:
    """Transactions of one name and op. ``durations`` counts those with a readable duration;
    ``p50_ms``/``p95_ms`` are exact while it is at most :data:`RESERVOIR_SIZE`, estimated
    from a uniform sample beyond that (None when no duration was readable)."""

    name: str
    op: str | None
    count: int
    durations: int
    p50_ms: float | None
    p95_ms: float | None
    first_seen: datetime
    last_seen: datetime

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times as RFC 3339 ``…Z`` strings)."""
        return {item.name: _jsonable(getattr(self, item.name)) for item in fields(self)}


class Sample:
    """A uniform sample of at most ``size`` values of a series, seeded: the same input gives
    the same sample. ``seen`` counts every value added.

    Li's algorithm L: once the sample is full, the number of values to pass over before the
    next one is kept is drawn at once, so a long series costs a comparison per value, not a
    random number."""

    __slots__ = ("next", "random", "seen", "size", "values", "weight")

    def __init__(self, size: int) -> None:
        self.seen = 0
        self.size = size
        self.values: list[float] = []
        self.random: random.Random | None = None  # made when the sample first overflows: most never do
        self.weight = 0.0
        self.next = size  # the index (in ``seen``) of the next value that may be kept

    def add(self, value: float) -> None:
        seen = self.seen
        self.seen = seen + 1
        if seen < self.size:
            self.values.append(value)
        elif seen >= self.next:
            self._keep(seen, value)

    def _keep(self, seen: int, value: float) -> None:
        if self.random is None:
            self.random = random.Random(0)
            self.weight = self._draw_weight()
            self.next = seen + self._gap()
        if seen == self.next:
            self.values[self.random.randrange(self.size)] = value
            self.weight *= self._draw_weight()
            self.next = seen + 1 + self._gap()

    def merged(self, other: Sample) -> Sample:
        """One sample of what both have seen: every value while they fit in ``size``; else
        ``size`` values drawn (seeded) from the two, each in proportion to what it saw: a
        uniform sample of both, not the one a single pass would have kept."""
        merged = Sample(self.size)
        merged.seen = self.seen + other.seen
        if merged.seen <= self.size:
            merged.values = self.values + other.values
            return merged
        rng = random.Random(0)
        mine = max(self.size - len(other.values), min(round(self.size * self.seen / merged.seen), len(self.values)))
        merged.values = rng.sample(self.values, mine) + rng.sample(
            other.values, min(self.size - mine, len(other.values))
        )
        merged.next = merged.seen  # the next value added may be kept, as in a full sample
        return merged

    def _draw_weight(self) -> float:
        assert self.random is not None
        return math.exp(math.log(self.random.random() or _TINY) / self.size)

    def _gap(self) -> int:
        """How many values to pass over before the next one is kept."""
        assert self.random is not None
        if self.weight >= 1.0:
            return 0
        return int(math.log(self.random.random() or _TINY) / math.log1p(-self.weight))


_TINY = 5e-324  # random() can return 0.0, whose logarithm does not exist


class _TransactionBuilder:
    __slots__ = ("count", "durations", "first_seen", "last_seen")

    def __init__(self, size: int) -> None:
        self.count = 0
        self.durations = Sample(size)
        self.first_seen = self.last_seen = ""

    def add(self, transaction: Mapping[str, Any], received: str) -> None:
        self.count += 1
        if not self.first_seen or received < self.first_seen:
            self.first_seen = received
        self.last_seen = max(self.last_seen, received)
        duration = duration_ms(transaction)
        if duration is not None:
            self.durations.add(duration)

    def merge(self, other: _TransactionBuilder) -> None:
        self.count += other.count
        if other.first_seen and (not self.first_seen or other.first_seen < self.first_seen):
            self.first_seen = other.first_seen
        self.last_seen = max(self.last_seen, other.last_seen)
        self.durations = self.durations.merged(other.durations)


def _transaction_key(transaction: Mapping[str, Any]) -> tuple[str, str | None]:
    name = transaction.get("transaction")
    contexts = transaction.get("contexts")
    trace = contexts.get("trace") if isinstance(contexts, dict) else None
    op = trace.get("op") if isinstance(trace, dict) else None
    return (
        name if isinstance(name, str) and name else UNNAMED_TRANSACTION,
        op if isinstance(op, str) and op else None,
    )


def group_transactions(
    records: Iterable[RecordLike],
    *,
    reservoir: int = RESERVOIR_SIZE,
    max_groups: int = MAX_GROUPS,
    malformed: Malformed | None = None,
) -> list[TransactionGroup]:
    """Transactions grouped by (name, ``contexts.trace.op``), most frequent first (then by
    name and op), with duration percentiles. One pass; each group keeps a reservoir of at
    most ``reservoir`` durations, so memory does not grow with the number of transactions;
    past ``max_groups`` names, new ones are counted together under :data:`OTHER_GROUPS`."""
    grouper = TransactionGrouper(reservoir, max_groups)
    _each(
        records,
        _TRANSACTIONS,
        lambda transaction, data: grouper.add(transaction, data.get("received_at") or ""),
        malformed,
    )
    return grouper.groups()


class TransactionGrouper:
    """Groups transactions pushed one at a time (``add``) by name and op; ``groups()`` at the
    end. :func:`group_transactions` and the report use it."""

    def __init__(self, reservoir: int = RESERVOIR_SIZE, max_groups: int = MAX_GROUPS) -> None:
        self.reservoir = reservoir
        self.max_groups = max_groups
        self.builders: dict[tuple[str, str | None], _TransactionBuilder] = {}

    def add(self, transaction: Mapping[str, Any], received_at: str) -> None:
        key = _transaction_key(transaction)
        builder = self.builders.get(key)
        if builder is None:
            if len(self.builders) >= self.max_groups:
                key = (OTHER_GROUPS, None)
                builder = self.builders.get(key)
            if builder is None:
                builder = self.builders[key] = _TransactionBuilder(self.reservoir)
        builder.add(transaction, received_at)

    def merge(self, other: TransactionGrouper) -> None:
        """Add ``other``'s transactions (read after this one's): past ``max_groups`` names,
        its new ones are counted under :data:`OTHER_GROUPS`; durations as :meth:`Sample.merged`."""
        for key, theirs in other.builders.items():
            builder = self.builders.get(key)
            if builder is None:
                if len(self.builders) >= self.max_groups:
                    key = (OTHER_GROUPS, None)
                    builder = self.builders.get(key)
                if builder is None:
                    builder = self.builders[key] = _TransactionBuilder(self.reservoir)
            builder.merge(theirs)

    def groups(self) -> list[TransactionGroup]:
        groups = []
        for (name, op), builder in self.builders.items():
            ordered = sorted(builder.durations.values)
            groups.append(
                TransactionGroup(
                    name=name,
                    op=op,
                    count=builder.count,
                    durations=builder.durations.seen,
                    p50_ms=round(interpolated(ordered, 0.5), 3) if ordered else None,
                    p95_ms=round(interpolated(ordered, 0.95), 3) if ordered else None,
                    first_seen=parse_time(builder.first_seen),
                    last_seen=parse_time(builder.last_seen),
                )
            )
        groups.sort(key=lambda group: (-group.count, group.name, group.op or ""))
        return groups


_TRANSACTIONS = frozenset({TRANSACTION})
