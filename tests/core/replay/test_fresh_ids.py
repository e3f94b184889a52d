"""Fresh ids (sentry_mirror.core.replay.fresh_ids); how a replay uses them is in test_rewrite.py."""

from __future__ import annotations

import itertools

from sentry_mirror.core.replay.fresh_ids import IdMap, fresh_payload_ids

OLD = "0123456789abcdef0123456789abcdef"


def counting() -> IdMap:
    numbers = itertools.count(1)
    return IdMap(lambda: f"{next(numbers):032x}")


def test_an_id_gets_one_new_id_written_in_its_own_style() -> None:
    ids = counting()
    dashed = f"{OLD[:8]}-{OLD[8:12]}-{OLD[12:16]}-{OLD[16:20]}-{OLD[20:]}"
    assert f"{1:032x}" == ids.get(OLD)
    assert "00000000-0000-0000-0000-000000000001" == ids.get(dashed)
    assert f"{1:032X}" == ids.get(OLD.upper())
    assert f"{2:032x}" == ids.get("f" * 32)
    assert 2 == len(ids) and {OLD: f"{1:032x}", "f" * 32: f"{2:032x}"} == ids.mapping()


def test_what_is_not_a_uuid_is_left_alone() -> None:
    ids = counting()
    assert ["not an id", 42, None] == [ids.get(v) for v in ("not an id", 42, None)]
    assert 0 == len(ids)


def test_random_ids_are_version_4_uuids() -> None:
    ids = IdMap()
    new = {ids.get(f"{n:032x}") for n in range(100)}
    assert 100 == len(new)
    assert all(len(v) == 32 and v[12] == "4" and v[16] in "89ab" for v in new)


def test_fresh_payload_ids_per_item_type() -> None:
    ids = counting()
    check_in = {"check_in_id": OLD, "monitor_slug": "m"}
    assert fresh_payload_ids("check_in", check_in, ids)
    assert {"check_in_id": f"{1:032x}", "monitor_slug": "m"} == check_in
    feedback = {"contexts": {"feedback": {"associated_event_id": OLD, "message": "hi"}}}
    assert fresh_payload_ids("feedback", feedback, ids)
    assert f"{1:032x}" == feedback["contexts"]["feedback"]["associated_event_id"]
    assert not fresh_payload_ids("event", {"message": "no ids"}, ids)
    assert not fresh_payload_ids("event", ["not", "an", "object"], ids)
