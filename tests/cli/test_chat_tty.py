"""`voicebot chat` on a real terminal (a pty): the interactive prompt, colours, Ctrl+C and Ctrl+D."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import signal
import subprocess
import termios
import time
from pathlib import Path

from tests.cli.test_cli import VOICEBOT, base_env
from tests.fakegroq import TEST_API_KEY, FakeGroq


def _take_terminal() -> None:
    """In the child: a new session whose controlling terminal is the pty, so ^C means SIGINT."""
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """voicebot running on a pseudo-terminal, read and typed into like a person would."""

    def __init__(self, args: list[str], env: dict[str, str]) -> None:
        self.master, slave = pty.openpty()
        self.proc = subprocess.Popen([str(VOICEBOT), *args], stdin=slave, stdout=slave, stderr=slave, env=env,
                                     close_fds=True, preexec_fn=_take_terminal)
        os.close(slave)
        self.seen = ""

    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def expect(self, pattern: str, timeout: float = 20.0) -> str:
        deadline = time.monotonic() + timeout
        while not re.search(pattern, self.seen):
            left = deadline - time.monotonic()
            assert left > 0, f"never saw {pattern!r}; screen so far: {self.seen!r}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.seen += os.read(self.master, 4096).decode(errors="replace")
                except OSError:  # the child closed the terminal
                    break
        return self.seen

    def _drain(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline and select.select([self.master], [], [], 0.2)[0]:
            try:
                self.seen += os.read(self.master, 65536).decode(errors="replace")
            except OSError:
                return

    def close(self) -> int:
        try:
            code = self.proc.wait(20)
        except subprocess.TimeoutExpired:  # show where it hangs: faulthandler dumps every thread on SIGABRT
            self.proc.send_signal(signal.SIGABRT)
            self._drain(3)
            raise AssertionError(f"voicebot did not exit; screen and stacks: {self.seen[-5000:]}") from None
        os.close(self.master)
        assert "Traceback" not in self.seen and TEST_API_KEY not in self.seen
        return code


def test_interactive_prompt_with_colour_history_and_exit(fake_groq: FakeGroq, tmp_path: Path) -> None:
    term = Terminal(["chat"], base_env(fake_groq, tmp_path) | {"TERM": "xterm"})
    term.expect("you> ")
    term.type("first question\r")
    screen = term.expect(r"You said: first question[\s\S]*you> ")
    assert "\x1b[32m" in screen  # coloured label on a terminal
    term.type("second\r")
    term.expect(r"You said: second[\s\S]*you> ")
    term.type("\x04")  # Ctrl+D leaves
    assert term.close() == 0
    last = fake_groq.requests_to("/chat/completions")[-1].json["messages"]
    assert [m["content"] for m in last[1:]] == ["first question", "You said: first question", "second"]


def test_ctrl_c_stops_an_answer_and_keeps_the_prompt(fake_groq: FakeGroq, tmp_path: Path) -> None:
    fake_groq.set_chunk_delay(0.5)
    fake_groq.set_reply("one two three four five six seven eight nine ten", times=1)
    term = Terminal(["chat"], base_env(fake_groq, tmp_path) | {"NO_COLOR": "1", "PYTHONFAULTHANDLER": "1"})
    term.expect("you> ")
    term.type("count\r")
    term.expect("Assistant: one")
    term.type("\x03")  # Ctrl+C mid-answer
    screen = term.expect(r"\[interrupted\][\s\S]*you> ")
    assert "ten" not in screen and "\x1b[" not in screen.replace("\x1b[?", "")  # NO_COLOR: no colour codes
    fake_groq.set_chunk_delay(0)
    term.type("next\r")
    term.expect(r"You said: next[\s\S]*you> ")
    history = fake_groq.requests_to("/chat/completions")[-1].json["messages"]
    assert history[2]["role"] == "assistant" and history[2]["content"].endswith("[interrupted]")
    # Ctrl+C at the prompt leaves with 130. CPython's readline can miss a SIGINT that lands
    # in the instant between drawing the prompt and waiting for input (it checks for
    # signals only when its select() is interrupted); a person never types that fast, and
    # one more Ctrl+C always gets through, so the test presses again if the first was lost.
    term.type("\x03")
    try:
        term.proc.wait(3)
    except subprocess.TimeoutExpired:
        term.type("\x03")
    assert term.close() == 130


def test_a_stream_cut_mid_answer_keeps_the_partial_and_the_next_turn_works(fake_groq: FakeGroq,
                                                                            tmp_path: Path) -> None:
    fake_groq.set_reply("alpha beta gamma delta epsilon zeta", times=1)
    fake_groq.inject("/chat/completions", drop_after=3)
    term = Terminal(["chat"], base_env(fake_groq, tmp_path) | {"NO_COLOR": "1"})
    term.expect("you> ")
    term.type("first\r")
    screen = term.expect(r"\[interrupted\][\s\S]*voicebot: error: [^\n]*interrupted[\s\S]*you> ")
    assert "zeta" not in screen
    term.type("second\r")
    term.expect(r"You said: second[\s\S]*you> ")
    term.type("\x04")
    assert term.close() == 0
    history = fake_groq.requests_to("/chat/completions")[-1].json["messages"]
    assert history[1] == {"role": "user", "content": "first"}
    assert history[2]["content"].startswith("alpha") and history[2]["content"].endswith("[interrupted]")
    assert history[3] == {"role": "user", "content": "second"}
