"""Global hotkeys for real: pynput's X listener on a private Xvfb, keys typed by xdotool (XTEST).

Each test runs the listener and state machine in a child process (so DISPLAY and
pynput's import-time X connection belong to that Xvfb alone), reads the actions it
prints as JSON lines, and never asserts on timing: `min_hold` is set per test so that
a hold is clearly long and a tap clearly short.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness.xvfb import keycode, keydown, keyup, missing_tools, xdotool, xvfb

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 10.0  # generous: only there so a broken listener fails instead of hanging

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(bool(missing_tools()), reason=f"needs {' and '.join(missing_tools())} (apt)"),
]


def child_main() -> None:
    """In the child: watch keys with the bindings in argv[1]; print keys and actions as JSON lines."""
    from voicebot.hotkeys.combo import KeyId
    from voicebot.hotkeys.listener import HotkeyListener
    from voicebot.hotkeys.machine import Action, HotkeyMachine, action_to_json, bindings_from_config

    def emit(event: dict[str, Any]) -> None:
        print(json.dumps(event), flush=True)

    class Echo(HotkeyMachine):
        def feed(self, key: KeyId, pressed: bool, t: float) -> list[Action]:
            emit({"type": "key", "key": str(key), "pressed": pressed})
            return super().feed(key, pressed, t)

    async def main() -> None:
        machine = Echo(bindings_from_config(json.loads(sys.argv[1])), min_hold=float(sys.argv[2]))
        async with HotkeyListener(machine, lambda action: emit(action_to_json(action))):
            emit({"type": "ready"})
            await asyncio.to_thread(sys.stdin.read)  # the test closes stdin to stop us

    asyncio.run(main())


class Child:
    """The child process, with its output lines arriving on a queue."""

    def __init__(self, display: str, bindings: dict[str, Any], min_hold: float) -> None:
        env = {**os.environ, "DISPLAY": display, "PYTHONPATH": str(REPO)}
        env.pop("WAYLAND_DISPLAY", None)
        code = "from tests.live.test_hotkeys_x11 import child_main; child_main()"
        self.display = display
        self.proc = subprocess.Popen(
            [sys.executable, "-c", code, json.dumps(bindings), str(min_hold)],
            cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        self.lines: queue.Queue[dict[str, Any] | None] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(json.loads(line))
        self.lines.put(None)

    def next_event(self, keys: bool = False) -> dict[str, Any]:
        """The next action (or key too, if asked) the child printed."""
        deadline = time.monotonic() + TIMEOUT
        while True:
            try:
                event = self.lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError("the hotkey child printed nothing in time") from None
            if event is None:
                raise AssertionError(f"the hotkey child died: {self.proc.stderr.read() if self.proc.stderr else ''}")
            if keys or event["type"] != "key":
                return event

    def sync(self) -> None:
        """Wait until keys really reach the listener (pynput marks itself ready a moment early)."""
        assert self.next_event()["type"] == "ready"
        deadline = time.monotonic() + TIMEOUT
        while time.monotonic() < deadline:
            xdotool(self.display, "key", "F12")
            try:
                while (event := self.lines.get(timeout=0.5)) is not None:
                    if event == {"type": "key", "key": "f12", "pressed": False}:
                        return
            except queue.Empty:
                continue
        raise AssertionError("keys typed on Xvfb never reached the listener")

    def actions(self, count: int) -> list[tuple[str, str | None]]:
        return [(e["type"], e.get("mode")) for e in (self.next_event() for _ in range(count))]

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout:
            self.proc.stdout.close()
        if self.proc.stderr:
            self.proc.stderr.close()


@pytest.fixture(scope="module")
def display() -> Iterator[str]:
    with xvfb() as d:
        yield d


@pytest.fixture
def child(display: str, request: pytest.FixtureRequest) -> Iterator[Child]:
    bindings, min_hold = request.param
    c = Child(display, bindings, min_hold)
    try:
        c.sync()
        yield c
    finally:
        c.close()


@pytest.mark.parametrize("child", [({"ask": "ctrl+alt+space"}, 0.1)], indirect=True)
def test_hold_exact_chord_start_then_stop(child: Child, display: str) -> None:
    keydown(display, "ctrl+alt+shift+space")  # an extra key held: not this chord
    keyup(display, "space+shift+alt+ctrl")
    keydown(display, "ctrl+alt+space")
    time.sleep(0.5)
    keyup(display, "ctrl+alt+space")
    start, stop = child.next_event(), child.next_event()
    assert start == {"type": "start", "mode": "ask"}
    assert stop["type"] == "stop" and stop["mode"] == "ask" and stop["held_seconds"] > 0.1


@pytest.mark.parametrize("child", [({"ask": "ctrl+alt+space"}, 3.0)], indirect=True)
def test_quick_tap_is_discarded(child: Child, display: str) -> None:
    xdotool(display, "keydown", "ctrl+alt+space", "keyup", "ctrl+alt+space")
    assert child.next_event() == {"type": "start", "mode": "ask"}
    assert child.next_event() == {"type": "discard", "mode": "ask", "reason": "too short"}


@pytest.mark.parametrize("child", [({"ask": "right_ctrl"}, 0.1)], indirect=True)
def test_right_ctrl_binding_ignores_left_ctrl(child: Child, display: str) -> None:
    keydown(display, keycode(display, "Control_L"))
    time.sleep(0.3)
    keyup(display, keycode(display, "Control_L"))
    right = keycode(display, "Control_R")
    keydown(display, right)
    time.sleep(0.3)
    keyup(display, right)
    assert child.actions(2) == [("start", "ask"), ("stop", "ask")]  # nothing came from the left Ctrl


@pytest.mark.parametrize("child", [({"ask": "ctrl+space"}, 0.1)], indirect=True)
def test_alt_released_as_meta_does_not_stick(child: Child, display: str) -> None:
    """With Shift down X names the Alt key Meta_L on release; Alt must not stay "held"."""
    keydown(display, "alt+shift")
    keyup(display, "alt+shift")
    keydown(display, "ctrl+space")
    time.sleep(0.3)
    keyup(display, "ctrl+space")
    assert child.actions(2) == [("start", "ask"), ("stop", "ask")]


@pytest.mark.parametrize("child", [({"translate": {"keys": "f9", "style": "toggle"}}, 0.1)], indirect=True)
def test_toggle_style(child: Child, display: str) -> None:
    xdotool(display, "key", "F9")
    time.sleep(0.4)
    xdotool(display, "key", "F9")
    assert child.actions(2) == [("start", "translate"), ("stop", "translate")]


def test_pynput_x_key_names_are_known(display: str) -> None:
    """Every Key pynput's X backend can report parses as a combo key."""
    code = "from pynput.keyboard import Key; print(' '.join(Key.__members__))"
    env = {**os.environ, "DISPLAY": display}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    from voicebot.hotkeys.combo import KEY_NAMES

    assert set(out.stdout.split()) <= KEY_NAMES
