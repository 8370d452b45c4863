"""One recording as the event loop sees it: mono int16 blocks in a queue until the take ends.

The microphone feeds a Take block by block (pre-roll first); the take decides when it is
over: after the release tail, which ends early once the audio after the key-up is quiet
(voicebot.mic.tail), or when the device stalls. Everything here runs on the loop thread.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

import numpy as np

from voicebot.audio.samples import FRAME_SECONDS
from voicebot.mic import tail
from voicebot.mic.input_devices import CaptureError


def to_mono(raw: bytes, channels: int) -> np.ndarray:
    """Interleaved int16 bytes as one mono int16 array (channels averaged)."""
    samples = np.frombuffer(raw, dtype=np.int16)
    if channels == 1:
        return samples
    frames = samples[: len(samples) - len(samples) % channels].reshape(-1, channels)
    return (frames.astype(np.int32).sum(axis=1) // channels).astype(np.int16)


_END = None  # queue sentinel: the take is over


class Take:
    """One recording: iterate it for mono int16 blocks at `rate` Hz until it ends.

    `stop()` asks it to end after the release tail (the last word is often still being
    spoken when the key comes up): as soon as the audio is quiet (voicebot.mic.tail), at the
    latest after `tail_frames`; the iteration then ends by itself. The tail counts from the
    frame being recorded at the release: `late()` says how many frames were recorded but
    not yet handed over then (a long idle block still filling, say).
    """

    def __init__(self, rate: int, tail_frames: int, stall_seconds: float,
                 on_stall: Callable[[CaptureError], None], late: Callable[[], int] | None = None) -> None:
        self.rate = rate
        self.frames = 0  # frames queued so far (pre-roll included)
        self.preroll_frames = 0
        self.frames_at_stop: int | None = None
        self.overflows = 0
        self._tail_frames = tail_frames
        self._tail_left: int | None = None
        self._track = tail.LevelTrack(rate)
        self._frames_after_release = 0  # level frames completed since stop()
        self._stall_seconds = stall_seconds
        self._late = late
        self._on_stall = on_stall
        self._queue: asyncio.Queue[np.ndarray | CaptureError | None] = asyncio.Queue()
        self._times: deque[float] = deque()  # when each queued block was recorded (its last frame arrived)
        self.recorded_at = 0.0  # ... and the block handed out last (monotonic)
        self._done = False
        self._drained = False

    @property
    def done(self) -> bool:
        """True once no more audio will be added (the queue may still hold some)."""
        return self._done

    def stop(self) -> None:
        """End the take once `release_tail_ms` more audio has arrived. Safe to call twice."""
        if self._done or self._tail_left is not None:
            return
        late = max(0, self._late()) if self._late is not None else 0
        self.frames_at_stop = self.frames + late
        self._tail_left = self._tail_frames + late
        self._frames_after_release = -(late // round(self.rate * FRAME_SECONDS))  # quiet is judged after it
        if self._tail_left == 0:
            self._finish()

    def _feed(self, block: np.ndarray, at: float | None = None) -> None:
        """Queue a block whose last frame was recorded `at` (monotonic; now if not given)."""
        if self._done or block.size == 0:
            return
        at = time.monotonic() if at is None else at
        if self._tail_left is not None and block.size >= self._tail_left:
            block = block[: self._tail_left]
            self._tail_left = 0
            self._put(block, at)
            self._finish()
            return
        completed = self._track.add(block)
        self._put(block, at)
        if self._tail_left is not None:
            self._tail_left -= block.size
            self._frames_after_release += completed
            if tail.tail_is_over(self._track.levels, self._frames_after_release):
                self._finish()

    def _put(self, block: np.ndarray, at: float) -> None:
        if block.size:
            self.frames += block.size
            self._times.append(at)
            self._queue.put_nowait(block)

    def _finish(self, error: CaptureError | None = None) -> None:
        if self._done:
            return
        self._done = True
        self._queue.put_nowait(error if error is not None else _END)

    def __aiter__(self) -> Take:
        return self

    async def __anext__(self) -> np.ndarray:
        if self._drained:
            raise StopAsyncIteration
        try:
            # asyncio.timeout, not wait_for: on 3.11, wait_for swallows a cancel that lands as a block
            # arrives, and a discarded take would then record on, refusing every later take.
            async with asyncio.timeout(self._stall_seconds):
                item = await self._queue.get()
        except TimeoutError:
            error = CaptureError(f"no audio from the microphone for {self._stall_seconds:g} s",
                                 hint="the device may have been unplugged; the next take reopens it")
            self._on_stall(error)  # marks the stream broken and finishes this take
            self._drained = True
            raise error from None
        if item is _END:
            self._drained = True
            raise StopAsyncIteration
        if isinstance(item, CaptureError):
            self._drained = True
            raise item
        self.recorded_at = self._times.popleft()
        return item
