"""Relay's scrubber as the redactor's second opinion (``--pii-engine relay``, and
``--pii-rules`` with a project's own rules): which exact values ``pii_strip_event``
changes (its ``_meta`` remarks), so the redactor replaces them in the original by
pseudonyms; and :meth:`RelayEngine.settle`, which writes as Relay writes them the values
Relay would still change in the redacted payload (a card pseudonym keeps a card's digits)."""

from __future__ import annotations

import importlib
import json
import re
from collections.abc import Iterator
from typing import Any

from sentry_mirror.core.pii import Location
from sentry_mirror.core.pii.relay import default_config
from sentry_mirror.core.redact.tokens import FILTERED
from sentry_mirror.errors import MirrorError

#: Relay's rule names (``@email:replace``) → the kinds of :mod:`sentry_mirror.core.pii`.
_KINDS = {
    "email": "email",
    "creditcard": "credit_card",
    "ip": "ip",
    "password": "password",
    "bearer": "auth_token",
    "cookies": "cookie",
    "iban": "iban",
    "pemkey": "pem_key",
    "urlauth": "url_credentials",
    "userpath": "user_path",
    "usssn": "ssn",
    "mac": "mac",
    "imei": "imei",
    "uuid": "uuid",
}


def rule_kind(rule: str) -> str:
    """The kind a Relay rule finds (``@creditcard:filter`` → ``credit_card``); a project's
    own rule is ``personal``."""
    name = rule.lstrip("@").partition(":")[0].lower()
    return _KINDS.get(name, "personal")


def _relay() -> Any:
    try:
        return importlib.import_module("sentry_relay")
    except ImportError:
        raise MirrorError(
            "--pii-engine relay and --pii-rules need Sentry's scrubber: pip install sentry-relay"
        ) from None


class RelayEngine:
    """Sentry's default scrubbing, plus a project's own PII config (``rules``: the JSON text
    of Sentry's advanced data scrubbing, checked by ``validate_pii_config``)."""

    def __init__(self, rules: str | None = None) -> None:
        self.relay = _relay()
        self.configs = [default_config()]
        if rules is not None:
            try:
                self.relay.validate_pii_config(rules)
                config = json.loads(rules)
            except ValueError as exc:
                raise MirrorError(f"--pii-rules: not a valid Relay PII config: {exc}") from None
            self.configs.append(config)
        #: the config's pattern rules, as Python reads them: applied by the redactor to every
        #: string Relay does not see (other item types, fields Relay does not call personal)
        self.patterns = tuple(_patterns(self.configs[1:]))

    def _stripped(self, payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """What Relay makes of ``payload`` under each config, asked without the payload's own
        ``_meta``: Relay carries an SDK's remarks through (sentry-python's ``!config`` where
        it filtered a cookie, ``!limit`` where it trimmed a string), and those are not
        Relay's findings; the payload keeps them."""
        event = {key: value for key, value in payload.items() if key != "_meta"}
        for config in self.configs:
            try:
                yield self.relay.pii_strip_event(config, event)
            except Exception:  # Relay refuses what it cannot read: nothing found there
                continue

    def locations(self, payload: dict[str, Any]) -> Iterator[tuple[Location, str]]:
        """``(location, kind)`` of each value Relay changes in ``payload``."""
        for stripped in self._stripped(payload):
            for location, rule in remarks(stripped.get("_meta"), ()):
                yield _renamed(location, payload), rule_kind(rule)

    def settle(self, payload: dict[str, Any]) -> None:
        """Write Relay's own value where it would still change the redacted ``payload``."""
        for stripped in self._stripped(payload):
            for location, _ in remarks(stripped.get("_meta"), ()):
                new, parent = stripped, payload
                for step in location[:-1]:
                    new = step_into(new, step)
                for step in _renamed(location, payload)[:-1]:
                    parent = step_into(parent, step)
                last, original = location[-1], _renamed(location, payload)[-1]
                if step_into(parent, original) is not None:
                    value = step_into(new, last)
                    parent[str(original) if isinstance(parent, dict) else original] = (
                        value if isinstance(value, str) else FILTERED
                    )


def _patterns(configs: list[dict[str, Any]]) -> Iterator[re.Pattern[str]]:
    for config in configs:
        rules = config.get("rules") if isinstance(config, dict) else None
        for rule in rules.values() if isinstance(rules, dict) else ():
            if isinstance(rule, dict) and rule.get("type") == "pattern" and isinstance(rule.get("pattern"), str):
                try:
                    yield re.compile(rule["pattern"])
                except re.error:  # Relay's regex syntax beyond Python's: applied by Relay only
                    continue


def _renamed(location: Location, payload: dict[str, Any]) -> Location:
    """Where a value Relay remarked at ``location`` is in the original ``payload``: Relay's
    normaliser moves a legacy top-level ``message`` (a string) to ``logentry.formatted``."""
    if location == ("logentry", "formatted") and "logentry" not in payload and isinstance(payload.get("message"), str):
        return ("message",)
    return location


def step_into(container: Any, step: str | int) -> Any:
    """The value at ``step`` of a dict (a key) or a list (an index), None when there is none."""
    if isinstance(container, dict):
        return container.get(str(step))
    if isinstance(container, list) and isinstance(step, int) and 0 <= step < len(container):
        return container[step]
    return None


def remarks(meta: Any, where: Location) -> Iterator[tuple[Location, str]]:
    """``(location, first rule)`` of each remark in a ``_meta`` tree (array indices as ints)."""
    if not isinstance(meta, dict):
        return
    for key, inner in meta.items():
        if key == "":
            found = inner.get("rem") if isinstance(inner, dict) else None
            if found and where and isinstance(found[0], list) and found[0]:
                yield where, str(found[0][0])
            continue
        yield from remarks(inner, (*where, int(key) if key.isdigit() else key))
