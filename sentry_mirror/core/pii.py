"""Find personal data in event payloads, and say what Sentry's default scrubbing would remove.

The built-in detector (engine ``"builtin"``) walks a parsed JSON payload and reports, per
field path, the kinds of personal data it holds (:data:`KINDS`):

``email``            an e-mail address
``ip``               an IPv4 or IPv6 address (not loopback, unspecified or broadcast, not under a version key)
``credit_card``      13 to 19 digits, optionally grouped by spaces or dashes, passing Luhn
``iban``             a country code, two check digits and 11 to 30 alphanumerics, passing ISO 7064 mod 97
``auth_token``       ``Bearer …``, ``Basic …``, ``Token …`` values; JWTs; a value under an auth or token key
``password``         a non-empty value under a password-like key (``password``, ``secret``, ``api_key`` …)
``cookie``           a cookie: under ``cookies``, or a ``Cookie``/``Set-Cookie`` header
``session_id``       a value under a session-id key or cookie (``sessionid``, ``phpsessid``, ``connect.sid`` …)
``pem_key``          a ``-----BEGIN … KEY-----`` block
``url_credentials``  ``scheme://user:password@host``
``user_path``        a user's home directory: ``/home/<user>``, ``/Users/<user>``, ``C:\\Users\\<user>``

Paths use the field-coverage notation: object keys joined with ``.``, array elements as
``[]`` (``exception.values[].stacktrace.frames[].vars.password``). A list of ``[name,
value]`` pairs (headers, cookies, tags as SDKs may send them) is read as a map.

:func:`sentry_default_rule` says which rule of Sentry's *default* server-side scrubbing
(Relay ``relay-pii``: ``@common:filter`` with its exclusions, the sensitive cookies, and the
replace-only rules on ``logentry.formatted`` and log bodies; protocol reference section 8.3)
would change a value, or None when Sentry would store it as sent. Where the reference and
Relay itself (``sentry-relay`` 0.10.1) disagree, this follows Relay: user paths
(``@userpath``) and ``contexts`` are not scrubbed by default. IP addresses are only
removed when the project turns on "Prevent storing of IP addresses", which is not a default.

Examples are masked (:func:`mask`): a report never repeats the personal data it found.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

ENGINE = "builtin"

KINDS = (
    "email",
    "ip",
    "credit_card",
    "iban",
    "auth_token",
    "password",
    "cookie",
    "session_id",
    "pem_key",
    "url_credentials",
    "user_path",
)

#: Strings longer than this are only searched in their first this-many characters.
MAX_SCAN = 4096
#: Containers nested deeper than this are not walked (Sentry itself trims at depth 7-ish).
MAX_DEPTH = 32

# ---------------------------------------------------------------- value detectors

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+%-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63})*\.[A-Za-z]{2,24}(?![\w-])")
_IPV4 = re.compile(
    r"(?<![\w.])(?<![A-Za-z]/)(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(?![\w.]*\d)(?!\.\w)"
)
_IPV6 = re.compile(r"(?<![\w:.])[0-9a-fA-F]{0,4}(?::[0-9a-fA-F]{0,4}){2,7}(?![\w:])")
_CARD = re.compile(r"(?<![\w-])\d(?:[ -]?\d){12,18}(?![\w-])")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
_BEARER = re.compile(r"(?i)\b(?:bearer|token)\s+[A-Za-z0-9._~+/=-]{8,}|\bbasic\s+[A-Za-z0-9+/]{8,}={0,2}")
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}")
_PEM = re.compile(r"-----BEGIN[A-Z ]*(?:PRIVATE|PUBLIC) KEY-----")
_URL_AUTH = re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]*://[^/\s:@]+:[^/\s@]+@")
_USER_PATH = re.compile(r"(?:/home/|/Users/|[A-Za-z]:\\\\?(?:Users|Documents and Settings)\\\\?)([^/\\\s]+)")
_DIGIT = re.compile(r"\d")
#: An ISO 8601 time (at most 9 decimals: a longer run could pass for a card number).
_ISO_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,9})?(?:Z|[+-]\d\d:?\d\d)?")
_NOT_PERSONAL_IPS = ("127.", "0.0.0.0", "255.255.255.255")
_USER_PATH_IGNORED = frozenset({"shared", "public", "default", "all users", "runner", "root"})

# ---------------------------------------------------------------- key detectors

#: Relay's @password key pattern (protocol reference 8.3).
_PASSWORD_KEY = re.compile(
    r"(?i)(password|secret|passwd|api[-_]key|apikey|auth|credentials|mysql_pwd|privatekey|private[-_]key|token|^otp$|^two[-_]factor$)"
)
_AUTH_KEY = re.compile(r"(?i)^(authorization|proxy-authorization|x-api-key|x-auth-token|.*token.*|auth)$")
_SESSION_KEY = re.compile(
    r"(?i)^(session|sessionid|session_id|sess|phpsessid|jsessionid|asp\.net_sessionid|connect\.sid|_session|__session|user_session)$"
)
#: Cookies Relay always filters, whatever their value.
SENSITIVE_COOKIES = frozenset(
    {
        "sentrysid", "sudo", "su", "session", "__session", "sessionid", "user_session", "symfony", "phpsessid",
        "fasthttpsessionid", "mysession", "irissessionid", "_vercel_jwt", "csrf", "xsrf", "_xsrf", "_csrf",
        "csrf-token", "csrf_token", "xsrf-token", "xsrf_token", "fastcsrf", "_iris_csrf",
    }
)  # fmt: skip


def luhn(digits: str) -> bool:
    """True when ``digits`` (only digits) pass the Luhn check."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def iban_valid(text: str) -> bool:
    """True when ``text`` (spaces allowed) is an IBAN with valid mod-97 check digits."""
    compact = text.replace(" ", "").upper()
    if not (15 <= len(compact) <= 34) or not compact[:2].isalpha() or not compact[2:4].isdigit():
        return False
    moved = compact[4:] + compact[:4]
    number = "".join(str(int(char, 36)) for char in moved)
    return int(number) % 97 == 1


