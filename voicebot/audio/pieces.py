"""Long takes in pieces while they are recorded: cut at pauses, each piece encoded as it grows.

A long dictation sent whole after the release waits for its whole upload and its whole
transcription. Cut at pauses while the user still speaks, every piece but the last is
already transcribed by the release, and what remains is one short piece. The rule:

- a piece is never shorter than `piece_seconds` (a take shorter than that is sent whole,
  as before; Groq bills at least 10 s per request, so the default 10 s costs nothing);
- once it is long enough, it ends at the next pause: PAUSE_SECONDS of frames all below
  the speech threshold (longer than any gap inside a word), and the cut falls at the
  quietest frame of that pause, at least GUARD_FRAMES from either end of it, so a word's
  first or last sound is never on the wrong side.

The speech threshold is voicebot.audio.files's (the noise floor heard so far, plus a margin),
brought up to date once a second. `PauseCutter` decides on 20 ms frame levels alone;
`TakePieces` applies it to the samples, encoding each piece while the take goes on (only
the last pause's few frames wait for the decision). Pure: no devices, no HTTP.
"""

from __future__ import annotations

from array import array
from dataclasses import dataclass

import numpy as np

from voicebot.audio.encoding import DEFAULT_CODEC, EncodedStream, PreparedAudio
from voicebot.audio.samples import (
    FRAME_SECONDS,
    MIN_VOICED_SECONDS,
    TARGET_RATE,
    frame_levels_dbfs,
    speech_threshold_dbfs,
)

FRAME = round(TARGET_RATE * FRAME_SECONDS)  # samples per level frame (320)
PAUSE_SECONDS = 0.3  # a pause this long ends a piece that is long enough
GUARD_FRAMES = 3  # the cut keeps at least 60 ms of the pause on each side
THRESHOLD_EVERY = 50  # frames between updates of the speech threshold (1 s)


@dataclass(frozen=True)
class PieceCut:
    """One decided cut: the piece ends before `frame` (the next begins there), judged against `threshold`."""

    frame: int
    threshold: float


class PauseCutter:
    """Decides, frame by frame, where a take's pieces end.

    Feed it every 20 ms frame level of the take in order; it answers with the cuts it
    has just decided. A cut always lies within the last PAUSE frames, so frames before
    `settled` can no longer be cut at: a caller may commit them to the current piece.
    """

    def __init__(self, piece_seconds: float, pause_seconds: float = PAUSE_SECONDS,
                 guard: int = GUARD_FRAMES) -> None:
        self.min_frames = max(1, round(piece_seconds / FRAME_SECONDS))
        self.pause = max(2 * guard + 1, round(pause_seconds / FRAME_SECONDS))
        self.guard = guard
        self.frames = 0  # frames seen
        self.piece_start = 0  # first frame of the current piece
        self.threshold = speech_threshold_dbfs(np.zeros(0))
        self._levels = array("d")
        self._quiet_run = 0  # quiet frames ending at the latest one

    @property
    def settled(self) -> int:
        """Frames before this index are in the current piece (or an earlier one) for good."""
        return max(self.piece_start, self.frames - self.pause + self.guard)

    def feed(self, levels: np.ndarray) -> list[PieceCut]:
        """The cuts decided after these frame levels (usually none)."""
        cuts = []
        for level in np.asarray(levels, dtype=np.float64):
            cut = self._frame(float(level))
            if cut is not None:
                cuts.append(cut)
        return cuts

    def _frame(self, level: float) -> PieceCut | None:
        self._levels.append(level)
        self.frames += 1
        if self.frames % THRESHOLD_EVERY == 1 or self.frames <= THRESHOLD_EVERY:
            self.threshold = speech_threshold_dbfs(np.frombuffer(self._levels, dtype=np.float64))
        self._quiet_run = self._quiet_run + 1 if level < self.threshold else 0
        if self._quiet_run < self.pause:
            return None
        levels = np.frombuffer(self._levels, dtype=np.float64)
        if levels[self.frames - self.pause:].max() >= self.threshold:
            return None  # the threshold rose since: judged again, part of it is no pause
        lo = max(self.frames - self.pause + self.guard, self.piece_start + self.min_frames)
        hi = self.frames - self.guard  # exclusive: the cut keeps `guard` quiet frames after it
        if lo >= hi:
            return None
        frame = lo + int(np.argmin(levels[lo:hi]))
        self.piece_start = frame
        self._quiet_run = min(self._quiet_run, self.frames - frame)  # the new piece's quiet start
        return PieceCut(frame, self.threshold)


