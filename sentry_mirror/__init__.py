"""sentry-mirror: a drop-in Sentry DSN that records what SDKs send, and tools to read it."""

__version__ = "0.1.0"
