"""How long one spoken turn took, stage by stage, as the user is shown it after the turn.

A turn's clock starts at the key release (the daemon) or at the start of the upload (the
file commands); each stage is marked the first time it is reached, in monotonic time. The
marks become `<stage>_ms` numbers for the `timing` JSON event and one short line for people:
`heard in 0.31 s · first word 0.52 s`. `TurnTiming` marks the stages by observing the turn's
events (voicebot.turns.events) and reports them once, to the output's `timing`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Protocol

from voicebot.turns.events import (
    AnswerComplete,
    AnswerCut,
    FirstAudio,
    FirstWord,
    Heard,
    TurnEvent,
    UploadStarted,
)

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


class TimingView(Protocol):
    """Where the figures go (the console's `timing`)."""

    def timing(self, **stages_ms: int) -> None: ...


class TurnTiming:
    """The clock of the spoken turn in progress, marked as the turn's events pass."""

    def __init__(self, output: TimingView) -> None:
        self.output = output
        self.clock: TurnClock | None = None

    def start(self, origin: float | None = None) -> TurnClock:
        """Time the next turn from `origin` (the key release), else from its first mark (the upload)."""
        self.clock = TurnClock(origin)
        return self.clock

    def report(self) -> dict[str, int] | None:
        """Show the finished turn's stage times (once), if it was timed and got its transcript;
        returns them (for the conversation log)."""
        clock, self.clock = self.clock, None
        if clock is None or TRANSCRIPT not in clock.marks:
            return None
        fields = clock.fields()
        self.output.timing(**fields)
        return fields

    def on_turn_event(self, event: TurnEvent) -> None:
        if isinstance(event, AnswerCut):
            if event.cancelled:
                self.clock = None  # a cut answer has no timing worth showing
            return
        stage = _STAGE_OF.get(type(event))
        if stage is not None and self.clock is not None:
            self.clock.mark(stage, event.at if isinstance(event, FirstAudio) else None)


_STAGE_OF: dict[type, str] = {UploadStarted: UPLOAD_START, Heard: TRANSCRIPT, FirstWord: FIRST_WORD,
                              AnswerComplete: ANSWER, FirstAudio: FIRST_AUDIO}


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