def _is_ipv6(text: str) -> bool:
    """A real, global-ish IPv6 address (not loopback or unspecified, not a clock time)."""
    if "::" not in text and text.count(":") < 7:
        return False
    try:
        address = ipaddress.IPv6Address(text)
    except ValueError:
        return False
    return not (address.is_loopback or address.is_unspecified)


def _cards(text: str) -> Iterator[str]:
    for match in _CARD.finditer(text):
        digits = re.sub(r"[ -]", "", match.group())
        if 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn(digits):
            yield match.group()


def value_kinds(text: str) -> Iterator[tuple[str, str]]:
    """``(kind, matched text)`` for each kind of personal data found in one string."""
    text = text[:MAX_SCAN]
    if (text.isalnum() and text.islower()) or _ISO_TIME.fullmatch(text):
        return  # letters and digits, no capitals (hex ids, words), or a time: no pattern can match
    if "@" in text:
        # the "@" that ends URL credentials (scheme://user:password@host) is not an address's
        credentials = list(_URL_AUTH.finditer(text)) if "://" in text else []
        if credentials:
            yield "url_credentials", credentials[0].group()
        taken = {m.end() - 1 for m in credentials}
        for found in _EMAIL.finditer(text):
            if found.start() + found.group().index("@") not in taken:
                yield "email", found.group()
                break
    # each search runs only when the text has what its pattern cannot match without
    digit = _DIGIT.search(text) is not None
    found = _IPV4.search(text) if digit and "." in text else None
    if found:
        if not found.group().startswith(_NOT_PERSONAL_IPS):
            yield "ip", found.group()
    elif ":" in text and ("::" in text or text.count(":") >= 7):  # ("::a" is an address: no digit needed)
        for found in _IPV6.finditer(text):
            if _is_ipv6(found.group()):
                yield "ip", found.group()
                break
    if digit:
        if len(text) >= 13:
            for card in _cards(text):
                yield "credit_card", card
                break
        if len(text) >= 15 and not text.islower():  # an IBAN has upper-case letters
            for match in _IBAN.finditer(text):
                if iban_valid(match.group()):
                    yield "iban", match.group()
                    break
    folded = text.casefold()  # what (?i) can match ("ı" matches "i": only "bas" is sure)
    found = _BEARER.search(text) if "bearer" in folded or "token" in folded or "bas" in folded else None
    found = found or (_JWT.search(text) if "eyJ" in text else None)
    if found:
        yield "auth_token", found.group()
    if "-----BEGIN" in text and _PEM.search(text):
        yield "pem_key", _PEM.search(text).group()  # type: ignore[union-attr]
    if "/home/" in text or "/Users/" in text or ":\\" in text:
        match = _USER_PATH.search(text)
        if match and match.group(1).lower() not in _USER_PATH_IGNORED:
            yield "user_path", match.group()


