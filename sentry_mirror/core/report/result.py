"""The built report and its JSON schema.

Every section but ``traffic``, ``server`` and ``behaviour`` reads only the requests that were accepted
(answered 2xx, as Sentry would have answered them): refused ones are counted, not analysed.

Sections (:data:`SECTIONS`), in the issue's numbering:

1. ``traffic``      requests, envelopes, items by type, endpoint, project, SDK, platform; rate
                    per minute with peaks and the busiest second; sizes per item type against
                    Sentry's limits; encodings and auth forms
2. ``fields``       per item type and SDK, every JSON path with its coverage, value types,
                    distinct values and a truncated example; highlights for the fields a
                    server UI needs
3. ``issues``       the top groups
4. ``performance``  transactions by name and op, spans by op, with duration p50/p95
5. ``health``       sessions by status and the crash-free share; check-ins by monitor and status
6. ``dropped``      ``client_report`` discarded events by reason and category
7. ``pii``          personal data per path and kind, and what Sentry's default scrubbing removes
8. ``sourcemaps``   minified-looking JavaScript frames, debug ids, releases
9. ``server``       what a server must support, with counts, and the storage per day
10. ``upstream``    forward mode (``listen --forward``/``--tee``): what the upstream and each
                    candidate answered, per endpoint and item types, latency, rate limits,
                    requests not delivered, disagreements; only when answer records were read
11. ``releases``    releases seen in events against those created through the web API, commits
                    and deploys per release, artifact bundles and debug files uploaded, the
                    share of in-app JS frames that resolve, mismatches; only when upload or
                    web API records (sentry-cli pointed at the mirror) were read
12. ``behaviour``   per SDK and version, what it did around the answers it got (scripted ones:
                    ``listen --scenario``/``--script``, ``probe``), judged against the SDK
                    development spec: rate limits, retries, 413s, client reports; only when a
                    record a scripted rule answered was read
13. ``normalization`` what Sentry's ingestion (Relay's normaliser and default scrubbing, the
                    ``sentry-relay`` package) would change in each event, transaction and
                    feedback before storing it, per SDK and item type; only when asked for
                    (``report --section normalization``) and an event was read

JSON schema (:meth:`Report.to_json`, version :data:`SCHEMA_VERSION`); a new key may be added
within a version, a key is never renamed or removed without a new version::

    {"schema": "sentry-mirror-report", "version": 1,
     "sections": [names of the sections present],
     "malformed": {"records" (skipped: not what the listener writes, or failed on; each named in a
                   warning), "examples": [{"id", "reason"}] (the first five),
                   "fields": {"<item type>.<field> is <JSON type>": n} (ignored: not the protocol's type)},
     "traffic": {"requests", "envelopes", "items", "accepted", "refused",
                 "first", "last", "duration_s",
                 "items_by_type", "by_endpoint", "by_project", "by_sdk", "by_platform",
                 "by_status": {name: count},
                 "per_minute": {"YYYY-MM-DDTHH:MM": requests}, "peak_minutes": [[minute, n]],
                 "busiest_second": {"second", "requests"}, "mean_per_minute",
                 "sizes": {item type: {"count", "p50", "p95", "max", "limit", "over_limit"}},
                 "wire": {"count", "p50", "p95", "max", "total"}, "decoded": {... same ...},
                 "would_be_rejected": {item type: envelopes}, "encodings", "auth_forms",
                 "truncated": [names of counters that hit MAX_KEYS]},
     "fields": {"types": [{"item_type", "sdk", "items", "paths_dropped",
                           "paths": [{"path", "items", "share", "types": {json type: n},
                                      "distinct", "distinct_capped", "example"}]}],
                "highlights": {"events", "exception_chain": {p50, p95, max},
                               "frames", "frames_with_context", "frames_in_app", "frames_with_vars",
                               "breadcrumbs": {count, p50, p95, max}, "present": {field: share}}},
     "issues": {"groups", "events", "top": [group dicts as `group --json`]},
     "performance": {"transactions", "spans",
                     "by_transaction": [transaction group dicts as `group --item-type transaction --json`],
                     "span_ops": [{"op", "count", "p50_ms", "p95_ms"}]},
     "health": {"session_updates", "sessions_by_status", "aggregates", "ended_sessions",
                "crash_free" (1 - (crashed + unhandled) / ended, over updates and aggregates; null if none ended),
                "check_ins": [{"monitor", "statuses": {status: n}, "count"}]},
     "dropped": {"reports", "total", "by_reason": {}, "by_category": {},
                 "rows": [{"reason", "category", "quantity"}]},
     "pii": {"engine": "builtin"|"relay" (who decided "scrubbed_by"), "payloads", "scanned",
             "kinds": {kind: occurrences}, "truncated",
             "disagreements": [{"item_type", "path", "builtin", "relay", "count"}] (relay engine only;
                               a rule name or "kept"), "relay_only": [{"item_type", "path", "rule",
                               "count"}] (what Relay scrubs that no kind was found in), "relay_failures",
             "fields": [{"item_type", "path", "kind", "count", "examples", "scrubbed_by",
                         "kept"}], "kept_by_sentry": {kind: occurrences}},
     "sourcemaps": {"js_events", "js_frames", "minified_frames", "minified_share",
                    "with_debug_meta", "debug_ids", "image_types", "releases",
                    "events", "events_with_release", "events_with_dist"},
     "server": {"endpoints", "methods", "item_types", "encodings", "auth_forms",
                "content_types", "headers", "sdks", "bytes_per_day", "requests_per_day",
                "decoded_bytes_per_day"},
     "upstream": {"answers",
                  "targets": [{"target": "upstream"|"candidate", "to", "answers", "delivered", "undelivered",
                               "dropped", "returned", "via_replay", "by_status": {status|"no answer"|"dropped": n},
                               "errors": {error: n}, "latency_ms": {"count", "p50", "p95", "p99", "max"},
                               "rate_limited" (429s), "rate_limits": {category|"(all)": {"answers", "max_s"}},
                               "retry_after": {"answers", "max_s"} or null}],
                  "by_endpoint": [{"endpoint", "items", "target", "to", "answers", "delivered",
                                   "by_status": {as the target's},
                                   "by_class": {"2xx"…"5xx"|"none"|"other"|"dropped": n}}],
                  "requests": {"answered", "forwarded", "not_delivered", "delivered_later",
                               "still_undelivered", "no_upstream_answer"},
                  "disagreements": {"compared", "requests",
                                    "by_candidate": [{"to", "compared", "agree", "upstream_only",
                                                      "candidate_only", "class"}],
                                    "examples": [{"request_id", "endpoint", "items",
                                                  "answers": [{"target", "to", "status", "error", "dropped"}]}]},
                  "pairing": {"window", "unpaired"}, "truncated": [table names]},
     "releases": {"answer" (the one line), "events", "release_count", "truncated",
                  "frames": {"resolved", "total", "share", "unchecked"} (in-app JS frames; JS events
                             read before any upload past the buffer) or null (unknown),
                  "releases": [{"version", "events", "js_events", "first_seen", "last_seen",
                                "environments": {}, "dists": {}, "created", "updates", "projects",
                                "finalized" (dateReleased or null), "refs": [{"repository", "commit",
                                "previous"}], "commits", "repositories", "deploys": [{"environment",
                                "name", "url", "finished"}], "deploy_count", "bundles", "bundle_dists",
                                "bundle_files": {type: n}, "bundle_debug_ids", "has_upload",
                                "frames"}] (the first 100, most events first),
                  "bundles": {"count", "bytes", "without_release", "unreadable", "files_by_type",
                              "debug_ids"},
                  "debug_files": {"count", "bytes", "files": [{"name", "debug_id", "size", "kind"}]},
                  "api": {"requests", "refused", "by_endpoint": {"METHOD api_name": n}},
                  "mismatches": {"events_no_upload", "uploads_no_events", "not_finalized": {"count",
                                 "versions"}, "events_without_release", "js_events_without_release"}},
     "behaviour": {"scripted" (records a scripted rule answered), "specs": {spec: url},
                   "sdks": [{"sdk", "version", "requests", "scripted", "rules": {rule: n},
                             "scripted_answers": {status|"dropped": n},
                             "verdicts": [{"check": "backoff"|"scope"|"resume"|"retry_after"|
                                           "server_error"|"too_large"|"client_reports",
                                           "status": "pass"|"fail"|"not_seen"|"info", "detail", "spec"}],
                             "client_reports": [{"reason", "category", "quantity"}],
                             "retries": {"failures", "dropped_connections", "events", "retried",
                                         "attempts", "gap_min_s", "gap_max_s", "duplicated"},
                             "notes": [text]}]},
     "normalization": {"events", "stored", "changed", "rejected", "failures",
                       "rows": [{"sdk", "item_type", "events", "stored", "changed" (something sent not
                                 stored as sent), "rejected": {reason: n}, "failures": {reason: n},
                                 "events_with": {kind: events}, "size_before", "size_after" ({"count",
                                 "p50", "p95", "max", "total"}: compact JSON bytes, stored with _meta),
                                 "trimmed": [{"path", "unit": "chars"|"items"|"depth", "count", "cut",
                                              "bytes"}],
                                 "invalid": [{"path", "error", "reason", "action": "dropped"|"replaced",
                                              "count"}],
                                 "replaced"|"defaulted"|"removed"|"rewritten": [{"path", "count"}],
                                 "scrubbed": [{"path", "rule", "count"}], "renamed": [{"from", "to",
                                 "count"}], "truncated": [table names]}]}}

All sizes are bytes, durations milliseconds, shares fractions in [0, 1] rounded to 4 places.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sentry_mirror.core import pii
from sentry_mirror.core.grouping import Group, TransactionGroup
from sentry_mirror.core.report.bounded import Json

SCHEMA = "sentry-mirror-report"
SCHEMA_VERSION = 1
SECTIONS = ("traffic", "fields", "issues", "performance", "health", "dropped", "pii", "sourcemaps", "server")
#: Sections present only when their records were read: ``upstream`` (answer records),
#: ``releases`` (upload or web API records), ``behaviour`` (records a scripted rule answered),
#: ``normalization`` (made only when asked for: events, transactions or feedback).
OPTIONAL_SECTIONS = ("upstream", "releases", "behaviour", "normalization")
#: Every section, in order: what ``report --section`` takes.
EVERY_SECTION = (*SECTIONS, *OPTIONAL_SECTIONS)
#: Sections built only when named (each costs a call into Relay per event).
ASKED_ONLY = frozenset({"normalization"})
#: What a report holds when no section is named.
DEFAULT_SECTIONS = tuple(name for name in EVERY_SECTION if name not in ASKED_ONLY)


@dataclass(frozen=True)
class Report:
    """A built report: one JSON-ready dict per section, plus the groups it lists (for diff).

    ``sections`` maps each section's name to its data, in :data:`SECTIONS` order; see the
    module docstring for the shape of each."""

    sections: dict[str, Json]
    groups: tuple[Group, ...] = ()
    transactions: tuple[TransactionGroup, ...] = ()
    pii_engine: str = pii.ENGINE
    malformed: Json = field(default_factory=lambda: {"records": 0, "examples": [], "fields": {}})

    def to_json(self) -> Json:
        return {
            "schema": SCHEMA,
            "version": SCHEMA_VERSION,
            "sections": list(self.sections),
            "malformed": self.malformed,
            **self.sections,
        }

    def section(self, name: str) -> Json:
        return self.sections.get(name, {})
