"""The one user-facing error type, and the exit codes the CLI maps it to.

Every failure a user can cause (a bad snapshot, a port in use, a body that will not
decode) is a :class:`MirrorError`. Code that talks to users turns it into a message
and an exit code in exactly one place (``sentry_mirror.ui.cli.MirrorGroup``).
"""

from __future__ import annotations

import enum


class ExitCode(enum.IntEnum):
    """Process exit codes. Documented in docs/cli.md (tests/test_docs.py checks the table);
    tested one by one in tests/ui/test_cli.py."""

    OK = 0
    CHECK_FAILED = 1  # the check asked for failed: diff --fail-on, replay's sends, verify's damage
    USAGE = 2  # Click's own code for bad options and arguments
    ERROR = 3  # a MirrorError: the message says what went wrong and what to do
    INTERRUPTED = 130  # Ctrl-C outside the listener's own clean shutdown
    OUTPUT_CLOSED = 141  # stdout closed by its reader (`| head`), as for a process ended by SIGPIPE


class MirrorError(Exception):
    """An error meant for the user: the message names the thing and the fix."""

    exit_code: ExitCode = ExitCode.ERROR


class CheckFailed(MirrorError):
    """Not an error: a check the user asked for (``diff --fail-on``) found what it looks for."""

    exit_code = ExitCode.CHECK_FAILED


class EnvelopeError(MirrorError):
    """A request body that is not a valid Sentry envelope.

    ``cause`` is Relay's wording for what is wrong (``unexpected end of file``,
    ``invalid item header`` ...), so the mirror can answer exactly as Relay would.
    """

    def __init__(self, cause: str, *, offset: int | None = None) -> None:
        self.cause = cause
        self.offset = offset
        where = f" at byte {offset}" if offset is not None else ""
        super().__init__(f"invalid event envelope: {cause}{where}")


class DecodeError(MirrorError):
    """A request body that does not decode with its declared Content-Encoding."""


class UnsupportedEncoding(DecodeError):
    """A Content-Encoding the mirror (and Relay) does not accept."""


class BodyTooLarge(DecodeError):
    """A body whose decoded size passes the configured cap (a decompression bomb, say)."""


class SnapshotError(MirrorError):
    """A snapshot file that cannot be read or written."""


class FormatVersionError(SnapshotError):
    """A snapshot written by a newer sentry-mirror than this one."""


class ScriptError(MirrorError):
    """A script of answers (``listen --script``, ``--scenario``) that cannot be used: the
    message names ``FILE:LINE`` and the reason. A usage error: nothing was started."""

    exit_code = ExitCode.USAGE
