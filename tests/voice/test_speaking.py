"""Spoken answers end to end without a sound card: the local API server, a clocked output stream.

The output stream here is driven by a thread pulling 10 ms blocks in real time, as
PortAudio would, and keeps every block it played with the time it was played, so a test
can say when sound started, what order it came in and when it stopped.
"""

from __future__ import annotations

import asyncio
import io
import json
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.daemon.test_daemon_unit import ScriptedMicrophone, speak, speech
from tests.fakegroq import TEST_API_KEY, FakeGroq
from voicebot.api.client import Endpoint, GroqClient
from voicebot.cli.commands import build_bindings
from voicebot.cli.wiring import daemon_options, make_assistant
from voicebot.config.schema import Settings
from voicebot.daemon.core import Daemon
from voicebot.hotkeys.bindings import normalise_bindings
from voicebot.hotkeys.machine import Cancel, Start, bindings_from_config
from voicebot.modes import ASK, DICTATE, mode_named
from voicebot.spool.store import PendingStore
from voicebot.turns.console import JsonOutput
from voicebot.turns.events import Heard
from voicebot.turns.timing import timing_line
from voicebot.voice.chime import Chimes
from voicebot.voice.output import Speaker
from voicebot.voice.speaking import Narrator, SpokenAnswers, speaks

RATE = 24_000
BLOCK = RATE // 100
TTS_MODEL = "canopylabs/orpheus-v1-english"
THREE = "The capital of France is Paris. It lies on the Seine. About two million people live there."


class ClockedStream:
    """Pulls 10 ms blocks through the callback in real time and keeps (time, peak) of each."""

    def __init__(self, callback: Any) -> None:
        self.callback = callback
        self.blocks: list[tuple[float, float]] = []
        self._running = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._running.set()
        self._thread.start()

    def _run(self) -> None:
        next_at = time.monotonic()
        while self._running.is_set():
            out = np.zeros((BLOCK, 1), dtype=np.float32)
            self.callback(out, BLOCK, None, None)
            self.blocks.append((time.monotonic(), float(np.abs(out).max())))
            next_at += BLOCK / RATE
            time.sleep(max(0.0, next_at - time.monotonic()))

    def stop(self) -> None:
        self._running.clear()

    abort = stop

    def close(self) -> None:
        self._running.clear()
        if self._thread.is_alive():
            self._thread.join(1)


class Rig:
    def __init__(self) -> None:
        self.streams: list[ClockedStream] = []
        self.speaker = Speaker(stream_factory=self._open, rate=RATE, linger=0.3)
        self.out = io.StringIO()
        self.output = JsonOutput(self.out, io.StringIO())

    def _open(self, device: Any, rate: int, callback: Any) -> ClockedStream:
        stream = ClockedStream(callback)
        self.streams.append(stream)
        return stream

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        found = [json.loads(line) for line in self.out.getvalue().splitlines()]
        return [e for e in found if kind is None or e["type"] == kind]

    def played(self) -> list[tuple[float, float]]:
        return sorted(b for s in self.streams for b in s.blocks)

    def sounding(self, after: float = 0.0) -> list[float]:
        return [t for t, peak in self.played() if peak > 0.01 and t >= after]


def client_for(fake: FakeGroq, **kwargs: Any) -> GroqClient:
    return GroqClient(Endpoint(fake.base_url, TEST_API_KEY), **kwargs)


async def ask_aloud(rig: Rig, client: GroqClient, question: str, settings: Settings | None = None) -> str:
    assistant = make_assistant(client, settings or Settings(), rig.output)
    narrator = Narrator(client, rig.speaker, rig.output, model=TTS_MODEL, voice="troy")
    return await narrator.answer(lambda feed: assistant.ask(question, on_text=feed))


def test_each_sentence_is_spoken_in_order_as_soon_as_its_text_is_complete(fake_groq: FakeGroq) -> None:
    fake_groq.set_reply(THREE)
    fake_groq.set_chunk_delay(0.15)  # a slow model: the first sentence is spoken before the answer ends
    rig = Rig()

    async def main() -> None:
        async with client_for(fake_groq) as client:
            answer = await ask_aloud(rig, client, "Tell me about Paris.")
        assert answer == THREE
        await rig.speaker.aclose()

    asyncio.run(main())
    spoken = [r.json["input"] for r in fake_groq.requests_to("/audio/speech")]
    assert spoken == ["The capital of France is Paris.", "It lies on the Seine.",
                      "About two million people live there."]
    events = rig.events()
    kinds = [e["type"] for e in events]
    assert kinds.index("speech") < kinds.index("reply")  # spoken while the text still streamed
    assert [e["text"] for e in rig.events("speech")] == spoken
    assert len(rig.sounding()) * 0.01 > 3.0  # three sentences of real speech were heard


