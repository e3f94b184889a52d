"""``tolerant``: a field of the wrong type is treated as absent, and remarked."""

from __future__ import annotations

from typing import Any

import pytest

from sentry_mirror.core.tolerant import MAX_REMARKS, Remarks, as_list, json_type


@pytest.mark.parametrize(
    ("value", "name"),
    [
        (None, "null"),
        (True, "a boolean"),
        (1, "an integer"),
        (1.5, "a number"),
        ("x", "a string"),
        ([], "an array"),
        ({}, "an object"),
        (b"x", "bytes"),
    ],
)
def test_json_type(value: Any, name: str) -> None:
    assert name == json_type(value)


def test_a_list_is_read_and_anything_else_is_remarked_as_absent() -> None:
    remarks = Remarks()
    values = [1, 2]
    assert values is as_list(values, remarks, "event", "breadcrumbs")
    assert [] == as_list({"values": []}, remarks, "event", "breadcrumbs")
    assert [] == as_list(None, remarks, "event", "breadcrumbs")  # absent: no remark
    assert [] == as_list(3, None, "event", "breadcrumbs")  # no one to tell
    assert {"event.breadcrumbs is an object": 1} == dict(remarks)


def test_remarks_are_bounded_and_the_rest_counted_together() -> None:
    remarks = Remarks()
    for n in range(MAX_REMARKS + 5):
        remarks.wrong("event", f"field{n}", 1)
    remarks.wrong("event", "field0", 1)  # one already kept is still counted on its own
    assert MAX_REMARKS + 1 == len(remarks)
    assert (5, 2) == (remarks["(other)"], remarks["event.field0 is an integer"])
