"""Issues: error events grouped by a strategy's components (:class:`Grouper`,
:func:`group_records`), each group one small aggregate (:class:`Group`) however many events
it holds. The bounded parts are bounded here: at most ``max_ids`` event ids per group,
:data:`MAX_VALUES` distinct releases (environments, SDKs, platforms), :data:`MAX_USERS`
distinct users, :data:`MAX_GROUPS` groups."""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sentry_mirror.core import envelope
from sentry_mirror.core.grouping.components import Components
from sentry_mirror.core.grouping.event_parts import event_frames, exception_frames, exceptions_of, in_app
from sentry_mirror.core.grouping.fingerprint import group_hash
from sentry_mirror.core.grouping.records import EVENT, RecordLike, each_event
from sentry_mirror.core.grouping.strategies import DEFAULT_STRATEGY, Strategy, get_strategy
from sentry_mirror.core.malformed import Malformed
from sentry_mirror.core.record import format_time, parse_time
from sentry_mirror.core.summary import event_title

#: Event and record ids kept per group by default (the count is always exact).
MAX_IDS = 100
#: Distinct users counted exactly per group; a group showing this many has at least as many.
MAX_USERS = 10_000
#: Distinct releases, environments, SDKs and platforms kept per group (the first seen).
MAX_VALUES = 50
#: Groups (and transaction names) kept apart; the events of any further ones are counted
#: together in one group, :data:`OTHER_GROUPS`, so memory stays bounded whatever the input.
MAX_GROUPS = 20_000
OTHER_GROUPS = "(other)"
UNLABELED = "<unlabeled event>"
SHORT_ID_LENGTH = 12
#: The error events (what :func:`group_records` groups).
ERRORS = frozenset({EVENT})


#: Levels SDKs send under other names, as Sentry stores them.
LEVEL_ALIASES = {"warn": "warning", "critical": "fatal", "log": "info"}
_SEVERITY = {"debug": 0, "info": 1, "warning": 2, "error": 3, "fatal": 4}


def _level(event: Mapping[str, Any]) -> str:
    level = event.get("level")
    if not isinstance(level, str) or not level:
        return "error"  # Sentry's default
    level = level.lower()
    return LEVEL_ALIASES.get(level, level)


def _user_key(event: Mapping[str, Any], data: Mapping[str, Any]) -> str | None:
    """Who an event is about, as Sentry's ``user`` tag picks it: id, username, email, IP."""
    user = event.get("user")
    if not isinstance(user, dict):
        return None
    for key in ("id", "username", "email", "ip_address"):
        value = user.get(key)
        if key == "ip_address" and value == "{{auto}}":
            remote = data.get("remote_addr")
            value = remote.rsplit(":", 1)[0].strip("[]") if isinstance(remote, str) and ":" in remote else remote
        if isinstance(value, (str, int, float)) and not isinstance(value, bool) and value != "":
            return f"{key}:{value}"
    return None


def _frame_label(frame: Mapping[str, Any]) -> str | None:
    where = frame.get("module") or frame.get("filename") or frame.get("abs_path")
    function = frame.get("function")
    parts = [str(part) for part in (where, function) if part]
    return " in ".join(parts) or None


def culprit(event: Mapping[str, Any]) -> str | None:
    """``module in function`` of the topmost in-app frame of the raised exception (or of the
    event's stack trace), else the event's ``culprit`` or ``transaction``, else its topmost frame."""
    exceptions = exceptions_of(event)
    frames = exception_frames(event, exceptions[-1]) if exceptions else event_frames(event)
    for frame in reversed(frames):
        if in_app(frame) and (label := _frame_label(frame)):
            return label
    for key in ("culprit", "transaction"):
        value = event.get(key)
        if isinstance(value, str) and value:
            return value
    for frame in reversed(frames):
        if label := _frame_label(frame):
            return label
    return None


def _sdk(event: Mapping[str, Any], data: Mapping[str, Any]) -> str | None:
    sdk = event.get("sdk")
    if isinstance(sdk, dict) and isinstance(sdk.get("name"), str):
        return f"{sdk['name']}/{sdk['version']}" if sdk.get("version") else sdk["name"]
    summary = data.get("summary")
    value = summary.get("sdk") if isinstance(summary, dict) else None
    return value if isinstance(value, str) else None


def _event_id(event: Mapping[str, Any], data: Mapping[str, Any]) -> str:
    value = envelope.normalize_uuid(event.get("event_id"))
    if value is None:
        summary = data.get("summary")
        value = summary.get("event_id") if isinstance(summary, dict) else None
    return value or ""