def key_kinds(key: str, parent: str, value: Any) -> Iterator[str]:
    """Kinds implied by the key a (non-empty) value sits under, and by its parent's key."""
    if value in (None, "", [], {}) or isinstance(value, bool):
        return
    lowered = key.lower()
    parent_l = parent.lower()
    if parent_l == "cookies" or lowered in ("cookie", "set-cookie"):
        yield "cookie"
    if _SESSION_KEY.match(lowered) or (parent_l == "cookies" and lowered in SENSITIVE_COOKIES and "sess" in lowered):
        yield "session_id"
    if _AUTH_KEY.match(lowered):
        yield "auth_token"
    elif _PASSWORD_KEY.search(lowered) and not isinstance(value, dict | list):
        yield "password"


# ---------------------------------------------------------------- masking


def mask(kind: str, text: str) -> str:
    """A masked example of ``text``: enough to recognise the shape, never the data."""
    text = text.strip()
    if kind == "email" and "@" in text:
        local, _, domain = text.rpartition("@")
        tld = domain.rsplit(".", 1)[-1]
        return f"{local[:1]}***@***.{tld}"
    if kind == "credit_card":
        digits = re.sub(r"\D", "", text)
        return "*" * (len(digits) - 4) + digits[-4:]
    if kind == "iban":
        compact = text.replace(" ", "")
        return compact[:2] + "**" + "*" * (len(compact) - 8) + compact[-4:]
    if kind == "ip":
        if "." in text and ":" not in text:
            return ".".join([*text.split(".")[:1], "x", "x", "x"])
        return text.split(":")[0] + ":…"
    if kind == "user_path":
        match = _USER_PATH.search(text)
        return text[: match.start(1)] + "<user>" if match else "<user path>"
    if kind == "url_credentials":
        return re.sub(r"://[^/\s:@]+:[^/\s@]+@", "://***:***@", text)[:60]
    if kind == "pem_key":
        return text[:40]
    if kind == "auth_token":
        scheme = text.split()[0] if " " in text and len(text.split()[0]) < 10 else ""
        return f"{scheme} ***" if scheme else f"*** ({len(text)} chars)"
    return f"*** ({len(text)} chars)"


# ---------------------------------------------------------------- Sentry's default scrubbing

#: Paths (prefixes) whose values Relay's ``pii="true"`` schema marks reach ``@common:filter``.
_PII_TRUE_PREFIXES = (
    "user.",
    "request.data",
    "request.query_string",
    "request.fragment",
    "request.cookies",
    "request.headers",
    "request.env",
    "extra",
    "breadcrumbs.values[].message",
    "breadcrumbs.values[].data",
    "breadcrumbs[].message",
    "breadcrumbs[].data",
    "server_name",
    "spans[].data",
)
_VARS = ".vars"
_EXCLUDED_SUFFIXES = (".filename", ".abs_path")
_REPLACE_ONLY = ("logentry.formatted", "items[].body")
_SSN = re.compile(r"\b\d{3}-\d{2}-\d{4}\b")
_BEARER_WORD = re.compile(r"(?i)\bbearer\s")


def _reachable(path: str) -> bool:
    if path.startswith("debug_meta") or path.endswith(_EXCLUDED_SUFFIXES):
        return False
    if path.startswith("exception.values[].value") or path.lower() == "request.headers.user-agent":
        return False
    return path.startswith(_PII_TRUE_PREFIXES) or _VARS + "." in path or path.endswith(_VARS) or ".vars[]" in path


