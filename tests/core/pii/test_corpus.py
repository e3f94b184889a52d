"""Precision and recall of the personal-data engines on the labelled corpus
(tests/data/pii_corpus: real SDK captures, with and without planted data, and the
committed samples; how it is made: its README)."""

from __future__ import annotations

import ipaddress

from sentry_mirror.core import pii
from tests.data.pii_corpus import corpus
from tests.helpers import require_relay

PROFILING = "tests/data/pii_corpus/python-profiling.jsonl.zst"


def test_the_corpus_is_small_labelled_and_real() -> None:
    labels = corpus.labels()
    captures = {str(path.relative_to(corpus.ROOT)) for path in corpus.CORPUS.glob("*.jsonl.zst")}
    assert captures <= set(labels) and {"snapshots/sample-python.jsonl.zst", "snapshots/sample-node.jsonl.zst"} <= set(
        labels
    )
    assert sum((corpus.ROOT / capture).stat().st_size for capture in captures) < 300_000
    kinds = {label["kind"] for places in labels.values() for label in places if label["planted"]}
    assert {"email", "ip", "credit_card", "iban", "auth_token", "password", "session_id", "user_path"} <= kinds
    # unplanted captures hold profiles (transaction and continuous) whose thread ids pass Luhn
    item_types = {item_type for _, item_type in corpus.payloads(PROFILING)}
    assert {"profile", "profile_chunk", "transaction", "event", "log"} <= item_types
    assert corpus.luhn_thread_ids(PROFILING) and [] == labels[PROFILING]


def test_builtin_engine_no_false_positive_and_full_recall() -> None:
    score = corpus.score(pii.ENGINE)
    assert {} == dict(score.false)  # on every real SDK capture, the committed samples included
    assert score.recall >= 0.95, sorted(score.missed)
    planted = {capture: [label for label in places if label["planted"]] for capture, places in corpus.labels().items()}
    assert corpus.score(pii.ENGINE, planted).recall >= 0.95


def _raw_values(score: corpus.Score, places: set[corpus.Place]) -> dict[corpus.Place, list[str]]:
    """The values sent at each place (Relay's paths name the normalised event)."""
    values: dict[corpus.Place, list[str]] = {place: [] for place in places}
    for capture in {place[0] for place in places}:
        for payload, item_type in corpus.payloads(capture):
            for path, value in corpus.scalars(payload, ""):
                place = (capture, item_type, corpus.relay_path(path))
                if place in values:
                    values[place].append(str(value))
    return values


def _loopback(text: str) -> bool:
    host = text.split("//")[-1].split("/")[0].rsplit(":", 1)[0]
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def test_relay_engine_on_events_what_it_flags_and_misses() -> None:
    """Sentry's own detectors (events, transactions, feedback) on the same corpus: they flag
    loopback addresses and the SDKs' ``[Filtered]`` placeholders under secret keys (and
    fields its normalisation adds), and miss URL-encoded addresses, CGI-named cookies
    (``HTTP_COOKIE``) and cookies not known to be sensitive; exception values, messages and
    source lines they never look at."""
    require_relay()
    score = corpus.score(pii.RELAY_ENGINE)
    flagged = _raw_values(score, set(score.false))
    wrong = {
        place: values
        for place, values in flagged.items()
        if values and not all(_loopback(value) or value == "[Filtered]" for value in values)
    }
    assert {} == wrong
    missed = _raw_values(score, score.missed)
    unexplained = {
        place: values
        for place, values in missed.items()
        if not (place[2].startswith("request.cookies") or "http_cookie" in place[2] or all("%40" in v for v in values))
    }
    assert {} == unexplained
    assert all(corpus.RELAY_BLIND.search(place[2]) for place in score.blind)
    assert score.recall >= 0.8 and score.true
