"""An app whose sentry-python transport ignores rate limits: every envelope is posted at once
with urllib, whatever the server answered before (the behaviour ``probe`` must flag).

    python rude_transport.py

Sends an error, then three transactions 0.5 s apart (the limit's first answer is 2 s long),
then another error.
"""

from __future__ import annotations

import io
import time
import urllib.error
import urllib.request
from typing import Any

import sentry_sdk
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport


class RudeTransport(Transport):
    """Posts each envelope and forgets the answer: no rate limits, no retries."""

    def __init__(self, options: dict[str, Any]) -> None:
        super().__init__(options)
        assert self.parsed_dsn is not None
        auth = self.parsed_dsn.to_auth(client=f"sentry.python/{sentry_sdk.VERSION}")
        self.url = auth.get_api_url()
        self.auth = auth.to_header()

    def capture_envelope(self, envelope: Envelope) -> None:
        body = io.BytesIO()
        envelope.serialize_into(body)
        request = urllib.request.Request(
            self.url,
            data=body.getvalue(),
            headers={"Content-Type": "application/x-sentry-envelope", "X-Sentry-Auth": self.auth},
        )
        try:
            with urllib.request.urlopen(request, timeout=5) as answer:
                answer.read()
        except urllib.error.HTTPError as refused:  # a 429 included: ignored
            refused.read()


sentry_sdk.init(transport=RudeTransport, traces_sample_rate=1.0)
sentry_sdk.capture_message("before the transactions")
for n in range(3):
    with sentry_sdk.start_transaction(name=f"GET /rude/{n}", op="http.server"):
        pass
    time.sleep(0.5)  # past the time a request already in flight is given
sentry_sdk.capture_message("after the transactions")
sentry_sdk.flush(timeout=5)
