"""Spoken commands land in real windows: line breaks typed, and "scratch that" taken back with BackSpace.

On X11 (Xvfb, pynput's XTEST keys, an X window that edits its text as a text field does:
Return breaks the line, BackSpace deletes) and on Wayland (headless sway, the real wtype, a
foot terminal whose reader receives the bytes: Return as a newline, BackSpace as DEL, which
a line editor applies). The dictation code runs as the daemon runs it, in this process.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.harness import sway as sway_harness
from tests.harness.xvfb import focused_window, missing_tools, xvfb
from voicebot.cli.wiring import dictation_options
from voicebot.config.schema import Settings
from voicebot.desktop.dictation import Dictation
from voicebot.turns.console import JsonOutput

pytestmark = pytest.mark.live
TAKES = ["Dear John. New paragraph. Thanks for the tea. Scratch that. Thanks for the coffee.", "New line. Bye.",
         "Scratch that."]
SHOWN = "Dear John.\n\nThanks for the coffee."  # the second take typed, then taken back


def dictate(env: dict[str, str]) -> list[dict[str, Any]]:
    """The takes, one after another, through one Dictation (as one daemon's are); its events."""
    out = io.StringIO()
    dictation = Dictation(dictation_options(Settings(dictate_output="type", dictate_commands=True)),
                          JsonOutput(out, io.StringIO()), None, env)

    async def go() -> None:
        for take in TAKES:
            await dictation.land(take)

    asyncio.run(asyncio.wait_for(go(), 60))
    return [json.loads(line) for line in out.getvalue().splitlines()]


class EditField:
    """A focused X window that keeps its text as a text field would: keys typed, Return, BackSpace."""

    def __init__(self, display: str) -> None:
        from Xlib import X

        self._x = X
        self.conn, self.window = focused_window(display)
        self.text = ""
        self.keys = 0
        self._changed = threading.Condition()
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        from Xlib import XK

        while True:
            try:
                event = self.conn.next_event()
            except Exception:  # the connection closed: stop reading
                return
            if event.type != self._x.KeyPress:
                continue
            keysym = self.conn.keycode_to_keysym(event.detail, 1 if event.state & self._x.ShiftMask else 0)
            char = "\n" if keysym == XK.XK_Return else XK.keysym_to_string(keysym) or ""
            if keysym != XK.XK_BackSpace and not char:
                continue  # a modifier, or the hotkey: no edit
            with self._changed:
                self.text = self.text[:-1] if keysym == XK.XK_BackSpace else self.text + char
                self.keys += 1  # edits: characters, line breaks and BackSpaces
                self._changed.notify_all()

    def wait_keys(self, count: int, timeout: float = 30.0) -> str:
        """The text once `count` edits (characters, line breaks, BackSpaces) have arrived."""
        with self._changed:
            assert self._changed.wait_for(lambda: self.keys >= count, timeout), (self.keys, self.text)
            return self.text

    def close(self) -> None:
        self.conn.close()


@pytest.mark.skipif(bool(missing_tools()), reason="needs Xvfb and xdotool (apt, see scripts/dev)")
def test_on_x11_breaks_are_typed_and_scratch_that_takes_the_last_dictation_back(
        monkeypatch: pytest.MonkeyPatch) -> None:
    with xvfb() as display:
        monkeypatch.setenv("DISPLAY", display)
        monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
        field = EditField(display)
        try:
            said = dictate(dict(os.environ))
            second = "\nBye."
            keys = len(SHOWN) + len(second) + len(second)  # typed, then BackSpaced
            assert field.wait_keys(keys) == SHOWN
        finally:
            field.close()
    assert [e["text"] for e in said if e["type"] == "transcript"] == [SHOWN, second, ""]
    assert [e for e in said if e["type"] == "scratched"] == [{"type": "scratched", "chars": 5, "dictations": 1}]
    assert not [e for e in said if e["type"] == "notice"]


def as_edited(received: str) -> str:
    """What a line editor shows of the bytes a terminal received: DEL takes back a character."""
    shown = ""
    for char in received:
        shown = shown[:-1] if char == "\x7f" else shown + char
    return shown


@pytest.mark.skipif(bool(sway_harness.missing_tools()) or shutil.which("foot") is None,
                    reason="needs sway, wtype and foot (apt, see scripts/dev)")
def test_on_sway_the_terminal_receives_the_breaks_and_the_backspaces(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    with sway_harness.sway() as compositor:
        monkeypatch.setenv("WAYLAND_DISPLAY", compositor.display)  # this process is the compositor's client
        monkeypatch.delenv("DISPLAY", raising=False)
        terminal = sway_harness.Terminal(compositor, tmp_path)
        try:
            said = dictate(dict(os.environ))
            received = terminal.wait(lambda got: got.count("\x7f") >= 5)
        finally:
            terminal.close()
    assert received == SHOWN + "\nBye." + "\x7f" * 5
    assert as_edited(received) == SHOWN
    assert not [e for e in said if e["type"] == "notice"]


