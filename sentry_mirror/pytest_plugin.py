"""The pytest plugin: a real Sentry DSN for each test (docs/testing.md).

Registered through the ``pytest11`` entry point, so installing sentry-mirror is enough;
``pytest -p no:sentry_mirror`` turns it off. Every pytest run of every project that has
sentry-mirror installed imports this module, so it imports nothing heavy:
``sentry_mirror.testing`` (and with it aiohttp) is imported by the fixtures, when a test
asks for one.

Fixtures:

- ``sentry_mirror``: a listener of the test's own, writing to ``tmp_path / "sentry-mirror"``,
  stopped (its snapshot closed) after the test;
- ``sentry_mirror_session``: one listener for the whole session, reset before each test that
  asks for it, so the test sees only what arrived during it;
- ``sentry_mirror_shared``: that same session listener, never reset by the plugin (what all
  the tests sent, together).

It runs on every pytest from 7.0 and pluggy from 1.0 (docs/testing.md): an old-style hook
wrapper, no ``pytest.StashKey``.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import warnings
import weakref
from collections.abc import Generator, Iterator
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from sentry_mirror.testing import Mirror

#: The test items one of whose phases failed (read by ``--sentry-mirror-keep``).
_FAILED: weakref.WeakSet[pytest.Item] = weakref.WeakSet()
#: How much of a test id a kept directory's name holds (then ``-`` and 8 hex of its sha1).
KEPT_NAME_CHARS = 100


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sentry-mirror", "sentry-mirror (docs/testing.md)")
    group.addoption(
        "--sentry-mirror-keep",
        metavar="DIR",
        default=None,
        help="copy the snapshot files of each failed test that used the sentry_mirror fixture into a new directory under DIR named after the test id (docs/testing.md)",
    )


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, Any, None]:
    outcome = yield
    if outcome.get_result().failed:
        _FAILED.add(item)


@pytest.fixture
def sentry_mirror(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Mirror]:
    """A listener on a free loopback port for this test: ``sentry_mirror.dsn`` is its DSN;
    ``events()``, ``wait_for(...)``, ``report()``... read what arrived (docs/testing.md)."""
    from sentry_mirror.testing import Mirror

    directory = tmp_path / "sentry-mirror"
    with Mirror(directory) as mirror:
        yield mirror
    keep = request.config.getoption("sentry_mirror_keep")
    if keep and request.node in _FAILED:
        # a relative DIR is the invocation's, whatever directory the test moved to
        _keep(directory, Path(request.config.invocation_params.dir, keep), request.node.nodeid)


@pytest.fixture(scope="session")
def sentry_mirror_shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mirror]:
    """One listener for the whole session, never reset by the plugin: what every test sent."""
    from sentry_mirror.testing import Mirror

    with Mirror(tmp_path_factory.mktemp("sentry-mirror")) as mirror:
        yield mirror


@pytest.fixture
def sentry_mirror_session(sentry_mirror_shared: Mirror) -> Mirror:
    """The session's listener, reset before this test: it sees only what arrived since the
    test started (one listener for all tests: no start and stop per test)."""
    sentry_mirror_shared.reset()
    return sentry_mirror_shared


def _kept_name(nodeid: str) -> str:
    """A test id as one directory name of its own: ``tests/test_app.py::test_x[a/b]`` ->
    ``tests_test_app.py_test_x_a_b-`` + 8 hex of the id's sha1 (ids that read alike stay apart;
    a long id is cut, the name fits every file system)."""
    readable = re.sub(r"[^\w.-]+", "_", nodeid).strip("_")[:KEPT_NAME_CHARS] or "test"
    return f"{readable}-{hashlib.sha1(nodeid.encode()).hexdigest()[:8]}"


def _keep(directory: Path, keep: Path, nodeid: str) -> None:
    """Copy a failed test's snapshot files (the listener is stopped: they are complete) into
    a new directory under ``keep`` (``NAME``, else ``NAME-2``...: an earlier run's stays as it
    was). A failure to copy is a warning: the test's outcome is its own."""
    if not directory.is_dir():
        return
    name = _kept_name(nodeid)
    try:
        target = keep / name
        for n in count(2):
            if not target.exists():
                break
            target = keep / f"{name}-{n}"
        shutil.copytree(directory, target)
    except OSError as error:
        warnings.warn(
            f"--sentry-mirror-keep: could not keep the snapshots of {nodeid}: {error}",
            pytest.PytestWarning,
            stacklevel=2,
        )
