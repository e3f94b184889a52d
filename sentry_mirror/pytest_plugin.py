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
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from sentry_mirror.testing import Mirror

#: Set on a test item when one of its phases failed (read by ``--sentry-mirror-keep``).
_FAILED = pytest.StashKey[bool]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("sentry-mirror", "sentry-mirror (docs/testing.md)")
    group.addoption(
        "--sentry-mirror-keep",
        metavar="DIR",
        default=None,
        help="copy the snapshot files of each failed test that used the sentry_mirror fixture to DIR/<test id>/",
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    report = yield
    if report.failed:
        item.stash[_FAILED] = True
    return report


@pytest.fixture
def sentry_mirror(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Mirror]:
    """A listener on a free loopback port for this test: ``sentry_mirror.dsn`` is its DSN;
    ``events()``, ``wait_for(...)``, ``report()``... read what arrived (docs/testing.md)."""
    from sentry_mirror.testing import Mirror

    directory = tmp_path / "sentry-mirror"
    with Mirror(directory) as mirror:
        yield mirror
    keep = request.config.getoption("sentry_mirror_keep")
    if keep and request.node.stash.get(_FAILED, False):
        _keep(directory, Path(keep) / _safe_name(request.node.nodeid))


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


def _safe_name(nodeid: str) -> str:
    """A test id as one directory name: ``tests/test_app.py::test_x[1]`` -> ``tests_test_app.py_test_x_1``."""
    return re.sub(r"[^\w.-]+", "_", nodeid).strip("_") or "test"


def _keep(directory: Path, target: Path) -> None:
    """Copy a failed test's snapshot files (the listener is stopped: they are complete)."""
    if directory.is_dir():
        shutil.copytree(directory, target, dirs_exist_ok=True)
