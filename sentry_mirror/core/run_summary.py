"""What ``sentry-mirror run`` says a command sent: requests and envelopes (counted as the
report's ``traffic`` section counts them), per SDK the items by type, the error events by
title, the requests answered with an error; and the same, capped, for its JSON."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import Any

from sentry_mirror.core.describe import Row
from sentry_mirror.core.grouping.groups import UNLABELED
from sentry_mirror.core.report.traffic import counts_as_envelope

#: Distinct SDKs and error titles the JSON summary lists (the rest: counted in ``*_more``).
JSON_SDKS = 100
JSON_TITLES = 100


def summarise(rows: Iterable[Row]) -> dict[str, Any]:
    """Requests and envelopes; per SDK (and version; most requests first) the items by type,
    most first; the error events by title, first seen first; the requests answered 4xx or
    5xx, by status."""
    requests = envelopes = 0
    sdks: dict[tuple[str | None, str | None], dict[str, Any]] = {}
    titles: Counter[str] = Counter()
    rejected: Counter[str] = Counter()
    for row in rows:
        envelope = counts_as_envelope(row.endpoint, len(row.item_types))
        requests, envelopes = requests + 1, envelopes + envelope
        sdk = sdks.setdefault(
            (row.sdk_name, row.sdk_version),
            {"sdk": row.sdk_name, "version": row.sdk_version, "requests": 0, "envelopes": 0, "items": Counter()},
        )
        sdk["requests"] += 1
        sdk["envelopes"] += envelope
        sdk["items"].update(row.item_types)
        if "event" in row.item_types:
            titles[row.title or UNLABELED] += 1
        if row.status >= 400:
            rejected[str(row.status)] += 1
    ordered = sorted(sdks.values(), key=lambda sdk: -sdk["requests"])  # stable: first seen first among equals
    return {
        "requests": requests,
        "envelopes": envelopes,
        "sdks": [{**sdk, "items": dict(sdk["items"].most_common())} for sdk in ordered],
        "events": titles.total(),
        "event_titles": [{"title": title, "count": count} for title, count in titles.items()],
        "rejected": dict(sorted(rejected.items())),
    }


def capped(summary: dict[str, Any]) -> dict[str, Any]:
    """``summary`` with :data:`JSON_SDKS` SDKs and :data:`JSON_TITLES` titles at most, and
    how many of each were left out (``sdks_more``, ``event_titles_more``)."""
    return {
        **summary,
        "sdks": summary["sdks"][:JSON_SDKS],
        "sdks_more": max(0, len(summary["sdks"]) - JSON_SDKS),
        "event_titles": summary["event_titles"][:JSON_TITLES],
        "event_titles_more": max(0, len(summary["event_titles"]) - JSON_TITLES),
    }
