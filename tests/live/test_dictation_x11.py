"""Dictation on a real X server: pynput typing, xclip, the paste and the clipboard put back.

A private Xvfb, the real xclip, and a focused X window that behaves like a text field:
on Ctrl+V it reads the CLIPBOARD selection (with xclip, as an application would ask the
owner), other keys are the characters typed. The dictation code runs in this process
against that display, exactly as the daemon runs it.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from tests.harness.xvfb import focused_window, missing_tools, xvfb
from voicebot.cli.wiring import dictation_options
from voicebot.config.schema import Settings
from voicebot.desktop.dictation import Dictation
from voicebot.turns.console import JsonOutput

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(bool(missing_tools()) or shutil.which("xclip") is None,
                       reason="needs Xvfb, xdotool and xclip (apt, see scripts/dev)"),
]
SAID = "What is the capital of France?"
# A 1x1 PNG: a picture the user had copied, which is not text.
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201e221bc330000000049454e44ae426082")


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with xvfb() as d:
        yield d


@pytest.fixture
def x11(display: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("DISPLAY", display)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    return display


def _env(display: str | None) -> dict[str, str]:
    return {**os.environ, "DISPLAY": display} if display else dict(os.environ)


def own(data: bytes, display: str | None = None, *, selection: str = "clipboard", kind: str | None = None) -> None:
    """What a user copies (or selects), served: xclip returns before the child it leaves behind owns
    the selection, so this waits until reading it back gives `data` (as voicebot itself does)."""
    typed = ["-t", kind] if kind else []
    # not a pipe: xclip's child keeps serving the selection, and would hold a pipe open
    subprocess.run(["xclip", "-selection", selection, "-in", *typed], input=data, check=True, timeout=10,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=_env(display))
    deadline = time.monotonic() + 10
    while subprocess.run(["xclip", "-selection", selection, "-out", *typed], capture_output=True, timeout=10,
                         env=_env(display)).stdout != data:
        assert time.monotonic() < deadline, f"xclip never served the {selection} selection"
        time.sleep(0.02)


def set_clipboard(text: str, display: str | None = None) -> None:
    own(text.encode(), display)


def clipboard(display: str | None = None) -> str:
    done = subprocess.run(["xclip", "-selection", "clipboard", "-out"], capture_output=True, timeout=10,
                          env=_env(display))
    return done.stdout.decode()


class TextField:
    """A focused window: characters typed into it, and what each Ctrl+V pasted."""

    def __init__(self, display: str) -> None:
        from Xlib import X

        self._x = X
        self.display = display
        self.conn, self.window = focused_window(display)
        self.typed = ""
        self.pasted: list[str] = []
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
            shifted = 1 if event.state & self._x.ShiftMask else 0
            keysym = self.conn.keycode_to_keysym(event.detail, shifted)
            char = "\n" if keysym == XK.XK_Return else XK.keysym_to_string(keysym) or ""
            with self._changed:
                if event.state & self._x.ControlMask and char == "v":
                    self.pasted.append(clipboard(self.display))  # what a text field pastes: the selection, now
                elif not event.state & self._x.ControlMask:
                    self.typed += char
                self._changed.notify_all()

    def wait(self, done: Any, timeout: float = 20.0) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: done(self), timeout), (self.typed, self.pasted)

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def field(x11: str) -> Iterator[TextField]:
    f = TextField(x11)
    yield f
    f.close()


def dictation(out: io.StringIO, **options: Any) -> Dictation:
    return Dictation(dictation_options(Settings(**options)), JsonOutput(out, io.StringIO()), None, os.environ)


def notices(out: io.StringIO) -> list[dict[str, Any]]:
    return [e for e in map(json.loads, out.getvalue().splitlines()) if e["type"] == "notice"]


def test_type_on_x11_reaches_the_focused_window(field: TextField) -> None:
    out = io.StringIO()
    asyncio.run(dictation(out, dictate_output="type").land(SAID))
    field.wait(lambda f: len(f.typed) >= len(SAID))
    assert field.typed == SAID and notices(out) == []


@pytest.mark.parametrize("options", [{"dictate_output": "type"},
                                     {"dictate_output": "clipboard", "restore_clipboard": True,
                                      "restore_clipboard_seconds": 1.0}], ids=["typed", "pasted"])
def test_enter_follows_the_dictated_text(field: TextField, options: dict[str, Any]) -> None:
    out = io.StringIO()

    async def go() -> None:
        d = dictation(out, **options)
        await d.land(SAID, then_enter=True)
        await d.settled()

    asyncio.run(asyncio.wait_for(go(), 30))
    field.wait(lambda f: "\n" in f.typed)
    assert "".join(field.pasted) + field.typed == SAID + "\n" and notices(out) == []


def test_paste_then_the_previous_clipboard_comes_back(field: TextField) -> None:
    set_clipboard("my precious notes")
    out = io.StringIO()

    async def go() -> str:
        d = dictation(out, dictate_output="clipboard", restore_clipboard=True, restore_clipboard_seconds=1.0)
        await d.land(SAID)
        during = await asyncio.to_thread(clipboard)  # inside the paste window: still the dictation
        await d.settled()
        return during

    during = asyncio.run(asyncio.wait_for(go(), 30))
    field.wait(lambda f: f.pasted)
    assert field.pasted == [SAID] and during == SAID
    assert clipboard() == "my precious notes"
    assert notices(out) == []


def test_what_the_user_copied_meanwhile_is_not_overwritten(field: TextField) -> None:
    set_clipboard("old")
    out = io.StringIO()

    async def go() -> None:
        d = dictation(out, dictate_output="clipboard", restore_clipboard=True, restore_clipboard_seconds=1.0)
        await d.land(SAID)
        field.wait(lambda f: f.pasted)
        await asyncio.to_thread(set_clipboard, "copied by the user meanwhile")
        await d.settled()

    asyncio.run(asyncio.wait_for(go(), 30))
    assert clipboard() == "copied by the user meanwhile"


def test_two_dictations_in_one_window_restore_the_first_clipboard(field: TextField) -> None:
    set_clipboard("original")
    out = io.StringIO()

    async def go() -> None:
        d = dictation(out, dictate_output="clipboard", restore_clipboard=True, restore_clipboard_seconds=1.5)
        await d.land("first words")
        field.wait(lambda f: len(f.pasted) == 1)
        await d.land("second words")
        field.wait(lambda f: len(f.pasted) == 2)
        await d.settled()

    asyncio.run(asyncio.wait_for(go(), 30))
    assert field.pasted == ["first words", "second words"]
    assert clipboard() == "original"


def test_stopping_puts_the_clipboard_back_at_once(field: TextField) -> None:
    set_clipboard("keep me")
    out = io.StringIO()

    async def go() -> None:
        d = dictation(out, dictate_output="clipboard", restore_clipboard=True, restore_clipboard_seconds=60)
        await d.land(SAID)
        field.wait(lambda f: f.pasted)
        await d.close()  # the daemon is stopping long before the 60 s paste window ends

    asyncio.run(asyncio.wait_for(go(), 30))  # far less than the paste window
    assert clipboard() == "keep me"


def test_an_image_on_the_clipboard_comes_back_as_an_image(field: TextField, x11: str) -> None:
    png = PNG
    own(png, kind="image/png")
    out = io.StringIO()

    async def go() -> None:
        d = dictation(out, dictate_output="clipboard", restore_clipboard=True, restore_clipboard_seconds=1.0)
        await d.land(SAID)
        await d.settled()

    asyncio.run(asyncio.wait_for(go(), 30))
    field.wait(lambda f: f.pasted)
    assert field.pasted == [SAID]
    targets = subprocess.run(["xclip", "-selection", "clipboard", "-out", "-t", "TARGETS"], capture_output=True,
                             timeout=10).stdout.decode().split()
    back = subprocess.run(["xclip", "-selection", "clipboard", "-out", "-t", "image/png"], capture_output=True,
                          timeout=10).stdout
    assert "image/png" in targets and back == png


def test_clipboard_without_restore_only_copies(field: TextField) -> None:
    set_clipboard("before")
    out = io.StringIO()
    asyncio.run(dictation(out, dictate_output="clipboard").land(SAID))
    assert clipboard() == SAID and field.pasted == []
