"""Rewrite in place, the whole way: a real selection, a spoken instruction, the result typed over it.

`voicebot run` with an `edit` binding: on X11 (Xvfb, the selection owned through xclip,
the key held with xdotool, the result typed into an X window) and on Wayland (headless
sway, `wl-copy --primary`, `voicebot start`/`stop`, the result typed into foot). The
local server plays the model: its reply is set per test, and it records what was asked.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakegroq import FakeGroq
from tests.harness import sway as sway_harness
from tests.harness.daemon import Daemon, Desktop, desktop, live_marks, running_daemon, voicebot
from tests.harness.xvfb import keydown, keyup
from tests.live.test_dictation_x11 import TextField, own
from voicebot.desktop.rewrite import REFUSAL, REWRITE_PROMPT

CAPITAL = Path(__file__).resolve().parents[1] / "data" / "capital.wav"
INSTRUCTION = "What is the capital of France?"  # the spoken words, whatever they ask
SELECTED = "hey can u send me the report"
REWRITTEN = "Could you please send me the report?"
EDIT_KEY = '[hotkeys]\nedit = "f9"\n'

pytestmark = live_marks()
needs_sway = pytest.mark.skipif(bool(sway_harness.missing_tools()),
                                reason=f"needs {', '.join(sway_harness.missing_tools())} (apt, see scripts/dev)")


@pytest.fixture(scope="module")
def desk() -> Iterator[Desktop]:
    with desktop() as d:
        yield d


@pytest.fixture
def field(desk: Desktop) -> Iterator[TextField]:
    f = TextField(desk.display)
    yield f
    f.close()


def select_x11(display: str, text: str) -> None:
    own(text.encode(), display, selection="primary")  # served before the take reads it


def unselect_x11(display: str) -> None:
    """Nothing selected: an owner that offers no text (xclip can only offer an empty one)."""
    select_x11(display, "")


def edit_take(d: Daemon, desk: Desktop) -> None:
    keydown(desk.display, "F9")
    try:
        desk.pulse.play(CAPITAL)
    finally:
        keyup(desk.display, "F9")
    assert d.wait_for("transcript")["text"] == INSTRUCTION


def test_the_selection_is_rewritten_and_typed_over_on_x11(desk: Desktop, field: TextField,
                                                          fake_groq: FakeGroq) -> None:
    select_x11(desk.display, SELECTED)
    fake_groq.set_reply(REWRITTEN)
    with running_daemon(["--quiet", "--dictate-output", "type"], fake_groq, desk,
                        config=EDIT_KEY) as d:
        edit_take(d, desk)
        done = d.wait_for("rewritten", 30)
        field.wait(lambda f: len(f.typed) >= len(REWRITTEN))
        assert not d.of_type("notice") and not d.of_type("error"), d.events
    assert field.typed == REWRITTEN and done["text"] == REWRITTEN
    [chat] = fake_groq.requests_to("/chat/completions")
    system, user = chat.json["messages"]
    assert system == {"role": "system", "content": REWRITE_PROMPT}
    assert INSTRUCTION in user["content"] and f"<<<\n{SELECTED}\n>>>" in user["content"]
    assert chat.json["stream"] is True  # streamed in, typed only once whole


@pytest.mark.parametrize(("reply", "reason"), [(REFUSAL, "the model would not rewrite it"),
                                               ("  \n", "the model returned nothing")])
def test_a_refused_or_empty_result_leaves_the_text_alone(desk: Desktop, field: TextField, fake_groq: FakeGroq,
                                                         reply: str, reason: str) -> None:
    select_x11(desk.display, SELECTED)
    fake_groq.set_reply(reply)
    with running_daemon(["--quiet", "--dictate-output", "type"], fake_groq, desk,
                        config=EDIT_KEY) as d:
        edit_take(d, desk)
        notice = d.wait_for("notice", 30)
        assert not d.of_type("rewritten")
    assert notice["text"] == f"not rewritten: {reason}; the selected text is left as it was"
    assert notice["delivered"] is False and field.typed == ""


def test_nothing_selected_asks_nothing(desk: Desktop, field: TextField, fake_groq: FakeGroq) -> None:
    unselect_x11(desk.display)
    with running_daemon(["--quiet", "--dictate-output", "type"], fake_groq, desk,
                        config=EDIT_KEY) as d:
        edit_take(d, desk)
        notice = d.wait_for("notice", 30)
    assert notice["text"] == "not rewritten: nothing is selected; the selected text is left as it was"
    assert fake_groq.requests_to("/chat/completions") == [] and field.typed == ""


@needs_sway
def test_the_selection_is_rewritten_in_a_wayland_window(desk: Desktop, fake_groq: FakeGroq,
                                                        tmp_path: Path) -> None:
    fake_groq.set_reply(REWRITTEN)
    with sway_harness.sway() as compositor:
        terminal = sway_harness.Terminal(compositor, tmp_path)
        try:
            sway_harness.set_clipboard(compositor, SELECTED.encode(), primary=True)
            with running_daemon(["--no-hotkeys", "--quiet", "--mode", "edit",
                                 "--dictate-output", "type"], fake_groq, desk, display=False,
                                extra_env={"WAYLAND_DISPLAY": compositor.display}) as d:
                assert voicebot(["start"], d.env).returncode == 0
                d.wait_for("recording")
                desk.pulse.play(CAPITAL)
                assert voicebot(["stop"], d.env).returncode == 0
                assert d.wait_for("transcript")["text"] == INSTRUCTION
                assert terminal.wait(lambda got: len(got) >= len(REWRITTEN)) == REWRITTEN
                assert not d.of_type("notice") and not d.of_type("error"), d.events
        finally:
            terminal.close()
    [chat] = fake_groq.requests_to("/chat/completions")
    assert f"<<<\n{SELECTED}\n>>>" in chat.json["messages"][-1]["content"]
