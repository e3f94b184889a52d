"""Which endpoint a path is: Relay's routes, plus the mirror's tunnel."""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from types import MappingProxyType

_PID = r"(?P<pid>[^/]+)"
_ROUTES: tuple[tuple[str, re.Pattern[str], frozenset[str]], ...] = tuple(
    (name, re.compile(pattern + r"/?$"), frozenset(methods))
    for name, pattern, methods in (
        ("envelope", rf"^/api/{_PID}/envelope", {"POST"}),
        ("store", rf"^/api/{_PID}/store", {"POST", "GET"}),
        ("store", r"^/api/store", {"POST", "GET"}),
        ("security", rf"^/api/{_PID}/(?:security|csp-report)", {"POST"}),
        ("nel", rf"^/api/{_PID}/nel", {"POST"}),
        ("minidump", rf"^/api/{_PID}/minidump", {"POST"}),
        ("unreal", rf"^/api/{_PID}/unreal/(?P<key>[^/]+)", {"POST"}),
        ("attachments", rf"^/api/{_PID}/events/(?P<event_id>[^/]+)/attachments", {"POST"}),
        ("cron", rf"^/api/{_PID}/cron/(?P<slug>[^/]+)(?:/(?P<key>[^/]+))?", {"GET", "POST"}),
        ("otlp", rf"^/api/{_PID}/(?:integration/)?otlp/v1/(?P<signal>traces|logs)", {"POST"}),
        # TUS: POST creates an upload, PATCH to the Location it answered carries the data
        ("tus_upload", rf"^/api/{_PID}/upload/(?P<upload>[^/]+)", {"PATCH"}),
        ("tus_upload", rf"^/api/{_PID}/upload", {"POST"}),
    )
)
_SLASHES = re.compile(r"/{2,}")

ENDPOINTS = (
    "envelope", "store", "security", "nel", "minidump", "unreal", "attachments", "cron", "otlp", "tus_upload", "tunnel"
)  # fmt: skip


def route(method: str, path: str, tunnel_path: str = "/tunnel") -> tuple[str, Mapping[str, str], frozenset[str]]:
    """(endpoint name, path parameters, allowed methods); endpoint ``unknown`` when none matches."""
    return _route(path, tunnel_path)


_NO_PARAMS: Mapping[str, str] = MappingProxyType({})


@lru_cache(maxsize=1024)  # SDKs post to a handful of paths, over and over
def _route(path: str, tunnel_path: str) -> tuple[str, Mapping[str, str], frozenset[str]]:
    path = _SLASHES.sub("/", path)
    if tunnel_path and path.rstrip("/") == tunnel_path.rstrip("/"):
        return "tunnel", _NO_PARAMS, frozenset({"POST"})
    for name, pattern, methods in _ROUTES:
        match = pattern.match(path)
        if match:
            return name, MappingProxyType({k: v for k, v in match.groupdict().items() if v is not None}), methods
    return "unknown", _NO_PARAMS, frozenset()
