"""DSNs and the five ways an SDK authenticates, with Relay's rules and wording.

Relay (``extractors/request_meta.rs``) looks for the public key in ``X-Sentry-Auth``,
``Authorization: Sentry …``, ``Authorization: Basic …``, the query string (only when it
contains ``sentry_``) and a path segment (unreal, cron). Two of them at once is a 401;
none at all lets the envelope endpoint fall back to the envelope header's ``dsn``.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from urllib.parse import parse_qsl, urlsplit

from sentry_mirror.errors import MirrorError

Headers = Sequence[tuple[str, str]]


class AuthError(MirrorError):
    """Authentication that Relay refuses; ``status`` and the message are Relay's answer."""

    def __init__(self, status: int, detail: str) -> None:
        self.status = status
        super().__init__(detail)


@dataclass(frozen=True, slots=True)
class Dsn:
    """A parsed DSN: ``{scheme}://{public_key}[:{secret}]@{host}[:{port}]{path}/{project_id}``."""

    scheme: str
    public_key: str
    host: str
    project_id: str
    port: int | None = None
    path: str = ""
    secret: str | None = None

    @property
    def netloc(self) -> str:
        return self.host if self.port is None else f"{self.host}:{self.port}"

    @property
    def envelope_url(self) -> str:
        return f"{self.scheme}://{self.netloc}{self.path}/api/{self.project_id}/envelope/"

    def __str__(self) -> str:
        secret = f":{self.secret}" if self.secret else ""
        return f"{self.scheme}://{self.public_key}{secret}@{self.netloc}{self.path}/{self.project_id}"


def masked(text: str) -> str:
    """``text`` (a DSN, or what was given as one) with everything between the scheme and the
    last ``@`` (the key and secret) shown as ``***``: safe to show in an error."""
    before, at, after = text.rpartition("@")
    if not at:
        return text
    scheme, sep, _ = before.partition("://")
    return f"{scheme}{sep}***@{after}" if sep else f"***@{after}"


def parse_dsn(text: str) -> Dsn:
    """Parse a DSN; :class:`MirrorError` with the reason when it is not one (naming the DSN
    without its key and secret: :func:`masked`)."""
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError as exc:
        reason = "the port is not a number from 0 to 65535" if "port" in str(exc).lower() else str(exc)
        raise MirrorError(f"invalid DSN {masked(text)!r}: {reason}") from None
    path, _, project_id = parts.path.rpartition("/")
    if parts.scheme not in ("http", "https") or not parts.username or not parts.hostname or not project_id:
        raise MirrorError(f"invalid DSN {masked(text)!r}: expected scheme://public_key@host/project_id")
    host = parts.hostname
    if ":" in host:  # IPv6 literal
        host = f"[{host}]"
    return Dsn(
        scheme=parts.scheme,
        public_key=parts.username,
        host=host,
        project_id=project_id,
        port=port,
        path=path,
        secret=parts.password,
    )


@dataclass(frozen=True, slots=True)
class Auth:
    """Who sent a request, as recorded in every snapshot record.

    ``form`` is where the key came from: ``x-sentry-auth``, ``authorization``
    (``Authorization: Sentry``), ``basic``, ``query``, ``path`` or ``envelope-dsn``.
    """

    form: str
    public_key: str
    sentry_version: str | None = None
    sentry_client: str | None = None
    dsn: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "form": self.form,
            "public_key": self.public_key,
            "sentry_version": self.sentry_version,
            "sentry_client": self.sentry_client,
            "dsn": self.dsn,
        }


def header(headers: Headers | Mapping[str, str], name: str) -> str | None:
    """The first header called ``name`` (case-insensitive), or None. ``headers`` are pairs
    as received, or a :func:`header_index` of them."""
    name = name.lower()
    if isinstance(headers, (dict, Mapping)):  # dict first: an ABC check is slow
        return headers.get(name)
    for key, value in headers:
        if key.lower() == name:
            return value
    return None


