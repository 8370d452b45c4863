"""The seams between voicebot's parts, as small structural types.

The assistant needs only these calls from its API client, the daemon only these from
its microphone, the resend only these from the assistant and the console. Anything with
the same methods fits (the local test server's client, a scripted microphone, another
speech engine), with no subclassing and no `type: ignore` in the tests.
Annotations only: importing this module costs nothing at run time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import numpy as np

    from voicebot.api.sse import StreamEvent
    from voicebot.api.wire import ChatResult, ModelInfo, Transcript
    from voicebot.audio.encoding import PreparedAudio


class SpeechToText(Protocol):
    """Uploads audio and returns its text: what the assistant needs for a transcription.

    `fallback` sends it to the fallback speech server instead; `speech_host` names the
    server for messages ("transcribed by ..."); `prefers_fallback`: the primary failed lately
    and is being probed, so uploads go straight to the fallback meanwhile; `primary_too_slow`
    puts it in that state when the fallback answered first.
    """

    async def transcribe(self, *, filename: str, data: bytes, content_type: str, model: str,
                         translate: bool = False, language: str | None = None, prompt: str | None = None,
                         temperature: float | None = None, response_format: str = "json",
                         audio_seconds: float | None = None, fallback: bool = False) -> Transcript: ...

    def speech_host(self, *, fallback: bool = False) -> str: ...

    def prefers_fallback(self) -> bool: ...

    def primary_too_slow(self) -> None: ...


class Chat(Protocol):
    """A streaming chat model, and the lookup that sizes the history sent to it."""

    def chat_stream(self, messages: Sequence[Mapping[str, str]], *, model: str,
                    options: Mapping[str, object]) -> AsyncIterator[StreamEvent]: ...

    async def get_model(self, model_id: str) -> ModelInfo: ...

    async def chat_complete(self, messages: Sequence[Mapping[str, str]], *, model: str,
                            options: Mapping[str, object]) -> ChatResult:
        """The whole answer at once: structured outputs and web-search turns, which Groq does not stream."""
        ...


class AssistantClient(SpeechToText, Chat, Protocol):
    """Everything the assistant asks of the API: speech in, a streamed answer out."""


class TakeAudio(Protocol):
    """One recording as the daemon reads it: mono int16 blocks at `rate` Hz until it ends."""

    @property
    def rate(self) -> int: ...

    @property
    def done(self) -> bool: ...

    @property
    def recorded_at(self) -> float:
        """When the block handed out last was recorded (monotonic): what hands-free's echo guard compares."""

    def stop(self) -> None:
        """End after the release tail."""

    def __aiter__(self) -> AsyncIterator[np.ndarray]: ...


class MicrophoneInput(Protocol):
    """What the daemon needs from `capture.Microphone`."""

    @property
    def level_dbfs(self) -> float: ...

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    def take(self, *, short_blocks: bool = True) -> AbstractAsyncContextManager[TakeAudio]:
        """A take; with `short_blocks` False, one that stays on the idle stream's long blocks (hands-free)."""

    def quicken(self) -> None:
        """The running take moves to short blocks from now on (hands-free, once speech starts)."""


class Answerer(Protocol):
    """What a transcript needs to be answered: the assistant's `ask`."""

    async def ask(self, question: str) -> str: ...


class Transcriber(Protocol):
    """A whole recording to text (split, checked for hallucinations): the assistant's `transcribe`."""

    async def transcribe(self, audio: PreparedAudio, *, translate: bool = False, mode: str | None = None) -> str:
        """`mode` names the turn in the conversation log (ask, translate, dictate, edit)."""


class TurnAssistant(Transcriber, Answerer, Protocol):
    """What sending a kept take again needs from the assistant."""

    def recorded(self) -> Awaitable[bool]:
        """Settles once the last transcript's turn is in the conversation log (True), or will
        not be (False: the log is off or failing): only then may its kept take go."""


class Notices(Protocol):
    """Where a part says something to the user in passing (the console's `notice`)."""

    def notice(self, text: str, **fields: Any) -> None: ...


class TranscriptView(Protocol):
    """Where a transcript is shown (the console's `transcript`)."""

    def transcript(self, text: str, *, label: bool) -> None: ...


__all__ = ["Answerer", "AssistantClient", "Chat", "MicrophoneInput", "Notices", "SpeechToText", "TakeAudio",
           "Transcriber", "TranscriptView", "TurnAssistant"]
