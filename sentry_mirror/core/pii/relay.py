"""Sentry's own scrubber as a second engine (optional: the ``sentry-relay`` package):
which paths Relay's default scrubbing changes in an event (:func:`relay_rules`), and the
``relay`` engine on one payload (:func:`relay_scan`): the built-in detector's findings, with
Relay saying which of its default rules scrubs each, and the paths Relay changes that the
detector does not flag. What ``report --pii-engine relay`` counts and the corpus scores."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from typing import Any

from sentry_mirror.core.patterns import PLACEHOLDER
from sentry_mirror.core.pii.scanner import Finding, Scanner, scan

#: The built-in engine (:mod:`sentry_mirror.core.pii.sentry_rules`): the default.
ENGINE = "builtin"
RELAY_ENGINE = "relay"
#: Item types whose payloads Relay's event scrubber takes.
RELAY_ITEM_TYPES = frozenset({"event", "transaction", "feedback"})
#: The project settings Sentry starts with (data scrubber and default scrubbers on, IPs kept).
DEFAULT_DATASCRUBBING = {
    "scrubData": True,
    "scrubDefaults": True,
    "scrubIpAddresses": False,
    "sensitiveFields": [],
    "excludeFields": [],
}
_config: list[Any] = []


def default_config() -> Any:
    """Sentry's default scrubbing (:data:`DEFAULT_DATASCRUBBING`) as Relay's PII config, made
    once. Raises ImportError without ``sentry-relay``."""
    if not _config:
        relay: Any = importlib.import_module("sentry_relay")  # untyped: its functions are not declared
        _config.append(relay.convert_datascrubbing_config(DEFAULT_DATASCRUBBING))
    return _config[0]


def relay_available() -> bool:
    """True when the ``sentry-relay`` package (Sentry's own scrubber) can be imported."""
    try:
        import sentry_relay  # noqa: F401
    except ImportError:
        return False
    return True


def relay_rules(event: dict[str, Any]) -> dict[str, str]:
    """Which paths Relay's default scrubbing changes in ``event``, with the first rule each
    (``{"extra.password": "@password:filter"}``), from the ``_meta`` remarks of
    ``sentry_relay.pii_strip_event``. Paths use this module's notation, pair lists as maps.
    Raises ImportError without ``sentry-relay``."""
    relay: Any = importlib.import_module("sentry_relay")  # untyped: its functions are not declared
    stripped = relay.pii_strip_event(default_config(), event)
    found: dict[str, str] = {}
    _meta_paths(stripped.get("_meta") or {}, stripped, "", found)
    return found


@dataclass(frozen=True, slots=True)
class RelayScan:
    """The ``relay`` engine on one payload. ``findings``: the built-in detector's, with
    ``scrubbed_by`` saying Relay's rule (None: Relay keeps the value) where Relay read the
    payload; ``disagreements``: ``(path, built-in rule or "kept", Relay's rule or "kept")``
    where the two differ on scrubbing a finding; ``relay_only``: ``(path, rule)`` of what
    Relay changes that no finding covers; ``failed``: Relay refused the payload (the
    built-in rules then answer)."""

    findings: list[Finding]
    disagreements: list[tuple[str, str, str]]
    relay_only: list[tuple[str, str]]
    failed: bool


def relay_scan(payload: Any, item_type: str, scanner: Scanner | None = None) -> RelayScan:
    """The ``relay`` engine on one parsed payload of ``item_type`` (Relay reads events,
    transactions and feedback: :data:`RELAY_ITEM_TYPES`; other payloads get the built-in
    answers). Relay is asked about the payload as the SDK's own scrubbing left it, without
    what it says of that (its ``_meta`` remarks, ``!config``: Relay would repeat them) nor
    its placeholders (``[Filtered]``: no one's data). Raises ImportError without ``sentry-relay``."""
    rules: dict[str, str] | None = None
    failed = False
    if item_type in RELAY_ITEM_TYPES:
        try:
            rules = relay_rules(_without_placeholders({k: v for k, v in payload.items() if k != "_meta"}))
        except ImportError:
            raise
        except Exception:  # Relay refuses the payload: the built-in rules answer for it
            failed = True
    if rules is None:
        return RelayScan(list(scan(payload, item_type, scanner)), [], [], failed)
    findings: list[Finding] = []
    disagreements: list[tuple[str, str, str]] = []
    covered: set[str] = set()
    for finding in scan(payload, item_type, scanner):
        relay_path = relay_name(finding.path)
        rule = rules.get(finding.path) or rules.get(relay_path)
        if (rule is None) != (finding.scrubbed_by is None):
            disagreements.append((finding.path, finding.scrubbed_by or "kept", rule or "kept"))
        covered.update((finding.path, relay_path))
        findings.append(Finding(finding.path, finding.kind, finding.example, rule))
    relay_only = [
        (path, rule) for path, rule in rules.items() if path not in covered and relay_name(path) not in covered
    ]
    return RelayScan(findings, disagreements, relay_only, failed)


#: Relay normalises an event before scrubbing it, so its paths name the stored event:
#: header names in lower case here, breadcrumbs and exceptions under ``values``, a message as
#: ``logentry.formatted``, the query string and cookies parsed into pairs (one path each).
_RELAY_NAMES = (
    (re.compile(r"^(breadcrumbs|exception|threads)\[\]"), r"\1.values[]"),
    (re.compile(r"^message$"), "logentry.formatted"),
    (re.compile(r"^request\.query_string\..*"), "request.query_string"),
    (re.compile(r"^request\.(?:cookies\..*|headers\.cookie)$"), "request.cookies"),
)


def relay_name(path: str) -> str:
    """A path as Relay names it once it has normalised the event (to compare the two)."""
    path = path.lower()
    for pattern, name in _RELAY_NAMES:
        path = pattern.sub(name, path)
    return path


def _without_placeholders(value: Any) -> Any:
    """``value`` with the SDKs' placeholders (``[Filtered]``) as null (copied only where it
    holds one): what is left of a value an SDK filtered is no one's data."""
    if isinstance(value, str):
        return None if PLACEHOLDER.fullmatch(value) else value
    if isinstance(value, dict):
        changed = {key: _without_placeholders(inner) for key, inner in value.items()}
        return value if all(changed[key] is inner for key, inner in value.items()) else changed
    if isinstance(value, list):
        items = [_without_placeholders(inner) for inner in value]
        return value if all(new is old for new, old in zip(items, value, strict=True)) else items
    return value


def _meta_paths(meta: Any, data: Any, path: str, found: dict[str, str]) -> None:
    if not isinstance(meta, dict):
        return
    for key, inner in meta.items():
        if key == "":
            remarks = inner.get("rem") if isinstance(inner, dict) else None
            if remarks and path:
                found.setdefault(path, str(remarks[0][0]))
            continue
        if isinstance(data, list):
            index = int(key) if key.isdigit() else -1
            child = data[index] if 0 <= index < len(data) else None
            if isinstance(child, list) and len(child) == 2 and isinstance(child[0], str) and isinstance(inner, dict):
                _meta_paths(inner.get("1"), child[1], f"{path}.{child[0]}", found)
                continue
            _meta_paths(inner, child, path + "[]", found)
        else:
            child = data.get(key) if isinstance(data, dict) else None
            _meta_paths(inner, child, f"{path}.{key}" if path else key, found)