class TakePieces:
    """A take's 16 kHz int16 samples as pieces cut at pauses, each one encoded as it grows.

    `write` returns the pieces closed by that block (as uploads); `finish` the last one.
    A piece without enough voiced time is still returned (its audio is the user's), with
    `has_speech` False for it, so the caller can skip its upload.
    """

    def __init__(self, piece_seconds: float, *, codec: str = DEFAULT_CODEC, source: str = "microphone") -> None:
        self.cutter = PauseCutter(piece_seconds)
        self.codec = codec
        self.source = source
        self.pieces = 0  # pieces closed so far
        self._stream = EncodedStream(TARGET_RATE, codec)
        self._piece_frames = array("d")  # levels of the current piece's committed frames
        self._held = np.zeros(0, dtype=np.int16)  # samples not yet committed (the last pause, a partial frame)
        self._held_from = 0  # sample index of _held[0] in the take
        self._partial = np.zeros(0, dtype=np.int16)  # samples short of a whole level frame

    def write(self, pcm: np.ndarray) -> list[tuple[PreparedAudio, bool]]:
        """Add samples; the pieces this closes, each with whether it holds speech."""
        block = np.asarray(pcm, dtype=np.int16)
        self._held = np.concatenate((self._held, block)) if len(self._held) else block.copy()
        joined = np.concatenate((self._partial, block)) if len(self._partial) else block
        whole = len(joined) // FRAME * FRAME
        levels = frame_levels_dbfs(joined[:whole], TARGET_RATE) if whole else np.zeros(0)
        self._partial = joined[whole:].copy()
        closed = []
        for cut in self.cutter.feed(levels):
            self._commit(cut.frame * FRAME)
            closed.append(self._close())
        self._commit(self.cutter.settled * FRAME)
        return closed

    def finish(self) -> tuple[PreparedAudio, bool]:
        """The last piece: everything after the last cut."""
        self._commit(self._held_from + len(self._held))
        return self._close()

    def _commit(self, upto: int) -> None:
        """Encode the held samples before sample `upto` into the current piece."""
        n = min(len(self._held), upto - self._held_from)
        if n <= 0:
            return
        part, self._held = self._held[:n], self._held[n:]
        self._held_from += n
        self._stream.write(np.ascontiguousarray(part))
        self._piece_frames.frombytes(frame_levels_dbfs(part, TARGET_RATE).tobytes())

    def _close(self) -> tuple[PreparedAudio, bool]:
        stream, self._stream = self._stream, EncodedStream(TARGET_RATE, self.codec)
        levels, self._piece_frames = np.frombuffer(self._piece_frames, dtype=np.float64), array("d")
        voiced = int(np.count_nonzero(levels >= self.cutter.threshold)) * FRAME_SECONDS
        self.pieces += 1
        frames = stream.frames
        audio = PreparedAudio(filename=stream.codec.filename, data=stream.close(),
                              content_type=stream.codec.content_type, duration=frames / TARGET_RATE,
                              sample_rate=TARGET_RATE, channels=1, source=f"{self.source} (part {self.pieces})")
        return audio, voiced >= MIN_VOICED_SECONDS - 1e-9


__all__ = ["GUARD_FRAMES", "PAUSE_SECONDS", "PauseCutter", "PieceCut", "TakePieces"]
