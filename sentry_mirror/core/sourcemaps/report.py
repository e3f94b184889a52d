"""The check as the report's releases section takes it (its ``Frames`` protocol): fed
record views, mergeable, and per release the in-app JavaScript frames that resolve."""

from __future__ import annotations

from collections.abc import Mapping

from sentry_mirror.core.report.view import RecordView
from sentry_mirror.core.sourcemaps.check import SourcemapCheck


class ReportFrames:
    """:class:`~.check.SourcemapCheck` behind the report's interface. Resolution happens
    once, when :meth:`per_release` is first asked (it needs symbolic: see
    :func:`~.resolve.symbolic_available`)."""

    def __init__(self) -> None:
        self.check = SourcemapCheck()
        self._per_release: Mapping[str | None, tuple[int, int]] | None = None

    def add(self, view: RecordView) -> None:
        self.check.add(view.data)
        self._per_release = None

    def merge(self, other: ReportFrames) -> None:
        self.check.merge(other.check)
        self._per_release = None

    def per_release(self) -> Mapping[str | None, tuple[int, int]]:
        """Per release (None: events without one): ``(in-app frames resolved, in-app frames)``."""
        if self._per_release is None:
            self._per_release = self.check.result().in_app_by_release
        return self._per_release
