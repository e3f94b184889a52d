"""The public Python API for test suites and other harnesses (docs/testing.md).

:class:`Mirror` runs a listener on a free loopback port in a background thread and
answers the questions the CLI answers about what arrived: the requests, envelopes, items,
events and transactions, the issues (``group``), the report (``report --format json``), the
personal data found; it waits for items to arrive and scripts the answers.

The modules: ``mirror`` (:class:`Mirror`), ``model`` (:class:`Request`, :class:`Envelope`,
:class:`Item`, how other endpoints become envelopes), ``reader`` (the snapshot files read
back as they grow), ``running`` and ``loop`` (the listener on one shared background event
loop), ``responses`` (scripted answers), ``personal`` (personal data), ``summary`` (what
arrived, for assertion messages)."""

from sentry_mirror.core.grouping import Group as Issue
from sentry_mirror.errors import MirrorError, ScriptError
from sentry_mirror.testing.mirror import Mirror
from sentry_mirror.testing.model import Envelope, Item, Request, WaitTimeout

__all__ = ["Envelope", "Issue", "Item", "Mirror", "MirrorError", "Request", "ScriptError", "WaitTimeout"]
