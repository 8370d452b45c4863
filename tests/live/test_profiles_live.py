"""Profiles through `voicebot run`: each binding's turns carry its own settings, and only its own.

A German dictation key beside an English question key, as the README shows it: the
config file gives the dictate binding its language, vocabulary and prompt, and the ask
binding its language, chat model and system prompt. Real keys under Xvfb, real speech
through PulseAudio, and the local server records what each turn's requests carried.
"""

from __future__ import annotations

from pathlib import Path

from tests.fakegroq import FakeGroq
from tests.harness.daemon import Desktop, live_marks, running_daemon, wait_state
from tests.harness.speaker import add_speaker
from tests.harness.xvfb import keydown, keyup

DATA = Path(__file__).resolve().parents[1] / "data"
CAPITAL = DATA / "capital.wav"
QUESTION = "What is the capital of France?"

pytestmark = live_marks()

CONFIG = """\
stt_prompt = "Global words."
dictate_output = "print"

[hotkeys]
ask = { keys = "f10", language = "en", model = "openai/gpt-oss-120b", system = "Answer in one English word." }
dictate = { keys = "f9", language = "de", stt_prompt = "Ein Diktat.", vocabulary = ["Groq", "Kubernetes"] }
"""


def hold(desk: Desktop, key: str) -> None:
    keydown(desk.display, key)
    try:
        desk.pulse.play(CAPITAL)
    finally:
        keyup(desk.display, key)


def test_each_binding_sends_its_own_language_prompt_model_and_system(desk: Desktop, fake_groq: FakeGroq) -> None:
    with running_daemon(["--quiet"], fake_groq, desk, config=CONFIG) as d:
        hold(desk, "F9")
        assert d.wait_for("transcript")["text"] == QUESTION
        assert wait_state(d.env, "listening")["state"] == "listening"
        mark = d.mark()
        hold(desk, "F10")
        assert d.wait_for("recording", since=mark)["mode"] == "ask"
        d.wait_for("reply", since=mark)
        assert not d.of_type("error"), d.events
    dictated, asked = fake_groq.requests_to("/audio/transcriptions")
    assert dictated.form is not None and asked.form is not None
    assert (dictated.form.get("language"), dictated.form.get("prompt")) == ("de", "Ein Diktat. Groq, Kubernetes")
    assert (asked.form.get("language"), asked.form.get("prompt")) == ("en", "Global words.")
    (chat,) = fake_groq.requests_to("/chat/completions")  # the dictation asked nothing
    assert chat.json["model"] == "openai/gpt-oss-120b"
    assert chat.json["messages"][0] == {"role": "system", "content": "Answer in one English word."}
    assert chat.json["messages"][-1] == {"role": "user", "content": QUESTION}


def test_a_binding_speaks_in_its_own_voice_and_the_other_not_at_all(desk: Desktop, fake_groq: FakeGroq) -> None:
    config = ('voice = "troy"\n[hotkeys]\nask = { keys = "f10", speak = true, voice = "daniel" }\n'
              'translate = { keys = "f9", then_ask = true }\n')
    fake_groq.set_reply("Paris.")
    with running_daemon(["--quiet", "--output-device", "vb_speaker"], fake_groq, desk, config=config,
                        extra_env=add_speaker(desk.pulse)) as d:
        hold(desk, "F10")
        assert d.wait_for("speech", 30)["text"] == "Paris."
        assert wait_state(d.env, "listening")["state"] == "listening"
        mark = d.mark()
        hold(desk, "F9")
        d.wait_for("reply", since=mark)
        assert wait_state(d.env, "listening")["state"] == "listening"
        assert not d.of_type("speech", since=mark) and not d.of_type("error"), d.events
    (spoken,) = fake_groq.requests_to("/audio/speech")  # the translate binding follows speak = false
    assert spoken.json["voice"] == "daniel"
