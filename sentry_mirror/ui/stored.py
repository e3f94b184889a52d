"""``replay --verify-stored``: its options, and asking the candidate's API once the replay is done.

:func:`verify_options` adds the options to a command and hands it one :class:`Verify` (or
None); :func:`connect` checks, before anything is sent, that the API answers and the token
works; :func:`conclude` asks about every accepted event and shows what was stored. The
meaning of each answer is :mod:`sentry_mirror.core.replay.stored`, the calls
:mod:`sentry_mirror.io.stored_api`.
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import click
import orjson
from rich.console import Console

from sentry_mirror.core.auth import Dsn
from sentry_mirror.core.replay.stored import API_KINDS, API_NAMES, StoredCheck
from sentry_mirror.io.stored_api import ApiClient, api_token, check_access, detect, verify
from sentry_mirror.ui import render_replay
from sentry_mirror.ui.params import Duration
from sentry_mirror.ui.safe import text

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_WAIT = "30s"


@dataclass(frozen=True, slots=True)
class Verify:
    """What ``--verify-stored`` and its options asked for."""

    api_url: str | None
    api_kind: str
    api_project: tuple[str, str] | None
    wait: float


_OPTIONS = (
    click.option(
        "--verify-stored",
        is_flag=True,
        help="Then ask the target's API whether it stored each event it accepted (token in $SENTRY_MIRROR_API_TOKEN; exit 1 if not).",
    ),
    click.option(
        "--api-url",
        metavar="URL",
        help="The target's API, for --verify-stored and --uploads (default: the DSN's origin).",
    ),
    click.option(
        "--api-kind",
        type=click.Choice(["auto", *API_KINDS]),
        default="auto",
        show_default=True,
        help="Which API the target has.",
    ),
    click.option(
        "--api-project",
        metavar="ORG/SLUG",
        help="The DSN's project as Sentry's or GlitchTip's API names it (--uploads: where the files go).",
    ),
    click.option(
        "--verify-wait",
        type=Duration(),
        default=DEFAULT_WAIT,
        show_default=True,
        help="How long to keep asking about events not found yet (servers store asynchronously).",
    ),
)


def verify_options() -> Callable[[F], F]:
    """The ``--verify-stored`` options; the command gets them as one ``verify`` argument."""

    def decorate(command: F) -> F:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            asked = kwargs.pop("verify_stored")
            url, kind, project, wait = (kwargs.pop(k) for k in ("api_url", "api_kind", "api_project", "verify_wait"))
            if not asked and (url or project or kind != "auto"):
                raise click.UsageError(
                    "--api-url, --api-kind and --api-project go with --verify-stored (--api-url and --api-project with --uploads too)"
                )
            verify_ = Verify(url, kind, org_slug(project), wait) if asked else None
            return command(*args, verify=verify_, **kwargs)

        for option in reversed(_OPTIONS):
            wrapper = option(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorate


def org_slug(value: str | None) -> tuple[str, str] | None:
    if value is None:
        return None
    org, sep, slug = value.strip().partition("/")
    if not sep or not org or not slug or "/" in slug:
        raise click.BadParameter(f"{value!r}: expected ORG/SLUG, such as acme/backend", param_hint="--api-project")
    return org, slug


@dataclass
class Verifier:
    """A connected API and the check the replay's results are added to (:meth:`StoredCheck.add`)."""

    check: StoredCheck
    api: ApiClient
    org_slug: tuple[str, str] | None
    wait: float


def connect(asked: Verify, dsn: Dsn, err: Console, ssl_context: ssl.SSLContext | None = None) -> Verifier:
    """The API to ask, checked before anything is sent: the token is set and accepted, the
    project is there; with ``--api-kind auto``, which API it is (said on ``err``). HTTPS is
    verified against ``ssl_context`` (default: the system's certificates)."""
    api = ApiClient(asked.api_url or f"{dsn.scheme}://{dsn.netloc}{dsn.path}", api_token(), ssl_context=ssl_context)

    async def start() -> str:
        try:
            kind = asked.api_kind if asked.api_kind != "auto" else await detect(api)
            await check_access(api, kind, dsn.project_id, asked.api_project)
            return kind
        finally:
            api.close()

    kind = asyncio.run(start())
    how = "detected" if asked.api_kind == "auto" else "--api-kind"
    err.print(text(f"verify-stored: {API_NAMES[kind]}'s API at {api.url} ({how})"), soft_wrap=True)
    check = StoredCheck(kind, project=dsn.project_id, api=f"{API_NAMES[kind]}'s API at {api.url}")
    return Verifier(check, api, asked.api_project, asked.wait)


def conclude(verifier: Verifier, console: Console, as_json: bool) -> bool:
    """Ask about every accepted event, show what was stored (and, with ``--json``, one last
    line ``{"verify_stored": …}`` on stdout). True when some accepted item was not stored."""

    async def ask() -> None:
        try:
            await verify(verifier.check, verifier.api, verifier.org_slug, verifier.wait)
        finally:
            verifier.api.close()

    check = verifier.check
    if check.pending:
        console.print(
            text(f"verify-stored: asking about {len(check.pending)} event(s), for up to {verifier.wait:g} s"),
            style="dim",
            soft_wrap=True,
        )
    asyncio.run(ask())
    render_replay.stored_report(console, check)
    if as_json:
        sys.stdout.buffer.write(orjson.dumps({"verify_stored": check.to_dict()}, option=orjson.OPT_APPEND_NEWLINE))
        sys.stdout.buffer.flush()
    if check.not_stored:
        console.print(
            f"{check.not_stored} item(s) answered 2xx but not stored (--verify-stored fails the replay)",
            style="red",
            soft_wrap=True,
        )
    return bool(check.not_stored)
