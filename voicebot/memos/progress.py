"""How far a memos run has got, for people (a bar, counts, the time left) and for programs.

A run of hundreds of memos takes minutes at once, or hours through a batch: the status
line says which stage it is in, how many of how many are done, and, once there is a rate
to go by, about how long the rest will take. Pure: the clock is passed in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

BAR_WIDTH = 20
STAGES = {"transcribe": "transcribing", "memo": "writing memos", "batch": "batch"}


def clock(seconds: float) -> str:
    """`0:07`, `12:30`, `3:05:00`: the time left, as a clock reads."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    """`[#######-------------]`: filled in proportion, full only when all are done."""
    filled = width if total <= 0 or done >= total else min(width - 1, done * width // total)
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def left_seconds(done: int, total: int, elapsed: float) -> float | None:
    """The time the rest will take at the rate so far (None before the first is done)."""
    if done <= 0 or elapsed <= 0:
        return None
    return elapsed / done * max(0, total - done)


def progress_line(label: str, done: int, total: int, elapsed: float) -> str:
    """`transcribing [########------------] 4/10 40% · about 0:12 left`."""
    percent = 100 if total <= 0 else min(100, done * 100 // total)
    line = f"{label} {bar(done, total)} {done}/{total} {percent}%"
    left = left_seconds(done, total, elapsed)
    if done >= total:
        return line
    return line + (f" · about {clock(left)} left" if left is not None else " · estimating the time left")


@dataclass
class Progress:
    """One stage of a run: its counts and when it began (monotonic seconds)."""

    stage: str
    total: int
    done: int = 0
    started: float = field(default_factory=time.monotonic)
    detail: str = ""  # e.g. the batch's id and status

    def line(self, now: float | None = None) -> str:
        label = STAGES.get(self.stage, self.stage) + (f" {self.detail}" if self.detail else "")
        return progress_line(label, self.done, self.total, (now or time.monotonic()) - self.started)

    def fields(self, now: float | None = None) -> dict[str, Any]:
        """The `progress` event's fields: stage, done, total, and eta_s once there is a rate."""
        left = left_seconds(self.done, self.total, (now or time.monotonic()) - self.started)
        return {"stage": self.stage, "done": self.done, "total": self.total,
                "eta_s": None if left is None else round(left, 1)}
