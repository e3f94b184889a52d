"""A process and its descendants, from /proc (Linux): CPU time summed over the tree, and the
peak RSS of each process, for the benchmarks of commands that run several processes
(``listen --workers``, ``--jobs``).

``getrusage(RUSAGE_CHILDREN)`` only counts descendants that were waited for all the way up:
a pool's workers started by a fork server, which outlives the command by a moment and is
then nobody's child, would be missed. :func:`adopt_orphans` makes this process their
"subreaper" (they are re-parented to it instead of to init) and :func:`reap_orphans` waits
for them, so that their CPU time is counted too."""

from __future__ import annotations

import ctypes
import os
import resource
import subprocess
import tempfile
import threading
import time
from typing import Any, NamedTuple

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[bytes] | None:
    """The fields of /proc/<pid>/stat after the command name (field 3 of stat(5) is item 0)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return None


def tree(root: int) -> list[int]:
    """``root`` and every live descendant (by parent pid; /proc/<pid>/task/*/children is not
    in every kernel)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            fields = _stat(int(name))
            if fields is not None:
                children.setdefault(int(fields[1]), []).append(int(name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def tree_cpu(root: int) -> dict[int, float]:
    """CPU seconds (user + system) of each process of the tree; the root's also counts its
    children that have exited and been waited for (cutime + cstime)."""
    out: dict[int, float] = {}
    for pid in tree(root):
        fields = _stat(pid)
        if fields is None:
            continue
        ticks = int(fields[11]) + int(fields[12])  # utime, stime: fields 14 and 15 of stat(5)
        if pid == root:
            ticks += int(fields[13]) + int(fields[14])  # cutime, cstime
        out[pid] = ticks / CLK_TCK
    return out


PR_SET_CHILD_SUBREAPER = 36


def adopt_orphans() -> bool:
    """Become the subreaper of this process's descendants (Linux 3.4+); False where it cannot."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return bool(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0)
    except (OSError, AttributeError):
        return False


def reap_orphans(timeout: float = 30.0) -> int:
    """Wait for every child process left (orphans re-parented here after the command they
    belonged to exited), at most ``timeout`` seconds; how many were reaped. Call it only when
    no child of this process is meant to stay running."""
    deadline, reaped = time.monotonic() + timeout, 0
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return reaped
        if pid:
            reaped += 1
        elif time.monotonic() > deadline:
            return reaped
        else:
            time.sleep(0.01)


def _vm_hwm_kb(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", "rb") as f:
            for line in f:
                if line.startswith(b"VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


class PeakRss:
    """Polls the tree of ``root`` in a thread and keeps each process's peak RSS (``VmHWM``, which
    the kernel keeps per process; what grows in the last ``interval`` before a process exits is
    missed). Use as a context manager around the wait for the process."""

    def __init__(self, root: int, interval: float = 0.05) -> None:
        self.root = root
        self.interval = interval
        self.peaks_kb: dict[int, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while True:
            for pid in tree(self.root):
                kb = _vm_hwm_kb(pid)
                if kb is not None:
                    self.peaks_kb[pid] = max(kb, self.peaks_kb.get(pid, 0))
            if self._stop.wait(self.interval):
                return

    def figures(self) -> dict[str, Any]:
        """The parent's peak and each other process's (MB), largest first."""
        others = sorted((kb / 1024 for pid, kb in self.peaks_kb.items() if pid != self.root), reverse=True)
        return {
            "parent_peak_rss_mb": self.peaks_kb.get(self.root, 0) / 1024,
            "worker_peak_rss_mb": others,
            "max_worker_peak_rss_mb": others[0] if others else None,
            "processes": 1 + len(others),
        }


class Measured(NamedTuple):
    """One command's run: wall and CPU seconds (its whole process tree), exit code, output, peak RSS."""

    wall_s: float
    cpu_s: float
    code: int
    stdout: bytes
    stderr: str
    peaks: dict[str, Any]


def run_measured(argv: list[str]) -> Measured:
    """Run ``argv`` to its end, its output in temporary files, its process tree's CPU and
    peak RSS measured (call :func:`adopt_orphans` once first, so a pool's workers count)."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=out, stderr=err)
        with PeakRss(proc.pid) as peaks:
            code = proc.wait()
        wall = time.perf_counter() - started
        reap_orphans()  # a pool's workers and fork server: their CPU time
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read().decode("utf-8", "replace")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return Measured(wall, cpu, code, stdout, stderr, peaks.figures())
