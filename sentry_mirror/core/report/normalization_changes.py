"""What Relay changed in one event: its payload as sent against what it would store
(:func:`sentry_mirror.core.relay_normalize.normalize`), read from two sources.

Relay's own account, the stored event's ``_meta`` (relay-protocol's ``Meta``): per value,
``len`` (the original length: characters of a string, items of a list or object) with a
``!limit`` remark, or ``len`` alone on a container: **trimmed**; ``err`` (each an error kind,
with a ``reason`` for ``invalid_data``) and ``val`` (the original value): **invalid**, either
``dropped`` (nothing stored there) or ``replaced`` (a default or the server time stored
instead, as for an invalid ``event_id`` or a timestamp out of range); ``val`` without an
error: **replaced** (a value normalised, such as an unknown ``platform`` made ``other``); a
remark of any other rule (``@password:filter``, ``@common:filter``…, from the scrubbing):
**scrubbed**. Entries the payload's own ``_meta`` already held (an SDK's own scrubbing, such
as sentry-python's ``!config`` remarks) are Relay's to keep, not its changes.

And what ``_meta`` does not say, by comparing the two payloads (pair lists such as
``tags`` read as maps: a repeated name as ``name#2``…, a name Relay dropped under the original
its ``_meta`` keeps; timestamps compared as instants; values under a ``_meta`` entry, or under
a key Relay trimmed, left to it): a value of the payload found stored at another path is
**renamed** (``message`` to ``logentry.formatted``, ``server_name`` to ``tags.server_name``;
also **rewritten** when a lone surrogate in it is stored as ``?``); a path only stored is
**defaulted** (``level``, ``logger``, ``contexts.trace``…; the topmost new one), a path only
sent is **removed** (the topmost gone), a value stored differently is **rewritten**, and a
nested object stored as a JSON string is **trimmed** too (``depth``: Relay's databag depth
limit leaves no ``_meta``). Nulls and empty objects Relay does not store are not changes.
``errors`` (Relay's list of the errors above) and ``received`` are left out.

Paths use the field notation: keys joined by ``.``, list items as ``[]``.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

Key = str | int
Path = tuple[Key, ...]
#: Keys whose values are instants (a string or seconds), compared as such.
TIMESTAMP_KEYS = frozenset({"timestamp", "start_timestamp", "received", "sent_at"})
#: Top-level keys left out of the comparison (Relay's own bookkeeping).
SKIPPED = frozenset({"_meta", "errors", "received"})
#: Top-level keys an SDK may send as a bare list that Relay stores as ``{"values": [...]}``.
VALUES_KEYS = frozenset({"breadcrumbs", "exception", "threads"})
LIMIT_RULE = "!limit"


@dataclass
class Changes:
    """The changes in one event; each list holds one entry per occurrence."""

    trimmed: list[tuple[str, str, int, int]] = field(default_factory=list)  #: (path, unit, cut, bytes cut)
    invalid: list[tuple[str, str, str, str]] = field(default_factory=list)  #: (path, error, reason, action)
    replaced: list[str] = field(default_factory=list)
    scrubbed: list[tuple[str, str]] = field(default_factory=list)  #: (path, rule)
    renamed: list[tuple[str, str]] = field(default_factory=list)  #: (from, to)
    defaulted: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    rewritten: list[str] = field(default_factory=list)
    has_meta: bool = False

    def kinds(self) -> Iterator[str]:
        """The kinds of change present (``trimmed``, ``invalid``…)."""
        for name in ("trimmed", "invalid", "replaced", "scrubbed", "renamed", "defaulted", "removed", "rewritten"):
            if getattr(self, name):
                yield name


def display(path: Path) -> str:
    """``("exception", "values", 0, "type")`` as ``exception.values[].type``."""
    out = ""
    for key in path:
        out += "[]" if isinstance(key, int) else (f".{key}" if out else str(key))
    return out


def size(value: Any) -> int:
    """Bytes of ``value`` as compact UTF-8 JSON."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode("utf-8", "replace"))


def _is_pairs(value: list[Any]) -> bool:
    """A list of ``[name, value]`` pairs (``tags``, headers…); a name may be null, as Relay
    stores a tag whose name it dropped as invalid."""
    return bool(value) and all(
        isinstance(x, list) and len(x) == 2 and (x[0] is None or isinstance(x[0], str)) for x in value
    )


def _original_name(meta: Any, index: int) -> str | None:
    """The name Relay dropped from pair ``index`` of a pair list, kept in its ``_meta`` ``val``."""
    for key in (str(index), "0", ""):
        meta = meta.get(key) if isinstance(meta, dict) else None
    value = meta.get("val") if isinstance(meta, dict) else None
    return value if isinstance(value, str) else None