def header_index(headers: Headers) -> dict[str, str]:
    """Lower-cased header name → its first value."""
    index: dict[str, str] = {}
    for key, value in headers:
        index.setdefault(key.lower(), value)
    return index


def _from_pairs(form: str, pairs: Sequence[tuple[str, str]]) -> Auth:
    values: dict[str, str] = {}
    for key, value in pairs:
        values.setdefault(key.strip(), value.strip())
    key = values.get("sentry_key", "")
    if not key:
        raise AuthError(401, "bad x-sentry-auth header")
    version = values.get("sentry_version")
    if version is not None and _major(version) is None:
        raise AuthError(401, "bad x-sentry-auth header")
    return Auth(form, key, sentry_version=version, sentry_client=values.get("sentry_client"))


def _major(version: str) -> int | None:
    """The protocol version's part before the first ``.`` as Relay's ``u16``, or None if it is not one."""
    major = version.split(".", 1)[0]
    if not (major.isascii() and major.isdigit()) or int(major) > 0xFFFF:
        return None
    return int(major)


@lru_cache(maxsize=256)
def parse_sentry_header(value: str, form: str = "x-sentry-auth") -> Auth:
    """Parse ``Sentry sentry_key=…, sentry_version=7, …`` the way sentry-types does.

    An SDK sends the same header with every request: the answer is remembered."""
    prefix, _, rest = value.strip().partition(" ")
    if prefix.lower() != "sentry":
        raise AuthError(401, "bad x-sentry-auth header")
    pairs = []
    for part in rest.split(","):
        key, sep, val = part.partition("=")
        if sep:
            pairs.append((key, val))
    return _from_pairs(form, pairs)


def _sentry_scheme(value: str | None) -> str | None:
    """``value`` when it starts with ``Sentry `` (any case), as Relay's ``get_auth_header`` requires."""
    return value if value is not None and value[:7].lower() == "sentry " else None


def request_auth(headers: Headers | Mapping[str, str], query: str, path_key: str | None = None) -> Auth | None:
    """The request-level auth, or None when the request carries none.

    Sources are tried in Relay's order (``auth_from_parts``); a second one present is
    ``multiple authorization payloads detected`` and a malformed one is ``bad x-sentry-auth
    header`` (both 401), whichever comes first. ``X-Sentry-Auth`` and ``Authorization``
    count only when they start with ``Sentry ``, and an unusable ``Basic`` value is
    ignored, as in Relay. A ``sentry_version`` above 7 is a 400, checked last.
    """
    found: list[Auth | Callable[[], Auth]] = []
    x_auth = _sentry_scheme(header(headers, "x-sentry-auth"))
    if x_auth is not None:
        found.append(lambda: parse_sentry_header(x_auth))
    authorization = header(headers, "authorization")
    if authorization is not None:
        if _sentry_scheme(authorization) is not None:
            found.append(lambda: parse_sentry_header(authorization, "authorization"))
        basic = _basic(authorization)
        if basic is not None:
            found.append(basic)
    if "sentry_" in query:
        found.append(lambda: _from_pairs("query", parse_qsl(query, keep_blank_values=True)))
    if path_key:
        found.append(Auth("path", path_key))
    if not found:
        return None
    # In Relay's order: a malformed first source is a 401 before a second one is noticed.
    first = found[0]
    auth = first if isinstance(first, Auth) else first()
    if len(found) > 1:
        raise AuthError(401, "multiple authorization payloads detected")
    major = _major(auth.sentry_version) if auth.sentry_version is not None else None
    if major is not None and major > 7:
        raise AuthError(400, f"unsupported protocol version ({major})")
    return auth


def _basic(value: str | None) -> Auth | None:
    """The key of ``Authorization: Basic base64(key:secret)``; None when absent or unusable."""
    if value is None or value[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(value[6:], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    key, colon, _ = decoded.partition(":")
    return Auth("basic", key) if colon and key else None
