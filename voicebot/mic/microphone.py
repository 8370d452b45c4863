"""Live microphone capture: PortAudio hands raw int16 blocks to the asyncio loop, nothing more.

PortAudio calls back on its own real-time thread, which must never block for long. While
nobody records, the callback only appends the block to the pre-roll ring right there on the
audio thread: an idle microphone costs no hop to the event loop and no per-block work on
it. While a take runs, the callback copies the block and schedules `Microphone._deliver`
on the loop, where the take (voicebot.mic.take), the level meter and error handling live. One
short lock makes the switch exact: at the key press the loop empties the ring into the take
and turns the routing to the loop in one step, so no block is lost or counted twice.
Which device and format to open is voicebot.mic.input_devices; encoding and resampling belong
to voicebot.audio.files: a take reports its actual rate and hands out mono int16 blocks.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import deque
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import numpy as np

from voicebot.audio.samples import SILENCE_DBFS, level_dbfs
from voicebot.errors import UsageError
from voicebot.mic import preroll
from voicebot.mic.input_devices import CaptureError, load_sounddevice, resolve_input
from voicebot.mic.stitch import Stitch
from voicebot.mic.take import Take, to_mono

log = logging.getLogger("voicebot.mic.microphone")

BLOCK_MS = 20  # one callback per 20 ms during a take: a smooth meter, a release tail that ends on time
IDLE_BLOCK_MS = 200  # while only the pre-roll listens: few wake-ups (benchmarks/idle.py measures it)
STALL_SECONDS = 3.0  # a take that gets no audio for this long treats the device as gone
_now = time.monotonic  # when a block arrived (tests drive their own clock)


class Microphone:
    """A PortAudio input stream owned by the running event loop.

    With `preroll_ms` > 0 the stream stays open between takes and a ring keeps the last
    `preroll_ms` of audio, which starts the next take. That idle stream runs with long
    blocks (`idle_block_ms`); at the key press a short-block stream opens beside it and the
    take's audio moves over to it without a lost or doubled frame (voicebot.mic.stitch). With
    `preroll_ms` = 0 one short-block stream opens for each take and closes after, so the
    system's microphone indicator is off while idle. A device that
    fails (unplugged, sound server gone) fails the current take with CaptureError; the next
    take re-scans the devices and reopens.

    `backend` stands in for the sounddevice module (tests pass a fake).
    """

    def __init__(self, device: str | int | None = None, *, preroll_ms: int = 0,
                 release_tail_ms: int = 200, stall_seconds: float = STALL_SECONDS,
                 idle_block_ms: int = IDLE_BLOCK_MS, backend: Any = None) -> None:
        if preroll_ms < 0 or release_tail_ms < 0:
            raise ValueError("preroll_ms and release_tail_ms must not be negative")
        self.device_spec = device
        self.preroll_ms = preroll_ms
        self.release_tail_ms = release_tail_ms
        self.stall_seconds = stall_seconds
        self.idle_block_ms = idle_block_ms if preroll_ms and idle_block_ms > BLOCK_MS else BLOCK_MS
        self.rate: int | None = None  # the rate the open stream actually records at
        self.channels: int | None = None
        self.device_index: int | None = None
        self._level = SILENCE_DBFS  # the latest block's level during a take, for a meter
        self._backend = backend
        self._lock = asyncio.Lock()
        self._stream: Any = None
        self._token: object | None = None  # identifies the open stream; stale callbacks carry an old one
        self._broken = False
        self._started = False
        self._rescan = False
        self._ring = preroll.Preroll(capacity=0)  # written by the audio thread while idle, under _route_lock
        self._route_lock = threading.Lock()
        self._to_loop = False  # True while a take runs: blocks go to the loop, not into the ring
        self._ring_end: float | None = None  # when the ring's newest frame arrived
        self._drop_idle = False  # True once a take has moved over to its short-block stream
        self._sd: Any = None
        self._live: Any = None  # the take's short-block stream, beside the long-block idle one
        self._live_token: object | None = None
        self._stitch: Stitch | None = None
        self._opening: asyncio.Task[None] | None = None
        self._fed_until: float | None = None  # when the take's newest frame was recorded
        # The take's newest long blocks: what `quicken` joins the short-block stream against.
        self._recent: deque[np.ndarray] = deque(maxlen=max(2, math.ceil(1000 / self.idle_block_ms) + 1))
        self._take: Take | None = None
        self._opened_at = 0.0
        self._first_block_seen = True
        self._idle_overflows = 0

    @property
    def level_dbfs(self) -> float:
        """The latest block's level: measured per block during a take, on demand while idle."""
        if self._take is not None:
            return self._level
        with self._route_lock:
            latest = self._ring.chunks[-1] if self._ring.chunks else b""
        return level_dbfs(to_mono(latest, self.channels or 1)) if latest else SILENCE_DBFS

    @property
    def is_open(self) -> bool:
        return self._stream is not None

    async def __aenter__(self) -> Microphone:
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def open(self) -> None:
        """Open and start the stream unless it already runs (reopening a broken one)."""
        async with self._lock:
            await self._create_locked()
            await self._start_locked()

    async def _create_locked(self) -> None:
        if self._stream is not None and not self._broken:
            return
        if self._stream is not None:
            await self._close_locked()
        sd = self._backend if self._backend is not None else load_sounddevice()
        loop = asyncio.get_running_loop()
        token = object()
        stream, index, rate, channels = await asyncio.to_thread(self._create_blocking, sd, loop, token)
        self._sd = sd
        self._stream, self._token, self._broken, self._started = stream, token, False, False
        self.device_index, self.rate, self.channels = index, rate, channels
        with self._route_lock:
            self._ring = preroll.Preroll(capacity=preroll.capacity_for(self.preroll_ms, rate), frame_bytes=2 * channels)
        log.debug("microphone ready: device %s at %d Hz, %d channel(s)", index, rate, channels)

    async def _start_locked(self) -> None:
        if self._started or self._stream is None:
            return
        self._opened_at = time.monotonic()
        self._first_block_seen = False
        try:
            await asyncio.to_thread(self._stream.start)
        except Exception as exc:
            await self._close_locked()
            raise CaptureError(f"could not start the microphone: {exc}",
                               hint="check --device and that no other program holds it") from exc
        self._started = True

    def _create_blocking(self, sd: Any, loop: asyncio.AbstractEventLoop,
                         token: object) -> tuple[Any, int | None, int, int]:
        """Resolve the device, pick a format and create the stream (off the loop: it can be slow)."""
        rescan, self._rescan = self._rescan, False
        try:
            index, rate, channels = resolve_input(sd, self.device_spec, rescan=rescan)
        except UsageError:
            self._rescan = True  # a microphone plugged in before the next take is then found
            raise
        stream = self._new_stream(sd, loop, token, index, rate, channels, self.idle_block_ms, idle=True)
        return stream, index, rate, channels

    def _new_stream(self, sd: Any, loop: asyncio.AbstractEventLoop, token: object, index: int | None,
                    rate: int, channels: int, block_ms: int, *, idle: bool) -> Any:
        """A RawInputStream whose blocks go to the loop tagged with `token` and their arrival time.

        The `idle` one keeps its blocks in the pre-roll ring on the audio thread while no take
        runs, and drops them once a take has moved over to its own short-block stream.
        """

        def callback(indata: Any, frames: int, when: Any, status: Any) -> None:
            arrived = _now()
            if idle:
                with self._route_lock:
                    if token is self._token and (not self._to_loop or self._drop_idle):
                        if not self._to_loop and self._ring.capacity:  # idle: keep it for the next pre-roll
                            self._ring = preroll.push(self._ring, bytes(indata))
                            self._ring_end = arrived
                        if status:
                            self._idle_overflows += 1
                        return
            try:
                loop.call_soon_threadsafe(self._deliver, token, bytes(indata), status, arrived)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                raise sd.CallbackAbort from None

        def finished() -> None:
            try:
                loop.call_soon_threadsafe(self._stream_finished, token)
            except RuntimeError:
                pass

        try:
            return sd.RawInputStream(device=index, samplerate=rate, channels=channels, dtype="int16",
                                     blocksize=rate * block_ms // 1000, callback=callback,
                                     finished_callback=finished)
        except Exception as exc:
            raise CaptureError(f"could not open the microphone: {exc}",
                               hint="check --device and that no other program holds it") from exc

    async def _open_live(self) -> None:
        """The take's short-block stream; without it the take goes on with the idle stream's blocks."""
        token = object()
        loop = asyncio.get_running_loop()

        def create() -> Any:
            stream = self._new_stream(self._sd, loop, token, self.device_index, self.rate or 0,
                                      self.channels or 1, BLOCK_MS, idle=False)
            try:
                stream.start()
            except BaseException:
                stream.close()
                raise
            return stream

        self._live_token = token
        try:
            self._live = await asyncio.to_thread(create)
        except Exception as exc:
            self._live_token = None
            log.warning("the take keeps the idle stream's %d ms blocks: %s", self.idle_block_ms, exc)

    async def _close_live(self) -> None:
        opening, self._opening = self._opening, None
        if opening is not None:
            await asyncio.shield(opening)  # a stream being created on a worker thread is closed, not leaked
        live, self._live, self._live_token, self._stitch = self._live, None, None, None
        if live is not None:
            await asyncio.to_thread(_shut, live)

    async def close(self) -> None:
        """Stop and close the stream; any running take ends."""
        async with self._lock:
            await self._close_locked()

    async def _close_locked(self) -> None:
        await self._close_live()
        with self._route_lock:
            stream, self._stream, self._token, self._started = self._stream, None, None, False
            self._ring = preroll.cleared(self._ring)
        if self._take is not None:
            self._take._finish()
        if stream is not None:
            await asyncio.to_thread(_shut, stream)

    @asynccontextmanager
    async def take(self, *, short_blocks: bool = True) -> AsyncIterator[Take]:
        """Record one take: pre-roll first, then live audio until `stop()` plus the release tail.

        With `short_blocks` False the take stays on the idle stream's long blocks (no stream
        of its own): hands-free listening, which runs for minutes and must cost little.
        """
        async with self._lock:
            if self._take is not None:
                raise RuntimeError("a take is already running")
            await self._create_locked()
            assert self.rate is not None
            current = Take(self.rate, preroll.capacity_for(self.release_tail_ms, self.rate),
                           self.stall_seconds, self._fail, self._late_frames)
            with self._route_lock:  # atomic with the audio thread: every block is in the ring or comes to us
                held, self._ring = preroll.contents(self._ring), preroll.cleared(self._ring)
                held_end, self._to_loop, self._drop_idle = self._ring_end, True, False
                overflows, self._idle_overflows = self._idle_overflows, 0
            if overflows:
                log.debug("input overflowed %d time(s) while idle", overflows)
            held_audio = to_mono(held, self.channels or 1)
            self._fed_until = held_end if held else None
            self._recent.clear()
            if held:
                self._recent.append(held_audio)
            if held:
                current._feed(held_audio, held_end)
                current.preroll_frames = current.frames
            # The take is in place before the stream starts, so its very first block is kept.
            self._take = current
            try:
                await self._start_locked()
                if self.idle_block_ms != BLOCK_MS and short_blocks:
                    self._stitch = Stitch(self.rate, held_audio, held_end if held else None)
                    self._opening = asyncio.create_task(self._open_live())  # the take starts meanwhile
            except BaseException:
                self._take = None
                await self._close_live()
                self._route_to_ring()
                raise
        try:
            yield current
        finally:
            self._take = None
            self._route_to_ring()
            current._finish()
            await self._close_live()
            if current.overflows > 1:
                log.warning("input overflowed %d times during the take: some audio was lost",
                            current.overflows)
            if self.preroll_ms == 0 or self._broken:
                await self.close()

    def quicken(self) -> None:
        """Move the running take from the idle stream's long blocks to short ones, from now on.

        A hands-free take listens on long blocks (cheap for minutes of silence); once speech
        starts, the end-of-speech decision should not wait up to a long block for its last
        frame. The short-block stream opens beside the idle one and is joined to the take
        exactly as at a key press (voicebot.mic.stitch), against the take's newest audio.
        """
        if self._take is None or self._stitch is not None or self.rate is None or self.idle_block_ms == BLOCK_MS:
            return
        history = np.concatenate(self._recent) if self._recent else np.empty(0, np.int16)
        self._stitch = Stitch(self.rate, history, self._fed_until)
        self._opening = asyncio.create_task(self._open_live())

    def _route_to_ring(self) -> None:
        """No take any more: blocks stay on the audio thread, in the ring, from the next one on.

        Blocks already scheduled for the loop arrive at `_deliver` with no take and are
        dropped: they are older than what the ring now gets, and the ring keeps order.
        """
        with self._route_lock:
            self._to_loop = self._drop_idle = False

    # --- Loop-thread handlers (scheduled by the PortAudio thread) ----------------------------

    def _deliver(self, token: object, raw: bytes, status: Any, arrived: float) -> None:
        """One block while a take runs: to the take (a late one after the take is dropped)."""
        live = token is self._live_token and token is not None
        if token is not self._token and not live:
            return  # from a stream that has since been closed
        if not live and not self._first_block_seen:
            self._first_block_seen = True
            log.debug("first audio %.0f ms after the microphone was started",
                      (time.monotonic() - self._opened_at) * 1000)
        if status:
            self._report_status(status)
        take = self._take
        if take is None or take.done:
            return
        block = to_mono(raw, self.channels or 1)
        stitch = self._stitch
        if stitch is None:
            blocks = [] if live else [block]
            if not live:
                self._recent.append(block)
        else:
            blocks = stitch.short_block(block, arrived) if live else stitch.long_block(block, arrived)
            if stitch.joined and not self._drop_idle:
                with self._route_lock:
                    self._drop_idle = True  # the idle stream's blocks stay on the audio thread again
        for piece in blocks:
            self._level = level_dbfs(piece)
            take._feed(piece, arrived)
            self._fed_until = arrived

    def _late_frames(self) -> int:
        """Frames recorded by now but not yet in the take (a long block still filling, a join pending)."""
        stitch = self._stitch
        if self._fed_until is None or self.rate is None or stitch is None or stitch.joined or stitch.gave_up:
            return 0  # short blocks: the release tail covers their lag, as it always did
        return min(round((_now() - self._fed_until) * self.rate), 2 * self.rate)

    def _report_status(self, status: Any) -> None:
        if getattr(status, "input_overflow", False):
            take = self._take
            if take is not None:
                take.overflows += 1
                if take.overflows == 1:
                    log.warning("input overflow: some audio was lost (the system was too busy)")
            else:
                self._idle_overflows += 1
                log.debug("input overflow while idle (%d so far)", self._idle_overflows)
        else:
            log.debug("input stream status: %s", status)

    def _stream_finished(self, token: object) -> None:
        """PortAudio stopped the stream by itself: the device or the sound server went away."""
        if token is None or (token is not self._token and token is not self._live_token):
            return  # we closed it on purpose
        self._fail(CaptureError("the microphone stopped delivering audio",
                                hint="the device was unplugged or the sound server went away; "
                                     "the next take reopens it"))

    def _fail(self, error: CaptureError) -> None:
        """Mark the stream broken (the next take reopens it) and end the current take with `error`."""
        if self._broken:
            return
        self._broken, self._rescan = True, True
        with self._route_lock:
            self._token = self._live_token = None
            self._ring = preroll.cleared(self._ring)
        log.warning("%s", error)
        if self._take is not None:
            self._take._finish(error)


__all__ = ["BLOCK_MS", "STALL_SECONDS", "Microphone"]


def _shut(stream: Any) -> None:
    """Abort and close a PortAudio stream (on a worker thread: it can block)."""
    try:
        stream.abort()
    except Exception as exc:
        log.debug("aborting the input stream failed: %s", exc)
    try:
        stream.close()
    except Exception as exc:
        log.debug("closing the input stream failed: %s", exc)
