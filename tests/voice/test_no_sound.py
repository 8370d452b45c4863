"""The text answer never depends on the voice: no sound system, no output device, a broken ALSA.

Each case runs the installed `voicebot` with an ALSA configuration of its own
(ALSA_CONFIG_PATH replaces the system's alsa.conf, so nothing of the machine leaks in):
one that defines no PCM at all (`/dev/null`: PortAudio used to abort the process inside
`import sounddevice`), and one whose default PCM names a card that does not exist (PortAudio
starts and finds no device to play on).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import DATA, events, run
from tests.fakegroq import FakeGroq

ANSWER = "The capital of France is Paris."
NO_CARD = 'pcm.!default { type hw card 99 }\nctl.!default { type hw card 99 }\n'  # PortAudio: no devices


@pytest.fixture
def no_card(tmp_path: Path) -> str:
    conf = tmp_path / "no-card.conf"
    conf.write_text(NO_CARD)
    return str(conf)


def spoken_answer_env(alsa: str) -> dict[str, str]:
    return {"ALSA_CONFIG_PATH": alsa}


@pytest.mark.parametrize("alsa", ["/dev/null", "no-card"])
@pytest.mark.parametrize("how", [["ask", "--speak"], ["ask", "--speak", "--json"], ["chat", "--speak"]])
def test_an_answer_that_cannot_be_spoken_is_printed_with_one_notice(fake_groq: FakeGroq, tmp_path: Path,
                                                                    no_card: str, alsa: str, how: list[str]) -> None:
    alsa = no_card if alsa == "no-card" else alsa
    args = [*how, str(DATA / "capital.wav")] if how[0] == "ask" else how
    stdin = "What is the capital of France?\n" if how[0] == "chat" else None
    proc = run(args, fake_groq, tmp_path, env=spoken_answer_env(alsa), stdin=stdin)
    assert proc.returncode == 0, proc.stderr
    if "--json" in how:
        (reply,) = [e for e in events(proc.stdout) if e["type"] == "reply"]
        notices = [e["text"] for e in events(proc.stdout) if e["type"] == "notice"]
        assert reply["text"] == ANSWER and len(notices) == 1 and "cannot be spoken" in str(notices[0])
    else:
        assert proc.stdout.endswith(f"Assistant: {ANSWER}\n")
        notices = [line for line in proc.stderr.splitlines() if " heard in " not in line]  # not the timing line
        assert len(notices) == 1 and notices[0].startswith("voicebot: answers cannot be spoken: "), proc.stderr
    assert fake_groq.requests_to("/audio/speech") == []  # nothing synthesised for a voice that cannot play


def test_a_speak_setting_in_the_config_is_no_reason_to_lose_the_answer(fake_groq: FakeGroq, tmp_path: Path,
                                                                      no_card: str) -> None:
    config = tmp_path / ".config" / "voicebot" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("speak = true\n")
    proc = run(["ask", str(DATA / "capital.wav")], fake_groq, tmp_path, env=spoken_answer_env(no_card))
    assert proc.returncode == 0 and proc.stdout.endswith(f"Assistant: {ANSWER}\n"), proc.stderr
    assert "no audio output device found" in proc.stderr
    # A typo in --output-device, where there are devices to choose from, still stops before anything is sent.
    conf = tmp_path / "null.conf"
    conf.write_text("pcm.!default { type null }\n")  # one device, "default"
    fake_groq.reset()
    proc = run(["ask", "--output-device", "no such speaker", str(DATA / "capital.wav")], fake_groq,
               tmp_path, env=spoken_answer_env(str(conf)))
    assert proc.returncode == 2 and "no output device matches 'no such speaker'" in proc.stderr, proc.stderr
    assert fake_groq.requests == []


def test_a_broken_alsa_setup_is_one_line_and_exit_2_for_devices(fake_groq: FakeGroq, tmp_path: Path) -> None:
    for args in (["devices"], ["devices", "--json"]):
        proc = run(args, fake_groq, tmp_path, env=spoken_answer_env("/dev/null"))
        assert proc.returncode == 2, (proc.returncode, proc.stderr)
        (line,) = proc.stderr.splitlines()
        assert line.startswith("voicebot: error: the sound system cannot start: ALSA_CONFIG_PATH=/dev/null "
                               "defines no default sound device"), line
        if "--json" in args:
            assert json.loads(proc.stdout)["exit_code"] == 2
