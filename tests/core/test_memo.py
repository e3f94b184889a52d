"""A bounded memo: large inputs never kept, all forgotten at once when full."""

from __future__ import annotations

from sentry_mirror.core.memo import Memo


def test_a_result_is_kept_and_returned() -> None:
    memo: Memo[str, int] = Memo(2, 10)
    assert 7 == memo.keep("a", 1, 7)
    assert {"a": 7} == memo


def test_a_result_of_a_large_input_is_returned_but_not_kept() -> None:
    memo: Memo[str, int] = Memo(2, 10)
    assert 7 == memo.keep("a", 11, 7)
    assert {} == memo


def test_a_full_memo_forgets_everything_before_keeping_the_next() -> None:
    memo: Memo[str, int] = Memo(2, 10)
    for n, key in enumerate("abc"):
        memo.keep(key, 1, n)
    assert {"c": 2} == memo
