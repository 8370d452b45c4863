"""How long one spoken turn took, stage by stage, as the user is shown it after the turn.

A turn's clock starts at the key release (the daemon) or at the start of the upload (the
file commands); each stage is marked the first time it is reached, in monotonic time. The
marks become `<stage>_ms` numbers for the `timing` JSON event and one short line for people:
`heard in 0.31 s · first word 0.52 s`. Pure bookkeeping: no I/O.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

# The stages, in the order a turn reaches them.
TAKE_END = "take_end"  # the take is recorded and encoded (release tail included)
UPLOAD_START = "upload_start"  # the speech request is about to be sent
TRANSCRIPT = "transcript"  # its text is back and checked
FIRST_WORD = "first_word"  # the answer's first text arrived
ANSWER = "answer"  # the answer is complete
FIRST_AUDIO = "first_audio"  # its first spoken sample went to the speaker (spoken answers)
STAGES = (TAKE_END, UPLOAD_START, TRANSCRIPT, FIRST_WORD, ANSWER, FIRST_AUDIO)


@dataclass
class TurnClock:
    """Stage marks of one turn; `origin` None means "from the first mark on" (files: the upload)."""

    origin: float | None = None
    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, stage: str, at: float | None = None) -> None:
        """Note that `stage` is reached now (only its first time counts)."""
        now = time.monotonic() if at is None else at
        if self.origin is None:
            self.origin = now
        self.marks.setdefault(stage, now)

    def fields(self) -> dict[str, int]:
        """`<stage>_ms` from the origin for every stage reached, in stage order."""
        origin = self.origin or 0.0
        return {f"{stage}_ms": max(0, round((self.marks[stage] - origin) * 1000))
                for stage in STAGES if stage in self.marks}


def timing_line(fields: dict[str, int]) -> str:
    """The dim line people see after a turn, e.g. `heard in 0.31 s · first word 0.52 s`."""
    parts = []
    if "transcript_ms" in fields:
        parts.append(f"heard in {fields['transcript_ms'] / 1000:.2f} s")
    if "first_word_ms" in fields:
        parts.append(f"first word {fields['first_word_ms'] / 1000:.2f} s")
    if "first_audio_ms" in fields:
        parts.append(f"first sound {fields['first_audio_ms'] / 1000:.2f} s")
    return " · ".join(parts)
