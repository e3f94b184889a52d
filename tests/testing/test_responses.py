"""respond_with: scripted answers replaced at runtime, checked by core/script's parser."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
import sentry_sdk

from sentry_mirror.core.script import Script, scenario
from sentry_mirror.errors import ScriptError
from sentry_mirror.testing import Mirror
from tests.factories import make_envelope

RULE = """
[[rule]]
name = "busy"
status = 503
"""


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[Mirror]:
    with Mirror(tmp_path / "snapshots") as running:
        yield running


def status_of(mirror: Mirror) -> int:
    request = urllib.request.Request(
        f"http://127.0.0.1:{mirror.port}/api/1/envelope/?sentry_key=k", data=make_envelope()
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return int(answer.status)
    except urllib.error.HTTPError as exc:
        return exc.code


def test_a_keyword_rule_answers_and_is_recorded(mirror: Mirror) -> None:
    mirror.respond_with(status=429, retry_after=60, times=1)
    assert [429, 200] == [status_of(mirror), status_of(mirror)]
    first, second = mirror.requests()
    assert first.scripted is not None
    assert {"rule": "rule 1", "source": "respond_with():1", "natural": {"status": 200}} == {
        key: first.scripted[key] for key in ("rule", "source", "natural")
    }
    assert (429, None) == (first.status, second.scripted)


def test_a_scenario_and_a_script_text(mirror: Mirror) -> None:
    mirror.respond_with(script=RULE)
    assert 503 == status_of(mirror)
    mirror.respond_with("outage:10s")  # replaces the script
    assert 503 == status_of(mirror)
    assert ["busy", "outage:10s"] == [request.scripted["rule"] for request in mirror.requests() if request.scripted]


def test_a_script_file(mirror: Mirror, tmp_path: Path) -> None:
    path = tmp_path / "rules.toml"
    path.write_text(RULE)
    mirror.respond_with(script=path)
    assert 503 == status_of(mirror)
    assert (mirror.requests()[0].scripted or {})["source"] == f"{path}:2"


def test_reset_clears_the_scripted_answers(mirror: Mirror) -> None:
    mirror.respond_with(status=500)
    assert 500 == status_of(mirror)
    mirror.reset()
    assert 200 == status_of(mirror)


def test_the_sdk_sees_a_rate_limit(mirror: Mirror) -> None:
    mirror.respond_with("rate-limit-all:60s")
    sentry_sdk.init(dsn=mirror.dsn, default_integrations=False)
    try:
        sentry_sdk.capture_message("limited")
        sentry_sdk.flush()
        mirror.wait_for(type="event")
        sentry_sdk.capture_message("dropped by the SDK")
        sentry_sdk.flush()
    finally:
        sentry_sdk.init()
    assert [429] == [
        request.status for request in mirror.requests() if request.endpoint == "envelope" and request.title
    ]


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda m: m.respond_with(statu=429), r"respond_with\(\):1: rule 1: unknown key 'statu'"),
        (lambda m: m.respond_with(status=99), r"respond_with\(\):1: rule 1: status"),
        (lambda m: m.respond_with(times=1), r"respond_with\(\):1: rule 1: empty rule"),
        (lambda m: m.respond_with("no-such-scenario"), r"unknown scenario 'no-such-scenario'"),
        (lambda m: m.respond_with(script="[[rule]]\nstatus = 'x'\n"), r"respond_with\(script=...\):2"),
        (lambda m: m.respond_with(script=Path("/nonexistent/rules.toml")), r"cannot be read"),
    ],
)
def test_a_bad_rule_raises_at_the_call_and_keeps_the_answers(mirror: Mirror, call: object, match: str) -> None:
    mirror.respond_with(status=418)
    with pytest.raises(ScriptError, match=match):
        call(mirror)  # type: ignore[operator]
    assert 418 == status_of(mirror)


def test_respond_with_needs_a_running_mirror(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="not started"):
        Mirror(tmp_path).respond_with(status=429)


def test_a_script_given_at_start_answers_until_replaced(tmp_path: Path) -> None:
    with Mirror(tmp_path, script=Script(scenario("outage:10s"))) as mirror:
        assert 503 == status_of(mirror)
        mirror.respond_with()  # nothing: the natural answers again
        assert 200 == status_of(mirror)


def test_a_script_path_with_an_equals_sign_is_a_path(mirror: Mirror, tmp_path: Path) -> None:
    path = tmp_path / "a=b" / "rules.toml"
    path.parent.mkdir()
    path.write_text(RULE)
    mirror.respond_with(script=str(path))
    assert 503 == status_of(mirror)
    mirror.respond_with(script=RULE.replace("503", "502"))  # not a file: TOML text
    assert 502 == status_of(mirror)
    with pytest.raises(ScriptError, match="cannot be read"):
        mirror.respond_with(script=str(tmp_path / "missing.toml"))
