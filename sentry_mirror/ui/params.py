"""Click parameter types for values with units: sizes, durations, replay speeds, process counts."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, TypeVar

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


class Count(click.ParamType):  # type: ignore[type-arg]  # generic from Click 8.3; 8.1 is allowed
    """``4`` or ``auto`` (the cores this process may use): for ``--jobs`` and ``--workers``."""

    name = "count"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, str) and value.strip().lower() == "auto":
            return usable_cores()
        try:
            count = int(value)
        except (TypeError, ValueError):
            self.fail(f"{value!r} is not a count: a whole number such as 2, or auto", param, ctx)
        if not 1 <= count <= MAX_COUNT:
            self.fail(f"must be between 1 and {MAX_COUNT} (or auto)", param, ctx)
        return count


#: More processes than this is a typo, not a machine.
MAX_COUNT = 256


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity where the OS has it)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # macOS, Windows
        return max(1, os.cpu_count() or 1)


F = TypeVar("F", bound=Callable[..., Any])


def jobs_option(
    help: str = "Processes to read with: a number or auto (the cores); output is the same as with 1.",
) -> Callable[[F], F]:
    """``--jobs N|auto`` (default 1), the same on every reading command."""
    return click.option("--jobs", "-j", type=Count(), default=1, show_default=True, help=help)