def _path_rule(path: str, key: str, parent: str, item_type: str) -> tuple[str, str | None]:
    """What Sentry's default scrubbing does at a path, before looking at the value:
    ``("replace", None)`` (log messages: replace-only rules on the text), ``("fixed", rule)``
    (the path alone decides: a rule, or None when unreachable) or ``("text", None)`` (the
    filter rules on the text decide)."""
    if (item_type == "log" and path == "items[].body") or path == "logentry.formatted":
        return "replace", None
    if not _reachable(path):
        return "fixed", None
    if parent.lower() == "cookies" and key.lower() in SENSITIVE_COOKIES:
        return "fixed", "@cookies:filter"
    if _PASSWORD_KEY.search(key) and key:
        return "fixed", "@password:filter"
    return "text", None


def _replace_rule(text: str) -> str | None:
    for rule, pattern in (("@email:replace", _EMAIL), ("@bearer:replace", _BEARER), ("@usssn:replace", _SSN)):
        if pattern.search(text):
            return rule
    if any(True for _ in _cards(text)):
        return "@creditcard:replace"
    return None


def _filter_rule(text: str) -> str | None:
    text = text[:MAX_SCAN]
    if _PASSWORD_KEY.search(text) or ("bearer" in text.casefold() and _BEARER_WORD.search(text)):
        return "@password:filter"
    if len(text) >= 13 and any(True for _ in _cards(text)):
        return "@creditcard:filter"
    if len(text) >= 15 and not text.islower():
        for match in _IBAN.finditer(text):
            if iban_valid(match.group()):
                return "@iban:filter"
    if "-----BEGIN" in text and _PEM.search(text):
        return "@pemkey:filter"
    if "://" in text and _URL_AUTH.search(text):
        return "@urlauth:legacy"
    if "-" in text and _SSN.search(text):
        return "@usssn:filter"
    return None


def sentry_default_rule(path: str, key: str, parent: str, text: str | None, item_type: str = "event") -> str | None:
    """The default Relay rule that would change the value at ``path`` (under ``key``, whose
    parent key is ``parent``; ``text`` its string form, or None for a container), or None."""
    mode, rule = _path_rule(path, key, parent, item_type)
    if mode == "fixed" or text is None:
        return rule
    return _replace_rule(text) if mode == "replace" else _filter_rule(text)


# ---------------------------------------------------------------- walking a payload


@dataclass(frozen=True, slots=True)
class Finding:
    """One kind of personal data at one path of one payload; ``scrubbed_by`` is the default
    Sentry rule that would remove or replace it (None: Sentry would keep it)."""

    path: str
    kind: str
    example: str
    scrubbed_by: str | None


#: Top-level keys that only describe software (package names and versions, the SDK): not
#: searched, which also keeps versions such as 1.2.3.4 from passing for IP addresses.
_NOT_SCANNED = frozenset({"modules", "sdk"})

#: Field paths remembered per :class:`Scanner`; beyond, a path's decisions are worked out
#: afresh at each visit (same answers, slower), so memory stays bounded on any input.
MAX_SITES = 20_000
#: Values remembered with what they hold, per scanner (real traffic repeats most values:
#: server names, versions, file names): at most this many, each at most :data:`MAX_CACHED`
#: characters long (so the caches stay under ~10 MB).
CACHE_SIZE = 20_000
MAX_CACHED = 256
#: A path stops remembering its values once this many were looked up there with fewer
#: than one in :data:`_CACHE_MIN_HITS` found again (ids, timestamps: they never repeat).
_CACHE_TRIAL = 64
_CACHE_MIN_HITS = 8
#: A bare number that could be a card (Relay's prefixes: Amex, Visa, Mastercard, Discover).
_CARD_NUMBER = re.compile(r"(?:3[47]\d{13}|4\d{15}|5[1-5]\d{14}|6(?:011|5\d\d)\d{12})")
_KEYED = re.compile(r"(?i)pass|secret|auth|token|key|cookie|sess|sid|card|iban|otp|factor|credential|pwd")
_MISSING: Any = object()

#: What one value holds: ``(kind, masked example, Sentry's default rule or None)`` per kind.
Found = tuple[tuple[str, str, str | None], ...]


class Scanner:
    """The detector's memory across payloads: one tree of :class:`Site` per item type (the
    field paths met so far, each with the decisions its path alone settles) and the values
    seen recently at each path, with what they hold. Bounded (:data:`MAX_SITES`,
    :data:`CACHE_SIZE`); the answers never depend on what it remembers."""

    def __init__(self) -> None:
        self.roots: dict[str, Site] = {}
        self.sites = 0
        self.cached = 0
        self.caching: list[Site] = []

    def root(self, item_type: str) -> Site:
        site = self.roots.get(item_type)
        if site is None:
            site = self.roots[item_type] = Site(self, item_type, "", "", "", 0)
        return site

    def _forget_values(self) -> None:
        for site in self.caching:
            if site.cache is not None:
                site.cache.clear()
        self.caching = []
        self.cached = 0