def pair_keys(pairs: list[list[Any]], meta: Any = None) -> list[str | None]:
    """The key each pair of a pair list is read under: its name, a repeated name as
    ``name#2``, ``name#3``… (Relay keeps the first tag of a name and drops the others), and a
    null name (one Relay dropped) as the original name the list's ``_meta`` holds, or None (the
    pair is not read) without one."""
    keys: list[str | None] = []
    seen: dict[str, int] = {}
    for index, pair in enumerate(pairs):
        name = pair[0] if pair[0] is not None else _original_name(meta, index)
        if name is not None:
            seen[name] = count = seen.get(name, 0) + 1
            name = name if count == 1 else f"{name}#{count}"
        keys.append(name)
    return keys


def _instant(value: Any) -> Any:
    if isinstance(value, str):
        try:
            return round(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp(), 6)
        except ValueError:
            return value
    return round(float(value), 6) if isinstance(value, int | float) and not isinstance(value, bool) else value


def canonical(value: Any, key: Key | None = None) -> Any:
    """``value`` with pair lists read as maps and instants as rounded seconds (and, at the
    top, the bare lists of :data:`VALUES_KEYS` under ``values``)."""
    if isinstance(value, dict):
        if key is None:
            value = {k: {"values": v} if k in VALUES_KEYS and isinstance(v, list) else v for k, v in value.items()}
        return {k: canonical(v, k) for k, v in value.items()}
    if isinstance(value, list):
        if _is_pairs(value):
            return {
                name: canonical(pair[1], name)
                for name, pair in zip(pair_keys(value), value, strict=True)
                if name is not None
            }
        return [canonical(v, i) for i, v in enumerate(value)]
    return _instant(value) if key in TIMESTAMP_KEYS else value


def _leaves(value: Any, path: Path = ()) -> Iterator[tuple[Path, Any]]:
    if isinstance(value, dict) and value:
        for key, inner in value.items():
            if not path and key in SKIPPED:
                continue
            yield from _leaves(inner, (*path, key))
    elif isinstance(value, list) and value:
        for index, inner in enumerate(value):
            yield from _leaves(inner, (*path, index))
    else:
        yield path, value


def _at(value: Any, path: Path) -> tuple[bool, Any]:
    for key in path:
        if isinstance(value, list):
            if not isinstance(key, int) or not 0 <= key < len(value):
                return False, None
            value = value[key]
        elif isinstance(value, dict) and key in value:
            value = value[key]
        else:
            return False, None
    return True, value


def _empty(value: Any) -> bool:
    return value is None or value == {} or value == [] or value == ""


# ---------------------------------------------------------------- Relay's account: _meta


def _meta_entries(meta: Any, data: Any, path: Path) -> Iterator[tuple[Path, dict[str, Any], Any]]:
    """Every ``_meta`` entry as ``(canonical path, entry, stored value)``: a pair list's
    entries are keyed by the pair's name."""
    if not isinstance(meta, dict):
        return
    names = pair_keys(data, meta) if isinstance(data, list) and _is_pairs(data) else None
    for key, inner in meta.items():
        if key == "":
            if isinstance(inner, dict):
                yield path, inner, data
            continue
        if isinstance(data, list):
            index = int(key) if key.isdigit() else -1
            child = data[index] if 0 <= index < len(data) else None
            if names is not None and isinstance(child, list) and isinstance(inner, dict):
                name = names[index]
                where: Path = (*path, index if name is None else name)
                for part, sub in inner.items():  # "0": the name itself, "1": its value, "": the pair
                    if part == "":
                        yield from _meta_entries({"": sub}, child[1], where)
                    else:
                        yield from _meta_entries(sub, child[1] if part == "1" else child[0], where)
                continue
            yield from _meta_entries(inner, child, (*path, index))
        else:
            child = data.get(key) if isinstance(data, dict) else None
            yield from _meta_entries(inner, child, (*path, key))


def _error(error: Any) -> tuple[str, str]:
    """An ``err`` entry as ``(kind, reason)``."""
    if isinstance(error, list) and error:
        data = error[1] if len(error) > 1 and isinstance(error[1], dict) else {}
        return str(error[0]), str(data.get("reason") or "")
    return str(error), ""


def _trim(entry: dict[str, Any], stored: Any, sent: Any) -> tuple[str, int, int] | None:
    """``(unit, cut, bytes cut)`` when the entry says the value was trimmed."""
    length = entry.get("len")
    rules = [r[0] for r in entry.get("rem") or () if isinstance(r, list) and r]
    if not isinstance(length, int) or (rules and LIMIT_RULE not in rules):
        return None
    if isinstance(stored, str):
        before = size(sent) if isinstance(sent, str) else size("x" * length)
        return "chars", max(length - len(stored), 0), max(before - size(stored), 0)
    kept = len(stored) if isinstance(stored, list | dict) else 0
    before = size(sent) if isinstance(sent, list | dict) else 0
    return "items", max(length - kept, 0), max(before - size(stored), 0) if before else 0


