"""What plays now: speech queued in order (`Utterance`) with chimes mixed over it (`Mixer`).

Pure enough to test without a device: the speaker's PortAudio callback thread only calls
`Mixer.render` (under a lock held for one small block); the loop writes utterances and
clips. Samples are float32 mono, resampled to the output's rate as they are written.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["Mixer", "Utterance"]


class Utterance:
    """Speech queued on the output: written as it is synthesised, closed when complete.

    `started` resolves (on the loop) with the monotonic time the first sample was handed
    to the device; `done` when the last one was, or when the utterance was dropped.
    Samples are float32 mono at any rate; they are resampled to the output's rate here.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop, out_rate: int, wake: Callable[[], None]) -> None:
        self._loop = loop
        self._out_rate = out_rate
        self._wake = wake
        self._resampler: Any = None
        self._in_rate: int | None = None
        self._chunks: deque[np.ndarray] = deque()
        self._offset = 0  # samples of _chunks[0] already played
        self.closed = False
        self.dropped = False
        self.playing = False  # its first sample has gone to the device (audio thread only)
        self.started: asyncio.Future[float] = loop.create_future()
        self.done: asyncio.Future[None] = loop.create_future()
        self._lock = threading.Lock()

    def write(self, samples: np.ndarray, rate: int) -> None:
        """Append mono float32 samples at `rate` (the same rate throughout one utterance)."""
        if self.closed or self.dropped or not len(samples):
            return
        data = self._resample(np.asarray(samples, dtype=np.float32), rate, last=False)
        if len(data):
            with self._lock:
                self._chunks.append(data)
            self._wake()

    def close(self) -> None:
        """No more samples will come: once played, `done` resolves."""
        if self.closed:
            return
        if self._resampler is not None:
            tail = self._resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True)
            if len(tail):
                with self._lock:
                    self._chunks.append(tail.astype(np.float32))
        self.closed = True
        self._wake()

    def _resample(self, data: np.ndarray, rate: int, *, last: bool) -> np.ndarray:
        if self._in_rate is None:
            self._in_rate = rate
            if rate != self._out_rate:
                import soxr

                self._resampler = soxr.ResampleStream(rate, self._out_rate, 1, dtype="float32")
        if self._resampler is None:
            return data
        return np.asarray(self._resampler.resample_chunk(data, last=last), dtype=np.float32)

    # -- called from the audio thread

    def read(self, out: np.ndarray) -> int:
        """Copy up to len(out) samples into `out`; how many were copied."""
        filled = 0
        with self._lock:
            while filled < len(out) and self._chunks:
                head = self._chunks[0]
                take = min(len(out) - filled, len(head) - self._offset)
                out[filled:filled + take] = head[self._offset:self._offset + take]
                filled += take
                self._offset += take
                if self._offset >= len(head):
                    self._chunks.popleft()
                    self._offset = 0
        return filled

    def exhausted(self) -> bool:
        with self._lock:
            return self.closed and not self._chunks

    def _resolve(self, future: asyncio.Future[Any], value: Any) -> None:
        def settle() -> None:
            if not future.done():
                future.set_result(value)
        try:
            self._loop.call_soon_threadsafe(settle)
        except RuntimeError:  # the loop is closed: nobody waits any more
            pass


class Mixer:
    """What plays now: queued utterances one after another, with clips mixed over them.

    `render` is called from the audio thread; everything else from the loop. Pure
    enough to test without a device: render blocks and look at the samples.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._speech: deque[Utterance] = deque()
        self._clips: list[list[Any]] = []  # [samples, position]

    def add_clip(self, samples: np.ndarray) -> None:
        with self._lock:
            self._clips.append([samples, 0])

    def add_utterance(self, utterance: Utterance) -> None:
        with self._lock:
            self._speech.append(utterance)

    def drop_speech(self) -> list[Utterance]:
        """Forget all speech (what is queued and what plays); returns what was dropped."""
        with self._lock:
            dropped = list(self._speech)
            self._speech.clear()
        for utterance in dropped:
            utterance.dropped = True
        return dropped

    def busy(self) -> bool:
        with self._lock:
            return bool(self._speech or self._clips)

    def render(self, frames: int, now: float = 0.0) -> np.ndarray:
        """The next `frames` samples (mono float32, clipped to [-1, 1])."""
        out = np.zeros(frames, dtype=np.float32)
        with self._lock:
            filled = 0
            while self._speech and filled < frames:
                head = self._speech[0]
                got = head.read(out[filled:])
                if got and not head.playing:
                    head.playing = True
                    head._resolve(head.started, now)
                filled += got
                if head.exhausted():
                    self._speech.popleft()
                    head._resolve(head.done, None)
                elif not got:
                    break  # still being synthesised: silence until more arrives
            still: list[list[Any]] = []
            for clip in self._clips:
                samples, pos = clip
                take = min(frames, len(samples) - pos)
                out[:take] += samples[pos:pos + take]
                clip[1] = pos + take
                if clip[1] < len(samples):
                    still.append(clip)
            self._clips = still
        np.clip(out, -1.0, 1.0, out=out)
        return out
