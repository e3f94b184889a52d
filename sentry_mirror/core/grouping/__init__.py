"""Group error events into issues the way Sentry does, and transactions by name and op.

Sentry's priority order (protocol reference, section 8.1) is fingerprint, then the
exception chain with its stack traces, then type + value, then the message. This module
follows it with the simplification the reference suggests: one hash per event, the MD5
of its *grouping components* joined with ``"\\x00"`` (Sentry associates several variant
hashes with a group; here the in-app variant wins, then the all-frames variant). Expect
Sentry's behaviour, not its hashes.

Grouping components are short, self-describing strings, so a renderer can show *why*
events share a group:

``type:KeyError``                  an exception's type (skipped when ``mechanism.synthetic``)
``frame:__main__:load_basket``     one contributing frame: module (or file name) and function
``value:card ending <int> …``      an exception's normalised value, when it has no frame
``message:payment slow: <int> ms`` the normalised message
``fingerprint:payments``           one value of an explicit fingerprint
``<no grouping info>``             nothing to group by (every such event lands in one group)

Strategies (:data:`STRATEGIES`): ``sentry`` (the default, above), ``type`` (exception
types only), ``message`` (the normalised message or exception value only) and
``fingerprint`` (the explicit fingerprint only). :func:`compare` runs several over the
same events and says where they split or merge groups.

Everything streams: :func:`group_records` keeps one small aggregate per group, never the
events. The bounded parts are documented where they are bounded: at most ``max_ids``
event ids per group, :data:`MAX_VALUES` distinct releases (environments, SDKs, platforms),
:data:`MAX_USERS` distinct users, and a reservoir of :data:`RESERVOIR_SIZE` transaction
durations per transaction group.

The modules, in the order an event meets them:

``records``       the events a record carries (:func:`events_of`)
``event_parts``   reading an event: exception chain, frames, threads, message
``normalize``     messages and frame names without their variable parts
``components``    Sentry's default grouping components
``fingerprint``   the explicit fingerprint and its variables; the group hash
``strategies``    the strategies by name (:data:`STRATEGIES`)
``groups``        events into issues (:class:`Grouper`, :class:`Group`)
``compare``       strategies compared (:func:`compare`)
``transactions``  transactions by name and op, with percentiles (``sample``: the reservoir)
"""

from sentry_mirror.core.grouping.compare import Comparer, Comparison, Flow, PairComparison, compare
from sentry_mirror.core.grouping.components import NO_GROUPING_INFO
from sentry_mirror.core.grouping.event_parts import event_frames, exceptions_of, frames_of
from sentry_mirror.core.grouping.fingerprint import group_hash
from sentry_mirror.core.grouping.groups import (
    MAX_GROUPS,
    MAX_IDS,
    MAX_USERS,
    MAX_VALUES,
    OTHER_GROUPS,
    Group,
    Grouper,
    culprit,
    group_records,
)
from sentry_mirror.core.grouping.normalize import normalize_function, normalize_message
from sentry_mirror.core.grouping.records import events_of
from sentry_mirror.core.grouping.sample import Sample
from sentry_mirror.core.grouping.strategies import (
    DEFAULT_STRATEGY,
    NO_FINGERPRINT,
    STRATEGIES,
    components,
    get_strategy,
)
from sentry_mirror.core.grouping.transactions import (
    RESERVOIR_SIZE,
    TransactionGroup,
    TransactionGrouper,
    duration_ms,
    group_transactions,
)

__all__ = [
    "DEFAULT_STRATEGY",
    "MAX_GROUPS",
    "MAX_IDS",
    "MAX_USERS",
    "MAX_VALUES",
    "NO_FINGERPRINT",
    "NO_GROUPING_INFO",
    "OTHER_GROUPS",
    "RESERVOIR_SIZE",
    "STRATEGIES",
    "Comparer",
    "Comparison",
    "Flow",
    "Group",
    "Grouper",
    "PairComparison",
    "Sample",
    "TransactionGroup",
    "TransactionGrouper",
    "compare",
    "components",
    "culprit",
    "duration_ms",
    "event_frames",
    "events_of",
    "exceptions_of",
    "frames_of",
    "get_strategy",
    "group_hash",
    "group_records",
    "group_transactions",
    "normalize_function",
    "normalize_message",
]
