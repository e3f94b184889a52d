"""The data-feasibility report: what the SDKs sent, in one pass over the records.

:func:`build_report` reads records once (each envelope is parsed once, :mod:`.view`) and
feeds them to one aggregator per section (:mod:`.builder`), each keeping bounded aggregates
only (:mod:`.bounded`): counters capped at :data:`~.bounded.MAX_KEYS` distinct keys,
reservoirs of :data:`~.bounded.RESERVOIR_SIZE` values for percentiles (exact up to that many,
a uniform sample beyond), per-key tables with a row limit and the rest under ``"(other)"``.
The sections, one module each: :mod:`.traffic`, :mod:`.fields` (with :mod:`.coverage` and
the walk shared with personal data, :mod:`.walker`), :mod:`.issues`, :mod:`.performance`,
:mod:`.health`, :mod:`.dropped`, :mod:`.pii`, :mod:`.sourcemaps`, :mod:`.server`, and, over
the answer records of forward mode only, :mod:`.upstream` (with :mod:`.pairing`), and over
releases, uploads and web API records, :mod:`.releases` (with :mod:`.release_row`,
:mod:`.uploads`), and over requests scripted rules answered, :mod:`.behaviour` (with
:mod:`.behaviour_timeline`, :mod:`.behaviour_checks`, :mod:`.behaviour_failures`), and, only
when named, what Relay's normaliser would change in each event, :mod:`.normalization` (with
:mod:`.normalization_changes`). The result and its JSON schema: :mod:`.result`.

Every section but ``traffic``, ``server`` and ``behaviour`` reads only the requests that were accepted
(answered 2xx, as Sentry would have answered them): refused ones are counted, not analysed.
"""

from sentry_mirror.core.report.builder import ReportBuilder, build_report
from sentry_mirror.core.report.issues import TOP_GROUPS
from sentry_mirror.core.report.result import (
    DEFAULT_SECTIONS,
    EVERY_SECTION,
    OPTIONAL_SECTIONS,
    SCHEMA,
    SCHEMA_VERSION,
    SECTIONS,
    Report,
)
from sentry_mirror.core.report.view import Aggregator, RecordView

__all__ = [
    "DEFAULT_SECTIONS", "EVERY_SECTION", "OPTIONAL_SECTIONS", "SCHEMA", "SCHEMA_VERSION", "SECTIONS", "TOP_GROUPS", "Aggregator", "RecordView", "Report", "ReportBuilder",
    "build_report",
]  # fmt: skip
