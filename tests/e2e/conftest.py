"""Fixtures of the end-to-end tests: forward mode's upstream stubs (tests/stubs.py)."""

from tests.stubs import stubs  # noqa: F401  (the fixture, for the modules here)
