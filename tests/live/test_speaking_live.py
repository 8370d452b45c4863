"""Spoken answers for real: voicebot plays into a PulseAudio null sink, the test records its monitor.

PortAudio opens the `vb_speaker` ALSA device (PulseAudio's pulse plugin), the local server
synthesises each sentence with espeak-ng, and what reached the sink is recognised sentence
by sentence by its band-energy envelope. Barge-in and cancel are measured from the key
press (or the control request) to the last sound that reached the sink.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from tests.fakegroq import FakeGroq
from tests.harness.daemon import (
    VOICEBOT,
    Desktop,
    daemon_env,
    live_marks,
    running_daemon,
    short_home,
    voicebot,
)
from tests.harness.speaker import add_speaker, locate, recording
from tests.harness.xvfb import keydown, keyup
from voicebot.control.client import send_command, socket_path

DATA = Path(__file__).resolve().parents[1] / "data"
CAPITAL = DATA / "capital.wav"
TALK = "ctrl+alt+space"
THREE = "The capital of France is Paris. It lies on the river Seine. About two million people live there."
SENTENCES = ["The capital of France is Paris.", "It lies on the river Seine.", "About two million people live there."]
SILENT_WITHIN = 0.1  # seconds: the promise for barge-in and cancel
MATCH = 0.6  # a sentence counts as heard when its weakest stretch correlates this well

pytestmark = live_marks()



@pytest.fixture(scope="module")
def speaker_env(desk: Desktop) -> dict[str, str]:
    return add_speaker(desk.pulse)


def test_ask_speak_reads_each_sentence_aloud_in_order(fake_groq: FakeGroq, desk: Desktop,
                                                      speaker_env: dict[str, str]) -> None:
    fake_groq.set_reply(THREE)
    home = short_home()
    env = daemon_env(home, fake_groq, desk, extra=speaker_env)
    with recording(desk.pulse) as rec:
        started = time.monotonic()
        done = voicebot(["ask", "--speak", "--voice", "troy", "--output-device", "vb_speaker", "--json",
                         str(CAPITAL)], env, timeout=60)
        time.sleep(0.3)
    shutil.rmtree(home, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["text"] for e in events if e["type"] == "speech"] == SENTENCES
    heard = rec.audio(started)
    found = [locate(sentence, heard) for sentence in SENTENCES]
    assert all(score >= MATCH for score, _ in found), found
    starts = [at for _, at in found]
    assert starts == sorted(starts), found  # in the order they were written
    sounding = len(rec.sound_times(started)) * 0.01
    assert 3.0 < sounding < 12.0


def test_barge_in_silences_the_speaker_within_100_ms(fake_groq: FakeGroq, desk: Desktop,
                                                     speaker_env: dict[str, str]) -> None:
    fake_groq.set_reply(THREE)
    args = ["--speak", "--voice", "troy", "--output-device", "vb_speaker", "--quiet"]
    with running_daemon(args, fake_groq, desk, extra_env=speaker_env) as daemon, recording(desk.pulse) as rec:
        keydown(desk.display, TALK)
        try:
            desk.pulse.play(CAPITAL)
        finally:
            keyup(desk.display, TALK)
        daemon.wait_for("speech", 30)
        deadline = time.monotonic() + 10
        while not rec.sound_times() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.4)  # well into the first sentence
        sending = time.monotonic()
        keydown(desk.display, TALK)  # barge-in: the press is sent between `sending` and `pressed`
        pressed = time.monotonic()
        time.sleep(0.8)
        keyup(desk.display, TALK)
        time.sleep(0.5)
        heard = rec.sound_times(pressed - 1.0)
    before = [t for t in heard if t < sending]
    after = [t for t in heard if t >= sending]
    assert before, "the answer was never heard"
    print(f"barge-in: last sound {1000 * ((after or [pressed])[-1] - pressed):.0f} ms after xdotool sent the key, "
          f"{1000 * ((after or [pressed])[-1] - sending):.0f} ms after it was started")
    # Strict: timed from before xdotool was even started, not from when it sent the key.
    assert not after or after[-1] - sending <= SILENT_WITHIN, f"sound {after[-1] - sending:.3f} s after the key"
    assert len(daemon.of_type("speech")) < 3  # what was not yet spoken was dropped


def test_cancel_silences_the_speaker_within_100_ms_and_the_next_take_speaks(
        fake_groq: FakeGroq, desk: Desktop, speaker_env: dict[str, str]) -> None:
    fake_groq.set_reply(THREE)
    args = ["--speak", "--voice", "troy", "--output-device", "vb_speaker", "--quiet"]
    with running_daemon(args, fake_groq, desk, extra_env=speaker_env) as daemon, recording(desk.pulse) as rec:
        control = socket_path(None, daemon.env)
        keydown(desk.display, TALK)
        try:
            desk.pulse.play(CAPITAL)
        finally:
            keyup(desk.display, TALK)
        daemon.wait_for("speech", 30)
        deadline = time.monotonic() + 10
        while not rec.sound_times() and time.monotonic() < deadline:
            time.sleep(0.01)
        time.sleep(0.4)
        cancelled = time.monotonic()
        send_command("cancel", path=control)
        time.sleep(0.6)
        after = rec.sound_times(cancelled)
        print(f"cancel: last sound {1000 * ((after or [cancelled])[-1] - cancelled):.0f} ms after the request")
        assert not after or after[-1] - cancelled <= SILENT_WITHIN, f"sound {after[-1] - cancelled:.3f} s after cancel"
        mark = daemon.mark()
        fake_groq.set_reply("Yes, it is.")
        keydown(desk.display, TALK)
        try:
            desk.pulse.play(CAPITAL)
        finally:
            keyup(desk.display, TALK)
        assert daemon.wait_for("speech", 30, since=mark)["text"] == "Yes, it is."
        time.sleep(1.5)
        assert locate("Yes, it is.", rec.audio(cancelled + 0.6))[0] >= MATCH


def test_chat_speak_reads_typed_turns_aloud(fake_groq: FakeGroq, desk: Desktop, speaker_env: dict[str, str]) -> None:
    home = short_home()
    env = daemon_env(home, fake_groq, desk, extra=speaker_env)
    with recording(desk.pulse) as rec:
        started = time.monotonic()
        done = subprocess.run([str(VOICEBOT), "chat", "--speak", "--voice", "troy", "--output-device", "vb_speaker",
                               "--json"], input="What is the capital of France?\n", env=env, capture_output=True,
                              text=True, timeout=60)
        time.sleep(0.3)
    shutil.rmtree(home, ignore_errors=True)
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()]
    assert [e["text"] for e in events if e["type"] == "speech"] == ["The capital of France is Paris."]
    assert locate("The capital of France is Paris.", rec.audio(started))[0] >= MATCH