def _read_meta(changes: Changes, stored: dict[str, Any], sent: dict[str, Any], canonical_sent: Any) -> set[Path]:
    """Fill ``changes`` from ``stored``'s ``_meta`` (less the entries the SDK sent itself, such as
    sentry-python's own scrubbing); the paths it explains."""
    explained: set[Path] = set()
    own = {path: entry for path, entry, _ in _meta_entries(sent.get("_meta"), sent, ())}
    for path, entry, value in _meta_entries(stored.get("_meta"), stored, ()):
        explained.add(path)
        if own.get(path) == entry:
            continue
        changes.has_meta = True
        where = display(path)
        trim = _trim(entry, value, _at(canonical_sent, path)[1])
        if trim is not None:
            changes.trimmed.append((where, *trim))
        for error in entry.get("err") or ():
            kind, reason = _error(error)
            changes.invalid.append((where, kind, reason, "dropped" if _empty(value) else "replaced"))
        if "val" in entry and not entry.get("err"):
            changes.replaced.append(where)
        for remark in entry.get("rem") or ():
            if isinstance(remark, list) and remark and remark[0] != LIMIT_RULE:
                changes.scrubbed.append((where, str(remark[0])))
    return explained


# ---------------------------------------------------------------- what _meta does not say


def _under(path: Path, explained: set[Path]) -> bool:
    return any(path[:n] in explained for n in range(len(path) + 1))


def _topmost(path: Path, other: Any) -> Path:
    """The shortest prefix of ``path`` that ``other`` does not have."""
    for n in range(1, len(path) + 1):
        if not _at(other, path[:n])[0]:
            return path[:n]
    return path


def _as_stored(value: str) -> str:
    """``value`` with each character UTF-8 cannot hold (a lone surrogate) as ``?``, as the
    event reaches Relay."""
    return value.encode("utf-8", "replace").decode("utf-8")


def _cut_from(kept: Any, value: Any) -> bool:
    """Whether ``kept`` is ``value`` trimmed by Relay: its start followed by ``...``."""
    return (
        isinstance(kept, str) and isinstance(value, str) and len(kept) > 3 and kept.endswith("...") and kept != value
    ) and value.startswith(kept[:-3])


def _trimmed_copy(value: str, stored: Any, explained: set[Path]) -> Path | None:
    """The path of a trimmed string stored from ``value`` (``message`` trimmed into
    ``logentry.formatted``)."""
    for path in sorted(explained, key=display):
        found, kept = _at(stored, path)
        if found and _cut_from(kept, value):
            return path
    return None


def _under_trimmed_key(path: Path, explained: set[Path]) -> bool:
    """Whether ``path`` was sent under a key Relay trimmed (a tag name over 200 characters):
    its ``_meta`` entry, at the trimmed key, explains it."""
    return any(
        len(path) >= len(done) > 0 and path[: len(done) - 1] == done[:-1] and _cut_from(done[-1], path[len(done) - 1])
        for done in explained
    )


def _compare(changes: Changes, sent: Any, stored: Any, explained: set[Path]) -> None:
    before = {p: v for p, v in _leaves(sent) if not _under(p, explained)}
    after = {p: v for p, v in _leaves(stored) if not _under(p, explained)}
    added = {p: v for p, v in after.items() if p not in before}
    for path, value in list(added.items()):  # a nested object stored as a string: trimmed by depth
        found, was = _at(sent, path)
        if found and isinstance(value, str) and isinstance(was, dict | list) and was:
            changes.trimmed.append((display(path), "depth", 1, max(size(was) - size(value), 0)))
            explained.add(path)
            del added[path]
    by_value: dict[str, Path] = {}
    for path, value in added.items():
        if isinstance(value, str) and value:
            by_value.setdefault(value, path)
    removed: set[str] = set()
    for path, value in before.items():
        if path in after:
            if after[path] != value:
                changes.rewritten.append(display(path))
            continue
        if _empty(value) or _under(path, explained) or _under_trimmed_key(path, explained):
            continue
        text = _as_stored(value) if isinstance(value, str) else None
        target = by_value.pop(text, None) if text is not None else None
        if target is not None:
            changes.renamed.append((display(path), display(target)))
            if text != value:  # stored with its lone surrogates as "?"
                changes.rewritten.append(display(target))
            added.pop(target, None)
        elif text is not None and (moved := _trimmed_copy(text, stored, explained)):
            changes.renamed.append((display(path), display(moved)))
        else:
            removed.add(display(_topmost(path, stored)))
    changes.removed.extend(sorted(removed))
    changes.defaulted.extend(sorted({display(_topmost(path, sent)) for path in added}))


def changes_of(sent: dict[str, Any], stored: dict[str, Any]) -> Changes:
    """What Relay changed between the payload ``sent`` and the event it would store."""
    changes = Changes()
    canonical_sent = canonical(sent)
    explained = _read_meta(changes, stored, sent, canonical_sent)
    _compare(changes, canonical_sent, canonical({k: v for k, v in stored.items() if k not in SKIPPED}), explained)
    return changes
