"""``sourcemaps check``: will the stack traces of the captured JavaScript events resolve
against the artifact bundles sentry-cli uploaded (and native images against debug files)?

:mod:`.bundle` reads artifact bundles, :mod:`.index` looks files up as Sentry does (by debug
id; by release, dist and URL with the ``~/`` rule), :mod:`.events` reads frames and images,
:mod:`.resolve` resolves one frame with Sentry's ``symbolic`` (an optional extra, imported
when first needed), :mod:`.check` is the aggregator (add, merge, result) and :mod:`.result`
what it finds (the report's releases section takes it through
:mod:`sentry_mirror.core.report.js_frames`). docs/sourcemaps.md documents the outcomes and the JSON.
"""

from sentry_mirror.core.sourcemaps.bundle import Bundle, BundleError, BundleFile, normalize_debug_id, read_bundle
from sentry_mirror.core.sourcemaps.check import SourcemapCheck
from sentry_mirror.core.sourcemaps.index import candidate_urls
from sentry_mirror.core.sourcemaps.resolve import (
    OUTCOMES,
    RESOLVED,
    RESOLVES,
    SKIPPED,
    load_symbolic,
    symbolic_available,
)
from sentry_mirror.core.sourcemaps.result import CheckResult, EventResult, Example, FrameResult, Native, Totals

__all__ = [
    "OUTCOMES",
    "RESOLVED",
    "RESOLVES",
    "SKIPPED",
    "Bundle",
    "BundleError",
    "BundleFile",
    "CheckResult",
    "EventResult",
    "Example",
    "FrameResult",
    "Native",
    "SourcemapCheck",
    "Totals",
    "candidate_urls",
    "load_symbolic",
    "normalize_debug_id",
    "read_bundle",
    "symbolic_available",
]
