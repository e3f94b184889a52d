"""Records a reader could not use: counted and named, never a traceback.

Two kinds reach a :class:`Malformed`: records skipped where they are read because their
shape is not what the listener writes (:mod:`sentry_mirror.core.shape`: the reader's
``on_warning`` gets a :class:`~sentry_mirror.core.shape.Skipped` naming the record), and,
as a last resort, records an aggregator failed on (a bug this guard keeps to that one
record: the rest of the capture is still counted). Both are counted; the first
:data:`MAX_EXAMPLES` are kept with their id and reason for the report's "malformed" line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sentry_mirror.core.shape import Skipped, problem, skipped
from sentry_mirror.errors import MirrorError

#: Records named in the report (all are counted).
MAX_EXAMPLES = 5


def _ignore(_: str) -> None:
    pass


class Malformed:
    """The records a reader skipped. ``on_warning`` gets one line per record an aggregator
    failed on (the read-time ones were reported where they were read)."""

    def __init__(self, on_warning: Callable[[str], None] = _ignore, where: str = "record") -> None:
        self.on_warning = on_warning
        self.where = where
        self.count = 0
        self.examples: list[tuple[str | None, str]] = []

    def _keep(self, record_id: str | None, reason: str) -> None:
        self.count += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append((record_id, reason))

    def skipped(self, warning: Skipped) -> None:
        """Count a record skipped where it was read (its warning is already out)."""
        self._keep(warning.record_id, warning.reason)

    def failed(self, data: Any, exc: BaseException) -> None:
        """Count a record an aggregator raised on, and warn naming it and why."""
        reason = problem(data) if type(data) is dict else None
        if reason is None and isinstance(
            exc, MirrorError
        ):  # the record's data, not a bug (a body that does not decode)
            reason = str(exc)[:200]
        if reason is None:
            reason = (
                f"{type(exc).__name__}: {str(exc)[:200]} (a bug in sentry-mirror: please report it with this record)"
            )
        warning = skipped(self.where, data, reason)
        self._keep(warning.record_id, reason)
        self.on_warning(warning)

    def __getstate__(self) -> dict[str, Any]:
        """Pickled (a partial result sent to the parent by a worker) without ``on_warning``:
        the callback stays in the process it warns in."""
        return {name: value for name, value in self.__dict__.items() if name != "on_warning"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.on_warning = _ignore

    def merge(self, other: Malformed) -> None:
        """Add the records ``other`` counted, as if read after this one's (the first
        :data:`MAX_EXAMPLES` examples kept, this one's first)."""
        self.count += other.count
        room = MAX_EXAMPLES - len(self.examples)
        if room > 0:
            self.examples.extend(other.examples[:room])

    def to_json(self) -> dict[str, Any]:
        return {
            "records": self.count,
            "examples": [{"id": record_id, "reason": reason} for record_id, reason in self.examples],
        }


#: Exceptions never taken for one record's fault: they stop the reader.
FATAL = (MemoryError, ImportError)
