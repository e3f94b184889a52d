"""Web API tokens are redacted, and two tokens still read differently."""

from __future__ import annotations

import hashlib

from sentry_mirror.core.webapi import auth


def test_bearer_tokens_are_redacted_and_told_apart() -> None:
    headers = auth.redact_headers((("Authorization", "Bearer s3cret"), ("User-Agent", "sentry-cli/3.8.0")))
    redacted = "redacted:" + hashlib.sha256(b"s3cret").hexdigest()[:12]
    assert (("Authorization", f"Bearer {redacted}"), ("User-Agent", "sentry-cli/3.8.0")) == headers
    assert {"form": "bearer", "token": redacted} == auth.credentials(headers)
    assert auth.redact("a") != auth.redact("b")


def test_other_forms_and_odd_values() -> None:
    assert "DSN redacted:" in auth.redact_headers((("authorization", "DSN http://k@h/1"),))[0][1]
    assert auth.redact_headers((("Authorization", "justatoken"),))[0][1].startswith("redacted:")
    assert auth.credentials((("Authorization", "justatoken"),)) is None
    redacted = auth.redact_headers((("Authorization", "Bearer x"),))
    assert redacted == auth.redact_headers(redacted)  # never redacted twice
    assert auth.credentials((("Authorization", "Bearer "),)) is None
    assert auth.credentials(()) is None