@dataclass(frozen=True, slots=True)
class Group:
    """One issue: the events whose components hash alike, aggregated.

    ``users`` is exact up to :data:`MAX_USERS`; ``event_ids`` and ``record_ids`` are
    parallel (one entry per event, in the order read) and hold the first ``max_ids``
    events only, while ``count`` counts them all. ``level`` is the most common level
    (the most severe on a tie); ``title`` and ``culprit`` are the first event's.
    """

    short_id: str
    hash: str
    components: Components
    count: int
    users: int
    first_seen: datetime
    last_seen: datetime
    level: str
    title: str
    culprit: str | None
    sdks: tuple[str, ...]
    platforms: tuple[str, ...]
    releases: tuple[str, ...]
    environments: tuple[str, ...]
    event_ids: tuple[str, ...]
    record_ids: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (times as RFC 3339 ``…Z`` strings, tuples as lists)."""
        return {item.name: jsonable(getattr(self, item.name)) for item in fields(self)}


def jsonable(value: Any) -> Any:
    if isinstance(value, datetime):
        return format_time(value)
    return list(value) if isinstance(value, tuple) else value


def _remember(values: dict[str, None], value: Any) -> None:
    if isinstance(value, str) and value and value not in values and len(values) < MAX_VALUES:
        values[value] = None


class _GroupBuilder:
    """The running aggregate of one group: constant size whatever the number of events."""

    __slots__ = (
        "components",
        "count",
        "culprit",
        "environments",
        "event_ids",
        "first_seen",
        "hash",
        "last_seen",
        "levels",
        "levels_dropped",
        "max_ids",
        "platforms",
        "record_ids",
        "releases",
        "sdks",
        "title",
        "users",
    )

    def __init__(self, digest: str, values: Components, event: Mapping[str, Any], max_ids: int) -> None:
        self.hash = digest
        self.components = values
        self.max_ids = max_ids
        self.count = 0
        self.users: set[str] = set()
        self.first_seen = self.last_seen = ""
        self.levels: Counter[str] = Counter()
        self.levels_dropped = False  # a level met past MAX_VALUES was not counted
        self.title = event_title(event) or UNLABELED
        self.culprit = culprit(event)
        self.sdks: dict[str, None] = {}
        self.platforms: dict[str, None] = {}
        self.releases: dict[str, None] = {}
        self.environments: dict[str, None] = {}
        self.event_ids: list[str] = []
        self.record_ids: list[str] = []

    def add(self, event: Mapping[str, Any], data: Mapping[str, Any]) -> None:
        self.count += 1
        received = data.get("received_at") or ""
        # format_time writes fixed-width UTC strings: they compare like the times they hold
        if received and (not self.first_seen or received < self.first_seen):
            self.first_seen = received
        self.last_seen = max(self.last_seen, received)
        if len(self.users) < MAX_USERS and (user := _user_key(event, data)) is not None:
            self.users.add(user)
        self._count_level(_level(event), 1)
        _remember(self.sdks, _sdk(event, data))
        _remember(self.platforms, event.get("platform"))
        _remember(self.releases, event.get("release"))
        _remember(self.environments, event.get("environment"))
        if len(self.event_ids) < self.max_ids:
            self.event_ids.append(_event_id(event, data))
            self.record_ids.append(str(data.get("id") or ""))

    def _count_level(self, level: str, n: int) -> None:
        levels = self.levels
        if level in levels or level in _SEVERITY or len(levels) < MAX_VALUES:
            levels[level] = levels.get(level, 0) + n
        else:
            self.levels_dropped = True

    def merge(self, other: _GroupBuilder) -> None:
        """Add ``other``'s events (of this group, read after this one's): what a single pass
        would have given, unless ``other`` dropped a level (``levels_dropped``) this one
        counts. (Users: the count is exact, as it is capped; values: the first met.)"""
        self.count += other.count
        if other.first_seen and (not self.first_seen or other.first_seen < self.first_seen):
            self.first_seen = other.first_seen
        self.last_seen = max(self.last_seen, other.last_seen)
        for user in other.users:
            if len(self.users) >= MAX_USERS:
                break
            self.users.add(user)
        for level, n in other.levels.items():
            self._count_level(level, n)
        self.levels_dropped = self.levels_dropped or other.levels_dropped
        for mine, theirs in ((self.sdks, other.sdks), (self.platforms, other.platforms),
                             (self.releases, other.releases), (self.environments, other.environments)):  # fmt: skip
            for value in theirs:
                _remember(mine, value)
        room = self.max_ids - len(self.event_ids)
        self.event_ids += other.event_ids[:room]
        self.record_ids += other.record_ids[:room]

    def build(self) -> Group:
        level = max(self.levels.items(), key=lambda pair: (pair[1], _SEVERITY.get(pair[0], -1)))[0]
        return Group(
            short_id=self.hash[:SHORT_ID_LENGTH],
            hash=self.hash,
            components=self.components,
            count=self.count,
            users=len(self.users),
            first_seen=parse_time(self.first_seen),
            last_seen=parse_time(self.last_seen),
            level=level,
            title=self.title,
            culprit=self.culprit,
            sdks=tuple(sorted(self.sdks)),
            platforms=tuple(sorted(self.platforms)),
            releases=tuple(sorted(self.releases)),
            environments=tuple(sorted(self.environments)),
            event_ids=tuple(self.event_ids),
            record_ids=tuple(self.record_ids),
        )


class Grouper:
    """Groups events pushed one at a time (``add``) by one strategy; ``groups()`` at the end.
    :func:`group_records` and the report use it."""

    def __init__(self, strategy: str | Strategy, max_ids: int, max_groups: int = MAX_GROUPS) -> None:
        self.strategy = get_strategy(strategy)
        self.max_ids = max_ids
        self.max_groups = max_groups
        self.builders: dict[str, _GroupBuilder] = {}
        self.digests: dict[Components, str] = {}  # as many as groups, or fewer: saves the MD5

    def add(self, event: Mapping[str, Any], data: Mapping[str, Any]) -> str:
        values = self.strategy(event)
        digest = self.digests.get(values)
        if digest is None:
            digest = group_hash(values)
            if digest not in self.builders and len(self.digests) >= self.max_groups:
                digest, values = OTHER_GROUPS, (OTHER_GROUPS,)
            else:
                self.digests[values] = digest
        builder = self.builders.get(digest)
        if builder is None:
            builder = self.builders[digest] = _GroupBuilder(digest, values, event, self.max_ids)
            if digest == OTHER_GROUPS:
                self._label_other(builder)
        builder.add(event, data)
        return digest

    def _label_other(self, builder: _GroupBuilder) -> None:
        builder.title = f"the events of further groups (over {self.max_groups:,})"
        builder.culprit = None

    @property
    def truncated(self) -> bool:
        """Whether a bound was hit past which :meth:`merge` may differ from a single pass:
        events went to :data:`OTHER_GROUPS`, or a group dropped a level past
        :data:`MAX_VALUES`. A reader that merges parts reads again in one pass then."""
        return OTHER_GROUPS in self.builders or any(b.levels_dropped for b in self.builders.values())

    def feed(self, records: Iterable[RecordLike], malformed: Malformed | None = None) -> None:
        """Add the error events of ``records``; records that cannot be read are counted in
        ``malformed`` (the one feeding rule of :func:`group_records` and ``group --jobs``)."""
        each_event(records, ERRORS, self.add, malformed)

    def merge(self, other: Grouper) -> None:
        """Add ``other``'s groups (same strategy, its events read after this one's): exactly
        what a single pass would have given, unless either is :attr:`truncated` (past
        ``max_groups``, its new groups go to :data:`OTHER_GROUPS`, in group order)."""
        merged: set[str] = set()
        for values, digest in other.digests.items():  # in the order first met
            if digest in merged or (digest not in self.builders and len(self.digests) >= self.max_groups):
                continue
            merged.add(digest)
            self.digests.setdefault(values, digest)
            theirs = other.builders[digest]
            mine = self.builders.get(digest)
            if mine is None:
                self.builders[digest] = copy.deepcopy(theirs)
            else:
                mine.merge(theirs)
        for digest, theirs in other.builders.items():
            if digest in merged:
                continue
            builder = self.builders.get(OTHER_GROUPS)
            if builder is None:
                builder = self.builders[OTHER_GROUPS] = _GroupBuilder(OTHER_GROUPS, (OTHER_GROUPS,), {}, self.max_ids)
                self._label_other(builder)
            builder.merge(theirs)

    def groups(self) -> list[Group]:
        groups = [builder.build() for builder in self.builders.values()]
        groups.sort(key=lambda group: (-group.count, group.first_seen, group.short_id))
        return groups


def group_records(
    records: Iterable[RecordLike],
    strategy: str | Strategy = DEFAULT_STRATEGY,
    *,
    max_ids: int = MAX_IDS,
    max_groups: int = MAX_GROUPS,
    malformed: Malformed | None = None,
) -> list[Group]:
    """The error events of ``records`` grouped by ``strategy``, most frequent first (then
    first seen). One pass over ``records``; transactions are left out (see
    :func:`group_transactions`). Past ``max_groups`` groups, the events of new ones go to
    one :data:`OTHER_GROUPS` group. Records that cannot be read are counted in ``malformed``."""
    grouper = Grouper(strategy, max_ids, max_groups)
    grouper.feed(records, malformed)
    return grouper.groups()
