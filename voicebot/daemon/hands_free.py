"""A hands-free session: the microphone is listened to, and each utterance becomes a turn.

Started by a `converse` binding, `voicebot run --hands-free` or `voicebot converse`, a
session holds one microphone take open and scores it frame by frame (voicebot.listen.vad);
the segmenter (voicebot.listen.utterances) decides where speech starts (with its pre-roll)
and ends (`endpoint_ms` of quiet). Each utterance is handed to the daemon as a take whose
audio comes from the session (an `Utterance`) rather than from a key, so it goes through
exactly the push-to-talk pipeline: encoded as it arrives, pieces for long ones, the spool,
the log, `--speak`. The end-of-speech decision ends that take at once; the upload follows
without waiting for any tail.

It never answers itself: while a turn runs (transcribing, answering, speaking) the frames
are dropped unheard and the segmenter starts afresh `ECHO_GUARD` after the turn ends (and
after the start chime), so the spoken answer and the chimes, which reach the microphone
through the speakers, cannot start an utterance; only the keys act meanwhile (a talk key
cuts the answer, as ever). Each time it listens again it says so (a `hands_free` event).
The session ends on the `converse` key or command again, on Esc/cancel, or after
`hands_free_timeout` seconds without speech, with the stop chime.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from voicebot.audio.samples import SILENCE_DBFS, level_dbfs
from voicebot.daemon.recording import Recording, State
from voicebot.errors import VoicebotError
from voicebot.listen import utterances as seg_
from voicebot.listen.utterances import ListenOptions, Segmenter
from voicebot.modes import Mode

if TYPE_CHECKING:
    from voicebot.hotkeys.machine import Binding
    from voicebot.listen.vad import SpeechDetector
    from voicebot.protocols import MicrophoneInput, TakeAudio
    from voicebot.turns.console import Output
    from voicebot.voice.chime import Chimes

log = logging.getLogger("voicebot.daemon.hands_free")

ECHO_GUARD = 0.5  # seconds of audio ignored after a turn: the last of its sound on its way back in
RATE = 16_000  # utterances are handed on at the detector's rate (voicebot.listen.vad.RATE)


class Utterance:
    """One utterance as a take (TakeAudio): the session feeds it 16 kHz audio, the recording reads it."""

    rate = RATE

    def __init__(self) -> None:
        self._queue: asyncio.Queue[np.ndarray | None] = asyncio.Queue()
        self._done = False
        self.level = SILENCE_DBFS
        self.recorded_at = 0.0

    @property
    def done(self) -> bool:
        return self._done

    def feed(self, audio: bytes) -> None:
        if not self._done and audio:
            block = np.frombuffer(audio, np.int16)
            self.level = level_dbfs(block)
            self._queue.put_nowait(block)

    def stop(self) -> None:
        """End of speech (or the length limit): the recording ends with what it was given."""
        if not self._done:
            self._done = True
            self._queue.put_nowait(None)

    async def __aiter__(self) -> AsyncIterator[np.ndarray]:
        while (block := await self._queue.get()) is not None:
            self.recorded_at = time.monotonic()
            yield block


class UtteranceInput:
    """The MicrophoneInput an utterance's recording reads from: the utterance, and its level."""

    def __init__(self, utterance: Utterance) -> None:
        self.utterance = utterance

    @property
    def level_dbfs(self) -> float:
        return self.utterance.level

    async def open(self) -> None:
        return None

    async def close(self) -> None:
        return None

    @contextlib.asynccontextmanager
    async def take(self, *, short_blocks: bool = True) -> AsyncIterator[Utterance]:
        yield self.utterance

    def quicken(self) -> None:
        return None  # the session hands the utterance on as it hears it