class Site:
    """One field path of one item type (``path``, the ``key`` its value sits under and that
    key's ``parent`` key, as :func:`scan` names them), and what lies under it."""

    __slots__ = (
        "_element",
        "_key_kinds",
        "_mode",
        "_plain",
        "_rule",
        "_versioned",
        "cache",
        "children",
        "depth",
        "descend",
        "hits",
        "item_type",
        "key",
        "keyed",
        "misses",
        "parent",
        "path",
        "scanner",
    )  # fmt: skip

    def __init__(self, scanner: Scanner, item_type: str, path: str, key: str, parent: str, depth: int) -> None:
        self.scanner = scanner
        self.item_type = item_type
        self.path = path
        self.key = key
        self.parent = parent
        self.depth = depth
        #: containers here are walked (deeper ones are not)
        self.descend = depth < MAX_DEPTH
        #: numbers here are read (a count or a time elsewhere holds no personal data)
        self.keyed = bool(key and _KEYED.search(key))
        self.children: dict[str, Site | None] = {}
        self._element: Site | None = None
        self._key_kinds = tuple(key_kinds(key, parent, "x")) if key else ()
        self._mode, self._rule = _path_rule(path, key, parent, item_type)
        self._versioned = "version" in path.lower()
        #: only the value's own patterns can find something here (a rule is only said of a find)
        self._plain = not self._key_kinds
        self.cache: dict[str, Found] | None = {}
        self.hits = self.misses = 0  # of the value cache

    def child(self, key: str) -> Site | None:
        """The site of ``key`` in an object here (or of a ``[key, value]`` pair), or None
        when it is not searched (``modules`` and ``sdk`` at the top)."""
        site = self.children.get(key, _MISSING)
        if site is _MISSING:
            if not self.path and key in _NOT_SCANNED:
                site = None
            else:
                site = Site(self.scanner, self.item_type, f"{self.path}.{key}" if self.path else key, key, self.key,
                            self.depth + 1)  # fmt: skip
            if self.scanner.sites < MAX_SITES:
                self.scanner.sites += 1
                self.children[key] = site
        return site

    def element(self) -> Site:
        """The site of the elements of an array here (``path[]``, same key and parent)."""
        site = self._element
        if site is None:
            site = Site(self.scanner, self.item_type, self.path + "[]", self.key, self.parent, self.depth + 1)
            if self.scanner.sites < MAX_SITES:
                self.scanner.sites += 1
                self._element = site
        return site

    def pairs(self, value: list[Any]) -> bool:
        """True when the array ``value`` here is read as a map of ``[name, value]`` pairs."""
        return bool(self.key) and _pairs(value)

    def findings(self, value: Any) -> Found:
        """What the scalar ``value`` at this site holds."""
        if type(value) is str:
            text = value
            if self._plain and text.isalnum() and text.islower():
                return ()  # as value_kinds finds at once (hex ids, words)
        elif value is None or isinstance(value, bool):
            return ()
        elif isinstance(value, int | float):
            if not self.keyed and not (
                isinstance(value, int) and 10**14 <= value < 10**16 and _CARD_NUMBER.fullmatch(str(value))
            ):
                return ()  # a count, a line number, a timestamp: no personal data, nothing to filter
            text = str(value)
        else:
            text = str(value)
        if not text:
            return ()
        cache = self.cache
        if cache is None or len(text) > MAX_CACHED:
            return self._analyse(text)
        found = cache.get(text)
        if found is not None:
            self.hits += 1
            return found
        found = self._analyse(text)
        self.misses += 1
        if self.misses >= _CACHE_TRIAL and self.hits * _CACHE_MIN_HITS < self.misses:
            self.scanner.cached -= len(cache)
            self.cache = None  # values here do not repeat
            return found
        scanner = self.scanner
        if scanner.cached >= CACHE_SIZE:
            scanner._forget_values()
        if not cache:
            scanner.caching.append(self)
        cache[text] = found
        scanner.cached += 1
        return found

    def _analyse(self, text: str) -> Found:
        mode = self._mode
        if mode == "fixed":
            rule = self._rule
        elif mode == "text":
            rule = _filter_rule(text)
        else:
            rule = _replace_rule(text)
        kinds: dict[str, tuple[str, str, str | None]] = {}
        for kind in self._key_kinds:
            kinds[kind] = (kind, mask(kind, text), rule)
        for kind, found in value_kinds(text):
            if kind not in kinds and not (kind == "ip" and self._versioned):
                kinds[kind] = (kind, mask(kind, found), rule)
        return tuple(kinds.values())


