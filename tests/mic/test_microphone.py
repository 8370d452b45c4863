"""Capture without a sound card: the pre-roll ring, device choice, levels, and the Microphone's
async life cycle driven by a fake PortAudio whose callbacks run on their own thread, as real
ones do."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import threading
from collections.abc import Coroutine
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicebot.audio.samples import SILENCE_DBFS, level_dbfs
from voicebot.errors import EXIT_USAGE, UsageError
from voicebot.mic import microphone as capture
from voicebot.mic import preroll
from voicebot.mic.input_devices import (
    CaptureError,
    InputDevice,
    choose_format,
    input_devices,
    list_input_devices,
    match_device,
)
from voicebot.mic.microphone import Microphone
from voicebot.mic.take import Take, to_mono

# --- Pre-roll ring ----------------------------------------------------------------------------


def _pcm(values: list[int]) -> bytes:
    return np.asarray(values, dtype=np.int16).tobytes()


def test_capacity_rounds_to_frames() -> None:
    assert preroll.capacity_for(300, 16_000) == 4_800
    assert preroll.capacity_for(0, 48_000) == 0
    assert preroll.capacity_for(1, 22_050) == 22  # 22.05 frames
    with pytest.raises(ValueError):
        preroll.capacity_for(-1, 16_000)


def test_ring_keeps_everything_below_capacity() -> None:
    ring = preroll.push(preroll.push(preroll.Preroll(capacity=10), _pcm([1, 2, 3])), _pcm([4, 5]))
    assert ring.frames == 5
    assert preroll.contents(ring) == _pcm([1, 2, 3, 4, 5])


def test_ring_drops_oldest_and_cuts_inside_a_chunk() -> None:
    ring = preroll.Preroll(capacity=4)
    for chunk in ([1, 2, 3], [4, 5, 6], [7]):
        ring = preroll.push(ring, _pcm(chunk))
    assert preroll.contents(ring) == _pcm([4, 5, 6, 7])
    assert ring.frames == 4
    ring = preroll.push(ring, _pcm([8, 9]))
    assert preroll.contents(ring) == _pcm([6, 7, 8, 9])
    assert len(ring.chunks) == 3  # [6] cut from [4,5,6], then [7], [8,9]


def test_ring_with_no_capacity_stays_empty() -> None:
    ring = preroll.push(preroll.Preroll(capacity=0), _pcm([1, 2]))
    assert ring.frames == 0 and preroll.contents(ring) == b""


def test_ring_rejects_partial_frames_and_bad_sizes() -> None:
    with pytest.raises(ValueError, match="whole"):
        preroll.push(preroll.Preroll(capacity=4), b"\x01\x02\x03")
    with pytest.raises(ValueError):
        preroll.Preroll(capacity=-1)


def test_cleared_ring_keeps_its_capacity_and_the_old_value_is_untouched() -> None:
    full = preroll.push(preroll.Preroll(capacity=4), _pcm([1, 2]))
    empty = preroll.cleared(full)
    assert (empty.capacity, empty.frames, empty.chunks) == (4, 0, ())
    assert preroll.contents(full) == _pcm([1, 2])


@given(capacity=st.integers(0, 64),
       chunks=st.lists(st.lists(st.integers(-32768, 32767), max_size=20), max_size=30))
def test_ring_always_holds_the_newest_capacity_frames(capacity: int, chunks: list[list[int]]) -> None:
    ring = preroll.Preroll(capacity=capacity)
    for chunk in chunks:
        ring = preroll.push(ring, _pcm(chunk))
    everything = [v for chunk in chunks for v in chunk]
    expected = everything[max(0, len(everything) - capacity):] if capacity else []
    assert preroll.contents(ring) == _pcm(expected)
    assert ring.frames == len(expected)


# --- Devices and formats ----------------------------------------------------------------------

_INFOS: list[dict[str, Any]] = [
    {"index": 0, "name": "HDA Intel PCH: ALC257 Analog (hw:0,0)", "max_input_channels": 2,
     "max_output_channels": 2, "default_samplerate": 44100.0},
    {"index": 1, "name": "HDMI 0", "max_input_channels": 0, "max_output_channels": 8,
     "default_samplerate": 48000.0},
    {"index": 2, "name": "USB Headset: Audio (hw:2,0)", "max_input_channels": 1,
     "max_output_channels": 2, "default_samplerate": 48000.0},
    {"index": 3, "name": "pulse", "max_input_channels": 32, "max_output_channels": 32,
     "default_samplerate": 44100.0},
    {"index": 4, "name": "default", "max_input_channels": 32, "max_output_channels": 32,
     "default_samplerate": 44100.0},
]
_DEVICES = input_devices(_INFOS, default_index=4)


def test_input_devices_skip_outputs_and_mark_the_default() -> None:
    assert [d.index for d in _DEVICES] == [0, 2, 3, 4]
    assert [d.index for d in _DEVICES if d.is_default] == [4]
    assert _DEVICES[1] == InputDevice(2, "USB Headset: Audio (hw:2,0)", 1, 48000.0, False)


@pytest.mark.parametrize(("spec", "index"), [
    (None, None), ("", None), (2, 2), ("2", 2), (" 3 ", 3), ("usb", 2), ("ALC257", 0),
    ("PULSE", 3),  # exact name wins over being a substring of nothing else
])
def test_match_device(spec: str | int | None, index: int | None) -> None:
    assert match_device(spec, _DEVICES) == index


def test_exact_name_wins_when_it_is_also_a_substring_of_another() -> None:
    devices = [InputDevice(0, "Mic", 1, 48000.0, False), InputDevice(1, "Mic (rear)", 1, 48000.0, False)]
    assert match_device("mic", devices) == 0


def test_ambiguous_name_lists_the_candidates() -> None:
    with pytest.raises(UsageError) as caught:
        match_device("(hw:", _DEVICES)
    text = str(caught.value)
    assert "ALC257" in text and "USB Headset" in text and "pulse" not in text
    assert caught.value.exit_code == EXIT_USAGE


def test_unknown_name_or_index_lists_the_inputs() -> None:
    with pytest.raises(UsageError, match="no input device matches 'webcam'") as caught:
        match_device("webcam", _DEVICES)
    assert "USB Headset" in str(caught.value)
    with pytest.raises(UsageError, match="index 1"):  # an output-only device is no input
        match_device(1, _DEVICES)


def test_no_input_devices_at_all_is_a_usage_error() -> None:
    with pytest.raises(CaptureError, match="no input device") as caught:
        match_device(None, [])
    assert caught.value.exit_code == EXIT_USAGE


def test_format_prefers_16k_mono() -> None:
    assert choose_format(44100.0, 2, lambda rate, ch: True) == (16_000, 1)


def test_format_falls_back_to_the_device_rate_then_to_stereo() -> None:
    assert choose_format(48000.0, 2, lambda rate, ch: rate == 48000) == (48_000, 1)
    assert choose_format(44100.0, 2, lambda rate, ch: ch == 2 and rate == 44100) == (44_100, 2)
    with pytest.raises(CaptureError, match="44100 Hz"):
        choose_format(44100.0, 1, lambda rate, ch: ch == 2)


# --- Block helpers ----------------------------------------------------------------------------


def test_level_dbfs() -> None:
    full = np.array([32767, -32768] * 160, dtype=np.int16)
    assert level_dbfs(full) == pytest.approx(0.0, abs=0.01)
    assert level_dbfs((full // 2).astype(np.int16)) == pytest.approx(-6.02, abs=0.05)
    assert level_dbfs(np.zeros(320, dtype=np.int16)) == SILENCE_DBFS
    assert level_dbfs(np.zeros(0, dtype=np.int16)) == SILENCE_DBFS
    assert level_dbfs(np.ones(320, dtype=np.int16)) == pytest.approx(-90.3, abs=0.1)


def test_to_mono_averages_channels() -> None:
    raw = np.array([100, 300, -32768, -32768, 32767, 32767], dtype=np.int16).tobytes()
    assert to_mono(raw, 2).tolist() == [200, -32768, 32767]
    assert to_mono(raw, 1).tolist() == [100, 300, -32768, -32768, 32767, 32767]


# --- The Microphone, over a fake PortAudio ----------------------------------------------------


class _Flags:
    def __init__(self, overflow: bool = False) -> None:
        self.input_overflow = overflow

    def __bool__(self) -> bool:
        return self.input_overflow


class FakeStream:
    """Calls the callbacks from a thread of its own, like PortAudio's audio thread."""

    def __init__(self, backend: FakeSoundDevice, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.started = self.closed = False
        backend.streams.append(self)

    def start(self) -> None:
        self.started = True

    def abort(self) -> None:
        self.started = False

    def close(self) -> None:
        self.closed = True

    def _on_thread(self, fn: Any, *args: Any) -> None:
        thread = threading.Thread(target=fn, args=args)
        thread.start()
        thread.join()

    def emit(self, values: list[int] | np.ndarray, overflow: bool = False) -> None:
        raw = np.asarray(values, dtype=np.int16).tobytes()
        frames = len(raw) // 2 // self.kwargs["channels"]
        self._on_thread(self.kwargs["callback"], raw, frames, None, _Flags(overflow))

    def vanish(self) -> None:
        self._on_thread(self.kwargs["finished_callback"])


class FakeSoundDevice:
    """The slice of the sounddevice module that capture uses."""

    class CallbackAbort(Exception):
        pass

    def __init__(self, infos: list[dict[str, Any]], default: int,
                 supported: set[tuple[int, int]] | None = None) -> None:
        self.infos = infos
        self.default = type("Default", (), {"device": [default, default]})()
        self.supported = supported or {(16_000, 1)}
        self.streams: list[FakeStream] = []
        self.rescans = 0

    def query_devices(self, device: int | None = None) -> Any:
        return self.infos if device is None else self.infos[device]

    def check_input_settings(self, device: int | None, channels: int, dtype: str, samplerate: int) -> None:
        if (samplerate, channels) not in self.supported or dtype != "int16":
            raise ValueError("Invalid sample rate")

    def RawInputStream(self, **kwargs: Any) -> FakeStream:
        return FakeStream(self, **kwargs)

    def _terminate(self) -> None:
        self.rescans += 1

    def _initialize(self) -> None:
        pass


@pytest.fixture(autouse=True)
def frozen_arrivals(monkeypatch: pytest.MonkeyPatch) -> None:
    """Blocks arrive at one fixed time unless a test moves the clock: nothing is ever late."""
    monkeypatch.setattr(capture, "_now", lambda: 100.0)


def run(coro: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(coro, timeout=20))


async def collect(take: Any) -> np.ndarray:
    """The rest of a take as one int16 array."""
    blocks = [block async for block in take]
    return np.concatenate(blocks) if blocks else np.zeros(0, dtype=np.int16)


async def settle() -> None:
    """Let the loop run the callbacks the audio thread scheduled."""
    for _ in range(3):
        await asyncio.sleep(0)


async def streams(sd: Any, count: int) -> list[Any]:
    """The backend's streams once there are `count` (a take opens its short-block one meanwhile)."""
    for _ in range(500):
        if len(sd.streams) >= count:
            return list(sd.streams)
        await asyncio.sleep(0.002)
    raise AssertionError(f"{len(sd.streams)} streams, not {count}")


def test_preroll_starts_the_take_with_audio_from_before_the_key_press() -> None:
    sd = FakeSoundDevice(_INFOS, default=4)

    async def main() -> None:
        mic = Microphone(preroll_ms=1, release_tail_ms=0, backend=sd)  # 1 ms = 16 frames
        await mic.open()
        stream = sd.streams[0]
        assert stream.started and stream.kwargs["samplerate"] == 16_000
        assert stream.kwargs["device"] is None  # the default input
        stream.emit(list(range(10)))
        stream.emit(list(range(10, 30)))
        await settle()
        async with mic.take() as take:
            stream.emit([100, 101])
            first = await take.__anext__()
            assert first.tolist() == list(range(14, 30))  # the newest 16 frames
            assert (await take.__anext__()).tolist() == [100, 101]
            assert take.preroll_frames == 16
            take.stop()
            assert await collect(take) == pytest.approx([])
        assert mic.is_open and not stream.closed  # pre-roll keeps the stream open between takes
        stream.emit([7, 8])
        await settle()
        async with mic.take() as take:  # the next take gets only what came after the last one
            take.stop()
            assert (await collect(take)).tolist() == [7, 8]
        await mic.close()
        assert stream.closed and stream.kwargs["blocksize"] == 3_200  # the idle stream: 200 ms blocks
        takes = sd.streams[1:]  # each take had a short-block stream of its own, closed after it
        assert [(s.kwargs["blocksize"], s.closed) for s in takes] == [(320, True), (320, True)]

    run(main())


def test_a_take_moves_from_the_idle_stream_to_its_own_without_a_lost_or_doubled_frame(
        monkeypatch: pytest.MonkeyPatch) -> None:
    sd = FakeSoundDevice(_INFOS, default=4)
    source = np.random.default_rng(5).integers(-3000, 3000, 24_000).astype(np.int16)
    clock = [100.0]
    monkeypatch.setattr(capture, "_now", lambda: clock[0])

    async def main() -> None:
        mic = Microphone(preroll_ms=100, release_tail_ms=0, backend=sd)  # 1600 frames of pre-roll
        await mic.open()
        idle = sd.streams[0]
        for end in (3200, 6400):  # a block arrives when its last frame is recorded
            clock[0] = 100.0 + end / 16_000
            idle.emit(source[end - 3200: end])
        await settle()
        async with mic.take() as take:
            live = (await streams(sd, 2))[1]
            while not live.started:
                await asyncio.sleep(0.002)
            assert live.kwargs["blocksize"] == 320
            blocks = [(7000 + 320 * k, live) for k in range(1, 31)] + [(9600, idle), (12800, idle), (16000, idle)]
            for end, stream in sorted(blocks, key=lambda b: b[0]):
                clock[0] = 100.0 + end / 16_000 + (0.004 if stream is live else 0.0)
                stream.emit(source[end - stream.kwargs["blocksize"]: end])
                await settle()
            take.stop()
            audio = await collect(take)
        assert take.preroll_frames == 1600
        assert np.array_equal(audio, source[6400 - 1600: 6400 - 1600 + audio.size])
        assert audio.size == 7000 + 320 * 30 - (6400 - 1600)  # up to the live stream's last block
        assert live.closed and not idle.closed
        await mic.close()

    run(main())


def test_a_take_on_long_blocks_opens_no_stream_of_its_own(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hands-free listening: the take stays on the idle stream's blocks, whole and in order."""
    sd = FakeSoundDevice(_INFOS, default=4)
    source = np.random.default_rng(6).integers(-3000, 3000, 16_000).astype(np.int16)

    async def main() -> None:
        mic = Microphone(preroll_ms=100, release_tail_ms=0, backend=sd)
        await mic.open()
        idle = sd.streams[0]
        idle.emit(source[:3200])
        await settle()
        async with mic.take(short_blocks=False) as take:
            for end in (6400, 9600, 12800):
                idle.emit(source[end - 3200: end])
                await settle()
            take.stop()
            audio = await collect(take)
        assert len(sd.streams) == 1  # no short-block stream was opened
        assert np.array_equal(audio, source[3200 - 1600: 12800])  # the pre-roll, then every idle block
        await mic.close()

    run(main())


def test_a_long_block_take_quickened_mid_take_moves_to_short_blocks_without_a_lost_or_doubled_frame(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Hands-free once speech starts: the take joins a short-block stream, against its own newest audio."""
    sd = FakeSoundDevice(_INFOS, default=4)
    source = np.random.default_rng(7).integers(-3000, 3000, 32_000).astype(np.int16)
    clock = [100.0]
    monkeypatch.setattr(capture, "_now", lambda: clock[0])

    def emit(stream: Any, end: int) -> None:
        clock[0] = 100.0 + end / 16_000 + (0.004 if stream.kwargs["blocksize"] == 320 else 0.0)
        stream.emit(source[end - stream.kwargs["blocksize"]: end])

    async def main() -> None:
        mic = Microphone(preroll_ms=100, release_tail_ms=0, backend=sd)
        await mic.open()
        idle = sd.streams[0]
        emit(idle, 3200)
        await settle()
        async with mic.take(short_blocks=False) as take:
            for end in (6400, 9600, 12800):  # listening on long blocks
                emit(idle, end)
                await settle()
            assert len(sd.streams) == 1
            mic.quicken()  # speech started
            mic.quicken()  # once is enough
            live = (await streams(sd, 2))[1]
            while not live.started:  # noqa: ASYNC110 (the fake stream has no event to await)
                await asyncio.sleep(0.002)
            assert live.kwargs["blocksize"] == 320 and len(sd.streams) == 2
            blocks = [(13000 + 320 * k, live) for k in range(1, 41)] + [(16000, idle), (19200, idle)]
            for end, stream in sorted(blocks, key=lambda b: b[0]):
                emit(stream, end)
                await settle()
            take.stop()
            audio = await collect(take)
        assert np.array_equal(audio, source[3200 - 1600: 13000 + 320 * 40])  # whole, in order, once
        assert live.closed and not idle.closed
        async with mic.take(short_blocks=False) as take:  # the next take listens on long blocks again
            assert len(sd.streams) == 2
            take.stop()
        await mic.close()

    run(main())


def test_each_block_says_when_it_was_recorded_not_when_it_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    """Hands-free's echo guard compares recording times: a block read late is still judged by its own."""
    sd = FakeSoundDevice(_INFOS, default=4)
    clock = [100.0]
    monkeypatch.setattr(capture, "_now", lambda: clock[0])

    async def main() -> None:
        mic = Microphone(preroll_ms=100, release_tail_ms=0, backend=sd)
        await mic.open()
        idle = sd.streams[0]
        clock[0] = 100.2
        idle.emit(np.ones(3200, np.int16))
        await settle()
        async with mic.take(short_blocks=False) as take:
            for at in (100.4, 100.6, 100.8):  # recorded while nobody reads (a busy loop)
                clock[0] = at
                idle.emit(np.ones(3200, np.int16))
                await settle()
            clock[0] = 105.0
            seen = []
            for _ in range(4):
                await take.__anext__()
                seen.append(take.recorded_at)
            take.stop()
        assert seen == [100.2, 100.4, 100.6, 100.8]  # the pre-roll's, then each block's
        await mic.close()

    run(main())


def test_release_tail_keeps_exactly_the_tail_after_stop() -> None:
    sd = FakeSoundDevice(_INFOS, default=4)

    async def main() -> None:
        mic = Microphone(release_tail_ms=1, backend=sd)  # 16 frames
        async with mic.take() as take:
            stream = sd.streams[0]
            stream.emit([1] * 10)
            await settle()
            take.stop()
            assert take.frames_at_stop == 10
            for _ in range(3):
                stream.emit([2] * 7)  # 7 + 7 + 2 of the third block make the 16-frame tail
            audio = await collect(take)
            assert audio.tolist() == [1] * 10 + [2] * 16
            assert take.done
            stream.emit([3] * 5)  # after the tail: dropped (no pre-roll ring)
            await settle()
        assert stream.closed and not mic.is_open  # without pre-roll the stream closes after each take

    run(main())


def test_without_preroll_the_first_block_after_start_is_kept() -> None:
    sd = FakeSoundDevice(_INFOS, default=4)

    class EagerStream(FakeStream):
        def start(self) -> None:  # a block arrives before start() has even returned
            super().start()
            self.emit([5, 6, 7])

    sd.RawInputStream = lambda **kw: EagerStream(sd, **kw)  # type: ignore[method-assign]

    async def main() -> None:
        mic = Microphone(release_tail_ms=0, backend=sd)
        async with mic.take() as take:
            await settle()
            take.stop()
            assert (await collect(take)).tolist() == [5, 6, 7]

    run(main())


def test_device_rate_and_stereo_are_reported_and_mixed_down() -> None:
    sd = FakeSoundDevice(_INFOS, default=0, supported={(44_100, 2)})

    async def main() -> None:
        mic = Microphone("alc257", release_tail_ms=0, backend=sd)
        async with mic.take() as take:
            stream = sd.streams[0]
            assert stream.kwargs["device"] == 0 and stream.kwargs["channels"] == 2
            assert take.rate == mic.rate == 44_100
            assert stream.kwargs["blocksize"] == 882  # 20 ms
            stream.emit([10, 30, -10, -30])
            await settle()
            take.stop()
            assert (await collect(take)).tolist() == [20, -20]

    run(main())


def test_level_follows_the_latest_block() -> None:
    sd = FakeSoundDevice(_INFOS, default=4)

    async def main() -> None:
        mic = Microphone(release_tail_ms=0, backend=sd)
        assert mic.level_dbfs == SILENCE_DBFS
        async with mic.take() as take:
            sd.streams[0].emit([16384, -16384] * 10)
            await settle()
            assert mic.level_dbfs == pytest.approx(-6.02, abs=0.05)
            sd.streams[0].emit([0] * 20)
            await settle()
            assert mic.level_dbfs == SILENCE_DBFS
            take.stop()

    run(main())


def test_device_vanishing_fails_the_take_and_the_next_take_reopens() -> None:
    sd = FakeSoundDevice(_INFOS, default=4)

    async def main() -> None:
        mic = Microphone(preroll_ms=100, release_tail_ms=0, backend=sd)
        with pytest.raises(CaptureError, match="stopped delivering audio") as caught:
            async with mic.take() as take:
                sd.streams[0].emit([1, 2])
                assert (await take.__anext__()).tolist() == [1, 2]
                sd.streams[0].vanish()
                await take.__anext__()
        assert caught.value.exit_code == EXIT_USAGE
        assert sd.streams[0].closed and not mic.is_open
        async with mic.take() as take:  # a later take re-scans the devices and opens a new stream
            assert len(await streams(sd, 4)) == 4 and sd.rescans == 1  # idle + short-block, twice
            assert sd.streams[1].closed
            sd.streams[2].emit([3])
            await settle()
            take.stop()
            assert (await collect(take)).tolist() == [3]
        await mic.close()

    run(main())


def test_closing_on_purpose_is_not_a_failure() -> None:
    sd = FakeSoundDevice(_INFOS, default=4)

    async def main() -> None:
        mic = Microphone(preroll_ms=100, release_tail_ms=0, backend=sd)
        await mic.open()
        stream = sd.streams[0]
        await mic.close()
        stream.vanish()  # PortAudio reports the end of a stream we closed ourselves
        await settle()
        async with mic.take() as take:
            assert sd.rescans == 0
            take.stop()
        await mic.close()

    run(main())


def test_a_silent_device_fails_the_take_after_the_stall_timeout() -> None:
    sd = FakeSoundDevice(_INFOS, default=4)

    async def main() -> None:
        mic = Microphone(backend=sd, stall_seconds=0.05)
        with pytest.raises(CaptureError, match="no audio from the microphone"):
            async with mic.take() as take:
                await take.__anext__()
        assert sd.streams[0].closed

    run(main())


def test_overflows_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    sd = FakeSoundDevice(_INFOS, default=4)

    async def main() -> None:
        mic = Microphone(release_tail_ms=0, backend=sd)
        async with mic.take() as take:
            for _ in range(3):
                sd.streams[0].emit([0, 0], overflow=True)
            await settle()
            take.stop()
            assert take.overflows == 3

    with caplog.at_level(logging.WARNING, logger="voicebot.mic.microphone"):
        run(main())
    text = caplog.text
    assert "input overflow" in text and "3 times" in text


def test_one_take_at_a_time() -> None:
    sd = FakeSoundDevice(_INFOS, default=4)

    async def main() -> None:
        mic = Microphone(release_tail_ms=0, backend=sd)
        async with mic.take() as take:
            with pytest.raises(RuntimeError, match="already"):
                async with mic.take():
                    pass
            take.stop()

    run(main())


def test_no_default_input_is_a_capture_error() -> None:
    outputs_only = [info for info in _INFOS if info["max_input_channels"] == 0]
    sd = FakeSoundDevice(outputs_only, default=-1)

    async def main() -> None:
        with pytest.raises(CaptureError, match="no input device"):
            async with Microphone(backend=sd).take():
                pass

    run(main())


def test_inputs_without_a_default_need_an_explicit_device() -> None:
    sd = FakeSoundDevice(_INFOS, default=-1)

    async def main() -> None:
        with pytest.raises(CaptureError, match="no default input device") as caught:
            async with Microphone(backend=sd).take():
                pass
        assert "--device" in str(caught.value)
        async with Microphone("usb", release_tail_ms=0, backend=sd).take() as take:
            assert sd.streams[-1].kwargs["device"] == 2
            take.stop()

    run(main())


def test_missing_portaudio_says_which_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    class NoPortAudio:
        def find_spec(self, name: str, path: Any = None, target: Any = None) -> None:
            if name == "sounddevice":
                raise OSError("PortAudio library not found")

    monkeypatch.delitem(sys.modules, "sounddevice", raising=False)
    monkeypatch.setattr(sys, "meta_path", [NoPortAudio(), *sys.meta_path])
    with pytest.raises(UsageError, match="PortAudio") as caught:
        list_input_devices()
    assert "libportaudio2" in str(caught.value)
    assert caught.value.exit_code == EXIT_USAGE


def test_importing_capture_does_not_load_portaudio() -> None:
    code = "import sys, voicebot.mic.microphone; print('sounddevice' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("spins", range(6))
def test_a_take_cancelled_as_a_block_arrives_is_cancelled(spins: int) -> None:
    """Esc or a tap cancels the take's task whenever it comes, even as a block is being handed over.

    (asyncio.wait_for on 3.11 swallowed such a cancel: the dropped take recorded on, and every
    later take failed with "a take is already running".) `spins` moves the cancel across the
    loop iterations in which the block is delivered.
    """
    async def scenario() -> bool:
        take = Take(16_000, 0, 5.0, lambda error: None)

        async def read() -> None:
            async for _ in take:
                pass

        task = asyncio.create_task(read())
        for _ in range(2):
            await asyncio.sleep(0)  # the reader now waits for a block
        take._feed(np.zeros(320, dtype=np.int16))
        for _ in range(spins):
            await asyncio.sleep(0)
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=2.0)
        return bool(done) and task.cancelled()

    assert asyncio.run(scenario())


def test_a_release_before_the_streams_join_counts_from_the_frame_recorded_then(
        monkeypatch: pytest.MonkeyPatch) -> None:
    sd = FakeSoundDevice(_INFOS, default=4)
    source = np.random.default_rng(6).integers(-3000, 3000, 16_000).astype(np.int16)
    clock = [100.4]
    monkeypatch.setattr(capture, "_now", lambda: clock[0])

    async def main() -> None:
        mic = Microphone(preroll_ms=100, release_tail_ms=0, backend=sd)
        await mic.open()
        idle = sd.streams[0]
        idle.emit(source[3200:6400])  # arrives at 100.4 s, when its last frame is recorded
        await settle()
        async with mic.take() as take:
            clock[0] = 100.55  # a quick tap: released 150 ms later, the idle block still filling
            take.stop()
            assert take.frames_at_stop == 1600 + 2400 and not take.done
            clock[0] = 100.6
            idle.emit(source[6400:9600])
            audio = await collect(take)
        assert np.array_equal(audio, source[4800:8800])  # the pre-roll and all up to the release
        await mic.close()

    run(main())
