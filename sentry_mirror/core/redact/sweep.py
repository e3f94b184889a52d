"""What the detectors do not look at, swept after them over a whole payload (no depth
bound): object keys holding personal data (a dict of local variables keyed by e-mail), the
query of every URL in a value (``?token=…``, read as a query string), and the software
description at the top (``sdk``, ``modules``: skipped by the report, where versions would
pass for IP addresses, but searched here for e-mails, credentials in URLs and home
directories)."""

from __future__ import annotations

from typing import Any

from sentry_mirror.core.pii import Scanner
from sentry_mirror.core.redact import forms
from sentry_mirror.core.redact.tokens import Pseudonyms, key_spans

#: Top-level keys describing software, and the kinds looked for in them.
SOFTWARE = ("sdk", "modules")
SOFTWARE_KINDS = frozenset({"email", "url_credentials", "user_path"})


def sweep(payload: Any, names: Pseudonyms, scanner: Scanner) -> Any:
    """``payload`` with its keys and URL queries redacted (changed in place; a string
    payload is returned redacted)."""
    if isinstance(payload, str):
        return forms.urls(payload, names, scanner)
    stack: list[Any] = [payload]
    if isinstance(payload, dict):
        for name in SOFTWARE:
            if name in payload:
                payload[name] = _software(payload[name], names)
        stack = [value for key, value in payload.items() if key not in SOFTWARE]
        _keys(payload, names)
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            _keys(value, names)
            for key, inner in value.items():
                if isinstance(inner, str):
                    value[key] = forms.urls(inner, names, scanner)
                elif isinstance(inner, dict | list):
                    stack.append(inner)
        elif isinstance(value, list):
            for index, inner in enumerate(value):
                if isinstance(inner, str):
                    value[index] = forms.urls(inner, names, scanner)
                elif isinstance(inner, dict | list):
                    stack.append(inner)
    return payload


def _keys(container: dict[str, Any], names: Pseudonyms, only: frozenset[str] | None = None) -> None:
    """Rename, in place and in order, the keys of ``container`` that hold personal data;
    a renamed key that meets another gets a ``~2``, ``~3``… suffix (no value is lost)."""
    if not any(isinstance(key, str) and key_spans(key) for key in container):
        return
    items = list(container.items())
    container.clear()
    for key, value in items:
        found = key_spans(key) if isinstance(key, str) else ()
        if found:
            key = base = names.replace(key, [span for span in found if only is None or span[2] in only])
            count = 1
            while key in container:
                count += 1
                key = f"{base}~{count}"
        container[key] = value


def _software(value: Any, names: Pseudonyms) -> Any:
    """The ``sdk`` or ``modules`` tree with the :data:`SOFTWARE_KINDS` in its strings and
    keys replaced."""
    if isinstance(value, str):
        return names.text(value, SOFTWARE_KINDS)
    stack = [value]
    while stack:
        container = stack.pop()
        if isinstance(container, dict):
            _keys(container, names, SOFTWARE_KINDS)
            entries = list(container.items())
        elif isinstance(container, list):
            entries = list(enumerate(container))
        else:
            continue
        for where, inner in entries:
            if isinstance(inner, str):
                container[where] = names.text(inner, SOFTWARE_KINDS)
            else:
                stack.append(inner)
    return value