def _pairs(value: list[Any]) -> bool:
    return bool(value) and all(isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) for v in value)


def scan(payload: Any, item_type: str = "event", scanner: Scanner | None = None) -> Iterator[Finding]:
    """Every :class:`Finding` in one parsed payload (an event, a transaction, a log container …).
    A ``scanner`` carried from payload to payload remembers paths and values (faster, same answers)."""
    stack: list[tuple[Site, Any]] = [((scanner or Scanner()).root(item_type), payload)]
    while stack:
        site, value = stack.pop()
        if isinstance(value, dict):
            if site.descend:
                for key, inner in value.items():
                    child = site.child(str(key))
                    if child is not None:
                        stack.append((child, inner))
            continue
        if isinstance(value, list):
            if site.descend:
                if site.pairs(value):
                    for name, inner in value:
                        stack.append((site.child(name), inner))  # type: ignore[arg-type]
                else:
                    element = site.element()
                    for inner in value:
                        stack.append((element, inner))
            continue
        for kind, example, rule in site.findings(value):
            yield Finding(site.path, kind, example, rule)


# ---------------------------------------------------------------- Sentry's own scrubber (optional)

RELAY_ENGINE = "relay"
#: Item types whose payloads Relay's event scrubber takes.
RELAY_ITEM_TYPES = frozenset({"event", "transaction", "feedback"})
#: The project settings Sentry starts with (data scrubber and default scrubbers on, IPs kept).
DEFAULT_DATASCRUBBING = {
    "scrubData": True,
    "scrubDefaults": True,
    "scrubIpAddresses": False,
    "sensitiveFields": [],
    "excludeFields": [],
}
_relay_config: Any = None


def relay_available() -> bool:
    """True when the ``sentry-relay`` package (Sentry's own scrubber) can be imported."""
    try:
        import sentry_relay  # noqa: F401
    except ImportError:
        return False
    return True


def relay_rules(event: dict[str, Any]) -> dict[str, str]:
    """Which paths Relay's default scrubbing changes in ``event``, with the first rule each
    (``{"extra.password": "@password:filter"}``), from the ``_meta`` remarks of
    ``sentry_relay.pii_strip_event``. Paths use this module's notation, pair lists as maps.
    Raises ImportError without ``sentry-relay``."""
    global _relay_config
    import sentry_relay

    if _relay_config is None:
        _relay_config = sentry_relay.convert_datascrubbing_config(DEFAULT_DATASCRUBBING)
    stripped = sentry_relay.pii_strip_event(_relay_config, event)
    found: dict[str, str] = {}
    _meta_paths(stripped.get("_meta") or {}, stripped, "", found)
    return found


def _meta_paths(meta: Any, data: Any, path: str, found: dict[str, str]) -> None:
    if not isinstance(meta, dict):
        return
    for key, inner in meta.items():
        if key == "":
            remarks = inner.get("rem") if isinstance(inner, dict) else None
            if remarks and path:
                found.setdefault(path, str(remarks[0][0]))
            continue
        if isinstance(data, list):
            index = int(key) if key.isdigit() else -1
            child = data[index] if 0 <= index < len(data) else None
            if isinstance(child, list) and len(child) == 2 and isinstance(child[0], str) and isinstance(inner, dict):
                _meta_paths(inner.get("1"), child[1], f"{path}.{child[0]}", found)
                continue
            _meta_paths(inner, child, path + "[]", found)
        else:
            child = data.get(key) if isinstance(data, dict) else None
            _meta_paths(inner, child, f"{path}.{key}" if path else key, found)