class Host(Protocol):
    """What a session needs of the daemon that runs it (voicebot.daemon.core.Daemon): its
    microphone, output and chimes, whether a take or a turn runs, and a way to run a take."""

    output: Output
    chimes: Chimes
    mic: MicrophoneInput
    recording: Recording | None
    turn: asyncio.Task[Any] | None
    use_hotkeys: bool

    @property
    def bindings(self) -> Sequence[Binding]: ...

    def run_take(self, rec: Recording) -> Coroutine[Any, Any, None]: ...
    def background(self, coro: Coroutine[Any, Any, None]) -> None: ...
    def warm(self) -> Coroutine[Any, Any, None]: ...
    def set_state(self, state: State) -> None: ...
    def listening_hint(self) -> str: ...
    def hands_free_ended(self, session: HandsFree) -> None: ...


class HandsFree:
    """One session: listens until `stop()`, the timeout, or a failed microphone."""

    def __init__(self, daemon: Host, mode: Mode, options: ListenOptions) -> None:
        self.daemon = daemon
        self.mode = mode
        self.options = options
        self.task: asyncio.Task[None] | None = None
        self.utterances = 0
        self.hearing = False  # the frames go to the segmenter (not during a turn or its echo guard)
        self._deaf_until = 0.0
        self._in_turn = False  # a turn ran at the last block: the echo guard starts when it is seen over
        self._current: Recording | None = None
        self._why = "hands-free ended"

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="hands-free")

    def stop(self, why: str = "hands-free ended") -> None:
        """End the session; an utterance being spoken is sent (Esc drops it through the daemon)."""
        self._why = why
        if self.task is not None and not self.task.done():
            self.task.cancel()

    async def _run(self) -> None:
        d = self.daemon
        try:
            await self._listen()
        except asyncio.CancelledError:
            pass
        except VoicebotError as exc:
            d.output.error(str(exc))
            self._why = "hands-free ended"
        except Exception as exc:  # a bug or an OS failure: one line, and the daemon keeps going
            log.debug("hands-free failed", exc_info=True)
            d.output.error(f"hands-free listening failed: {type(exc).__name__}: {exc}")
        finally:
            current, self._current = self._current, None
            if current is not None:
                current.stop()  # what was said is sent, as at a key release (Esc has dropped it already)
            d.hands_free_ended(self)
            d.chimes.play("stop")
            d.output.notice(self._why)

    async def _listen(self) -> None:
        d = self.daemon
        detector: SpeechDetector | None = None
        seg = Segmenter(self.options, frame_ms=_frame_ms())
        first = True
        while True:
            async with d.mic.take(short_blocks=False) as take:  # the idle stream's long blocks: cheap
                if detector is None or detector.rate != take.rate:
                    detector = await asyncio.to_thread(_detector, take.rate)  # off the loop (~0.5 s); blocks wait
                if first:
                    first = False
                    d.chimes.play("start")
                    self._deaf(ECHO_GUARD)  # the start chime, on its way back in
                detector.reset()  # a new take: no part-frame of the last one
                after = await self._listen_take(take, detector, seg)
            if after is None:
                self._why = f"hands-free ended: no speech for {self.options.timeout_seconds:g} s"
                return
            if not isinstance(after, Segmenter):  # the take ended by itself (the microphone closed): so does it
                return
            seg = after

    async def _listen_take(self, take: TakeAudio, detector: SpeechDetector,
                           seg: Segmenter) -> Segmenter | TakeAudio | None:
        """One microphone take's blocks, until the session times out (None), a turn is over (the
        segmenter to go on with in the next take) or the take ends by itself (the take).

        An utterance moves the take to short blocks (its end is decided a short block after
        its last frame, not a long one); once its turn is over, the take ends so that the
        next one listens on the idle stream's long blocks again.
        """
        d = self.daemon
        quick = False
        async for block in take:
            frames = detector.feed(block)
            if self._current is not None and self._current.stop_requested:
                self._current = None  # the take's length limit ended it: listen afresh
                seg = seg_.reset(seg)
            if self._current is None and (d.recording is not None or (d.turn is not None and not d.turn.done())):
                self._in_turn = True  # a turn runs: hear nothing of it
                self.hearing = False
                continue
            if self._in_turn:
                self._in_turn = False
                self._deaf(ECHO_GUARD)  # counted from when its end is seen, not from a late block
            if quick and self._current is None:
                return seg_.reset(seg)  # the turn is over: back to long blocks
            if self._deaf_to(take.recorded_at - block.size / take.rate):  # judged by the block's first frame
                seg = seg_.reset(seg)
                continue
            if not self.hearing:  # listening (again): the status line says so, JSON readers get an event
                self.hearing = True
                d.output.milestone("hands_free", d.listening_hint(), listening=True)
            after = self._hear(seg, frames)
            if after is None:
                return None
            seg = after
            if self._current is not None and not quick:
                quick = True
                d.mic.quicken()
        return take

    def _hear(self, seg: Segmenter, frames: list[tuple[bytes, float]]) -> Segmenter | None:
        """One block's frames through the segmenter (None: the session timed out)."""
        seg, block = seg_.hear(seg, frames)
        if block.timed_out:
            return None
        if block.begun is not None:
            self._begin(block.begun)
        self._feed(block.audio)
        if block.ended is not None:
            self._end()  # the end-of-speech decision: the upload follows now
        return seg

    def _begin(self, audio: bytes) -> None:
        """Speech started: a take fed by the session goes through the push-to-talk pipeline."""
        d = self.daemon
        utterance = Utterance()
        utterance.feed(audio)
        rec = Recording(self.mode, source=UtteranceInput(utterance))
        rec.task = asyncio.create_task(d.run_take(rec), name="utterance")
        d.background(d.warm())  # as a key press does: the upload then finds its connection open
        d.recording = rec
        self._current = rec
        self.utterances += 1
        d.set_state(State.RECORDING)
        d.output.milestone("recording", f"● hearing ({self.mode.name})", mode=self.mode.name)

    def _feed(self, audio: bytes) -> None:
        rec = self._current
        if audio and rec is not None and isinstance(rec.source, UtteranceInput):
            rec.source.utterance.feed(audio)

    def _end(self) -> None:
        if self._current is not None:
            self._current.stop()  # released_at: the turn's timing counts from this decision
            self._current = None
        self._deaf(ECHO_GUARD)  # even a turn over before the next block has its chime and voice echo

    def _deaf(self, seconds: float) -> None:
        self.hearing = False
        self._deaf_until = time.monotonic() + seconds

    def _deaf_to(self, recorded: float) -> bool:
        """Whether audio recorded from `recorded` on may carry voicebot's own sound back in.

        Both sides are times of recording, not of handling: a block handled late (a busy
        loop) is judged by when its first frame was recorded (a 200 ms block that ends just
        after the guard began 200 ms inside it). A sound is waited for until it has left the
        speaker (a chime whose output takes a second to open sounds a second late), then
        ECHO_GUARD more, as after a turn.
        """
        sound = self.daemon.chimes.output
        silent = sound.silent_since() if sound is not None else 0.0
        if silent is None:
            self.hearing = False
            return True
        return recorded < max(self._deaf_until, silent + ECHO_GUARD)

    def _ends_hint(self) -> str:
        keys = [b.combo for b in self.daemon.bindings if b.mode.name == "converse"]
        ends = f"{keys[0]} or Esc ends it" if keys and self.daemon.use_hotkeys else "`voicebot converse` ends it"
        if self.options.timeout_seconds:
            ends += f", or {self.options.timeout_seconds:g} s without speech"
        return ends


def _detector(rate: int) -> SpeechDetector:
    from voicebot.listen.vad import SpeechDetector

    return SpeechDetector(rate)


def _frame_ms() -> float:
    from voicebot.listen.vad import FRAME_MS

    return FRAME_MS


__all__ = ["ECHO_GUARD", "HandsFree", "Host", "Utterance", "UtteranceInput"]
