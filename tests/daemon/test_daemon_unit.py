"""The daemon's take/turn logic without devices: a scripted microphone, the local API server.

The live tests (tests/live/test_daemon*.py) run the real parts; these pin down races and
failure paths that real keys and sound cannot reach on demand.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator
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
from voicebot.daemon.recording import State
from voicebot.errors import UsageError
from voicebot.hotkeys.machine import Cancel, Discard, Start, Stop
from voicebot.spool.resend import PIECE, SUPERSEDED
from voicebot.spool.store import PendingStore
from voicebot.turns.console import JsonOutput
from voicebot.voice.chime import Chimes

DATA = Path(__file__).parents[1] / "data"
BLOCK = 320  # 20 ms at 16 kHz
STT = "/audio/transcriptions"


def speech() -> np.ndarray:
    x, rate = soundfile.read(DATA / "capital.wav", dtype="float32")
    return (soxr.resample(x, rate, 16000) * 32767).astype(np.int16)


class ScriptedTake:
    """A take that plays `audio` (then silence) as fast as it is read, ending after stop().

    The release tail starts only once the whole utterance was played, as a speaker
    releases the key after the last word: a loaded machine reading blocks slowly must
    not cut the speech short (and turn it into "no speech").
    """

    def __init__(self, audio: np.ndarray) -> None:
        self.rate = 16000
        self.done = False
        self._audio = audio
        self._pos = 0
        self._tail: int | None = None

    def stop(self) -> None:
        if self._tail is None:
            self._tail = 10  # a 200 ms release tail

    def __aiter__(self) -> ScriptedTake:
        return self

    async def __anext__(self) -> np.ndarray:
        await asyncio.sleep(0.001)
        if self._tail is not None and self._pos >= self._audio.size:
            if self._tail == 0:
                self.done = True
                raise StopAsyncIteration
            self._tail -= 1
        block = self._audio[self._pos:self._pos + BLOCK]
        self._pos += BLOCK
        return block if block.size == BLOCK else np.zeros(BLOCK, dtype=np.int16)


class ScriptedMicrophone:
    level_dbfs = -120.0

    def __init__(self, audio: np.ndarray) -> None:
        self.audio = audio
        self.takes: list[ScriptedTake] = []

    async def open(self) -> None: ...

    async def close(self) -> None: ...

    @asynccontextmanager
    async def take(self) -> AsyncIterator[ScriptedTake]:
        take = ScriptedTake(self.audio)
        self.takes.append(take)
        yield take


class Harness:
    def __init__(self, fake: FakeGroq, tmp: Path, **settings: Any) -> None:
        self.out = io.StringIO()
        self.settings = Settings(quiet=True, **settings)
        self.store = PendingStore(tmp / "pending")
        self.mic = ScriptedMicrophone(speech())
        self.fake = fake

    def events(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.out.getvalue().splitlines()]

    async def wait_for(self, kind: str, timeout: float = 15.0) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                found = [e for e in self.events() if e["type"] == kind]
                if found:
                    return found[0]
                await asyncio.sleep(0.02)

    @asynccontextmanager
    async def daemon(self) -> AsyncIterator[Daemon]:
        bindings = build_bindings(self.settings, None, None, False)
        output = JsonOutput(self.out, io.StringIO())
        async with GroqClient(Endpoint(self.fake.base_url, TEST_API_KEY), max_retries=0) as client:
            d = Daemon(daemon_options(self.settings), output, client, assistant=make_assistant(client, self.settings, output),
                       bindings=bindings, microphone=self.mic, chimes=Chimes(False), store=self.store)
            try:
                yield d
            finally:
                await d.shutdown()


async def speak(d: Daemon, seconds: float = 2.4) -> None:
    """Key down, the take fills with speech, key up."""
    mic = d.mic
    before = len(mic.takes)  # type: ignore[attr-defined]
    d.on_action(Start("ask"))
    # The scripted take runs faster than real time, as fast as the daemon encodes it: wait
    # until it has played `seconds` of audio rather than for a guessed share of that time.
    async with asyncio.timeout(30):
        while d.recording is not None and not (
                len(mic.takes) > before and mic.takes[-1]._pos >= seconds * 16000):  # type: ignore[attr-defined]
            await asyncio.sleep(0.005)
    d.on_action(Stop("ask", seconds))


def test_a_tap_during_the_release_tail_keeps_the_finished_take(fake_groq: FakeGroq, tmp_path: Path) -> None:
    h = Harness(fake_groq, tmp_path)

    async def go() -> None:
        async with h.daemon() as d:
            await speak(d)
            # A second quick press lands while the last take is still in its tail.
            d.on_action(Start("ask"))
            d.on_action(Discard("ask", "too short"))
            assert (await h.wait_for("transcript"))["text"] == "What is the capital of France?"
            await h.wait_for("reply")

    asyncio.run(go())
    assert len(h.mic.takes) == 1
    assert not [e for e in h.events() if e["type"] == "notice" and "ignored" in e["text"]]


def test_a_take_that_cannot_be_kept_on_disk_is_still_sent(fake_groq: FakeGroq, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    h = Harness(fake_groq, tmp_path)

    def disk_full(*args: object, **kwargs: object) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(h.store, "save", disk_full)

    async def go() -> None:
        async with h.daemon() as d:
            await speak(d)
            error = await h.wait_for("error")
            assert "could not keep the take on disk (No space left on device)" in error["message"]
            assert (await h.wait_for("transcript"))["text"] == "What is the capital of France?"
            await h.wait_for("reply")

    asyncio.run(go())


def test_barge_in_during_transcription_keeps_the_take_for_manual_retry(fake_groq: FakeGroq,
                                                                      tmp_path: Path) -> None:
    fake_groq.inject("/audio/transcriptions", delay=5)  # the first upload is slow...
    h = Harness(fake_groq, tmp_path, retry_pending_seconds=0.1)

    async def go() -> None:
        async with h.daemon() as d:
            await speak(d)
            await asyncio.to_thread(fake_groq.wait_for_requests, 1, 10.0, "/audio/transcriptions")
            await speak(d)  # ...and the user speaks again before it is back: barge-in
            await h.wait_for("reply")
            await asyncio.sleep(0.5)  # a stimulus: time for the resend loop to (wrongly) act

    asyncio.run(go())
    (kept,) = h.store.list()
    assert kept.error == SUPERSEDED  # kept, never lost...
    transcripts = [e for e in h.events() if e["type"] == "transcript"]
    assert len(transcripts) == 1  # ...and not sent again behind the user's back


class FailingOnceMicrophone(ScriptedMicrophone):
    """The device vanishes during the first take, and is back for the next."""

    @asynccontextmanager
    async def take(self) -> AsyncIterator[ScriptedTake]:
        from voicebot.mic.input_devices import CaptureError

        if not self.takes:
            self.takes.append(ScriptedTake(self.audio))
            raise CaptureError("the microphone stopped delivering audio", hint="the next take reopens it")
        async with super().take() as take:
            yield take


def test_a_device_lost_mid_take_is_one_error_and_the_next_take_works(fake_groq: FakeGroq,
                                                                      tmp_path: Path) -> None:
    h = Harness(fake_groq, tmp_path)
    h.mic = FailingOnceMicrophone(speech())

    async def go() -> None:
        async with h.daemon() as d:
            await speak(d)
            assert "microphone stopped delivering audio" in (await h.wait_for("error"))["message"]
            await speak(d)
            assert (await h.wait_for("transcript"))["text"] == "What is the capital of France?"
            await h.wait_for("reply")

    asyncio.run(go())


def test_a_rate_limit_wait_beyond_the_budget_keeps_the_take_without_blocking(fake_groq: FakeGroq,
                                                                             tmp_path: Path) -> None:
    fake_groq.fail_next("/audio/transcriptions", 429, headers={"retry-after": "120"})
    h = Harness(fake_groq, tmp_path)

    async def go() -> None:
        async with h.daemon() as d:
            await speak(d)
            error = await h.wait_for("error", timeout=10)  # at once: two minutes are not waited out
            assert "kept at" in error["message"]
            assert d.kept.delay >= 120  # the resend honours the server's wait
            await asyncio.sleep(0.1)
            assert d.state is State.LISTENING and d.status()["state"] == "listening"  # ready for the next take

    asyncio.run(go())
    (kept,) = h.store.list()
    assert kept.mode == "ask" and "rate limited" in (kept.error or "")


def test_a_translate_binding_with_then_ask_answers_the_translation(fake_groq: FakeGroq, tmp_path: Path) -> None:
    h = Harness(fake_groq, tmp_path, hotkeys={"translate": {"keys": "f9", "then_ask": True}})

    async def go() -> None:
        async with h.daemon() as d:
            assert d.bindings[0].mode.answers  # then_ask rides in the binding's mode
            d.on_action(Start("translate"))
            assert d.status()["state"] == "recording" and d.status()["mode"] == "translate"
            await asyncio.sleep(0.12)
            d.on_action(Stop("translate", 2.4))
            await h.wait_for("transcript")
            await h.wait_for("reply")  # the translation was answered
            with pytest.raises(UsageError, match=r"unknown mode 'new' \(modes: ask, translate, dictate, edit\)"):
                await d.on_command(Command("toggle", "new"))

    asyncio.run(go())
    assert len(fake_groq.requests_to("/audio/translations")) == 1
    assert not fake_groq.requests_to("/audio/transcriptions")


# --- long takes: pieces sent while the key is held (issue 8.5) ---------------------------------

FIXTURES = json.loads((DATA / "fixtures.json").read_text())
SENTENCES = ["capital.wav", "spider.flac", "bonjour.ogg", "capital.wav"]


def dictation(names: list[str] = SENTENCES, gap: float = 0.8) -> np.ndarray:
    """Sentences (the speech fixtures) with a pause after each: a long take in miniature."""
    parts = []
    for name in names:
        x, rate = soundfile.read(DATA / name, dtype="float32", always_2d=True)
        parts += [(soxr.resample(x.mean(axis=1), rate, 16000) * 32767).astype(np.int16),
                  np.zeros(round(gap * 16000), dtype=np.int16)]
    return np.concatenate(parts)


def texts(names: list[str]) -> list[str]:
    return [FIXTURES[name]["text"] for name in names]


async def hold(d: Daemon, h: Harness, mode: str = "ask") -> None:
    """Key down; wait (key still held) until the whole dictation was played."""
    d.on_action(Start(mode))
    async with asyncio.timeout(30):
        while not h.mic.takes or h.mic.takes[-1]._pos < h.mic.audio.size:
            await asyncio.sleep(0.005)


def test_a_long_take_goes_up_in_pieces_while_the_key_is_held(fake_groq: FakeGroq, tmp_path: Path) -> None:
    h = Harness(fake_groq, tmp_path, piece_seconds=2.0)
    h.mic = ScriptedMicrophone(dictation())

    async def go() -> None:
        async with h.daemon() as d:
            await hold(d, h)
            # Still recording: the sentences followed by a pause are transcribed already...
            await asyncio.to_thread(fake_groq.wait_for_requests, 3, 15.0, STT, True)
            assert d.recording is not None and not d.recording.stop_requested
            kept = h.store.list()  # ...and each piece is on disk until the take's text is back
            assert len(kept) >= 3 and {k.error for k in kept} == {PIECE}
            d.on_action(Stop("ask", 10.0))
            transcript = await h.wait_for("transcript")
            assert transcript["text"] == " ".join(texts(SENTENCES))  # in the order spoken
            await h.wait_for("reply")
            assert d.status()["state"] == "listening"

    asyncio.run(go())
    uploads = fake_groq.requests_to(STT)
    assert [r.audio.fixture if r.audio else None for r in uploads] == SENTENCES  # one sentence each: no word cut
    assert (uploads[0].form or {}).get("prompt") is None
    for req, before in zip(uploads[1:], texts(SENTENCES), strict=False):
        assert (req.form or {})["prompt"] == before  # the previous piece's text, back before this one went up
    assert h.store.list() == []  # delivered: nothing kept
    (question,) = fake_groq.requests_to("/chat/completions")
    assert question.json["messages"][-1]["content"] == " ".join(texts(SENTENCES))
    (timing,) = [e for e in h.events() if e["type"] == "timing"]
    assert timing["transcript_ms"] >= timing["upload_start_ms"]


def test_a_failing_piece_keeps_the_whole_take(fake_groq: FakeGroq, tmp_path: Path) -> None:
    fake_groq.fail_next(STT, 503)  # the first piece, during the hold; the client does not retry here
    h = Harness(fake_groq, tmp_path, piece_seconds=2.0)
    h.mic = ScriptedMicrophone(dictation())

    async def go() -> None:
        async with h.daemon() as d:
            await hold(d, h)
            await asyncio.to_thread(fake_groq.wait_for_requests, 1, 15.0, STT, True)
            d.on_action(Stop("ask", 10.0))
            error = await h.wait_for("error")
            assert "kept at" in error["message"] and "voicebot retry" in error["message"]
            await asyncio.sleep(0.2)
            assert d.state is State.LISTENING

    asyncio.run(go())
    (kept,) = h.store.list()  # one take, the whole of it (its pieces' own files are gone)
    assert kept.error is not None and kept.error != PIECE and kept.mode == "ask"
    assert kept.duration == pytest.approx(h.mic.takes[0]._pos / 16000, abs=0.5)
    assert not [e for e in h.events() if e["type"] in ("transcript", "reply")]
    assert not fake_groq.requests_to("/chat/completions")


def test_esc_mid_take_drops_the_pieces_already_sent(fake_groq: FakeGroq, tmp_path: Path) -> None:
    h = Harness(fake_groq, tmp_path, piece_seconds=2.0)
    h.mic = ScriptedMicrophone(dictation())

    async def go() -> None:
        async with h.daemon() as d:
            await hold(d, h)
            await asyncio.to_thread(fake_groq.wait_for_requests, 2, 15.0, STT, True)
            assert h.store.list()  # pieces kept while they are in the air
            d.on_action(Cancel())
            await h.wait_for("notice")
            sent = len(fake_groq.requests_to(STT))
            await asyncio.sleep(0.3)
            assert len(fake_groq.requests_to(STT)) == sent  # nothing more goes up
            assert d.state is State.LISTENING

    asyncio.run(go())
    assert h.store.list() == []  # cancelled: nothing of the take is kept, as for a short one
    assert not [e for e in h.events() if e["type"] in ("transcript", "reply", "error")]


def test_a_take_shorter_than_a_piece_goes_up_whole_as_before(fake_groq: FakeGroq, tmp_path: Path) -> None:
    h = Harness(fake_groq, tmp_path, piece_seconds=20.0)
    h.mic = ScriptedMicrophone(dictation())

    async def go() -> None:
        async with h.daemon() as d:
            await hold(d, h)
            await asyncio.sleep(0.2)
            assert not fake_groq.requests_to(STT) and h.store.list() == []  # nothing before the release
            d.on_action(Stop("ask", 10.0))
            await h.wait_for("reply")

    asyncio.run(go())
    (upload,) = fake_groq.requests_to(STT)  # the whole take, in one upload after the release
    assert upload.audio is not None and upload.audio.duration == pytest.approx(h.mic.takes[0]._pos / 16000, abs=0.1)


def test_esc_after_the_release_keeps_the_whole_take_as_a_cut_short_one_is(fake_groq: FakeGroq,
                                                                          tmp_path: Path) -> None:
    h = Harness(fake_groq, tmp_path, piece_seconds=2.0)
    x, rate = soundfile.read(DATA / "capital.wav", dtype="float32")
    last = (soxr.resample(x, rate, 16000) * 32767).astype(np.int16)[: 90 * BLOCK]  # no pause after it
    h.mic = ScriptedMicrophone(np.concatenate((dictation(SENTENCES[:3]), last)))

    async def go() -> None:
        async with h.daemon() as d:
            d.on_action(Start("ask"))
            await asyncio.to_thread(fake_groq.wait_for_requests, 2, 15.0, STT, True)
            fake_groq.inject(STT, delay=5)  # what goes up from now on is slow...
            d.on_action(Stop("ask", 10.0))  # (the take plays to its end, then its 200 ms tail)
            async with asyncio.timeout(15):
                while d.turn is None or len(fake_groq.requests_to(STT)) < 4:
                    await asyncio.sleep(0.01)
            d.on_action(Cancel())  # ...and the user gives up on it while it is transcribed
            await h.wait_for("notice")
            async with asyncio.timeout(10):  # the cut turn winds down (a loaded machine may take a while)
                while d.state is not State.LISTENING:
                    await asyncio.sleep(0.01)

    asyncio.run(go())
    (kept,) = h.store.list()  # the whole take, kept for `voicebot retry` like any take cut short
    assert kept.error == SUPERSEDED
    assert kept.duration == pytest.approx(h.mic.takes[0]._pos / 16000, abs=0.1)
    assert not [e for e in h.events() if e["type"] in ("transcript", "reply")]
