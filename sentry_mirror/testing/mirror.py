""":class:`Mirror`: a listener for a test suite, and what arrived at it, read back from disk."""

from __future__ import annotations

import math
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

from sentry_mirror.core import grouping, pii
from sentry_mirror.core import report as reporting
from sentry_mirror.core.envelope import canonical_type
from sentry_mirror.core.grouping import Group
from sentry_mirror.core.malformed import Malformed
from sentry_mirror.core.record import Record
from sentry_mirror.core.script import Script
from sentry_mirror.errors import MirrorError
from sentry_mirror.io.listener import ListenOptions
from sentry_mirror.io.probe import dsn_of
from sentry_mirror.testing import personal, summary
from sentry_mirror.testing.model import Envelope, Item, Request, WaitTimeout, envelope_of, request_of
from sentry_mirror.testing.reader import SnapshotReader, warn
from sentry_mirror.testing.responses import script_of
from sentry_mirror.testing.running import Listener

#: The most a wait sleeps between looks when no record wakes it (a record on disk wakes it at once).
LOOK_EVERY = 0.25


class Mirror:
    """A listener on a free loopback port in a background thread (its own event loop),
    writing snapshots to ``directory``; ``start()``/``stop()`` or ``with Mirror(dir) as m``.

    What arrived since :meth:`start` or the last :meth:`reset` is read back from the
    snapshot files, incrementally, in arrival order. Every public method is thread-safe:
    an SDK's worker thread may send while the test thread waits."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        *,
        project: int = 1,
        host: str = "127.0.0.1",
        script: Script | None = None,
    ) -> None:
        self.directory = Path(directory)
        self.project = project
        self.host = host
        self._script = script or Script(())
        self._listener: Listener | None = None
        # `_lock` guards the reader and the entries; the listener's loop never takes it and
        # no user code (a predicate) runs under it. `_wake` is only held for a counter's
        # increment: the loop thread bumps `_generation` and wakes the waits, never blocked.
        self._lock = threading.Lock()
        self._wake = threading.Condition(threading.Lock())
        self._generation = 0
        self._epoch = 0  # one more at every reset: a wait then looks at the entries again
        self._reader = SnapshotReader(tuple)  # replaced at start
        self._entries: list[Envelope] = []

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Mirror:
        """Start listening; returns once bound (MirrorError when it cannot)."""
        if self._listener is not None:
            raise RuntimeError("a Mirror starts once: make a new one")
        options = ListenOptions(host=self.host, port=0, directory=self.directory, script=self._script)
        listener = Listener(options, self._on_record)
        listener.start()
        with self._lock:
            self._listener = listener
            self._reader = SnapshotReader(listener.files)
            self._entries = []
        return self

    def stop(self) -> None:
        """Stop: requests in flight get the grace period, the snapshot is closed; idempotent.
        What arrived stays readable."""
        if self._listener is not None:
            self._listener.stop()

    def __enter__(self) -> Mirror:
        return self.start()

    def __exit__(self, *exc_info: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def _on_record(self, entry: dict[str, Any], upstream: dict[str, Any] | None = None) -> None:
        """A record is on disk (on the listener's loop): wake the waits (never blocks on them)."""
        with self._wake:
            self._generation += 1
            self._wake.notify_all()

    def _running(self) -> Listener:
        if self._listener is None or self._listener.ready is None:
            raise RuntimeError("the mirror is not started: call start() or use `with Mirror(directory) as mirror`")
        return self._listener

    @property
    def port(self) -> int:
        return self._running().ready.port  # type: ignore[union-attr]

    @property
    def dsn(self) -> str:
        """``http://mirror@HOST:PORT/PROJECT``; RuntimeError before :meth:`start`."""
        ready = self._running().ready
        assert ready is not None
        return dsn_of(ready, str(self.project))

    @property
    def files(self) -> tuple[Path, ...]:
        """The snapshot files written so far."""
        return self._listener.files() if self._listener is not None else ()

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """``os.environ`` (or ``base``) with ``SENTRY_DSN`` set, for a subprocess."""
        return {**(os.environ if base is None else base), "SENTRY_DSN": self.dsn}

    @contextmanager
    def environ(self) -> Iterator[str]:
        """Set ``os.environ["SENTRY_DSN"]`` (yields the DSN); put back what was there after."""
        dsn, before = self.dsn, os.environ.get("SENTRY_DSN")
        os.environ["SENTRY_DSN"] = dsn
        try:
            yield dsn
        finally:
            if before is None:
                os.environ.pop("SENTRY_DSN", None)
            else:
                os.environ["SENTRY_DSN"] = before

    # ------------------------------------------------------------------ reading

    def _read(self) -> list[Envelope]:
        """Everything since the last reset, after reading what is new on disk (hold the lock)."""
        for record in self._reader.read():
            envelope = _envelope(record)
            if envelope is not None:
                self._entries.append(envelope)
        return self._entries

    def _snapshot(self) -> list[Envelope]:
        with self._lock:
            return list(self._read())

    def requests(self) -> list[Request]:
        """Every request since start or the last reset, in arrival order."""
        return [envelope.request for envelope in self._snapshot()]

    def envelopes(self) -> list[Envelope]:
        """Every request as an envelope (store, minidump, security ... synthesised: see
        :mod:`sentry_mirror.testing.model`)."""
        return self._snapshot()

    def items(self, type: str | None = None) -> list[Item]:
        """Every item (of ``type``, canonical spelling) in arrival order."""
        return _items(self._snapshot(), type)

    def events(self) -> list[dict[str, Any]]:
        """The error events' payloads (item type ``event``, store requests included); each
        call decodes them anew: editing one changes nothing the mirror gives out later."""
        return [payload for item in self.items("event") if isinstance(payload := item.json, dict)]

    def transactions(self) -> list[dict[str, Any]]:
        """The transactions' payloads (decoded anew at each call, as :meth:`events`)."""
        return [payload for item in self.items("transaction") if isinstance(payload := item.json, dict)]

    def wait_for(
        self,
        count: int | None = None,
        predicate: Callable[[Item], bool] | None = None,
        timeout: float = 5.0,
        *,
        type: str | None = None,
    ) -> list[Item]:
        """Wait until at least ``count`` items (default 1; 0 returns at once) of ``type``
        match ``predicate``; return them all (arrival order) as soon as they are on disk.
        :class:`WaitTimeout` after ``timeout`` seconds, saying what did arrive. Each item is
        given to ``predicate`` once, outside the mirror's locks: it may call the mirror."""
        __tracebackhide__ = True
        wanted = 1 if count is None else count
        _check_wait(wanted, timeout)
        deadline = time.monotonic() + timeout
        found: list[Item] = []
        checked, epoch = 0, -1
        while True:
            generation = self._generation  # read before the disk: a record after it wakes the wait
            with self._lock:
                envelopes = list(self._read())
                if epoch != self._epoch:  # a reset: look at what arrived since
                    found, checked, epoch = [], 0, self._epoch
            found += [item for item in _items(envelopes[checked:], type) if predicate is None or predicate(item)]
            checked = len(envelopes)
            if len(found) >= wanted:
                return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise WaitTimeout(summary.timeout_message(timeout, wanted, type, predicate, len(found), envelopes))
            with self._wake:
                if self._generation == generation:
                    self._wake.wait(min(left, LOOK_EVERY))

    def reset(self) -> None:
        """Forget what arrived so far (the files stay); scripted answers are cleared too."""
        with self._lock:
            self._read()
            self._entries = []
            self._epoch += 1
        if self._listener is not None:
            self._listener.replace_script(Script(()), if_running=True)  # stopping or stopped: nothing to clear

    # ------------------------------------------------------------------ the CLI's questions

    def group(self) -> list[Group]:
        """The issues as ``sentry-mirror group`` computes them (core.grouping), biggest first."""
        records = [envelope.request.record for envelope in self._snapshot()]
        return grouping.group_records(records, malformed=Malformed(warn, where="group"))

    def report(self, sections: Iterable[str] | None = None) -> dict[str, Any]:
        """What ``sentry-mirror report --format json`` prints, over the records since the last reset."""
        records = [envelope.request.record for envelope in self._snapshot()]
        wanted = tuple(sections) if sections is not None else reporting.DEFAULT_SECTIONS
        malformed = Malformed(warn, where="report")
        return reporting.build_report(records, wanted, malformed=malformed).to_json()

    def assert_no_personal_data(self, rules: Iterable[str] | None = None, *, engine: str = pii.ENGINE) -> None:
        """Fail (AssertionError) when the report's personal-data detectors find any of the kinds
        ``rules`` names in a payload since the last reset; the message lists item type, field
        path, kind and a masked example. ``rules=None`` checks every kind of
        :data:`sentry_mirror.core.pii.KINDS` but ``user_path``: the SDKs send the paths of
        your own code's files (``/home/<you>/...``) in every stack frame; name it in
        ``rules`` to check it too."""
        __tracebackhide__ = True
        wanted = personal.kinds(rules)
        personal.check_engine(engine)
        found = personal.findings(self._snapshot(), wanted, engine)
        if found:
            raise AssertionError(personal.message(found))

    def respond_with(
        self, *scenarios: str, script: str | os.PathLike[str] | None = None, status: int | None = None, **rule: Any
    ) -> None:
        """Scripted answers from now on, replacing earlier ones: ``--scenario`` specs
        (``"rate-limit-transactions:2s"``), a TOML script (an ``os.PathLike``, or a ``str``
        naming an existing file, or else TOML text), and/or one rule
        from keywords (the TOML rule keys: ``status=429, retry_after=60, item_type=[...],
        times=1``). ScriptError for a bad one, at the call (the answers then stay as they
        were). With no argument, the natural answers again."""
        self._running().replace_script(script_of(scenarios, script, status, rule))


def _envelope(record: Record) -> Envelope | None:
    try:
        return envelope_of(request_of(record))
    except (KeyError, TypeError, ValueError, AttributeError, MirrorError) as exc:
        warn(f"record {record.data.get('id')!r} skipped: {exc!r}")
        return None


def _check_wait(count: int, timeout: float) -> None:
    if count < 0:
        raise ValueError(f"wait_for(count={count}): a count is 0 or more")
    if math.isnan(timeout) or timeout < 0:
        raise ValueError(f"wait_for(timeout={timeout}): a timeout is a number of seconds, 0 or more")


def _items(envelopes: Iterable[Envelope], type: str | None) -> list[Item]:
    wanted = None if type is None else canonical_type(type)
    return [item for envelope in envelopes for item in envelope.items if wanted is None or item.type == wanted]
