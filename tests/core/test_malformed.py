"""``Malformed``: records a reader could not use, counted and named."""

from __future__ import annotations

import pickle

from sentry_mirror.core.malformed import MAX_EXAMPLES, Malformed
from sentry_mirror.core.shape import skipped
from sentry_mirror.errors import MirrorError
from tests.factories import make_record


def test_records_skipped_where_read_are_counted_without_a_new_warning() -> None:
    warnings: list[str] = []
    malformed = Malformed(warnings.append)
    malformed.skipped(skipped("f", {"id": "x"}, "summary is a string"))
    assert (1, [("x", "summary is a string")], []) == (malformed.count, malformed.examples, warnings)


def test_every_record_is_counted_and_the_first_ones_named() -> None:
    malformed = Malformed()
    for n in range(MAX_EXAMPLES + 3):
        malformed.skipped(skipped("f", {"id": str(n)}, "bad"))
    assert {
        "records": MAX_EXAMPLES + 3,
        "examples": [{"id": str(n), "reason": "bad"} for n in range(MAX_EXAMPLES)],
    } == malformed.to_json()


def test_a_record_of_the_wrong_shape_is_named_by_its_problem() -> None:
    warnings: list[str] = []
    malformed = Malformed(warnings.append, where="report")
    record = make_record(id="ab" * 16, summary="no summary")
    malformed.failed(record, KeyError("items"))
    ((record_id, reason),) = malformed.examples
    assert record_id == "ab" * 16 and "summary" in reason
    assert [f"report: skipped record {'ab' * 16}: {reason}"] == warnings


def test_a_data_error_is_named_by_its_message_and_a_bug_as_a_bug() -> None:
    malformed = Malformed()
    malformed.failed(make_record(id="a" * 32), MirrorError("the body does not decode"))
    malformed.failed(make_record(id="b" * 32), ZeroDivisionError("division by zero"))
    assert [
        ("a" * 32, "the body does not decode"),
        ("b" * 32, "ZeroDivisionError: division by zero (a bug in sentry-mirror: please report it with this record)"),
    ] == malformed.examples


def test_pickled_without_its_warning_callback() -> None:
    """A partial result crosses processes: the counts go, the callback (a closure) stays."""
    warnings: list[str] = []
    malformed = Malformed(lambda message: warnings.append(message), where="report")
    malformed.failed({"id": "a"}, MirrorError("body does not decode"))
    copy = pickle.loads(pickle.dumps(malformed))
    assert copy.to_json() == malformed.to_json() and copy.where == "report"
    copy.failed({"id": "b"}, MirrorError("again"))
    assert len(warnings) == 1 and copy.count == 2