def test_text_is_never_held_back_by_a_slow_voice(fake_groq: FakeGroq) -> None:
    fake_groq.set_reply(THREE)
    fake_groq.set_speech_delay(first=1.5)  # synthesis far slower than the text
    rig = Rig()

    async def main() -> float:
        async with client_for(fake_groq) as client:
            started = time.monotonic()
            task = asyncio.create_task(ask_aloud(rig, client, "Tell me about Paris."))
            while not rig.events("reply"):
                await asyncio.sleep(0.01)
            text_done = time.monotonic() - started
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await rig.speaker.aclose()
            return text_done

    assert asyncio.run(main()) < 1.0


def test_cancelling_the_turn_silences_at_once_and_drops_the_rest(fake_groq: FakeGroq) -> None:
    fake_groq.set_reply(THREE)
    rig = Rig()

    async def main() -> float:
        async with client_for(fake_groq) as client:
            task = asyncio.create_task(ask_aloud(rig, client, "Tell me about Paris."))
            while not rig.sounding():
                await asyncio.sleep(0.005)
            await asyncio.sleep(0.3)
            cancelled_at = time.monotonic()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            assert time.monotonic() - cancelled_at < 0.6
            await asyncio.sleep(0.5)
            await rig.speaker.aclose()
            return cancelled_at

    cancelled_at = asyncio.run(main())
    late = rig.sounding(after=cancelled_at)
    assert not late or late[-1] - cancelled_at < 0.1
    assert len(fake_groq.requests_to("/audio/speech")) <= 2  # the third sentence was never synthesised
    assert rig.events("reply")[-1]["text"] == THREE  # the text answer was complete before the voice was cut


@pytest.mark.parametrize(("fault", "says"), [
    ({"status": 429, "times": 9, "headers": {"retry-after": "1"}}, "rate limited"),
    ({"status": 503, "times": 9}, "having trouble"),
    ({"drop_after": 0, "times": 9}, "connection"),
])
def test_a_failing_voice_is_one_notice_and_the_text_and_next_turn_stand(fake_groq: FakeGroq, fault: dict[str, Any],
                                                                       says: str) -> None:
    fake_groq.set_reply(THREE)
    fake_groq.inject("/audio/speech", **fault)
    rig = Rig()

    async def main() -> None:
        async with client_for(fake_groq, max_retries=1) as client:
            assert await ask_aloud(rig, client, "Tell me about Paris.") == THREE
            fake_groq.reset()
            fake_groq.set_reply("Yes.")
            assert await ask_aloud(rig, client, "Really?") == "Yes."
        await rig.speaker.aclose()

    asyncio.run(main())
    notices = [e["text"] for e in rig.events("notice")]
    assert len(notices) == 1 and says in notices[0] and notices[0].startswith("the answer is not spoken")
    assert [e["text"] for e in rig.events("reply")] == [THREE, "Yes."]
    assert [e["text"] for e in rig.events("speech")] == ["Yes."]  # the next turn is spoken as usual


def test_terms_not_accepted_says_where_to_accept_them(fake_groq: FakeGroq) -> None:
    fake_groq.set_terms_accepted(False)
    rig = Rig()

    async def main() -> None:
        async with client_for(fake_groq) as client:
            await ask_aloud(rig, client, "What is the capital of France?")
        await rig.speaker.aclose()

    asyncio.run(main())
    (notice,) = [e["text"] for e in rig.events("notice")]
    assert "needs its terms accepted" in notice
    assert "https://console.groq.com/playground?model=canopylabs%2Forpheus-v1-english" in notice
    assert len(fake_groq.requests_to("/audio/speech")) == 1  # a 400 is not retried
    assert rig.events("reply")[0]["text"] == "The capital of France is Paris."


