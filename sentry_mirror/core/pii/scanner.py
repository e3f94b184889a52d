"""Walking a payload: every :class:`Finding` in it (:func:`scan`), with a :class:`Scanner`
that remembers, across payloads, the field paths met (:class:`Site`: what each path alone
settles) and recent values with what they hold. Bounded; never changes the answers.

Paths use the field-coverage notation: object keys joined with ``.``, array elements as
``[]`` (``exception.values[].stacktrace.frames[].vars.password``). A list of ``[name,
value]`` pairs (headers, cookies, tags as SDKs may send them) is read as a map."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from sentry_mirror.core.pii.detect import key_kinds, matches, phone_key, value_kinds
from sentry_mirror.core.pii.masking import mask
from sentry_mirror.core.pii.pseudonym import is_pseudonym
from sentry_mirror.core.pii.sentry_rules import filter_rule, path_rule, replace_rule

#: Containers nested deeper than this are not walked by the report (Sentry itself trims at
#: depth 7-ish); an exhaustive :class:`Scanner` (``export --redact``) walks every depth.
MAX_DEPTH = 32
#: The path of a value deeper than :data:`MAX_DEPTH` (exhaustive walks only): the path at
#: that depth, this mark, then the value's own key (``a.a.a…….password``), so paths stay short.
DEEP = "…"


@dataclass(frozen=True, slots=True)
class Finding:
    """One kind of personal data at one path of one payload; ``scrubbed_by`` is the default
    Sentry rule that would remove or replace it (None: Sentry would keep it)."""

    path: str
    kind: str
    example: str
    scrubbed_by: str | None


#: Top-level keys that only describe software (package names and versions, the SDK): not
#: searched by the report, which also keeps versions such as 1.2.3.4 from passing for IP
#: addresses; an exhaustive walk searches them as software (no IP address or card there).
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
_KEYED = re.compile(
    r"(?i)pass|secret|auth|token|key|cookie|sess|sid|card|iban|otp|factor|credential|pwd|phone|mobile|msisdn|tel|fax"
)
#: Keys whose values are identifiers (``thread_id``, ``tid``, ``threadId``, ``thread.id``),
#: addresses in memory (``instruction_addr``), hashes, times, durations, counts or sizes: a
#: value there that is one bare run of digits (or of letters and digits) is no card number
#: (nor IBAN), whatever Luhn (or mod 97) says. Grouped numbers and numbers inside text are.
_ID_KEY = re.compile(
    r"(?:^|[._-])(?i:[ugpts]?ids?|tid|pid|ts)$|[a-z]Ids?$"
    r"|(?i:(?:thread|trace|span|event|parent|segment|profile|chunk|replay|process|request|session|debug|code)ids?$"
    r"|(?:addr|hash|checksum|digest|sha1|sha256|md5|crc32|timestamp|time|_ns|_ms|_us|_at|duration|elapsed"
    r"|count|size|length|offset|lineno|colno|port|build)$)"
)
#: Keys naming a card number: the only place a JSON number is read as one.
_CARD_KEY = re.compile(r"(?i)card|credit|^cc(?:[-_]?num(?:ber)?)?$|^pan$")
#: Keys (or parent keys) naming a release, a distribution or a version: what they hold
#: describes software (``app@1.0.0.0``, a build number), so it is no IP address or card.
_SOFTWARE_KEY = re.compile(r"(?i)(?:^|[._-])(?:release|dist|version)$")
#: Paths naming a route (a transaction's name, a span's description: ``GET /users/{id}``):
#: what groups transactions and spans. A US social security number's shape there
#: (``/parts/412-33-1234``) is taken for a route's part and not reported, so redacting keeps
#: spans of one route together; in a URL (``request.url``, a breadcrumb's) it is reported.
_ROUTE_PATHS = frozenset({"transaction", "spans[].description", "contexts.trace.description"})
_SPAN_ROUTE_KEYS = frozenset({"description", "name"})
_MISSING: Any = object()

#: What one value holds: ``(kind, masked example, Sentry's default rule or None)`` per kind.
Found = tuple[tuple[str, str, str | None], ...]


class Scanner:
    """The detector's memory across payloads: one tree of :class:`Site` per item type (the
    field paths met so far, each with the decisions its path alone settles) and the values
    seen recently at each path, with what they hold. Bounded (:data:`MAX_SITES`,
    :data:`CACHE_SIZE`); the answers never depend on what it remembers.

    ``exhaustive``: every value is looked at, at any depth, and every string whole (what a
    redactor needs); otherwise containers deeper than :data:`MAX_DEPTH` are skipped and
    strings searched in their first :data:`~sentry_mirror.core.pii.detect.MAX_SCAN`
    characters (bounds that keep the report fast on hostile input)."""

    def __init__(self, exhaustive: bool = False) -> None:
        self.exhaustive = exhaustive
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
        "_card_key",
        "_cards",
        "_element",
        "_key_kinds",
        "_mode",
        "_plain",
        "_route",
        "_rule",
        "_software",
        "cache",
        "children",
        "depth",
        "descend",
        "head",
        "hits",
        "item_type",
        "key",
        "keyed",
        "misses",
        "parent",
        "path",
        "scanner",
    )  # fmt: skip

    def __init__(
        self,
        scanner: Scanner,
        item_type: str,
        path: str,
        key: str,
        parent: str,
        depth: int,
        head: str | None = None,
        software: bool = False,
    ) -> None:
        self.scanner = scanner
        self.item_type = item_type
        self.path = path
        self.key = key
        self.parent = parent
        self.depth = depth
        #: containers here are walked (deeper ones only by an exhaustive scanner)
        self.descend = depth < MAX_DEPTH or scanner.exhaustive
        #: what the paths below begin with (short past MAX_DEPTH: see DEEP)
        self.head = head if head is not None else path if depth < MAX_DEPTH else path + DEEP
        #: numbers here are read (a count or a time elsewhere holds no personal data)
        self.keyed = bool(key and (_KEYED.search(key) or _CARD_KEY.search(key)))
        self.children: dict[str, Site | None] = {}
        self._element: Site | None = None
        self._key_kinds = (*key_kinds(key, parent, "x"), *(("phone_number",) if phone_key(key) else ())) if key else ()
        self._mode, self._rule = path_rule(path, key, parent, item_type)
        #: no IP address or card here (a version, a release, and all below them)
        self._software = software or bool(_SOFTWARE_KEY.search(key) or _SOFTWARE_KEY.search(parent))
        #: card numbers are looked for here: in strings (a bare number not under an id, a
        #: time, a count…); in JSON numbers only under a card's key
        self._card_key = bool(key and _CARD_KEY.search(key))
        self._cards = self._card_key or not (key and _ID_KEY.search(key))
        #: only the value's own patterns can find something here (a rule is only said of a find)
        self._plain = not self._key_kinds
        self._route = path in _ROUTE_PATHS or (item_type == "span" and path in _SPAN_ROUTE_KEYS)
        self.cache: dict[str, Found] | None = {}
        self.hits = self.misses = 0  # of the value cache

    def child(self, key: str) -> Site | None:
        """The site of ``key`` in an object here (or of a ``[key, value]`` pair), or None
        when it is not searched (``modules`` and ``sdk`` at the top, but by an exhaustive walk)."""
        site: Site | None = self.children.get(key, _MISSING)
        if site is _MISSING:
            described = not self.path and key in _NOT_SCANNED
            if described and not self.scanner.exhaustive:
                site = None
            else:
                path = f"{self.head}.{key}" if self.path else key
                site = Site(self.scanner, self.item_type, path, key, self.key, self.depth + 1, self._deep_head(),
                            self._software or described)  # fmt: skip
            if self.scanner.sites < MAX_SITES:
                self.scanner.sites += 1
                self.children[key] = site
        return site

    def element(self) -> Site:
        """The site of the elements of an array here (``path[]``, same key and parent)."""
        site = self._element
        if site is None:
            site = Site(self.scanner, self.item_type, self.head + "[]", self.key, self.parent, self.depth + 1,
                        self._deep_head(), self._software)  # fmt: skip
            if self.scanner.sites < MAX_SITES:
                self.scanner.sites += 1
                self._element = site
        return site

    def _deep_head(self) -> str | None:
        """The head of the sites below, when they lie past :data:`MAX_DEPTH` (else their path)."""
        return self.head if self.depth >= MAX_DEPTH else None

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
            if not self.keyed:
                return ()  # a count, a line number, a timestamp, an id: no personal data, nothing to filter
            return self._analyse(str(value), self._card_key)  # (not remembered: "1" and 1 may differ)
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

    def _analyse(self, text: str, cards: bool | None = None) -> Found:
        """What ``text`` holds here; ``cards``: whether a card number is looked for (a
        number's), else as the path says."""
        mode = self._mode
        if mode == "fixed":
            rule = self._rule
        elif mode == "text":
            rule = filter_rule(text)
        else:
            rule = replace_rule(text)
        kinds: dict[str, tuple[str, str, str | None]] = {}
        if self._key_kinds:
            for kind in key_kinds(self.key, self.parent, text):  # (none for a placeholder)
                kinds[kind] = (kind, mask(kind, text), rule)
        cards = self._cards if cards is None else cards
        for kind, found in value_kinds(text, is_pseudonym, self.scanner.exhaustive, self._card_key):
            if kind in kinds or (self._software and kind in ("ip", "credit_card")) or (self._route and kind == "ssn"):
                continue
            if not cards and kind in ("credit_card", "iban") and found == text and text.isalnum():
                continue  # an id's bare digits (or an upper-case hex id) under an id's key
            kinds[kind] = (kind, mask(kind, found), rule)
        if kinds and is_pseudonym(text):
            return ()  # a pseudonym (export --redact) is no one's data, whatever its key says
        return tuple(kinds.values())


def _pairs(value: list[Any]) -> bool:
    return bool(value) and all(isinstance(v, list) and len(v) == 2 and isinstance(v[0], str) for v in value)


#: The exact place of a value in a payload: object keys and array indexes from the top (in
#: a list of ``[name, value]`` pairs, the pair's index and 1, its value's).
Location = tuple[str | int, ...]


def locate(
    payload: Any, item_type: str = "event", scanner: Scanner | None = None, exhaustive: bool = False
) -> Iterator[tuple[Location, Finding]]:
    """Every :class:`Finding` in one parsed payload (an event, a transaction, a log container …),
    with the :data:`Location` of its value. A ``scanner`` carried from payload to payload
    remembers paths and values (faster, same answers). ``exhaustive`` (or an exhaustive
    ``scanner``): every depth, every string whole (see :class:`Scanner`); iterative, so no
    depth raises."""
    if scanner is None:
        scanner = Scanner(exhaustive)
    elif exhaustive and not scanner.exhaustive:
        raise ValueError("an exhaustive walk needs an exhaustive scanner (Scanner(exhaustive=True))")
    # where each value sits, as a linked list (parent link, step): built into a tuple only
    # for a finding, so deep payloads cost no copies
    stack: list[tuple[Site, Any, _Link]] = [(scanner.root(item_type), payload, None)]
    while stack:
        site, value, where = stack.pop()
        if isinstance(value, dict):
            if site.descend:
                for key, inner in value.items():
                    child = site.child(str(key))
                    if child is not None:
                        stack.append((child, inner, (where, key)))
            continue
        if isinstance(value, list):
            if site.descend:
                if site.pairs(value):
                    for index, (name, inner) in enumerate(value):
                        stack.append((site.child(name), inner, ((where, index), 1)))  # type: ignore[arg-type]
                else:
                    element = site.element()
                    for index, inner in enumerate(value):
                        stack.append((element, inner, (where, index)))
            continue
        found = site.findings(value)
        if found:
            location = _location(where)
            for kind, example, rule in found:
                yield location, Finding(site.path, kind, example, rule)


#: A :data:`Location` being walked: None at the top, else (the parent's link, one step).
_Link = tuple[Any, str | int] | None


def _location(link: _Link) -> Location:
    steps: list[str | int] = []
    while link is not None:
        link, step = link
        steps.append(step)
    steps.reverse()
    return tuple(steps)


def scan(payload: Any, item_type: str = "event", scanner: Scanner | None = None) -> Iterator[Finding]:
    """Every :class:`Finding` in one parsed payload, as :func:`locate` finds them."""
    for _, finding in locate(payload, item_type, scanner):
        yield finding


def spans(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, kind)`` of each piece of personal data the patterns find in ``text``
    (all of it, every occurrence; pseudonyms are no one's), in the order of the text: what
    to replace in a longer string. A user path's span is the user's name. Spans never
    overlap: of two that do, the one starting first (the longer at one start) is kept."""
    found = sorted(((*match.span(group), kind) for kind, match, group in matches(text, True, is_pseudonym)),
                   key=lambda span: (span[0], -span[1]))  # fmt: skip
    kept: list[tuple[int, int, str]] = []
    for span in found:
        if not kept or span[0] >= kept[-1][1]:
            kept.append(span)
    return kept
