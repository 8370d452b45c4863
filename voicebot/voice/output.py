"""The one sound output: every sound voicebot plays (chimes, spoken answers) goes through it.

One object owns the speaker, so a chime never cuts off speech nor speech a chime (which
`sounddevice.play` would: it stops whatever the process was playing). Chimes are MIXED
over whatever plays, not queued: a start chime is the answer to a key press and must be
heard at once, even over an answer being read out. Speech is QUEUED: utterances play one
after another, in the order they were asked for, each written while it is synthesised.

The PortAudio callback thread only reads from the `Mixer` (under a lock held for one
small block); the loop writes to it. The stream is opened only while something is to
be played and closed after `linger` seconds of silence, so an idle daemon costs nothing.
`stop()` drops all speech at once; blocks are 10 ms and the host buffers 50 ms (less
underruns through PulseAudio's ALSA plugin, which then loses audio), so the sound ends
within about 60 ms.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from voicebot.mic.device_names import list_output_devices, match_output_device

log = logging.getLogger("voicebot.sound")

BLOCK_SECONDS = 0.01  # 10 ms blocks: stop() is heard within a few of them
LATENCY = 0.05  # seconds buffered by the host: less underruns through PulseAudio's ALSA plugin
LINGER_SECONDS = 2.0  # keep the stream open this long after the last sound (sentences come in bursts)
FALLBACK_RATE = 48_000


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


class SoundOutput(Protocol):
    """Where sound goes: a clip mixed in now, speech queued in order, and stop."""

    def play(self, samples: np.ndarray, rate: int) -> None: ...
    def utterance(self) -> Utterance: ...
    def stop(self) -> None: ...
    async def aclose(self) -> None: ...


class Speaker:
    """The speaker: a callback-driven `sounddevice.OutputStream`, opened only while sound plays.

    `device` is an index or part of a name (`--output-device`); None is the default output.
    `stream_factory` is for tests: it takes (device, rate, callback) and returns an object
    with start/stop/close, as an OutputStream has.
    """

    def __init__(self, device: str | int | None = None, *, linger: float = LINGER_SECONDS,
                 stream_factory: Callable[[int | None, int, Callable[..., None]], Any] | None = None,
                 rate: int | None = None) -> None:
        self._spec = device
        self._linger = linger
        self._factory = stream_factory
        self._rate = rate
        self._device: int | None = None
        self.mixer = Mixer()
        self._stream: Any = None
        self._opening: asyncio.Future[None] | None = None
        self._closer: asyncio.TimerHandle | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._failed = False
        self.on_error: Callable[[str], None] | None = None  # told once when the device cannot be opened

    @property
    def rate(self) -> int:
        """The output's sample rate (the device's own, so nothing is resampled twice)."""
        if self._rate is None:
            self._rate = self._resolve()[1]
        return self._rate

    def _resolve(self) -> tuple[int | None, int]:
        if self._factory is not None:
            return None, self._rate or FALLBACK_RATE
        from voicebot.mic.input_devices import load_sounddevice

        sd = load_sounddevice()
        self._device = match_output_device(self._spec, list_output_devices(sd))
        try:
            info = sd.query_devices(self._device, "output")
            rate = int(info["default_samplerate"]) or FALLBACK_RATE
        except Exception:
            rate = FALLBACK_RATE
        return self._device, rate

    def check(self) -> None:
        """Resolve the device now (a typo in --output-device is exit 2 at start, not a silent turn)."""
        self._device, rate = self._resolve()
        self._rate = self._rate or rate

    # -- the SoundOutput protocol

    def play(self, samples: np.ndarray, rate: int) -> None:
        """Mix a short clip over whatever plays (chimes)."""
        data = np.asarray(samples, dtype=np.float32)
        if data.ndim > 1:
            data = data.mean(axis=1)
        if rate != self.rate:
            import soxr

            data = np.asarray(soxr.resample(data, rate, self.rate), dtype=np.float32)
        self.mixer.add_clip(data)
        self._wake()

    def utterance(self) -> Utterance:
        """A new piece of speech, queued after the ones before it."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        utterance = Utterance(loop, self.rate, self._wake)
        if self._failed:  # no device: the speech is dropped at once rather than waited for
            utterance.dropped = True
            utterance.done.set_result(None)
            return utterance
        self.mixer.add_utterance(utterance)
        return utterance

    def stop(self) -> None:
        """Drop all speech now (queued and playing).

        What the host already buffered (up to LATENCY) would still play: when speech was
        playing, the stream is aborted, which discards it, and the next sound opens a new one.
        A chime playing at that moment is cut too; stop() comes from a key press, whose own
        chime follows it.
        """
        dropped = self.mixer.drop_speech()
        for utterance in dropped:
            if not utterance.done.done():
                utterance.done.set_result(None)
        if any(u.started.done() for u in dropped) and self._stream is not None:
            stream, self._stream = self._stream, None
            if self._closer is not None:
                self._closer.cancel()
                self._closer = None
            asyncio.get_running_loop().run_in_executor(None, _shut, stream, True)
            if self.mixer.busy():
                self._wake()

    async def aclose(self) -> None:
        """Close the stream (at exit); what still plays is cut."""
        if self._closer is not None:
            self._closer.cancel()
        if self._opening is not None:
            with contextlib.suppress(Exception):
                await self._opening
        stream, self._stream = self._stream, None
        if stream is not None:
            await asyncio.get_running_loop().run_in_executor(None, _shut, stream)

    # -- the stream's life

    def _wake(self) -> None:
        """Something is to be played: make sure the stream is open (off the loop)."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        if self._closer is not None:
            self._closer.cancel()
            self._closer = None
        if self._stream is None and self._opening is None and not self._failed:
            self._opening = loop.run_in_executor(None, self._open_blocking, loop)
            self._opening.add_done_callback(self._opened)

    def _opened(self, future: asyncio.Future[None]) -> None:
        self._opening = None
        exc = future.exception()
        if exc is not None:
            self._failed = True  # said once; every later sound is skipped quietly
            self.stop()
            log.debug("could not open the sound output: %s", exc)
            if self.on_error is not None:
                self.on_error(f"cannot play sound: {exc}")

    def _open_blocking(self, loop: asyncio.AbstractEventLoop) -> None:
        rate = self.rate
        idle = [False]

        def callback(outdata: Any, frames: int, when: Any, status: Any) -> None:
            now = time.monotonic()
            with contextlib.suppress(Exception):  # the DAC time of this block, when the host says
                now += max(0.0, float(when.outputBufferDacTime) - float(when.currentTime))
            block = self.mixer.render(frames, now)
            if outdata.ndim > 1:
                outdata[:] = block[:, None]
            else:
                outdata[:] = block
            quiet = not self.mixer.busy()
            if quiet and not idle[0]:
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(self._went_idle)
            idle[0] = quiet

        if self._factory is not None:
            stream = self._factory(self._device, rate, callback)
        else:
            import sounddevice as sd

            stream = sd.OutputStream(device=self._device, samplerate=rate, channels=1, dtype="float32",
                                     blocksize=max(1, int(rate * BLOCK_SECONDS)), latency=LATENCY,
                                     callback=callback)
        stream.start()
        self._stream = stream

    def _went_idle(self) -> None:
        if self._closer is None and self._stream is not None:
            self._closer = asyncio.get_running_loop().call_later(self._linger, self._close_if_idle)

    def _close_if_idle(self) -> None:
        self._closer = None
        if self.mixer.busy() or self._stream is None:
            return
        stream, self._stream = self._stream, None
        asyncio.get_running_loop().run_in_executor(None, _shut, stream)



def _shut(stream: Any, abort: bool = False) -> None:
    """Close a stream: stopped after what it buffered has played, or aborted (discarded) at once."""
    with contextlib.suppress(Exception):
        if abort:
            stream.abort()
        else:
            stream.stop()
    with contextlib.suppress(Exception):
        stream.close()