def test_a_server_error_is_retried_quietly_and_then_spoken(fake_groq: FakeGroq) -> None:
    fake_groq.inject("/audio/speech", status=503, times=1)
    rig = Rig()

    async def main() -> None:
        async with client_for(fake_groq, max_retries=2) as client:
            await ask_aloud(rig, client, "What is the capital of France?")
        await rig.speaker.aclose()

    asyncio.run(main())
    assert rig.events("notice") == []
    assert [e["text"] for e in rig.events("speech")] == ["The capital of France is Paris."]
    assert len(fake_groq.requests_to("/audio/speech")) == 2


def test_who_speaks_dictation_never_bindings_override_the_setting() -> None:
    assert not speaks(True, DICTATE)
    assert not speaks(False, mode_named("dictate", speak=True))
    assert speaks(True, ASK) and not speaks(False, ASK)
    table = {"ask": {"keys": "f9", "speak": True}, "translate": {"keys": "f10", "speak": False, "then_ask": True}}
    modes = {b.mode.name: b.mode for b in bindings_from_config(normalise_bindings(table))}
    assert speaks(False, modes["ask"])
    assert not speaks(True, modes["translate"])


def test_daemon_barge_in_stops_the_voice_and_the_next_take_runs(fake_groq: FakeGroq, tmp_path: Path) -> None:
    fake_groq.set_reply(THREE)
    rig = Rig()
    settings = Settings(quiet=True, speak=True)
    mic = ScriptedMicrophone(speech())

    async def main() -> tuple[float, float]:
        bindings = build_bindings(settings, None, None, False)
        async with client_for(fake_groq, max_retries=0) as client:
            narrator = Narrator(client, rig.speaker, rig.output, model=TTS_MODEL, voice="troy")
            d = Daemon(daemon_options(settings), rig.output, client, assistant=make_assistant(client, settings, rig.output),
                       bindings=bindings, microphone=mic, chimes=Chimes(False, rig.speaker),
                       store=PendingStore(tmp_path / "pending"), narrator=narrator)
            try:
                await speak(d)
                async with asyncio.timeout(15):
                    while not rig.sounding():
                        await asyncio.sleep(0.005)
                await asyncio.sleep(0.2)
                pressed = time.monotonic()
                d.on_action(Start("ask"))  # barge-in: the talk key while the answer is spoken
                await asyncio.sleep(0.3)
                d.on_action(Cancel())  # Esc: the new take is dropped
                fake_groq.set_reply("Yes.")
                next_take = time.monotonic()
                await speak(d)
                async with asyncio.timeout(15):
                    while len(rig.events("speech")) < 2 or rig.events("speech")[-1]["text"] != "Yes.":
                        await asyncio.sleep(0.01)
            finally:
                await d.shutdown()
                await rig.speaker.aclose()
            return pressed, next_take

    pressed, next_take = asyncio.run(main())
    heard = rig.sounding(after=pressed)
    gap = [t for t in heard if t < next_take]  # before the next take's answer could be spoken
    assert not gap or gap[-1] - pressed < 0.1  # silent within 100 ms of the key
    assert [e["text"] for e in rig.events("speech")][-1] == "Yes."
    assert any(e.get("interrupted") for e in rig.events("reply")) or rig.events("reply")[0]["text"] == THREE


def test_a_spoken_turn_times_its_first_sound_after_its_first_word(fake_groq: FakeGroq) -> None:
    fake_groq.set_reply(THREE)
    rig = Rig()

    async def main() -> None:
        async with client_for(fake_groq) as client:
            assistant = make_assistant(client, Settings(), rig.output)
            narrator = Narrator(client, rig.speaker, rig.output, model=TTS_MODEL, voice="troy")
            assistant.start_clock()
            assistant.emit(Heard())  # as if the question had just been heard
            await SpokenAnswers(narrator, assistant).ask("Tell me about Paris.")
            assert rig.events("timing") == []  # held until the voice started, not sent with the text
            assistant.report_timing()
        await rig.speaker.aclose()

    asyncio.run(main())
    [timing] = rig.events("timing")
    assert 0 <= timing["first_word_ms"] <= timing["first_audio_ms"]
    assert timing["first_audio_ms"] <= timing["answer_ms"] + 5000


def test_the_timing_line_names_the_first_sound() -> None:
    assert timing_line({"transcript_ms": 310, "first_word_ms": 520, "first_audio_ms": 900}) == (
        "heard in 0.31 s · first word 0.52 s · first sound 0.90 s")
