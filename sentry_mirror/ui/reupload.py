"""``replay --uploads``: its options, and the files sentry-cli uploaded sent again to the
candidate through its own chunk protocol (before the events, as a CI run uploads before its
app sends).

:func:`upload_options` adds the options to a command and hands it one :class:`Uploads` (or
None); :func:`run` sends every upload record of the snapshots and shows what became of each.
The decisions are :mod:`sentry_mirror.core.replay.uploads`, the calls
:mod:`sentry_mirror.io.reupload`.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import click
import orjson
from rich.console import Console

from sentry_mirror.core.auth import Dsn
from sentry_mirror.core.query import Query
from sentry_mirror.core.replay.uploads import UploadSummary
from sentry_mirror.io.reupload import Uploader
from sentry_mirror.io.snapshot import expand, iter_records
from sentry_mirror.io.stored_api import ApiClient, api_token
from sentry_mirror.ui import render_replay
from sentry_mirror.ui.params import Duration
from sentry_mirror.ui.safe import text
from sentry_mirror.ui.stored import org_slug

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_WAIT = "60s"


@dataclass(frozen=True, slots=True)
class Uploads:
    """What ``--uploads`` and its options asked for: the candidate's API, the organization and
    project the files go to (None: where they were uploaded), how long to wait for assembling."""

    api_url: str | None
    org: str | None
    project: str | None
    wait: float


_OPTIONS = (
    click.option(
        "--uploads",
        is_flag=True,
        help="Also send the uploaded source maps and debug files through the target's chunk-upload API "
        "(token in $SENTRY_MIRROR_API_TOKEN).",
    ),
    click.option(
        "--api-org", metavar="ORG", help="--uploads: the organization the files go to (default: as recorded)."
    ),
    click.option(
        "--upload-wait",
        type=Duration(),
        default=DEFAULT_WAIT,
        show_default=True,
        help="--uploads: how long to wait for the target to assemble each file.",
    ),
)


def upload_options() -> Callable[[F], F]:
    """The ``--uploads`` options; the command gets them as one ``uploads`` argument. Put above
    :func:`sentry_mirror.ui.stored.verify_options`: ``--api-url`` and ``--api-project`` are
    its options, read here too (with ``--uploads`` alone they are this one's)."""

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            asked, org, wait = (kwargs.pop(k) for k in ("uploads", "api_org", "upload_wait"))
            if not asked and org:
                raise click.UsageError("--api-org goes with --uploads")
            uploads = None
            if asked:
                project = org_slug(kwargs["api_project"])
                if org and project and org != project[0]:
                    raise click.UsageError(f"--api-org {org} and --api-project {'/'.join(project)}: two organizations")
                uploads = Uploads(
                    kwargs["api_url"], org or (project[0] if project else None), project and project[1], wait
                )
                if not kwargs["verify_stored"]:
                    kwargs["api_url"] = kwargs["api_project"] = None  # taken here
            return command(*args, uploads=uploads, **kwargs)

        for option in reversed(_OPTIONS):
            wrapper = option(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorate


def _upload_records(snapshots: tuple[str, ...], wanted: Query) -> Iterator[Mapping[str, Any]]:
    """The upload records the filters select, read quietly (the replay's own reading warns)."""
    records = (r.data for r in iter_records(expand(snapshots or ("snapshots",))))
    return (data for data in wanted.matching(records) if data.get("endpoint") == "upload")


def run(
    asked: Uploads,
    snapshots: tuple[str, ...],
    wanted: Query,
    dsn: Dsn,
    err: Console,
    ssl_context: ssl.SSLContext | None = None,
) -> UploadSummary:
    """Send every upload record of ``snapshots`` (those ``wanted``) to the candidate's API, one
    after the other, saying each on ``err``; what became of them."""
    api = ApiClient(asked.api_url or f"{dsn.scheme}://{dsn.netloc}{dsn.path}", api_token(), ssl_context=ssl_context)
    uploader = Uploader(api, asked.org, asked.project, asked.wait)
    summary = UploadSummary(api=api.url)

    async def send() -> None:
        try:
            for data in _upload_records(snapshots, wanted):
                result = await uploader.upload(data)
                summary.add(result)
                err.print(text(f"uploads: {render_replay.upload_line(result)}"), style="dim", soft_wrap=True)
        finally:
            api.close()

    asyncio.run(send())
    return summary


def conclude(summary: UploadSummary, console: Console, as_json: bool) -> None:
    """The table of uploads and, with ``--json``, one line ``{"uploads": …}`` on stdout."""
    render_replay.uploads_report(console, summary)
    if as_json:
        sys.stdout.buffer.write(orjson.dumps({"uploads": summary.to_dict()}, option=orjson.OPT_APPEND_NEWLINE))
        sys.stdout.buffer.flush()
