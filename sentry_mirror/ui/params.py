"""Click parameter types for values with units: sizes, durations, replay speeds."""

from __future__ import annotations

from typing import Any

import click

from sentry_mirror.core.units import parse_duration, parse_size


class Size(click.ParamType):  # type: ignore[type-arg]  # generic from Click 8.3; 8.1 is allowed
    """``200MiB``, ``100MB``, ``64k``, ``1048576``: bytes (``i`` means powers of 1024)."""

    name = "size"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            return parse_size(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class Duration(click.ParamType):  # type: ignore[type-arg]  # generic from Click 8.3; 8.1 is allowed
    """``90s``, ``10m``, ``1h``, ``1d``: seconds."""

    name = "duration"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> float:
        if isinstance(value, int | float):
            return float(value)
        try:
            return parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


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
