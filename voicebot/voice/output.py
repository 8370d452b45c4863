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
within about 60 ms. A stream that stops moving (the sound server died or was stopped) is
given up on with one notice, its speech dropped (voicebot.voice.stream_watch): no answer
and no exit ever waits on a stuck PortAudio call. A sound server that comes back (restarted,
or resumed) is tried again by the next sound, `RETRY_SECONDS` after the failure and once no
call on the old stream is still stuck, quietly: the daemon speaks again without a restart.
Utterances and the mixer: voicebot.voice.mixer.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from voicebot.mic.device_names import list_output_devices, match_output_device
from voicebot.voice import alsa_lines
from voicebot.voice.mixer import Mixer, Utterance
from voicebot.voice.stream_watch import OPEN_SECONDS, WATCH_EVERY, Progress, abandon_portaudio, in_thread

log = logging.getLogger("voicebot.sound")

BLOCK_SECONDS = 0.01  # 10 ms blocks: stop() is heard within a few of them
LATENCY = 0.05  # seconds buffered by the host: less underruns through PulseAudio's ALSA plugin
LINGER_SECONDS = 2.0  # keep the stream open this long after the last sound (sentences come in bursts)
RETRY_SECONDS = 2.0  # after a failed or stuck output, the next sound tries it again no sooner than this
FALLBACK_RATE = 48_000

__all__ = ["BLOCK_SECONDS", "FALLBACK_RATE", "LATENCY", "LINGER_SECONDS", "SoundOutput", "Speaker"]


