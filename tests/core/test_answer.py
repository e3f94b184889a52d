"""Answer records (core/answer.py): built, checked, and read only by readers that ask for them."""

from __future__ import annotations

import io
from typing import Any

import pytest

from sentry_mirror.core import answer
from sentry_mirror.io.decoder import read_records
from sentry_mirror.io.snapshot import SnapshotWriter
from tests.factories import make_answer, make_record, make_request


def _snapshot(*records: dict[str, Any]) -> io.BytesIO:
    out = io.BytesIO()
    writer = SnapshotWriter(out)
    writer.write(list(records))
    writer.close()
    out.seek(0)
    return out


def test_a_built_answer_passes_its_check_and_says_whether_it_was_delivered() -> None:
    ok = make_answer()
    assert answer.problem(ok) is None
    assert ok["delivered"] and ok["returned"] and not ok["dropped"]
    assert not make_answer(status=503)["delivered"]
    assert not make_answer(status=None, error="ConnectionRefusedError")["delivered"]
    assert make_answer(status=429)["delivered"]  # the server's own verdict, given to the SDK
    assert not make_answer(status=None, dropped=True, target="candidate")["delivered"]


@pytest.mark.parametrize(
    ("status", "taken"),
    [
        (200, True),
        (202, True),
        (299, True),
        (400, True),
        (413, True),
        (499, True),
        (None, False),
        (0, False),
        (99, False),
        (100, False),
        (103, False),
        (199, False),
        (300, False),
        (301, False),
        (302, False),
        (308, False),
        (399, False),
        (500, False),
        (503, False),
        (599, False),
        (600, False),
        (999, False),
        (-1, False),
    ],
)
def test_only_a_2xx_or_a_4xx_is_delivered(status: int | None, taken: bool) -> None:
    """A redirect is not delivered (an HTTP upstream that redirects to HTTPS would lose
    everything), nor an interim answer, a 5xx or a status outside 100-599."""
    assert taken == answer.delivered(status)
    assert taken == make_answer(status=status)["delivered"]


def test_only_the_start_of_a_big_answer_body_is_kept() -> None:
    big = make_answer(body=b"x" * (answer.BODY_KEEP + 10))
    assert answer.BODY_KEEP == len(big["body"])
    assert answer.BODY_KEEP + 10 == big["body_size"]
    assert answer.problem(make_answer(body=b"\xff\xfe")) is None  # not UTF-8: base64


@pytest.mark.parametrize(
    ("change", "said"),
    [
        ({"target": "elsewhere"}, "target is not one of"),
        ({"status": "200"}, "status is"),
        ({"item_types": [1]}, "item_types"),
        ({"headers": [["a"]]}, "headers"),
        ({"received_at": "yesterday"}, "received_at"),
        ({"via": None}, "via is"),
    ],
)
def test_a_damaged_answer_is_named(change: dict[str, Any], said: str) -> None:
    assert said in (answer.problem({**make_answer(), **change}) or "")


def test_readers_get_answers_only_when_they_ask() -> None:
    request = make_record(make_request())
    reply = make_answer(request)
    data = _snapshot(request, reply).getvalue()
    plain = [r.data["id"] for r in read_records(io.BytesIO(data))]
    both = [r.data["id"] for r in read_records(io.BytesIO(data), answers=True)]
    assert [request["id"]] == plain
    assert [request["id"], reply["id"]] == both


def test_a_damaged_answer_is_skipped_with_a_warning() -> None:
    warnings: list[str] = []
    data = _snapshot(make_record(make_request()), {**make_answer(), "status": "x"})
    assert 1 == len(list(read_records(data, on_warning=warnings.append, answers=True)))
    assert 1 == len(warnings) and "status is" in warnings[0]
