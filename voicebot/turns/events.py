"""A turn's events, for the parts that watch turns without being threaded through them.

The assistant tells each observer what happens in a turn (the upload starts, the text is
heard and logged, the question is asked, the first word and the whole answer arrive, the
answer is cut, the turn ends or fails), in the manner of pipecat's observers: the turn's
clock (voicebot.turns.timing) and the conversation log (voicebot.log.observer) watch, and
the assistant knows neither. Observers run on the event loop, in order, and must not block.
`turn` numbers one question of one assistant, so its events find their log entry.
"""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from voicebot.audio.encoding import PreparedAudio


@dataclass(frozen=True)
class UploadStarted:
    """The recording's speech request is about to be sent."""


@dataclass(frozen=True)
class Heard:
    """The recording's text is back and checked."""


@dataclass(frozen=True)
class Transcribed:
    """A recording's words, to be kept even if no answer comes (`mode` names the turn)."""

    text: str
    mode: str
    source: str
    stt_model: str
    audio: PreparedAudio
    started: float  # monotonic time the transcription began
    transcribed: float  # seconds it took
    conversation: str


@dataclass(frozen=True)
class Asked:
    """A question goes to the model: the words just transcribed, or a typed one."""

    turn: int
    question: str
    conversation: str


@dataclass(frozen=True)
class FirstWord:
    """The answer's first text arrived."""

    turn: int


@dataclass(frozen=True)
class AnswerComplete:
    """The whole answer arrived."""

    turn: int


@dataclass(frozen=True)
class AnswerCut:
    """The answer stopped early: `cancelled` (barge-in, Ctrl+C) or the stream broke."""

    turn: int
    cancelled: bool


@dataclass(frozen=True)
class TurnEnded:
    """The exchange as it stays in the history; `timings` are the user's figures when reported with it."""

    turn: int
    reply: str
    model: str
    conversation: str
    usage: dict[str, Any] | None = None
    interrupted: bool = False
    timings: dict[str, int] | None = None


@dataclass(frozen=True)
class TurnFailed:
    """The question got no answer: `error` says why."""

    turn: int
    error: str
    conversation: str


@dataclass(frozen=True)
class FirstAudio:
    """A spoken answer's first sample went to the speaker at monotonic time `at`."""

    at: float


TurnEvent = (UploadStarted | Heard | Transcribed | Asked | FirstWord | AnswerComplete | AnswerCut | TurnEnded
             | TurnFailed | FirstAudio)


class TurnObserver(Protocol):
    """Something that watches turns (the clock, the log)."""

    def on_turn_event(self, event: TurnEvent) -> None: ...


@runtime_checkable
class KeepsWords(Protocol):
    """An observer that keeps the words it is told somewhere durable (the log): a kept take
    leaves the spool only once `kept()` settles (True: kept; False: it will not be)."""

    def kept(self) -> Awaitable[bool]: ...


__all__ = [
    "AnswerComplete",
    "AnswerCut",
    "Asked",
    "FirstAudio",
    "FirstWord",
    "Heard",
    "KeepsWords",
    "Transcribed",
    "TurnEnded",
    "TurnEvent",
    "TurnFailed",
    "TurnObserver",
    "UploadStarted",
]
