"""Per-app profiles on a real X server: the focused window's WM_CLASS, read at each key press.

Xvfb (no window manager) with X windows that carry a WM_CLASS, as applications do; the
focus is set as a window manager would (the input focus, and _NET_ACTIVE_WINDOW on the
root window, which EWMH window managers keep). `voicebot config` says which profile
applies and why; `voicebot run` applies it to the turn started while that window has the
focus, and not to the next one started elsewhere.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakegroq import FakeGroq
from tests.harness.daemon import Desktop, daemon_env, live_marks, running_daemon, short_home, voicebot, wait_state
from tests.harness.xvfb import keydown, keyup

CAPITAL = Path(__file__).resolve().parents[1] / "data" / "capital.wav"
CONFIG = """\
language = "fr"

[hotkeys]
ask = "f9"

[profiles.probe]
match = "voicebot-probe|kitty"
language = "en"
system = "Reply in English."
"""

pytestmark = live_marks()


class AppWindow:
    """A mapped X window with a WM_CLASS (instance, class), as an application's top-level window has."""

    def __init__(self, display: str, instance: str, cls: str) -> None:
        import Xlib.display
        from Xlib import X

        self.conn = Xlib.display.Display(display)
        self.root = self.conn.screen().root
        self.window = self.root.create_window(0, 0, 100, 100, 0, self.conn.screen().root_depth,
                                              event_mask=X.StructureNotifyMask)
        self.window.set_wm_class(instance, cls)
        self.window.map()
        self.conn.sync()
        while self.conn.next_event().type != X.MapNotify:
            pass

    def focus(self, *, active: bool = False) -> None:
        """Give it the keyboard; with `active`, also name it in _NET_ACTIVE_WINDOW (as an EWMH WM does)."""
        from Xlib import X, Xatom

        self.window.set_input_focus(X.RevertToPointerRoot, X.CurrentTime)
        atom = self.conn.intern_atom("_NET_ACTIVE_WINDOW")
        if active:
            self.root.change_property(atom, Xatom.WINDOW, 32, [self.window.id])
        else:
            self.root.delete_property(atom)
        self.conn.sync()

    def close(self) -> None:
        self.root.delete_property(self.conn.intern_atom("_NET_ACTIVE_WINDOW"))
        self.window.destroy()
        self.conn.sync()
        self.conn.close()


@pytest.fixture(scope="module")
def session(desk: Desktop) -> Iterator[None]:
    """A client that stays connected, as a desktop session's do: without one, Xvfb resets itself when the
    last client leaves, and a connection made meanwhile is refused (ECONNRESET)."""
    import Xlib.display

    conn = Xlib.display.Display(desk.display)
    yield
    conn.close()


@pytest.fixture
def windows(desk: Desktop, session: None) -> Iterator[tuple[AppWindow, AppWindow]]:
    probe, other = AppWindow(desk.display, "voicebot-probe", "VoicebotProbe"), AppWindow(desk.display, "xterm", "XTerm")
    yield probe, other
    probe.close()
    other.close()


def config_says(desk: Desktop, fake: FakeGroq, *, as_json: bool = False) -> Any:
    home = short_home()
    env = daemon_env(home, fake, desk)
    (home / "config" / "voicebot").mkdir(parents=True)
    (home / "config" / "voicebot" / "config.toml").write_text(CONFIG)
    done = voicebot(["config", *(["--json"] if as_json else [])], env)
    assert done.returncode == 0, done.stderr
    if as_json:
        return next(e for e in map(json.loads, done.stdout.splitlines()) if e["type"] == "profile")
    return done.stdout.splitlines()[-1]


def test_config_names_the_profile_of_the_window_with_the_input_focus(desk: Desktop, fake_groq: FakeGroq,
                                                                     windows: tuple[AppWindow, AppWindow]) -> None:
    probe, other = windows
    probe.focus()
    assert config_says(desk, fake_groq) == \
        "profile 'probe' applies: focused window class 'voicebot-probe' matches 'voicebot-probe|kitty'"
    other.focus()
    assert config_says(desk, fake_groq) == \
        "no profile applies: focused window class 'XTerm' (X11) matches none of 'voicebot-probe|kitty' (probe)"


def test_a_window_managers_active_window_is_the_one_asked(desk: Desktop, fake_groq: FakeGroq,
                                                           windows: tuple[AppWindow, AppWindow]) -> None:
    probe, other = windows
    other.focus()
    probe.focus(active=True)  # the WM says probe is active, whatever window the keyboard input is on
    other.window.set_input_focus(0, 0)
    other.conn.sync()
    said = config_says(desk, fake_groq, as_json=True)
    assert (said["name"], said["window"], said["via"]) == ("probe", "VoicebotProbe", "X11")


def test_the_profile_follows_the_focus_at_each_key_press(desk: Desktop, fake_groq: FakeGroq,
                                                         windows: tuple[AppWindow, AppWindow]) -> None:
    probe, other = windows
    other.focus()  # at start-up another window has the focus: what counts is the focus at the key press
    with running_daemon(["--quiet"], fake_groq, desk, config=CONFIG) as d:
        probe.focus()
        hold(desk)
        profile = d.wait_for("profile")
        d.wait_for("reply")
        assert wait_state(d.env, "listening")["state"] == "listening"
        mark = d.mark()
        other.focus()
        hold(desk)
        d.wait_for("reply", since=mark)
        assert not d.of_type("profile", since=mark) and not d.of_type("error"), d.events
    assert (profile["name"], profile["window"]) == ("probe", "voicebot-probe")
    first, second = fake_groq.requests_to("/audio/transcriptions")
    assert first.form is not None and second.form is not None
    assert (first.form["language"], second.form["language"]) == ("en", "fr")
    asked, plain = (r.json["messages"][0]["content"] for r in fake_groq.requests_to("/chat/completions"))
    assert asked == "Reply in English." and plain != asked


def hold(desk: Desktop) -> None:
    keydown(desk.display, "F9")
    try:
        desk.pulse.play(CAPITAL)
    finally:
        keyup(desk.display, "F9")
