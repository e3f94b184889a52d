"""What the detectors do not look at (core/redact/sweep.py): keys, URLs' queries, users in
any ``user`` object, values known by their key, and ``sdk``/``modules``."""

from __future__ import annotations

from typing import Any

from sentry_mirror.core import pii
from sentry_mirror.core.redact import Pseudonyms
from sentry_mirror.core.redact.sweep import field_kind, sweep

EMAIL = "jane.doe@example.com"


def swept(payload: Any) -> Any:
    return sweep(payload, Pseudonyms(b"k" * 32), pii.Scanner(exhaustive=True))


def test_keys_are_renamed_in_order_and_never_merge() -> None:
    out = swept({"vars": {"a": 1, EMAIL: 2, "z": 4}})
    keys = list(out["vars"])
    assert (
        "a" == keys[0] and keys[1].startswith("<email:") and "z" == keys[2] and [1, 2, 4] == list(out["vars"].values())
    )
    renamed = swept({"v": {EMAIL: 1, f"to {EMAIL}": 2}})["v"]
    assert 2 == len(renamed) and all("jane" not in key for key in renamed)
    same = swept({"v": {EMAIL: 1, EMAIL.upper(): 2}})["v"]
    assert [1, 2] == list(same.values()) and 2 == len(same)


def test_a_key_whose_words_are_joined_by_underscores() -> None:
    out = swept({"ip_203.0.113.7": 1})
    assert ["ip_198."] == [key[:7] for key in out]


def test_users_anywhere_and_values_known_by_their_key() -> None:
    out = swept({"echo": {"user": {"id": 7, "username": "jd", "geo": {"city": "Lyon", "country_code": "FR"}}},
                 "contact": {"phone": "+33612345678", "is_mobile": True, "ssn": "078-05-1120"}})  # fmt: skip
    user = out["echo"]["user"]
    assert user["id"].startswith("<user:") and user["username"].startswith("<user:")
    assert user["geo"]["city"].startswith("<geo:") and "FR" == user["geo"]["country_code"]
    assert out["contact"]["phone"].startswith("<phone:") and out["contact"]["ssn"].startswith("<ssn:")
    assert out["contact"]["is_mobile"] is True
    assert "phone" == field_kind("mobile_number") and field_kind("iphone") is None


def test_sdk_and_modules_lose_addresses_not_versions() -> None:
    out = swept({"sdk": {"name": f"x-{EMAIL}", "version": "1.2.3.4"}, "modules": {"/home/jane/pkg": "10.0.0.1"}})
    assert "1.2.3.4" == out["sdk"]["version"] and ["10.0.0.1"] == list(out["modules"].values())
    assert "jane" not in str(out)
