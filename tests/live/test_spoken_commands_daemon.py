"""Spoken commands through the whole daemon: `voicebot run` with dictate_commands = true, a real key
held over real speech, the words said standing in for the recording's (FakeGroq.set_heard),
typed into a real X window that edits its text as a text field does."""

from __future__ import annotations

from pathlib import Path

from tests.fakegroq import FakeGroq
from tests.harness.daemon import Desktop, live_marks, running_daemon, wait_state
from tests.harness.xvfb import keydown, keyup
from tests.live.test_spoken_commands_live import SHOWN, TAKES, EditField

CAPITAL = Path(__file__).resolve().parents[1] / "data" / "capital.wav"

pytestmark = live_marks()


def test_voicebot_run_types_the_breaks_and_scratch_that_takes_the_last_dictation_back(
        desk: Desktop, fake_groq: FakeGroq) -> None:
    fake_groq.set_heard(*TAKES)
    field = EditField(desk.display)
    try:
        args = ["--mode", "dictate", "--hotkey", "f9", "--dictate-output", "type", "--quiet"]
        with running_daemon(args, fake_groq, desk, config="dictate_commands = true\n") as d:
            for _ in TAKES:
                since = d.mark()
                keydown(desk.display, "F9")
                try:
                    desk.pulse.play(CAPITAL)
                finally:
                    keyup(desk.display, "F9")
                d.wait_for("transcript", 60, since=since)
                wait_state(d.env, "listening")
            second = "\nBye."
            assert field.wait_keys(len(SHOWN) + 2 * len(second)) == SHOWN  # typed, then BackSpaced
            said = d.events
    finally:
        field.close()
    assert [e["text"] for e in said if e["type"] == "transcript"] == [SHOWN, second, ""]
    assert [e for e in said if e["type"] == "scratched"] == [{"type": "scratched", "chars": 5, "dictations": 1}]
    assert not [e for e in said if e["type"] in ("notice", "error")], said
    assert len(fake_groq.requests_to("/audio/transcriptions")) == 3
