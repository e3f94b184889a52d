"""Golden fixtures picked part by part (``export --redact --fixtures --jobs``): the examples
of consecutive parts, named together, are the fixtures of the whole."""

from __future__ import annotations

import itertools

from sentry_mirror.core import redact
from sentry_mirror.io.snapshot import iter_records
from tests.factories import REAL_CAPTURES


def test_the_examples_of_parts_cut_anywhere_name_the_fixtures_of_the_whole() -> None:
    records = [r.data for path in REAL_CAPTURES for r in iter_records([path])]
    whole = list(redact.pick(records))
    assert len({(f.sdk, f.item_type) for f in whole}) == len(whole) > 10
    assert len({f.name for f in whole}) == len(whole)
    for cut, step in itertools.product(range(0, len(records) + 1, 3), (5, 11)):
        parts = [records[:cut]] + [records[i : i + step] for i in range(cut, len(records), step)]
        assert whole == list(redact.named(itertools.chain.from_iterable(map(redact.examples, parts)))), cut


def test_two_sdk_names_made_safe_alike_get_two_files() -> None:
    records = [r.data for r in iter_records([REAL_CAPTURES[-1]])]
    renamed = []
    for sdk in ("my sdk", "my_sdk"):
        data = dict(records[0])
        data["summary"] = {**data["summary"], "sdk": f"{sdk}/1.0"}
        renamed.append(data)
    names = [f.name for f in redact.pick(renamed)]
    assert names[0].startswith("my_sdk-") and names[len(names) // 2].endswith("-2.envelope")
