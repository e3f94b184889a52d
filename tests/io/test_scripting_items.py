"""The listener gives the engine the record's items with their headers (io/scripting.py):
a rate limit reads an item's category as the records do (a profile chunk of a UI platform
is ``profile_chunk_ui``), over real HTTP on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import aiohttp

from sentry_mirror.core.script.model import Answer, Match, RateLimit, Rule, Script
from sentry_mirror.io.recorder import Recorder
from sentry_mirror.io.server import create_app, serve
from sentry_mirror.io.snapshot import iter_records
from tests.factories import make_envelope

KEY_QUERY = "sentry_key=0123456789abcdef0123456789abcdef&sentry_version=7"


async def test_a_ui_profile_chunk_is_limited_by_its_own_category(tmp_path: Path) -> None:
    rule = Rule("ui chunks", Match(), Answer(rate_limits=(RateLimit(("profile_chunk_ui",)),)))
    recorder = Recorder(tmp_path)
    await recorder.start()
    running = await serve(create_app(recorder, script=Script((rule,))), "127.0.0.1", 0)
    url = f"http://127.0.0.1:{running.port}/api/1/envelope/?{KEY_QUERY}"
    statuses = []
    try:
        async with aiohttp.ClientSession() as session:
            for platform in ("android", "python"):
                body = make_envelope(None, [({"type": "profile_chunk", "platform": platform}, b"{}")])
                async with session.post(url, data=body) as response:
                    statuses.append(response.status)
    finally:
        await running.stop()
        await recorder.close()
    assert [429, 200] == statuses
    records = [record.data for record in iter_records([tmp_path])]
    assert ["ui chunks", None] == [(r.get("scripted") or {}).get("rule") for r in records]
