"""What one recording's speech requests carry, typed: models, language, prompt, how it goes up.

Built once from the settings by the CLI's wiring (voicebot.cli.wiring); the assistant and
the speech requests (voicebot.stt.hearing) read these fields and nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

from voicebot.stt.piece_texts import GROQ_STT_CONCURRENCY
from voicebot.stt.vocabulary import SpeechPrompt


@dataclass(frozen=True, kw_only=True)
class SpeechToTextOptions:
    """The speech requests' fields and the upload's shape (codec, longest piece, pieces at once)."""

    transcription_model: str
    translation_model: str  # translation into English (turbo cannot translate)
    language: str | None = None  # ISO-639-1; never sent with a translation (always English out)
    prompt: SpeechPrompt = SpeechPrompt(None)  # the user's prompt and vocabulary, within the limit
    temperature: float | None = None
    response_format: str = "json"  # "text" cannot carry segments; anything else asks verbose_json
    has_fallback: bool = False  # a fallback speech server is configured
    fallback_model: str | None = None  # its model (default: the primary's)
    fallback_after: float = 4.0  # seconds the primary has before the fallback is asked too (0: never)
    codec: str = "opus"  # how audio is uploaded
    max_chunk_seconds: float = 600.0  # longer audio is split at pauses
    pieces_in_flight: int = GROQ_STT_CONCURRENCY  # pieces of one recording sent at once

    def model(self, *, translate: bool) -> str:
        """The model a transcription (or a translation) asks for."""
        return self.translation_model if translate else self.transcription_model

    def race_after(self, audio_seconds: float | None) -> float | None:
        """How long an upload waits for the primary before the fallback is asked too (None: it
        is not): `fallback_after`, plus a little for longer audio (2 % of its length), which takes
        longer to go up and to decode."""
        if not self.has_fallback or self.fallback_after <= 0:
            return None
        return self.fallback_after + 0.02 * (audio_seconds or 0.0)

    def language_for(self, *, translate: bool) -> str | None:
        """The language sent: none with a translation."""
        return None if translate else self.language


__all__ = ["SpeechToTextOptions"]
