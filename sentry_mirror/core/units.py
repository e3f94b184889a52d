"""Values with units, as users write them: sizes (``100KiB``) and durations (``90s``).

One home for both the command line (ui/params.py) and scripts (core/script/parse.py).
Both are bounded, so a long run of digits is a ValueError rather than an overflow later."""

from __future__ import annotations

import math
import re

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$", re.IGNORECASE)
_SECONDS = {"ms": 0.001, "s": 1, "": 1, "m": 60, "h": 3600, "d": 86400}
#: Sizes are below this many bytes (what fits a signed 64-bit count).
MAX_SIZE = 2**63
#: Durations are below this many seconds (some 31 years).
MAX_SECONDS = 10**9


def parse_size(text: str) -> int:
    """``200MiB``, ``100MB``, ``64k``, ``1048576``: bytes (``i`` means powers of 1024).

    Raises ValueError for anything else."""
    match = _SIZE.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a size like 100MB, 200MiB or 65536")
    unit = (match.group(2) or "").lower()
    prefix = unit[:1] if unit[:1] in ("k", "m", "g", "t") else ""
    if "i" in unit and not prefix:  # ``5ib``: a binary unit with no multiple
        raise ValueError(f"{text!r} is not a size like 100MB, 200MiB or 65536")
    base = 1024 ** ("kmgt".index(prefix) + 1) if "i" in unit else _UNITS[prefix]
    size = float(match.group(1)) * base
    if not math.isfinite(size) or size >= MAX_SIZE:
        raise ValueError(f"{text!r} is too big a size (below 8 EiB)")
    return int(size)


def parse_duration(text: str) -> float:
    """``90s``, ``10m``, ``1h``, ``1d``, ``250ms``, ``30`` (seconds): seconds.

    Raises ValueError for anything else."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like 90s, 10m, 1h or 1d")
    seconds = float(match.group(1)) * _SECONDS[(match.group(2) or "").lower()]
    if not math.isfinite(seconds) or seconds >= MAX_SECONDS:
        raise ValueError(f"{text!r} is too long a duration (below {MAX_SECONDS:,} s)")
    return seconds
