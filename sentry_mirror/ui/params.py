"""Click parameter types for values with units: sizes, durations, replay speeds."""

from __future__ import annotations

import re
from typing import Any

import click

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000**2, "g": 1000**3, "t": 1000**4}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$", re.IGNORECASE)
_SECONDS = {"ms": 0.001, "s": 1, "": 1, "m": 60, "h": 3600, "d": 86400}


class Size(click.ParamType):  # type: ignore[type-arg]  # generic from Click 8.3; 8.1 is allowed
    """``200MiB``, ``100MB``, ``64k``, ``1048576``: bytes (``i`` means powers of 1024)."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        match = _SIZE.match(str(value))
        if not match:
            self.fail(f"{value!r} is not a size like 100MB, 200MiB or 65536", param, ctx)
        unit = (match.group(2) or "").lower()
        base = _UNITS[unit[:1] if unit[:1] != "b" else ""]
        if "i" in unit:
            base = 1024 ** "kmgt".index(unit[0]) * 1024
        return int(float(match.group(1)) * base)


class Duration(click.ParamType):  # type: ignore[type-arg]  # generic from Click 8.3; 8.1 is allowed
    """``90s``, ``10m``, ``1h``, ``1d``: seconds."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        match = _DURATION.match(str(value))
        if not match:
            self.fail(f"{value!r} is not a duration like 90s, 10m, 1h or 1d", param, ctx)
        return float(match.group(1)) * _SECONDS[(match.group(2) or "").lower()]


class Speed(click.ParamType):  # type: ignore[type-arg]  # generic from Click 8.3; 8.1 is allowed
    """``1`` (recorded gaps), ``10`` (ten times faster), ``max`` (as fast as allowed)."""

    name = "speed"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float | None:
        if value is None or (isinstance(value, str) and value.strip().lower() == "max"):
            return None
        try:
            speed = float(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a speed: a number such as 1 or 10, or max", param, ctx)
        if speed <= 0:
            self.fail("the speed must be above 0", param, ctx)
        return speed
