"""The document of a report's JSON: its sections in order, the core ones drawn by
:mod:`render_report`, each optional one (:data:`~sentry_mirror.core.report.result.OPTIONAL_SECTIONS`)
by its own renderer module."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sentry_mirror.ui import (
    render_report,
    render_report_behaviour,
    render_report_normalization,
    render_report_releases,
    render_report_upstream,
)
from sentry_mirror.ui.render_report import Section

#: Optional section -> what draws it from its JSON.
OPTIONAL: dict[str, Callable[[Any], Section]] = {
    "upstream": render_report_upstream.upstream,
    "releases": render_report_releases.releases,
    "behaviour": render_report_behaviour.behaviour,
    "normalization": render_report_normalization.normalization,
}


def document(report: Mapping[str, Any], *, max_paths: int | None = None) -> list[Section]:
    """The sections of a report's JSON, in order: the core ones, then the optional ones it has."""
    names = list(report["sections"])
    core = {**report, "sections": [name for name in names if name not in OPTIONAL]}
    return [
        *render_report.document(core, max_paths=max_paths),
        *(OPTIONAL[n](report[n]) for n in names if n in OPTIONAL),
    ]
