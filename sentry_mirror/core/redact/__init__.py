"""Redacted snapshots (``export --redact``, docs/redaction.md): every value the personal-data
detectors flag replaced by a keyed pseudonym (:mod:`sentry_mirror.core.pii.pseudonym`).

The modules:

``tokens``        the key, pseudonyms of one export, personal data inside a string
``payload``       one parsed JSON payload
``forms``         strings that hold pairs or JSON: query strings, forms, cookies, URLs' queries and fragments
``sweep``         what the detectors do not look at: keys, URLs, users, secrets' objects, sdk/modules
``relay_engine``  Relay's scrubber as the engine (and a project's own PII rules)
``http``          headers, query string, DSNs, the record's auth, an envelope's header
``body``          a body by its endpoint: envelopes, store events, reports, binary parts
``record``        one record, its summary worked out anew
``fixtures``      one example per SDK and item type (``--fixtures``)
"""

from sentry_mirror.core.redact.body import ATTACHMENT_MODES, DROP, PLACEHOLDER, BodyRedactor, placeholder
from sentry_mirror.core.redact.fixtures import Example, Fixture, examples, manifest, named, pick
from sentry_mirror.core.redact.record import Redactor
from sentry_mirror.core.redact.relay_engine import RelayEngine
from sentry_mirror.core.redact.tokens import Pseudonyms, key_id, parse_key

__all__ = [
    "ATTACHMENT_MODES",
    "DROP",
    "PLACEHOLDER",
    "BodyRedactor",
    "Example",
    "Fixture",
    "Pseudonyms",
    "Redactor",
    "RelayEngine",
    "examples",
    "key_id",
    "manifest",
    "named",
    "parse_key",
    "pick",
    "placeholder",
]
