"""One recording's speech requests: each piece sent with its prompt, checked, and the whole judged.

A recording goes up as one upload or as several pieces (split at pauses after the fact by
voicebot.audio.chunking, or cut while it is still recorded by voicebot.audio.pieces). Either way each
piece is one request with the same options, to the primary speech server until that one
cannot serve and then to the fallback; Whisper's invented segments are dropped from each
piece's text (voicebot.stt.hallucination), and once all texts are back they are joined in
order, a result without a word (empty, or punctuation only) is "no speech", and an implausibly sparse one is flagged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voicebot.api.retry import server_unavailable
from voicebot.audio import chunking
from voicebot.errors import ApiError, NoSpeechError
from voicebot.stt.hallucination import (
    COMPRESSION_RATIO_CEILING,
    SparseText,
    filter_segments,
    has_words,
    sparse_text,
)
from voicebot.stt.piece_texts import join_texts

if TYPE_CHECKING:
    from voicebot.api.wire import Transcript
    from voicebot.protocols import Notices, SpeechToText
    from voicebot.stt.options import SpeechToTextOptions

log = logging.getLogger("voicebot.stt.hearing")


@dataclass(frozen=True)
class HeardText:
    """A checked transcript: the text, how it was obtained and what the checks found."""

    text: str
    pieces: int  # uploads sent (1 unless the recording was split)
    dropped_segments: int  # segments dropped as invented (no_speech_prob / avg_logprob)
    sparse: SparseText | None  # set when the text is implausibly short for the speech heard
    server: str = ""  # the speech server that answered (host:port)
    fallback: bool = False  # True when that was the fallback server, the primary having failed


class Hearing:
    """The speech requests of one recording, piece by piece, and the verdict on their texts."""

    def __init__(self, client: SpeechToText, options: SpeechToTextOptions, output: Notices, *, translate: bool,
                 on_heard: Callable[[], None]) -> None:
        self.client = client
        self.options = options
        self.output = output
        self.translate = translate
        self._on_heard = on_heard  # the text is back and checked (the turn's clock notes it)
        self.base_prompt: str | None = options.prompt.text
        # "text" cannot carry segments (the user's choice); otherwise ask for them, to check them.
        self.response_format = "text" if options.response_format == "text" else "verbose_json"
        self.fallback = False  # the primary failed for good: the rest goes to the fallback
        self.dropped = 0
        self.repeated = 0

    async def piece(self, upload: chunking.Upload, prompt: str | None, seconds: float | None) -> str:
        """One piece's text, without the segments Whisper itself judged invented."""
        result = await self._send(upload, prompt, seconds)
        kept = filter_segments(result.text, result.segments)
        if kept.dropped:
            log.debug("dropped %d segment(s) that Whisper itself judged as no speech or a failed decode",
                      kept.dropped)
            self.dropped += kept.dropped
            self.repeated += kept.repeated
        return kept.text

    def finish(self, texts: Sequence[str], speech_seconds: float | None, *,
               source: str = "the recording") -> HeardText:
        """The pieces' texts joined in order and judged; NoSpeechError (naming `source`) when nothing was said."""
        server = self.client.speech_host(fallback=self.fallback)
        if self.fallback:
            self.output.notice(f"transcribed by the fallback speech server {server}", stt_server=server,
                               fallback=True)
        if self.repeated:
            self.output.notice(f"left out {self.repeated} segment(s) that only repeated themselves (compression "
                               f"ratio above {COMPRESSION_RATIO_CEILING}): a failed decode, not speech",
                               check="repetition", segments=self.repeated)
        text = join_texts(texts)
        if not has_words(text):  # empty, or only punctuation ". . . ." that noise made Whisper write
            raise NoSpeechError(f"no speech recognised in {source}")
        sparse = sparse_text(text, speech_seconds)
        if sparse is not None:
            self.output.notice(sparse.message(), check="sparse_transcript", words=sparse.words,
                               speech_seconds=round(sparse.seconds, 1),
                               words_per_second=round(sparse.words_per_second, 3))
        self._on_heard()
        return HeardText(text, len(texts), self.dropped, sparse, server, self.fallback)

    async def _send(self, upload: chunking.Upload, prompt: str | None, seconds: float | None) -> Transcript:
        """One upload to the primary speech server or, once it cannot serve (down, or failing after
        the safe retries), to the fallback, with the fallback's own model when one is set. While the
        primary rests after a failure (the client probes it), uploads go straight to the fallback;
        a primary that has not answered in `race_after` seconds races the fallback (voicebot.stt.options)."""
        if not self.fallback and self.options.has_fallback and self.client.prefers_fallback():
            self.fallback = True
            where = self.client.speech_host(fallback=True)
            self.output.notice(f"speech server {self.client.speech_host()} failed lately; using the fallback "
                               f"{where} until it answers again", stt_server=where, fallback=True)
        if self.fallback:
            return await self._on_fallback(upload, prompt, seconds)
        primary = asyncio.ensure_future(
            self._transcribe(upload, prompt, seconds, self.options.model(translate=self.translate)))
        try:
            wait = self.options.race_after(seconds)
            if wait is not None:
                done, _ = await asyncio.wait({primary}, timeout=wait)
                if not done:
                    return await self._race(primary, upload, prompt, seconds, wait)
            try:
                return await primary
            except ApiError as exc:
                if not self.options.has_fallback or not server_unavailable(exc.status):
                    raise
                if not self.fallback:
                    self.fallback = True
                    self.output.notice(f"speech server {self.client.speech_host()} failed ({exc.message}); "
                                       f"using the fallback {self.client.speech_host(fallback=True)}",
                                       stt_server=self.client.speech_host(fallback=True), fallback=True)
        finally:
            primary.cancel()  # a turn cancelled meanwhile leaves no upload behind
        return await self._on_fallback(upload, prompt, seconds)

    async def _race(self, primary: asyncio.Future[Transcript], upload: chunking.Upload, prompt: str | None,
                    seconds: float | None, waited: float) -> Transcript:
        """The primary has not answered in `waited` s: the fallback is asked too and the first
        answer wins; a fallback that wins takes this recording's other pieces and, until the
        primary answers a probe, the next recordings' (the client's route)."""
        where = self.client.speech_host(fallback=True)
        self.output.notice(f"speech server {self.client.speech_host()} has not answered in {waited:.0f} s; "
                           f"asking the fallback {where} too", stt_server=where, fallback=True, race=True)
        backup = asyncio.ensure_future(self._on_fallback(upload, prompt, seconds))
        try:
            pending: set[asyncio.Future[Transcript]] = {primary, backup}
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=lambda t: t is backup):  # a tie goes to the primary
                    if task.exception() is None:
                        if task is backup and not self.fallback:
                            self.fallback = True
                            self.client.primary_too_slow()
                        return task.result()
            first = primary.exception()
            if isinstance(first, ApiError) and not server_unavailable(first.status):
                raise first  # the upload itself was refused: the fallback's failure says less
            failed = backup.exception()
            assert failed is not None
            raise failed
        finally:
            backup.cancel()

    async def _on_fallback(self, upload: chunking.Upload, prompt: str | None, seconds: float | None) -> Transcript:
        model = self.options.fallback_model or self.options.model(translate=self.translate)
        return await self._transcribe(upload, prompt, seconds, model, fallback=True)

    async def _transcribe(self, upload: chunking.Upload, prompt: str | None, seconds: float | None, model: str, *,
                          fallback: bool = False) -> Transcript:
        filename, data, content_type = upload
        return await self.client.transcribe(
            filename=filename, data=data, content_type=content_type, model=model, translate=self.translate,
            language=self.options.language_for(translate=self.translate), prompt=prompt,
            temperature=self.options.temperature, response_format=self.response_format, audio_seconds=seconds,
            fallback=fallback)


__all__ = ["HeardText", "Hearing"]
