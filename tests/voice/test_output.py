"""The one sound output: speech queued in order, chimes mixed over it, stop at once, idle = closed."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import numpy as np
import pytest

from voicebot.errors import UsageError
from voicebot.mic.device_names import match_output_device
from voicebot.voice.chime import Chimes
from voicebot.voice.mixer import Mixer
from voicebot.voice.output import Speaker

RATE = 1000


class FakeStream:
    """Stands for an OutputStream: the test pulls blocks through the callback."""

    def __init__(self, callback: Any) -> None:
        self.callback = callback
        self.started = self.closed = False

    def start(self) -> None:
        self.started = True

    def stop(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        pass

    def pull(self, frames: int = 10) -> np.ndarray:
        out = np.zeros((frames, 1), dtype=np.float32)
        self.callback(out, frames, None, None)
        return out[:, 0]


def make_speaker(streams: list[FakeStream], linger: float = 0.05, rate: int = RATE) -> Speaker:
    def factory(device: Any, rate: int, callback: Any) -> FakeStream:
        stream = FakeStream(callback)
        streams.append(stream)
        return stream
    return Speaker(stream_factory=factory, rate=rate, linger=linger)


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0.01)


def test_mixer_plays_utterances_in_order_with_clips_mixed_over_them() -> None:
    async def main() -> None:
        loop = asyncio.get_running_loop()
        mixer = Mixer()
        first, second = (speaker_utterance(loop, mixer) for _ in range(2))
        second.write(np.full(5, 0.2, np.float32), RATE)
        second.close()
        first.write(np.full(5, 0.1, np.float32), RATE)
        assert np.allclose(mixer.render(5), 0.1)  # the first, although the second was written first
        assert np.allclose(mixer.render(5), 0.0)  # the first is not closed: silence, not the second
        first.close()
        mixer.add_clip(np.full(3, 0.5, np.float32))
        block = mixer.render(8)
        assert np.allclose(block[:3], 0.7) and np.allclose(block[3:5], 0.2) and np.allclose(block[5:], 0.0)
        await settle()
        assert first.started.done() and first.done.done() and second.done.done()
        mixer.add_clip(np.full(4, 0.9, np.float32))
        mixer.add_clip(np.full(4, 0.9, np.float32))
        assert np.allclose(mixer.render(4), 1.0)  # clipped, never wrapped
    asyncio.run(main())


def speaker_utterance(loop: asyncio.AbstractEventLoop, mixer: Mixer) -> Any:
    from voicebot.voice.mixer import Utterance

    utterance = Utterance(loop, RATE, lambda: None)
    mixer.add_utterance(utterance)
    return utterance


def test_stop_drops_speech_at_once_but_not_a_chime() -> None:
    async def main() -> None:
        streams: list[FakeStream] = []
        speaker = make_speaker(streams)
        utterance = speaker.utterance()
        utterance.write(np.full(1000, 0.3, np.float32), RATE)
        await settle()
        stream = streams[0]
        assert np.allclose(stream.pull(10), 0.3)
        speaker.play(np.full(50, 0.1, np.float32), RATE)
        speaker.stop()
        assert utterance.done.done()
        assert np.allclose(stream.pull(10), 0.1)  # the very next block: the chime alone
        utterance.write(np.full(10, 0.3, np.float32), RATE)  # late synthesis of a dropped sentence
        assert np.allclose(stream.pull(40)[:40], 0.1)
    asyncio.run(main())


def test_the_stream_opens_only_while_something_plays_and_reopens_for_the_next_sound() -> None:
    async def main() -> None:
        streams: list[FakeStream] = []
        speaker = make_speaker(streams, linger=0.05)
        await settle()
        assert streams == []  # idle: no stream at all
        speaker.play(np.full(5, 0.5, np.float32), RATE)
        await settle()
        assert len(streams) == 1 and streams[0].started
        streams[0].pull(10)  # the clip ends: the stream is idle
        await asyncio.sleep(0.15)
        assert streams[0].closed
        speaker.play(np.full(5, 0.5, np.float32), RATE)
        await settle()
        assert len(streams) == 2 and np.allclose(streams[1].pull(5), 0.5)
        await speaker.aclose()
        assert streams[1].closed
    asyncio.run(main())


def test_utterances_are_resampled_to_the_output_rate() -> None:
    async def main() -> None:
        streams: list[FakeStream] = []
        speaker = make_speaker(streams)
        utterance = speaker.utterance()
        utterance.write(np.full(2000, 0.25, np.float32), 2 * RATE)  # 1 s at twice the rate
        utterance.close()
        await settle()
        played = np.concatenate([streams[0].pull(100) for _ in range(12)])
        assert 950 <= int(np.sum(np.abs(played) > 0.1)) <= 1050
        await settle()
        assert utterance.done.done()
    asyncio.run(main())


def test_a_device_that_cannot_open_is_one_message_and_speech_is_released() -> None:
    async def main() -> None:
        def broken(device: Any, rate: int, callback: Any) -> Any:
            raise OSError("device unavailable")
        speaker = Speaker(stream_factory=broken, rate=RATE)
        said: list[str] = []
        speaker.on_error = said.append
        utterance = speaker.utterance()
        utterance.write(np.ones(10, np.float32), RATE)
        await settle()
        assert utterance.done.done()
        speaker.play(np.ones(10, np.float32), RATE)
        await settle()
        assert said == ["cannot play sound: device unavailable"]
        assert speaker.silent_since() == 0.0  # a sound that can never play is not waited for
    asyncio.run(main())


def test_silent_since_is_when_the_last_sound_left_the_speaker() -> None:
    """What hands-free listening waits for: a chime still waiting for its stream counts as playing."""
    async def main() -> None:
        streams: list[FakeStream] = []
        speaker = make_speaker(streams)
        assert speaker.silent_since() == 0.0  # nothing ever played
        speaker.play(np.full(25, 0.5, np.float32), RATE)
        assert speaker.silent_since() is None  # queued, its stream not open yet
        await settle()
        streams[0].pull(10)
        assert speaker.silent_since() is None  # playing
        before = time.monotonic()
        streams[0].pull(10)
        streams[0].pull(10)  # its last 5 frames, then silence
        after = time.monotonic()
        silent = speaker.silent_since()
        assert silent is not None and before + 0.01 <= silent <= after + 0.01  # the end of its last block
        streams[0].pull(10)
        assert speaker.silent_since() == silent  # silence played since changes nothing
    asyncio.run(main())


def test_chimes_go_through_the_output_and_quiet_keeps_them_off() -> None:
    async def main() -> None:
        streams: list[FakeStream] = []
        speaker = make_speaker(streams, rate=48_000)
        Chimes(False, speaker).play("start")
        await settle()
        assert streams == []
        Chimes(True, speaker).play("start")
        await settle()
        assert np.abs(np.concatenate([streams[0].pull(480) for _ in range(5)])).max() > 0.05
    asyncio.run(main())


def test_output_device_by_index_or_name_part() -> None:
    devices = [(0, "HDA Intel PCH: ALC257 Analog"), (3, "pulse"), (4, "default")]
    assert match_output_device(None, devices) is None
    assert match_output_device("3", devices) == 3
    assert match_output_device("alc257", devices) == 0
    with pytest.raises(UsageError, match="no output device matches 'hdmi'"):
        match_output_device("hdmi", devices)
    with pytest.raises(UsageError, match="several"):
        match_output_device("a", devices)
    with pytest.raises(UsageError, match="no output device has index 9"):
        match_output_device(9, devices)


def test_an_output_that_failed_is_tried_again_by_a_later_sound_and_each_outage_is_said_once(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The sound server was restarted: the daemon speaks again, without a notice per sentence meanwhile."""
    async def main() -> None:
        from voicebot.voice import output

        working = [False]
        streams: list[FakeStream] = []

        def factory(device: Any, rate: int, callback: Any) -> FakeStream:
            if not working[0]:
                raise OSError("Connection refused")
            stream = FakeStream(callback)
            streams.append(stream)
            return stream

        speaker = Speaker(stream_factory=factory, rate=RATE)
        said: list[str] = []
        speaker.on_error = said.append
        first = speaker.utterance()
        first.write(np.ones(10, np.float32), RATE)
        await settle()
        assert first.done.done() and said == ["cannot play sound: Connection refused"]
        second = speaker.utterance()  # at once: not tried again, dropped without a wait
        assert second.dropped
        monkeypatch.setattr(output, "RETRY_SECONDS", 0.0)
        third = speaker.utterance()  # tried again, still refused: dropped quietly
        third.write(np.ones(10, np.float32), RATE)
        await settle()
        assert third.done.done() and said == ["cannot play sound: Connection refused"]
        working[0] = True  # the server is back
        fourth = speaker.utterance()
        fourth.write(np.full(10, 0.4, np.float32), RATE)
        fourth.close()
        await settle()
        assert not fourth.dropped and len(streams) == 1
        assert np.allclose(streams[0].pull(10), 0.4)  # spoken
        working[0] = False
        await speaker.aclose()
    asyncio.run(main())


