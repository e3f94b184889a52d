"""Checking snapshot files whole: every frame and group against its checks (``verify``)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sentry_mirror.core.answer import is_answer
from sentry_mirror.core.record import Record
from sentry_mirror.errors import SnapshotError
from sentry_mirror.io.decoder import READ_SIZE, UNCHECKED_NOTE, Damage, RecordDecoder


@dataclass
class FileCheck:
    """What reading one file found."""

    path: Path
    size: int = 0
    records: int = 0  # request and answer records
    answers: int = 0  # answer records (forward mode) among them
    checked: bool = False  # written with checks (the header, group marks)
    frames: int = 0  # finished frames whose checksum matched
    unchecked_frames: int = 0  # frames nothing could check (older or foreign files)
    open_frame: bool = False  # ends in a frame never finished (a listener writing, or killed)
    damage: list[Damage] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # every warning about lost data

    @property
    def ok(self) -> bool:
        return not self.damage and not self.problems

    @property
    def status(self) -> str:
        if not self.ok:
            return "damaged"
        return "ok" if self.checked or not self.unchecked_frames else "ok, partly unchecked"

    def to_dict(self) -> dict[str, Any]:
        return {
            "file": str(self.path),
            "status": self.status,
            "ok": self.ok,
            "bytes": self.size,
            "records": self.records,
            "answers": self.answers,
            "checked": self.checked,
            "frames": self.frames,
            "unchecked_frames": self.unchecked_frames,
            "open_frame": self.open_frame,
            "damage": [{"start": d.start, "end": d.end, "reason": d.reason} for d in self.damage],
            "problems": self.problems,
        }


def verify_file(path: Path) -> FileCheck:
    """Read ``path`` whole, as every reader does, and say what passed and what did not;
    answer records (forward mode) are counted too."""
    warnings: list[str] = []
    decoder = RecordDecoder(str(path), warnings.append, live=False, answers=True)
    check = FileCheck(path)

    def count(records: Iterator[Record]) -> None:
        for record in records:
            check.records += 1
            check.answers += is_answer(record.data)

    try:
        with path.open("rb") as fo:
            while chunk := fo.read(READ_SIZE):
                check.size += len(chunk)
                count(decoder.feed(chunk))
            count(decoder.finish())
    except OSError as exc:
        raise SnapshotError(f"cannot read snapshot {path}: {exc.strerror}") from None
    stats = decoder.stats
    check.checked, check.frames, check.unchecked_frames = stats.checked, stats.frames, stats.unchecked_frames
    check.open_frame, check.damage = stats.open_frame, stats.damage
    check.problems = [w for w in warnings if UNCHECKED_NOTE not in w]
    return check
