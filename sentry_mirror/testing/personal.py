"""Personal data in what the SDKs sent, for :meth:`Mirror.assert_no_personal_data`: the
report's detectors (core/pii) over every JSON payload, as field paths and masked examples."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sentry_mirror.core import pii
from sentry_mirror.core.lenient import loads_or_none
from sentry_mirror.core.report.view import JSON_ITEM_TYPES
from sentry_mirror.errors import MirrorError
from sentry_mirror.testing.model import Envelope
from sentry_mirror.testing.summary import MAX_NAME, shown

#: Findings listed in the failure message; the rest are counted.
MAX_LISTED = 50
#: What ``rules=None`` leaves out: ``user_path`` would flag the SDK's own stack frames
#: (``abs_path`` is where the code lives, ``/home/<you>/...`` on a developer's machine).
NOT_BY_DEFAULT = frozenset({"user_path"})


@dataclass(frozen=True)
class Found:
    """One kind of personal data at one field path of one item type (the first masked example)."""

    item_type: str
    path: str
    kind: str
    example: str
    scrubbed_by: str | None  # the default Sentry rule that would remove it (None: kept)

    def line(self) -> str:
        sentry = f"Sentry's default scrubbing: {self.scrubbed_by}" if self.scrubbed_by else "Sentry would keep it"
        return (
            f"{shown(self.item_type)}  {shown(self.path, 4 * MAX_NAME)}  {self.kind}  {shown(self.example)}  ({sentry})"
        )


def kinds(rules: Iterable[str] | None) -> frozenset[str]:
    """The kinds to look for: ``rules`` (checked against the detectors' kinds), or all but
    :data:`NOT_BY_DEFAULT`."""
    if rules is None:
        return frozenset(pii.KINDS) - NOT_BY_DEFAULT
    wanted = frozenset([rules] if isinstance(rules, str) else rules)
    unknown = wanted - set(pii.KINDS)
    if unknown:
        raise ValueError(f"unknown personal-data kinds: {', '.join(sorted(unknown))} (known: {', '.join(pii.KINDS)})")
    return wanted


def check_engine(engine: str) -> None:
    if engine not in (pii.ENGINE, pii.RELAY_ENGINE):
        raise ValueError(f"unknown personal-data engine {engine!r} (known: {pii.ENGINE}, {pii.RELAY_ENGINE})")
    if engine == pii.RELAY_ENGINE and not pii.relay_available():
        raise MirrorError(
            'engine="relay" needs Sentry\'s scrubber: pip install sentry-relay (wheels for Linux and macOS)'
        )


def findings(envelopes: Iterable[Envelope], wanted: frozenset[str], engine: str = pii.ENGINE) -> list[Found]:
    """Every (item type, path, kind) found in the JSON payloads of ``envelopes``, first met first.
    With ``engine="relay"``, ``scrubbed_by`` is what Sentry's own scrubber says for events."""
    scanner = pii.Scanner()
    seen: dict[tuple[str, str, str], Found] = {}
    for envelope in envelopes:
        for item in envelope.items:
            payload = loads_or_none(item.payload) if item.type in JSON_ITEM_TYPES else None
            if not isinstance(payload, (dict, list)):
                continue
            relay = _relay_rules(payload) if engine == pii.RELAY_ENGINE and item.type in pii.RELAY_ITEM_TYPES else None
            for finding in pii.scan(payload, item.type, scanner):
                key = (item.type, finding.path, finding.kind)
                if finding.kind in wanted and key not in seen:
                    rule = finding.scrubbed_by if relay is None else relay.get(finding.path)
                    seen[key] = Found(item.type, finding.path, finding.kind, finding.example, rule)
    return list(seen.values())


def _relay_rules(payload: object) -> dict[str, str] | None:
    """What Sentry's scrubber changes in ``payload``; None (the built-in answer) when it fails on it."""
    if not isinstance(payload, dict):
        return None
    try:
        return pii.relay_rules(payload)
    except ImportError:
        raise
    except Exception:  # Relay refuses the payload: the built-in rules answer for it
        return None


def message(found: list[Found]) -> str:
    lines = [
        f"personal data in {len(found)} field(s) of what the SDKs sent (item type, field path, kind, masked example):"
    ]
    lines += ["  " + entry.line() for entry in found[:MAX_LISTED]]
    if len(found) > MAX_LISTED:
        lines.append(f"  ... and {len(found) - MAX_LISTED} more")
    return "\n".join(lines)