def test_a_stuck_output_is_not_tried_again_while_a_call_on_it_is_still_stuck() -> None:
    """A stopped server: the stream's abort hangs; only once it returns (the server resumed) is a
    new stream opened, so no sentence waits on it and no more threads are parked."""
    async def main() -> None:
        from voicebot.voice import output
        from voicebot.voice.stream_watch import Progress

        resumed = threading.Event()
        streams: list[Any] = []

        class Hanging(FakeStream):
            def abort(self) -> None:
                resumed.wait(10)  # PortAudio's call on a stream of a stopped server

        def factory(device: Any, rate: int, callback: Any) -> FakeStream:
            stream = (Hanging if not streams else FakeStream)(callback)
            streams.append(stream)
            return stream

        speaker = Speaker(stream_factory=factory, rate=RATE)
        speaker._progress = Progress(stall=0.05)
        said: list[str] = []
        speaker.on_error = said.append
        first = speaker.utterance()
        first.write(np.ones(1000, np.float32), RATE)
        await settle()
        streams[0].pull(10)  # it played a block, then the callbacks stopped
        async with asyncio.timeout(5):
            await first.done  # given up on: the speech is released
        assert len(said) == 1 and said[0].startswith("the sound output stopped responding")
        output.RETRY_SECONDS, before = 0.0, output.RETRY_SECONDS
        try:
            second = speaker.utterance()
            assert second.dropped and len(streams) == 1  # its abort is still stuck: not tried again
            resumed.set()
            for _ in range(100):
                if not speaker._parked:
                    break
                await asyncio.sleep(0.01)
            third = speaker.utterance()
            third.write(np.full(10, 0.4, np.float32), RATE)
            await settle()
            assert not third.dropped and len(streams) == 2 and np.allclose(streams[1].pull(10), 0.4)
            assert len(said) == 1
        finally:
            output.RETRY_SECONDS = before
        await speaker.aclose()
    asyncio.run(main())
