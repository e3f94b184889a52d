"""Fixture benchmark: what ``sentry_mirror.testing.Mirror`` adds to each test.

    python benchmarks/fixture.py [--rounds 1000] [--out PATH] [--json]

Times, ROUNDS times each and interleaved, in this process, first with no Mirror running:

- the baseline: what any fixture giving a test a directory and a port costs, a fresh
  temporary directory, a loopback socket bound, listening and closed, the directory removed;
- ``function``: the pytest fixture's work per test, a fresh directory, ``Mirror(dir).start()``
  then ``stop()`` (the shared background loop starts and stops with it: no other Mirror runs);
- ``function_with_request``: the same with one envelope sent on a keep-alive connection,
  read back (``wait_for``) and the connection left open when the Mirror stops (as an SDK
  leaves its connection pool);
- then, with one Mirror running, ``session_reset``: the session variant's work per test,
  ``reset()`` (with one record, sent before and not timed, to read and forget each time).

Prints the medians and 95th percentiles in milliseconds and the ratios to the baseline, and
writes benchmarks/results/fixture.json (``--out``; see resultfile.py). About 5 seconds.
"""

from __future__ import annotations

import argparse
import http.client
import shutil
import socket
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from resultfile import add_output_options, begin, document, emit, headline  # noqa: E402

from sentry_mirror.core.stats import interpolated  # noqa: E402
from sentry_mirror.testing import Mirror  # noqa: E402
from tests.factories import make_envelope  # noqa: E402

ENVELOPE = make_envelope()
KINDS = ("baseline", "function", "function_with_request", "session_reset")


def baseline() -> None:
    directory = tempfile.mkdtemp()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
    shutil.rmtree(directory)


def function() -> None:
    directory = tempfile.mkdtemp()
    Mirror(directory).start().stop()
    shutil.rmtree(directory)


def function_with_request() -> None:
    directory = tempfile.mkdtemp()
    mirror = Mirror(directory).start()
    connection = http.client.HTTPConnection("127.0.0.1", mirror.port, timeout=5)
    connection.request("POST", "/api/1/envelope/?sentry_key=k", ENVELOPE)
    connection.getresponse().read()
    mirror.wait_for(type="event")
    mirror.stop()
    connection.close()
    shutil.rmtree(directory)


def timed(calls: dict[str, Callable[[], None]], rounds: int, times: dict[str, list[float]]) -> None:
    """Milliseconds per call of each of ``calls``, interleaved round by round, added to ``times``."""
    for _ in range(rounds):
        for kind, call in calls.items():
            started = time.perf_counter()
            call()
            times.setdefault(kind, []).append((time.perf_counter() - started) * 1000)


def measure(rounds: int) -> dict[str, list[float]]:
    """The function-scope kinds (no Mirror running besides the one measured), then the session's."""
    times: dict[str, list[float]] = {}
    timed({"baseline": baseline, "function": function, "function_with_request": function_with_request}, rounds, times)
    with tempfile.TemporaryDirectory() as directory, Mirror(directory) as session:
        connection = http.client.HTTPConnection("127.0.0.1", session.port, timeout=5)

        def send() -> None:  # not timed: what a test sends before the next test's reset
            connection.request("POST", "/api/1/envelope/?sentry_key=k", ENVELOPE)
            connection.getresponse().read()

        timed({"send": send, "session_reset": session.reset}, rounds, times)
        connection.close()
    del times["send"]
    return times


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=1000, help="calls of each kind (default 1000)")
    parser.add_argument("--warmup", type=int, default=10, help="rounds run first and not counted (default 10)")
    add_output_options(parser, "fixture")
    args = parser.parse_args(argv)
    started = begin()
    measure(args.warmup)
    times = measure(args.rounds)
    figures: dict[str, Any] = {"rounds": args.rounds}
    base = statistics.median(times["baseline"])
    print(f"{'':24}{'median ms':>10}{'p95 ms':>9}{'x baseline':>12}")
    for kind in KINDS:
        median = statistics.median(times[kind])
        figures[kind] = {"median_ms": median, "p95_ms": interpolated(sorted(times[kind]), 0.95), "ratio": median / base}
        print(f"{kind:24}{median:10.3f}{figures[kind]['p95_ms']:9.3f}{median / base:12.1f}")
    headlines = {
        "function_ratio": headline(figures["function"]["ratio"], "lower", "Mirror start+stop, x baseline"),
        "function_ms": headline(figures["function"]["median_ms"], "lower", "Mirror start+stop, median ms"),
        "reset_ms": headline(figures["session_reset"]["median_ms"], "lower", "reset(), median ms"),
    }
    emit(document("fixture", vars(args), headlines, figures, started), args.out, args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
