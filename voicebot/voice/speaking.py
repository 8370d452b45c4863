"""Spoken answers: the reply read aloud sentence by sentence while its text still streams.

The answer's text goes to the screen at once, as always; a copy is cut into pieces
(voicebot.voice.speakable) and each complete piece is sent for synthesis straight away,
one request at a time, so the next sentence is synthesised while the one before plays.
The audio streams into an utterance of the sound output as it arrives.

Everything runs inside the turn's task: cancelling the turn (barge-in, Esc, `voicebot
cancel`, Ctrl+C) stops the sound at once and drops what was not yet spoken. A voice that
fails (rate limit, server error, network, the model's terms not yet accepted) is one
notice saying what to do; the text answer and the next turns are untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import functools
import logging
import time
import urllib.parse
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Protocol, TypeVar

from voicebot.audio.wav_stream import BadWav, WavStream
from voicebot.errors import ApiError, VoicebotError
from voicebot.modes import After, Mode
from voicebot.turns.console import Output
from voicebot.voice.mixer import Utterance
from voicebot.voice.output import SoundOutput
from voicebot.voice.speakable import SpeechText

log = logging.getLogger("voicebot.voice.speaking")

T = TypeVar("T")
LOOKAHEAD = 2  # utterances synthesised ahead of what plays: the next one is ready, no more is wasted
STOP_WAIT = 0.5  # seconds a cancelled turn waits for its speech task to wind down
TERMS_REQUIRED = "model_terms_required"


class SpeechClient(Protocol):
    """What the voice needs of the API client: the audio of a text, as it streams."""

    def speech(self, text: str, *, model: str, voice: str,
               response_format: str = "wav") -> AsyncGenerator[bytes, None]: ...


def failure_notice(exc: BaseException, model: str) -> str:
    """The one line said when the voice fails: what happened, and what to do."""
    if isinstance(exc, ApiError) and exc.code == TERMS_REQUIRED:
        page = "https://console.groq.com/playground?model=" + urllib.parse.quote(model, safe="")
        return (f"the answer is not spoken: {model} needs its terms accepted first "
                f"(an organisation admin accepts them at {page}; or set speak = false)")
    if isinstance(exc, BadWav):
        return f"the answer is not spoken: the speech audio could not be read ({exc})"
    return f"the answer is not spoken: {exc}"


class Narrator:
    """Reads answers aloud through one sound output with one API client."""

    def __init__(self, client: SpeechClient, sound: SoundOutput, console: Output, *, model: str,
                 voice: str) -> None:
        self.client = client
        self.sound = sound
        self.console = console
        self.model = model
        self.voice = voice
        self._first_audio: Callable[[float], None] | None = None  # the answer being read's hook

    def with_voice(self, voice: str | None) -> Narrator:
        """This narrator speaking in `voice` (a binding's own; None: this one's), on the same output."""
        if voice is None or voice == self.voice:
            return self
        other = copy.copy(self)
        other.voice = voice
        return other

    async def answer(self, run: Callable[[Callable[[str], None]], Awaitable[T]], *,
                     first_audio: Callable[[float], None] | None = None) -> T:
        """Run `run(feed)` (an answer whose text deltas go to `feed`) and speak that text.

        Returns once the answer is complete and spoken. Cancelled, it stops the sound first.
        `first_audio` gets the monotonic time the first sample went to the speaker.
        """
        async with self.reading(first_audio) as feed:
            return await run(feed)

    @contextlib.asynccontextmanager
    async def reading(self, first_audio: Callable[[float], None] | None = None
                      ) -> AsyncIterator[Callable[[str], None]]:
        """A feed for the answer's text; on exit, waits until it has been spoken."""
        self._first_audio = first_audio
        splitter = SpeechText()
        queue: asyncio.Queue[str | None] = asyncio.Queue()

        def feed(text: str) -> None:
            for piece in splitter.feed(text):
                queue.put_nowait(piece)

        worker = asyncio.create_task(self._speak_all(queue), name="speak")
        try:
            yield feed
            for piece in splitter.finish():
                queue.put_nowait(piece)
            queue.put_nowait(None)
            await worker  # cancelling the turn here cancels the worker too
            self.console.status("", live=True)  # the "speaking: ..." line goes once all is said
        except BaseException:
            self.sound.stop()  # first: the sound ends now, whatever else is still winding down
            worker.cancel()
            await asyncio.wait({worker}, timeout=STOP_WAIT)
            raise
        finally:
            if not worker.done():
                worker.cancel()

    async def _speak_all(self, queue: asyncio.Queue[str | None]) -> None:
        """Synthesise the pieces in order, at most LOOKAHEAD ahead of playback; then wait for the end."""
        ahead: deque[Utterance] = deque()
        failed = False
        try:
            while (piece := await queue.get()) is not None:
                if failed:
                    continue  # one notice per answer: the rest of it stays unspoken
                while len(ahead) >= LOOKAHEAD:
                    await asyncio.wait({ahead[0].done})
                    ahead.popleft()
                utterance = self.sound.utterance()
                ahead.append(utterance)
                utterance.started.add_done_callback(functools.partial(self._started, piece))
                try:
                    await self._synthesise(piece, utterance)
                except (VoicebotError, BadWav) as exc:
                    failed = True
                    log.debug("speech failed", exc_info=True)
                    self.console.notice(failure_notice(exc, self.model))
                finally:
                    utterance.close()
            for utterance in ahead:
                await utterance.done
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not end the turn: the text answer is already there
            log.debug("speaking failed", exc_info=True)
            self.console.notice(f"the answer is not spoken: {type(exc).__name__}: {exc}")

    async def _synthesise(self, text: str, utterance: Utterance) -> None:
        """One piece's audio, written to its utterance as it streams in."""
        wav = WavStream()
        started = time.monotonic()
        async with contextlib.aclosing(self.client.speech(text, model=self.model, voice=self.voice)) as chunks:
            async for chunk in chunks:
                samples = wav.feed(chunk)
                if len(samples) and wav.rate is not None:
                    utterance.write(samples, wav.rate)
                if utterance.dropped:
                    return
        if wav.rate is None:
            raise BadWav("the speech answer held no audio")
        log.debug("synthesised %d characters in %.0f ms", len(text), (time.monotonic() - started) * 1000)

    def _started(self, text: str, started: asyncio.Future[float]) -> None:
        if started.cancelled():
            return
        if self._first_audio is not None:
            first, self._first_audio = self._first_audio, None
            first(started.result())
        self.console.milestone("speech", f"speaking: {text}", text=text)


def speaks(speak: bool, mode: Mode) -> bool:
    """Whether answers in `mode` are read aloud: the binding's own `speak`, else `speak` (the setting).

    Dictation never is: its text goes to the focused window, not to a conversation.
    """
    if mode.after is After.DICTATE:
        return False
    return speak if mode.speak is None else mode.speak


class SpokenAnswers:
    """An answerer that reads the answer aloud while it streams (what after_transcript asks)."""

    def __init__(self, narrator: Narrator, assistant: OnTextAnswerer) -> None:
        self.narrator = narrator
        self.assistant = assistant

    async def ask(self, question: str) -> str:
        return await self.narrator.answer(lambda feed: self.assistant.ask(question, on_text=feed),
                                          first_audio=self.assistant.heard_first_audio)


class OnTextAnswerer(Protocol):
    async def ask(self, question: str, *, on_text: Callable[[str], None] | None = None) -> str: ...

    def heard_first_audio(self, at: float) -> None:
        """The answer's first spoken sample went out at monotonic time `at` (for its timing)."""
