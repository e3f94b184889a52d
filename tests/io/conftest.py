"""Fixtures of the io tests: forward mode's upstream stubs and forwarding mirror (tests/stubs.py)."""

from tests.stubs import forwarder, stubs  # noqa: F401  (fixtures for the modules here)