class SoundOutput(Protocol):
    """Where sound goes: a clip mixed in now, speech queued in order, and stop."""

    def play(self, samples: np.ndarray, rate: int) -> None: ...
    def utterance(self) -> Utterance: ...
    def silent_since(self) -> float | None: ...
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
        self._failed = False  # the output failed or got stuck: sounds are skipped until a retry
        self._failed_at = 0.0
        self._disabled = False  # nothing to play on at all (said at start): never retried
        self._told = False  # the current failure has been said (once per outage)
        self._parked = 0  # PortAudio calls on worker threads that have not returned (a stuck stream's)
        self._progress = Progress()  # when the stream last called back (voicebot.voice.stream_watch)
        self._sounded_until = 0.0  # when the last sound played so far leaves the speaker (monotonic)
        self._watching: asyncio.Task[None] | None = None
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
        """Resolve the device now (a typo in --output-device is exit 2 at start, not a silent turn).

        SoundUnavailable when there is nothing to play on at all (no sound system, no output
        device): the caller says so once and goes on without sound (`disable`)."""
        self._device, rate = self._resolve()
        self._rate = self._rate or rate

    @property
    def usable(self) -> bool:
        """False once the output is known not to work: every sound is skipped without a wait."""
        return not self._failed

    def disable(self) -> None:
        """Play nothing from now on (the caller has said why): speech is dropped at once, chimes skipped."""
        self._failed = self._disabled = True
        self._rate = self._rate or FALLBACK_RATE
        self.mixer.drop_speech()

    # -- the SoundOutput protocol

    def play(self, samples: np.ndarray, rate: int) -> None:
        """Mix a short clip over whatever plays (chimes)."""
        if self._failed and not self._retry():
            return
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
        if self._failed and not self._retry():  # no device: the speech is dropped at once, not waited for
            utterance.dropped = True
            utterance.done.set_result(None)
            return utterance
        self.mixer.add_utterance(utterance)
        return utterance

    def _retry(self) -> bool:
        """Whether to try a failed output again now (then it is no longer failed).

        Not while a call on the old stream is still stuck (a stopped server: a new open would
        hang on it too, and each try would park one more thread), nor sooner than
        RETRY_SECONDS after the failure (a dead server refuses every sentence of an answer).
        """
        if self._disabled or self._parked or time.monotonic() - self._failed_at < RETRY_SECONDS:
            return False
        log.debug("trying the sound output again")
        self._failed = False
        return True

    def _fail(self) -> bool:
        """Mark the output failed; True when this outage has not been said yet."""
        self._failed, self._failed_at = True, time.monotonic()
        first, self._told = not self._told, True
        return first

    def _in_thread(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """A PortAudio call on a thread of its own (voicebot.voice.stream_watch), counted until it returns."""
        self._parked += 1
        future = in_thread(asyncio.get_running_loop(), fn, *args)
        future.add_done_callback(self._returned)
        return future

    def _returned(self, future: asyncio.Future[Any]) -> None:
        self._parked -= 1

    def silent_since(self) -> float | None:
        """When the last sound left the speaker (monotonic), or None while one plays or waits to.

        Hands-free listening is deaf to its own sound: a chime whose stream takes a second to
        open still sounds a second late, and speech leaves the speaker after the host's buffer.
        """
        if self.mixer.busy() and not self._failed:
            return None
        return self._sounded_until

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
            self._in_thread(_shut, stream, True)
            if self.mixer.busy():
                self._wake()

    async def aclose(self) -> None:
        """Close the stream (at exit); what still plays is cut. A stream that does not close
        in time is left behind (voicebot.voice.stream_watch): the exit never waits for it."""
        if self._closer is not None:
            self._closer.cancel()
        if self._watching is not None:
            self._watching.cancel()
        if self._opening is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(asyncio.shield(self._opening), OPEN_SECONDS)
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                await asyncio.wait_for(self._in_thread(_shut, stream), OPEN_SECONDS)
            except TimeoutError:
                abandon_portaudio()

    # -- the stream's life

    def _wake(self) -> None:
        """Something is to be played: make sure the stream is open (off the loop)."""
        loop = asyncio.get_running_loop()
        self._loop = loop
        if self._closer is not None:
            self._closer.cancel()
            self._closer = None
        if self._stream is None and self._opening is None and not self._failed:
            self._progress.opening(time.monotonic())
            opening = self._opening = self._in_thread(self._open_blocking, loop)
            opening.add_done_callback(functools.partial(self._opened, opening))
        if self._watching is None and (self._stream is not None or self._opening is not None):
            self._watching = loop.create_task(self._watch(), name="sound-watchdog")

    async def _watch(self) -> None:
        """While a stream is open or opening: give it up once it stops moving (voicebot.voice.stream_watch)."""
        try:
            while self._stream is not None or self._opening is not None:
                await asyncio.sleep(WATCH_EVERY)
                reason = self._progress.stuck(time.monotonic())
                if reason is not None and (self._stream is not None or self._opening is not None):
                    self._give_up(reason)
                    return
        finally:
            self._watching = None

    def _give_up(self, reason: str) -> None:
        """The sound server stopped answering: drop the stream and all speech now, say so once."""
        first = self._fail()  # every later sound is skipped until a retry, as after a failed open
        stream, self._stream = self._stream, None
        self._opening = None  # should it open after all, `_opened` closes it
        if self._closer is not None:
            self._closer.cancel()
            self._closer = None
        for utterance in self.mixer.drop_speech():
            if not utterance.done.done():
                utterance.done.set_result(None)
        abandon_portaudio()
        if stream is not None:
            self._in_thread(_shut, stream, True)  # may never return: nobody waits (no retry meanwhile)
        log.debug("sound output stuck: %s", reason)
        if self.on_error is not None and first:
            self.on_error(f"the sound output stopped responding ({reason}); the rest is not spoken")

    def _opened(self, opening: asyncio.Future[Any], future: asyncio.Future[Any]) -> None:
        exc = future.exception()
        if self._opening is not opening:  # given up on while it opened: it is not wanted any more
            if exc is None:
                self._in_thread(_shut, future.result(), True)
            return
        self._opening = None
        self._progress.opened(time.monotonic())
        if exc is not None:
            first = self._fail()  # said once an outage; every later sound is skipped quietly until a retry
            self.stop()
            log.debug("could not open the sound output: %s", exc)
            if self.on_error is not None and first:
                self.on_error(f"cannot play sound: {exc}")
            return
        self._stream = future.result()
        self._told = False  # it works: the next outage is said again
        if not self.mixer.busy():  # it went quiet before it was handed over: close it after the linger
            self._went_idle()

    def _open_blocking(self, loop: asyncio.AbstractEventLoop) -> Any:
        rate = self.rate
        idle = [False]
        progress = self._progress
        quieted = [False]
        alsa_lines.prepare()

        def callback(outdata: Any, frames: int, when: Any, status: Any) -> None:
            if not quieted[0]:  # PortAudio's playback thread: its recovered underruns are not worth a line
                quieted[0] = True
                alsa_lines.quiet_underruns_in_this_thread()
            now = time.monotonic()
            progress.tick(now)
            with contextlib.suppress(Exception):  # the DAC time of this block, when the host says
                now += max(0.0, float(when.outputBufferDacTime) - float(when.currentTime))
            block = self.mixer.render(frames, now)
            if block.any():
                self._sounded_until = now + frames / rate
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
        return stream

    def _went_idle(self) -> None:
        if self._closer is None and self._stream is not None:
            self._closer = asyncio.get_running_loop().call_later(self._linger, self._close_if_idle)

    def _close_if_idle(self) -> None:
        self._closer = None
        if self.mixer.busy() or self._stream is None:
            return
        stream, self._stream = self._stream, None
        self._in_thread(_shut, stream)


def _shut(stream: Any, abort: bool = False) -> None:
    """Close a stream: stopped after what it buffered has played, or aborted (discarded) at once."""
    with contextlib.suppress(Exception):
        if abort:
            stream.abort()
        else:
            stream.stop()
    with contextlib.suppress(Exception):
        stream.close()
