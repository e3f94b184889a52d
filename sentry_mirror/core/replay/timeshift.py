"""Moving the timestamps SDKs send by a number of seconds, each written back in its own style.

Replay with ``--shift-timestamps`` uses this so that a snapshot's events land at the time
they are sent again: :func:`shift_value` moves one value (Unix seconds or RFC 3339 text),
:func:`shift_payload` every timestamp of one item payload (see :data:`TIMESTAMP_FIELDS`),
and :func:`format_like` writes a moment the way an example timestamp is written.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any


def shift_value(value: Any, seconds: float) -> Any:
    """``value`` moved by ``seconds``: a number (Unix seconds) or an RFC 3339 string, in its own
    style (``Z`` or ``+00:00``, as many fraction digits, an integer stays one). Anything else
    is returned unchanged."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return round(value + seconds)
    if isinstance(value, float):
        return round(value + seconds, 6)
    if isinstance(value, str):
        return _shift_text(value, seconds)
    return value


_RFC3339 = re.compile(r"^(\d{4}-\d\d-\d\d[T ]\d\d:\d\d(?::\d\d)?)(\.\d+)?(Z|z|[+-]\d\d:?\d\d)?$")


def _shift_text(text: str, seconds: float) -> str:
    if (
        len(text) == 27 and text[26] == "Z" and text[19] == "." and text[10] in "T " and text[4] == text[7] == "-"
        and text[13] == text[16] == ":" and text.isascii() and text[20:26].isdigit()
    ):  # fmt: skip
        # (the fraction's digits checked here: fromisoformat would read "+01" there as a zone)
        # the style the SDKs write (microseconds, UTC, "Z"): most timestamps of a replay
        try:
            moment = datetime.fromisoformat(text[:26])
        except ValueError:
            pass
        else:
            try:
                return (moment + timedelta(seconds=seconds)).isoformat(text[10], "microseconds") + "Z"
            except OverflowError:  # past year 9999 (or before year 1): left as it is
                return text
    return _shift_styled(text, seconds)


def _shift_styled(text: str, seconds: float) -> str:
    """:func:`_shift_text` for any RFC 3339 style."""
    match = _RFC3339.match(text)
    moment = _parse_match(match)
    if moment is None or match is None:
        return text
    try:
        moment += timedelta(seconds=seconds)
    except OverflowError:  # past year 9999 (or before year 1): left as it is
        return text
    return _format_match(moment, match)


def _parse_match(match: re.Match[str] | None) -> datetime | None:
    if not match:
        return None
    base, fraction, zone = match.groups()
    try:
        return datetime.fromisoformat(
            base + (fraction[:7] if fraction else "") + ("+00:00" if zone in (None, "Z", "z") else zone)
        )
    except ValueError:
        return None


def _format_match(moment: datetime, match: re.Match[str]) -> str:
    """``moment`` written in the style of the timestamp ``match`` matched: its separator,
    seconds or not, as many fraction digits, its zone (``moment`` already in that zone
    unless it is ``Z`` or none: UTC)."""
    base, fraction, zone = match.groups()
    if zone in (None, "Z", "z"):
        if moment.tzinfo is not UTC:
            moment = moment.astimezone(UTC)
        zone = zone or ""
    m = moment
    digits = len(fraction) - 1 if fraction else 0
    spec = _TIMESPECS.get(digits) if len(base) > 16 else None  # with seconds: isoformat writes it, in C
    if spec is not None:
        return m.replace(tzinfo=None).isoformat(base[10], spec) + zone
    text = f"{m.year:04d}-{m.month:02d}-{m.day:02d}{base[10]}{m.hour:02d}:{m.minute:02d}"
    if len(base) > 16:  # with seconds
        text += f":{m.second:02d}"
    if digits:
        text += f".{m.microsecond:06d}"[: digits + 1] if digits <= 6 else f".{m.microsecond:06d}" + "0" * (digits - 6)
    return text + zone


#: Fraction digits -> the ``isoformat`` timespec that writes as many (it truncates, as the slice does).
_TIMESPECS = {0: "seconds", 3: "milliseconds", 6: "microseconds"}


def format_like(moment: datetime, example: Any) -> Any:
    """``moment`` written as ``example`` is (Unix seconds, or an RFC 3339 string in its style)."""
    if isinstance(example, float):
        return round(moment.timestamp(), 6)
    if isinstance(example, int) and not isinstance(example, bool):
        return int(moment.timestamp())
    match = _RFC3339.match(example) if isinstance(example, str) else None
    old = _parse_match(match)
    if old is None or match is None:
        return format_time_z(moment)
    return _format_match(moment.astimezone(old.tzinfo), match)


def format_time_z(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


#: Where timestamps are, per item type: top-level keys, and lists of objects whose keys are
#: timestamps (``breadcrumbs`` may also be ``{"values": [...]}``; containers have ``items``).
_EVENT_KEYS = ("timestamp", "start_timestamp", "received")
TIMESTAMP_FIELDS: dict[str, tuple[tuple[str, ...], dict[str, tuple[str, ...]]]] = {
    "event": (_EVENT_KEYS, {"breadcrumbs": ("timestamp",), "spans": ("timestamp", "start_timestamp")}),
    "transaction": (_EVENT_KEYS, {"breadcrumbs": ("timestamp",), "spans": ("timestamp", "start_timestamp")}),
    "feedback": (_EVENT_KEYS, {"breadcrumbs": ("timestamp",)}),
    "session": (("started", "timestamp"), {}),
    "sessions": ((), {"aggregates": ("started",)}),
    "client_report": (("timestamp",), {}),
    "check_in": (("timestamp",), {}),
    "log": ((), {"items": ("timestamp", "observed_timestamp")}),
    "trace_metric": ((), {"items": ("timestamp",)}),
    "span": (
        ("start_timestamp", "timestamp", "end_timestamp"),
        {"items": ("start_timestamp", "end_timestamp", "timestamp")},
    ),
    "profile": (("timestamp",), {}),
    "replay_event": (("timestamp", "replay_start_timestamp"), {}),
}


def shift_payload(item_type: str, payload: Any, seconds: float) -> bool:
    """Move the timestamps of one parsed item payload in place; True when any changed."""
    fields = TIMESTAMP_FIELDS.get(item_type)
    if fields is None or not isinstance(payload, dict):
        return False
    top, lists = fields
    changed = _shift_keys(payload, top, seconds)
    for name, keys in lists.items():
        entries = payload.get(name)
        if isinstance(entries, dict):
            entries = entries.get("values")
        if isinstance(entries, list):
            for entry in entries:
                if isinstance(entry, dict):
                    changed |= _shift_keys(entry, keys, seconds)
    return changed


def _shift_keys(obj: dict[str, Any], keys: tuple[str, ...], seconds: float) -> bool:
    changed = False
    for key in keys:
        if key in obj:
            new = shift_value(obj[key], seconds)
            if new != obj[key] or type(new) is not type(obj[key]):
                obj[key] = new
                changed = True
    return changed
