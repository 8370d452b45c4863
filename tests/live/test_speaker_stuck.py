"""A sound server that dies or stops mid-sentence costs the spoken answer, never the command.

`voicebot ask --speak` plays into a private PulseAudio server of its own (tests/harness);
once the first sentence is being spoken the server is stopped (SIGSTOP: every stream hangs,
PortAudio's calls on it block for ever) or killed. The command must still end, with the
whole answer printed and one notice that the rest is not spoken.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator

import pytest

from tests.fakegroq import FakeGroq
from tests.harness.daemon import VOICEBOT, daemon_env, live_marks, short_home
from tests.harness.pulse import PulseServer, pulse_server
from tests.harness.speaker import add_speaker
from tests.live.test_speaking_live import CAPITAL
from voicebot.voice import output as voice_output

pytestmark = live_marks()
LONG = " ".join(f"Sentence number {n} of a long answer about Paris." for n in range(1, 13))
EXIT_WITHIN = 60.0  # seconds the command may take once the server is gone (it used to take for ever)


@pytest.fixture
def pulse() -> Iterator[PulseServer]:
    """A server for this test alone: it is stopped or killed on purpose."""
    with pulse_server() as server:
        yield server


@pytest.mark.parametrize("sig", [signal.SIGSTOP, signal.SIGKILL], ids=["stopped", "killed"])
def test_ask_speak_ends_with_one_notice_when_the_sound_server_goes_mid_answer(
        fake_groq: FakeGroq, pulse: PulseServer, sig: signal.Signals) -> None:
    fake_groq.set_reply(LONG)
    home = short_home()
    env = daemon_env(home, fake_groq, extra=add_speaker(pulse))
    proc = subprocess.Popen([str(VOICEBOT), "ask", "--speak", "--voice", "troy", "--output-device", "vb_speaker",
                             "--json", str(CAPITAL)], env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines: list[str] = []
    try:
        for line in proc.stdout:  # until the first sentence is being spoken
            lines.append(line)
            if json.loads(line)["type"] == "speech":
                break
        else:
            pytest.fail(f"nothing was spoken: {''.join(lines)} {proc.stderr.read() if proc.stderr else ''}")
        pulse.send_signal(sig)
        out, err = proc.communicate(timeout=EXIT_WITHIN)
    finally:
        pulse.send_signal(signal.SIGCONT)
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        shutil.rmtree(home, ignore_errors=True)
    events = [json.loads(line) for line in [*lines, *out.splitlines()] if line.strip()]
    assert proc.returncode == 0, err
    (reply,) = [e for e in events if e["type"] == "reply"]
    assert reply["text"] == LONG  # the text answer whole, whatever the voice did
    notices = [str(e["text"]) for e in events if e["type"] == "notice"]
    assert len(notices) == 1 and notices[0].startswith("the sound output stopped responding"), notices
    assert "Traceback" not in err


def test_the_voice_comes_back_when_the_sound_server_does(fake_groq: FakeGroq, pulse: PulseServer) -> None:
    """One `voicebot chat --speak`: an answer being spoken when the server is killed (one notice), the
    next answer printed unspoken, the server started again: the answer after that is spoken, by the
    same process."""
    home = short_home()
    env = daemon_env(home, fake_groq, extra=add_speaker(pulse))
    proc = subprocess.Popen([str(VOICEBOT), "chat", "--speak", "--voice", "troy", "--output-device", "vb_speaker",
                             "--json"], env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, bufsize=1)
    assert proc.stdin is not None and proc.stdout is not None
    events: list[dict[str, object]] = []
    watchdog = threading.Timer(120, proc.kill)  # an event that never comes fails the test, not the run
    watchdog.start()

    def until(kind: str, question: str | None = None) -> list[dict[str, object]]:
        """Type `question` (if any); the events up to the first of type `kind`."""
        assert proc.stdin is not None and proc.stdout is not None
        if question is not None:
            proc.stdin.write(question + "\n")
            proc.stdin.flush()
        got: list[dict[str, object]] = []
        for line in proc.stdout:
            got.append(json.loads(line))
            if got[-1]["type"] == kind:
                break
        else:
            pytest.fail(f"the chat ended: {got} {proc.stderr.read() if proc.stderr else ''}")
        events.extend(got)
        return got

    try:
        assert until("speech", "What is the capital of France?")[-1]["text"] == "The capital of France is Paris."
        pulse.send_signal(signal.SIGKILL)
        pulse.stop()
        assert str(until("notice")[-1]["text"]).startswith("the sound output stopped responding")
        gone = until("reply", "And of Italy?")
        assert not [e for e in gone if e["type"] == "speech"]
        pulse.start()
        add_speaker(pulse)
        time.sleep(voice_output.RETRY_SECONDS)  # a lower bound, not a guess: the failure came before its notice
        back = until("speech", "And of Spain?")
        assert back[-1]["text"] == "You said: And of Spain?"  # spoken again, by the same process
        out, err = proc.communicate(timeout=EXIT_WITHIN)  # stdin closed: the chat ends
    finally:
        watchdog.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
        shutil.rmtree(home, ignore_errors=True)
    assert proc.returncode == 0, err
    events += [json.loads(line) for line in out.splitlines() if line.strip()]
    assert len([e for e in events if e["type"] == "notice"]) == 1  # the outage, said once
    assert "Traceback" not in err
