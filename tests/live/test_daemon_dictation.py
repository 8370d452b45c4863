"""Dictation through the whole daemon: a real key held, real speech, a real X window.

The paste-and-restore path and the clean-up guard as a user meets them: `voicebot run`
under Xvfb with PulseAudio, the local server as the API, xclip as the clipboard.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakegroq import FakeGroq
from tests.harness.daemon import Desktop, live_marks, running_daemon, wait_state
from tests.harness.xvfb import keydown, keyup
from tests.live.test_dictation_x11 import TextField, clipboard, set_clipboard
from voicebot.desktop.cleanup import EDIT_PROMPT

CAPITAL = Path(__file__).resolve().parents[1] / "data" / "capital.wav"
QUESTION = "What is the capital of France?"

pytestmark = live_marks()



@pytest.fixture
def field(desk: Desktop) -> Iterator[TextField]:
    f = TextField(desk.display)
    yield f
    f.close()


def say(desk: Desktop, speech: Path) -> None:
    keydown(desk.display, "F9")
    try:
        desk.pulse.play(speech)
    finally:
        keyup(desk.display, "F9")


def test_dictation_is_pasted_and_the_clipboard_put_back(desk: Desktop, field: TextField, fake_groq: FakeGroq) -> None:
    set_clipboard("what I had copied", desk.display)
    args = ["--mode", "dictate", "--hotkey", "f9", "--dictate-output", "clipboard", "--restore-clipboard",
            "--restore-clipboard-seconds", "1", "--quiet"]
    with running_daemon(args, fake_groq, desk) as d:
        say(desk, CAPITAL)
        assert d.wait_for("transcript")["text"] == QUESTION
        field.wait(lambda f: f.pasted)
        deadline = time.monotonic() + 20
        while clipboard(desk.display) != "what I had copied" and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not d.of_type("error") and not d.of_type("notice"), d.events
    assert field.pasted == [QUESTION]
    assert clipboard(desk.display) == "what I had copied"


def test_a_cleanup_model_that_answers_does_not_get_typed(desk: Desktop, field: TextField,
                                                         fake_groq: FakeGroq) -> None:
    fake_groq.set_editor("answer")
    args = ["--mode", "dictate", "--hotkey", "f9", "--dictate-output", "type", "--dictate-cleanup", "--quiet"]
    with running_daemon(args, fake_groq, desk) as d:
        say(desk, CAPITAL)
        assert d.wait_for("transcript")["text"] == QUESTION
        notice = d.wait_for("notice")
        field.wait(lambda f: len(f.typed) >= len(QUESTION))
        assert wait_state(d.env, "listening")["state"] == "listening"
    assert field.typed == QUESTION
    assert notice["check"] == "dictate_cleanup" and "strays from the words spoken" in notice["text"]
    [request] = fake_groq.requests_to("/chat/completions")
    assert request.json["messages"][0] == {"role": "system", "content": EDIT_PROMPT}
    assert request.reply == "The capital of France is Paris."
