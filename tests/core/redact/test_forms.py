"""Strings that hold pairs (core/redact/forms.py): read as pairs, written back in their own
form, untouched when nothing in them is personal data."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from sentry_mirror.core import pii
from sentry_mirror.core.redact import Pseudonyms, forms

SCANNER = pii.Scanner(exhaustive=True)


def names() -> Pseudonyms:
    return Pseudonyms(b"k" * 32)


def test_a_query_keeps_its_pairs_in_order_and_loses_its_secrets() -> None:
    out = forms.query("a=1&token=SECRET123&b=2&email=jane%40example.com", names(), SCANNER)
    assert out.startswith("a=1&token=") and "&b=2&email=%3Cemail%3A" in out and "SECRET123" not in out


def test_the_query_of_each_url_in_a_text() -> None:
    text = "GET https://x.test/a?password=hunter22&page=2 then /b?sessionid=zz9 done"
    out = forms.urls(text, names(), SCANNER)
    assert "hunter22" not in out and "zz9" not in out
    assert out.startswith("GET https://x.test/a?password=") and "&page=2 then /b?sessionid=" in out
    assert out.endswith(" done")


def test_unfold_and_fold_write_each_field_in_its_own_form() -> None:
    request: dict[str, Any] = {"query_string": "a=1&b=2", "cookies": "a=1; b=2", "data": "a=1&b=2"}
    undo = forms.unfold({"request": request})
    assert [["a", "1"], ["b", "2"]] == request["query_string"] == request["cookies"] == request["data"]
    request["cookies"][1][1] = request["query_string"][1][1] = "<x>"
    forms.fold(undo)
    assert {"query_string": "a=1&b=%3Cx%3E", "cookies": "a=1; b=<x>", "data": "a=1&b=2"} == request


def test_json_in_data_is_not_a_form() -> None:
    """It is read as the JSON it is (its pairs are the object's), and written back as it was."""
    request = {"data": '{"a": "b=c"}'}
    undo = forms.unfold({"request": request})
    assert [("data", "json")] == [(key, form) for _, key, _, form, _ in undo]
    assert {"a": "b=c"} == request["data"]
    forms.fold(undo)
    assert '{"a": "b=c"}' == request["data"]


@given(st.text(max_size=60), st.text(max_size=60), st.text(max_size=60))
def test_any_strings_round_trip_and_never_raise(query: str, cookies: str, data: str) -> None:
    request = {"query_string": query, "cookies": cookies, "data": data}
    undo = forms.unfold({"request": request})
    forms.fold(undo)
    assert {"query_string": query, "cookies": cookies, "data": data} == request
    forms.urls(query + cookies, names(), SCANNER)
