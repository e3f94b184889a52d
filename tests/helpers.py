"""Small helpers shared by tests."""

from __future__ import annotations

import importlib.util
import os
import stat
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


def require_relay() -> None:
    """Sentry's own scrubber (the optional ``sentry-relay`` wheel): CI installs it (the test
    extras), so there a missing one fails; elsewhere the test skips saying what to install."""
    if importlib.util.find_spec("sentry_relay") is not None:
        return
    message = "sentry-relay is not installed: pip install 'sentry-mirror[relay]'"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{message} (required in CI: the test extras install it)")
    pytest.skip(message)


def mode(path: Path) -> int:
    """The permission bits of ``path`` itself (a symlink's own)."""
    return stat.S_IMODE(path.lstat().st_mode)


@contextmanager
def umask(value: int) -> Iterator[None]:
    old = os.umask(value)
    try:
        yield
    finally:
        os.umask(old)


def alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie waiting for its parent to reap it does not)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, IndexError):
        return False
    return state not in ("Z", "X")


def gone_soon(pid: int, seconds: float = 15.0) -> bool:
    """Whether ``pid`` stops running within ``seconds``."""
    deadline = time.monotonic() + seconds
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True
