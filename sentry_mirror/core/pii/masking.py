"""Masked examples: enough of a found value to recognise its shape, never the data."""

from __future__ import annotations

import re

from sentry_mirror.core.patterns import USER_PATH


def mask(kind: str, text: str) -> str:
    """A masked example of ``text``: enough to recognise the shape, never the data."""
    text = text.strip()
    if kind == "email" and "%40" in text and "@" not in text:
        text = text.replace("%40", "@")
    if kind == "email" and "@" in text:
        local, _, domain = text.rpartition("@")
        tld = domain.rsplit(".", 1)[-1]
        return f"{local[:1]}***@***.{tld}"
    if kind == "credit_card":
        digits = re.sub(r"\D", "", text)
        return "*" * (len(digits) - 4) + digits[-4:]
    if kind in ("ssn", "phone_number"):
        digits = re.sub(r"\D", "", text)
        return "*" * (len(digits) - 2) + digits[-2:]
    if kind == "iban":
        compact = text.replace(" ", "")
        return compact[:2] + "**" + "*" * (len(compact) - 8) + compact[-4:]
    if kind == "ip":
        if "." in text and ":" not in text:
            return ".".join([*text.split(".")[:1], "x", "x", "x"])
        return text.split(":")[0] + ":…"
    if kind == "user_path":
        match = USER_PATH.search(text)
        return text[: match.start(1)] + "<user>" if match else "<user path>"
    if kind == "url_credentials":
        return re.sub(r"://[^/\s:@]+:[^/\s@]+@", "://***:***@", text)[:60]
    if kind == "pem_key":
        return text[:40]
    if kind == "auth_token":
        scheme = text.split()[0] if " " in text and len(text.split()[0]) < 10 else ""
        return f"{scheme} ***" if scheme else f"*** ({len(text)} chars)"
    return f"*** ({len(text)} chars)"
