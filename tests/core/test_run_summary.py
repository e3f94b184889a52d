"""The summary ``sentry-mirror run`` gives (sentry_mirror.core.run_summary): counted as the
report counts, most first, capped in JSON with what was left out said."""

from __future__ import annotations

import dataclasses
from typing import Any

from sentry_mirror.core import report
from sentry_mirror.core.describe import describe
from sentry_mirror.core.grouping.groups import UNLABELED
from sentry_mirror.core.run_summary import JSON_SDKS, JSON_TITLES, capped, summarise
from tests.factories import make_envelope, make_event, make_record, make_request, make_sdk_record


def store_envelope() -> dict[str, Any]:
    """An envelope of an event and a transaction POSTed to /store/ (as some SDKs do)."""
    items = [({"type": "event"}, make_event()), ({"type": "transaction"}, {"type": "transaction"})]
    headers = [("Content-Type", "application/x-sentry-envelope")]
    return make_record(make_request(path="/api/1/store/", headers=headers, body=make_envelope(items=items)))


def test_summarise_counts_per_sdk_and_item_type_most_first_and_titles_error_events() -> None:
    node = ("sentry.javascript.node", "10.0.0")
    records = [
        make_sdk_record(("event",), sdk=node),
        make_sdk_record(("event", "attachment")),
        make_sdk_record(("transaction",)),
        make_sdk_record(("log", "log"), sdk=node, status=429),
        make_sdk_record(("event", "attachment", "attachment")),
        make_sdk_record(("event",), status=413),
    ]
    summary = summarise(describe(record) for record in records)
    sdks = [(sdk["sdk"], sdk["version"], sdk["requests"], list(sdk["items"].items())) for sdk in summary["sdks"]]
    assert sdks == [  # most requests first; in each, most items first
        ("sentry.python", "2.75.0", 4, [("event", 3), ("attachment", 3), ("transaction", 1)]),
        ("sentry.javascript.node", "10.0.0", 2, [("log", 2), ("event", 1)]),
    ]
    assert {key: value for key, value in summary.items() if key != "sdks"} == {
        "requests": 6,
        "envelopes": 6,
        "events": 4,
        "event_titles": [{"title": "ZeroDivisionError: division by zero", "count": 4}],
        "rejected": {"413": 1, "429": 1},
    }


def test_an_envelope_posted_to_store_counts_as_the_report_counts_it() -> None:
    records = [store_envelope(), make_sdk_record(("event",))]
    summary = summarise(describe(record) for record in records)
    traffic = report.build_report(records, ["traffic"]).to_json()["traffic"]
    assert summary["envelopes"] == traffic["envelopes"] == 2
    assert summary["requests"] == traffic["requests"] == 2


def test_an_event_without_a_title_is_unlabeled_as_group_says_it() -> None:
    row = describe(make_sdk_record(("event",)))
    summary = summarise([dataclasses.replace(row, title=None)])
    assert summary["event_titles"] == [{"title": UNLABELED, "count": 1}]


def test_capped_keeps_the_first_sdks_and_titles_and_says_how_many_were_left_out() -> None:
    summary = summarise(
        describe(make_sdk_record(("event",), sdk=(f"sdk{n}", "1"), event_id=f"{n:032x}")) for n in range(JSON_SDKS + 3)
    )
    summary["event_titles"] = [{"title": f"t{n}", "count": 1} for n in range(JSON_TITLES + 5)]
    shown = capped(summary)
    assert (len(shown["sdks"]), shown["sdks_more"]) == (JSON_SDKS, 3)
    assert (len(shown["event_titles"]), shown["event_titles_more"]) == (JSON_TITLES, 5)
    assert shown["sdks"][0]["sdk"] == "sdk0"
    assert (capped(summarise(()))["sdks_more"], capped(summarise(()))["event_titles_more"]) == (0, 0)
