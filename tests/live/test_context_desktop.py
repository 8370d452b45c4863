"""Selected text as context, the whole way: `voicebot run`, a real selection, the chat request.

On X11 the selection is PRIMARY on a private Xvfb (set with xclip as a selecting
application would own it), the key is held with xdotool; on Wayland it is the primary
selection of a headless sway (wl-copy --primary), and `voicebot start`/`stop` drive the
take as a desktop shortcut would. The local server records the chat request, so the test
sees exactly what the model was sent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakegroq import FakeGroq
from tests.harness import sway as sway_harness
from tests.harness.daemon import Daemon, Desktop, desktop, live_marks, running_daemon, voicebot
from tests.harness.xvfb import keydown, keyup
from tests.live.test_dictation_x11 import own

CAPITAL = Path(__file__).resolve().parents[1] / "data" / "capital.wav"
QUESTION = "What is the capital of France?"
SELECTED = "TypeError: 'NoneType' object is not subscriptable\n  at line 12"

pytestmark = live_marks()
needs_sway = pytest.mark.skipif(bool(sway_harness.missing_tools()),
                                reason=f"needs {', '.join(sway_harness.missing_tools())} (apt, see scripts/dev)")


@pytest.fixture(scope="module")
def desk() -> Iterator[Desktop]:
    with desktop() as d:
        yield d


def select_x11(display: str, text: str) -> None:
    """Own PRIMARY with `text`, as an application does when text is selected in it."""
    own(text.encode(), display, selection="primary")  # served before the take reads it


def asked(fake: FakeGroq) -> str:
    [chat] = fake.requests_to("/chat/completions")
    content: str = chat.json["messages"][-1]["content"]
    return content


def answered(d: Daemon) -> dict[str, Any]:
    assert d.wait_for("transcript")["text"] == QUESTION
    return d.wait_for("reply", 30)


def x11_take(d: Daemon, desk: Desktop) -> None:
    keydown(desk.display, "F9")
    try:
        desk.pulse.play(CAPITAL)
    finally:
        keyup(desk.display, "F9")


def test_the_selection_goes_with_the_question_on_x11(desk: Desktop, fake_groq: FakeGroq) -> None:
    select_x11(desk.display, SELECTED)
    config = '[hotkeys]\nask = { keys = "f9", context = "selection" }\n'
    with running_daemon(["--quiet"], fake_groq, desk, config=config) as d:
        x11_take(d, desk)
        answered(d)
        [event] = d.of_type("context")
        assert event == {"type": "context", "source": "selection", "chars": len(SELECTED), "total": len(SELECTED)}
        assert not d.of_type("notice") and not d.of_type("error"), d.events
    content = asked(fake_groq)
    assert content.startswith(QUESTION) and SELECTED in content


def test_without_context_nothing_selected_is_sent(desk: Desktop, fake_groq: FakeGroq) -> None:
    select_x11(desk.display, SELECTED)
    with running_daemon(["--quiet", "--hotkey", "f9"], fake_groq, desk) as d:
        x11_take(d, desk)
        answered(d)
        assert not d.of_type("context")
    assert asked(fake_groq) == QUESTION


def test_a_long_selection_is_cut_with_a_notice(desk: Desktop, fake_groq: FakeGroq) -> None:
    long = "word " * 100  # 500 characters, 499 once stripped
    select_x11(desk.display, long)
    config = '[hotkeys]\nask = { keys = "f9", context = "selection" }\n'
    with running_daemon(["--quiet", "--context-max-chars", "100"], fake_groq, desk,
                        config=config) as d:
        x11_take(d, desk)
        answered(d)
        [notice] = d.of_type("notice")
        [event] = d.of_type("context")
    assert notice["text"] == "selected text cut to its first 100 of 499 characters (context_max_chars)"
    assert (event["chars"], event["total"]) == (100, 499)
    content = asked(fake_groq)
    assert long.strip()[:100] in content and long.strip()[:101] not in content


@needs_sway
def test_the_primary_selection_goes_with_the_question_on_wayland(desk: Desktop, fake_groq: FakeGroq) -> None:
    with sway_harness.sway() as compositor:
        sway_harness.set_clipboard(compositor, b"the clipboard, not asked for")
        sway_harness.set_clipboard(compositor, SELECTED.encode(), primary=True)
        config = '[hotkeys]\nask = { keys = "f9", context = "selection" }\n'
        with running_daemon(["--no-hotkeys", "--quiet"], fake_groq, desk, display=False,
                            config=config, extra_env={"WAYLAND_DISPLAY": compositor.display}) as d:
            started = voicebot(["start"], d.env)
            assert started.returncode == 0, started.stderr
            d.wait_for("recording")
            desk.pulse.play(CAPITAL)
            assert voicebot(["stop"], d.env).returncode == 0
            answered(d)
            [event] = d.of_type("context")
            assert (event["source"], event["chars"]) == ("selection", len(SELECTED))
    content = asked(fake_groq)
    assert content.startswith(QUESTION) and SELECTED in content and "clipboard" not in content
