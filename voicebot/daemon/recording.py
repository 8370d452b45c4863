"""A take being recorded: its state, its level meter, and the loop that records and encodes it.

The daemon owns the take's task; this is what that task does until the key comes up (and
the release tail ends): encode each block as it arrives, redraw the status line at most
every METER_INTERVAL, stop at `max_take_seconds`, and hand a long take's pieces, cut at
pauses, to be sent while the recording goes on (voicebot.daemon.live_pieces); the status
line then shows the end of the text heard so far.
"""

from __future__ import annotations

import asyncio
import enum
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass

from voicebot.audio.encoding import PreparedAudio, TakeEncoder
from voicebot.audio.pieces import TakePieces
from voicebot.daemon.live_pieces import STATUS_COLUMNS, LivePieces, with_preview
from voicebot.daemon.profiles import TurnSetup
from voicebot.errors import VoicebotError
from voicebot.modes import Mode
from voicebot.protocols import MicrophoneInput, TakeAudio
from voicebot.turns.console import Output

METER_INTERVAL = 0.1  # seconds between live status redraws


def meter(dbfs: float, width: int = 10) -> str:
    """A level bar from -60 dBFS (empty) to 0 dBFS (full)."""
    filled = max(0, min(width, round((dbfs + 60) / 60 * width)))
    return "█" * filled + "·" * (width - filled)


class State(enum.Enum):
    """What the daemon is doing; the values are what `voicebot status` shows."""

    STARTING = "starting"
    LISTENING = "listening"
    RECORDING = "recording"
    TRANSCRIBING = "transcribing"
    ANSWERING = "answering"


@dataclass(frozen=True, kw_only=True)
class RecordOptions:
    """How a take is recorded: its codec, its longest length, and the pieces a long one is sent in."""

    codec: str = "opus"
    max_take_seconds: float = 300.0  # a take stops by itself after this long
    piece_seconds: float = 10.0  # a longer take is sent in pieces at least this long; 0: whole


@dataclass
class Recording:
    """The take in progress: its mode, task, and (once the stream is open) its take."""

    mode: Mode
    task: asyncio.Task[None] | None = None
    take: TakeAudio | None = None
    stop_requested: bool = False
    released_at: float | None = None  # monotonic time of the key release: the turn's timing starts there
    # Resolved once the microphone runs for this take (None) or could not (the error),
    # so `voicebot toggle` can report a missing microphone instead of "recording".
    opened: asyncio.Future[VoicebotError | None] | None = None
    pieces: LivePieces | None = None  # a long take's pieces, sent while it is recorded
    source: MicrophoneInput | None = None  # where its audio comes from, if not the microphone (hands-free)
    setup: asyncio.Future[TurnSetup] | None = None  # what its turn runs with (voicebot.daemon.profiles.Focus)

    def opening_done(self, failure: VoicebotError | None) -> None:
        if self.opened is not None and not self.opened.done():
            self.opened.set_result(failure)

    def stop(self) -> None:
        if not self.stop_requested:
            self.released_at = time.monotonic()
        self.stop_requested = True
        if self.take is not None:
            self.take.stop()


async def record(rec: Recording, mic: MicrophoneInput, options: RecordOptions, output: Output,
                 new_pieces: Callable[[], LivePieces]) -> PreparedAudio:
    """Record and encode the take; a long one is cut at pauses and its pieces sent meanwhile."""
    limit = options.max_take_seconds
    async with mic.take() as take:
        rec.take = take
        rec.opening_done(None)
        if rec.stop_requested:
            take.stop()
        encoder = TakeEncoder(take.rate, codec=options.codec)
        cutter = TakePieces(options.piece_seconds, codec=options.codec) if options.piece_seconds > 0 else None

        def send(closed: list[tuple[PreparedAudio, bool]]) -> None:
            for piece, has_speech in closed:
                if rec.pieces is None:
                    rec.pieces = new_pieces()
                rec.pieces.add(piece, has_speech)

        drawn = 0.0
        try:
            async for block in take:
                pcm = encoder.write(block)
                if cutter is not None:
                    send(cutter.write(pcm))
                elapsed = encoder.duration
                if elapsed - drawn >= METER_INTERVAL:
                    drawn = elapsed
                    level = meter(mic.level_dbfs)  # measured once per block, by the microphone
                    line = f"● recording ({rec.mode.name}) {elapsed:4.1f} s {level}"
                    if rec.pieces is not None:  # a long take: its pieces sent, and the text heard so far
                        line = with_preview(f"{line} · {rec.pieces.sent} sent", rec.pieces.preview,
                                            shutil.get_terminal_size((STATUS_COLUMNS, 24)).columns)
                    output.status(line, live=True)
                if elapsed >= limit and not take.done and not rec.stop_requested:
                    output.notice(f"maximum take length reached ({limit:g} s); sending what was recorded")
                    rec.stop()
            if cutter is not None:
                send(cutter.write(encoder.flush()))
            prepared = encoder.finish()
            if rec.pieces is not None and cutter is not None:
                rec.pieces.end(*cutter.finish())
                rec.pieces.speech_seconds = encoder.voiced_seconds
        except BaseException:
            if rec.pieces is not None:  # a dropped take (Esc, no speech, a lost device) takes its pieces
                await rec.pieces.drop()
                rec.pieces = None
            raise
    return prepared


__all__ = ["METER_INTERVAL", "RecordOptions", "Recording", "State", "meter", "record"]
