"""Keys into the focused window: wtype or ydotool on Wayland, pynput (XTEST) on X11.

A keyboard either delivers or raises NotTyped with the reason: a tool that is missing,
exits non-zero or times out is never taken for success. On Wayland the tools are tried
in order, the next one only when the previous refused outright (wtype on GNOME/KDE:
"Compositor does not support the virtual keyboard protocol"); one that timed out may
have typed part of the text, so nothing is tried after it.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

WAYLAND_TOOLS = ("wtype", "ydotool")
# Text on stdin ("-"), never in argv: other users can read a process's arguments.
TYPE_COMMANDS = {"wtype": ["wtype", "-"], "ydotool": ["ydotool", "type", "--file", "-"]}
# Enter (then_enter): wtype by name, ydotool by input code (28 KEY_ENTER).
ENTER_COMMANDS = {"wtype": ["wtype", "-k", "Return"], "ydotool": ["ydotool", "key", "28:1", "28:0"]}
# The paste keys a user can choose: Ctrl+V in most applications, Ctrl+Shift+V in terminals,
# where Ctrl+V is a control character and pastes nothing. (Not Shift+Insert: terminals paste
# the PRIMARY selection with it, not the clipboard.) wtype names the keys; ydotool takes Linux
# input codes (29 LEFTCTRL, 42 LEFTSHIFT, 47 V), down:1 up:0, released in reverse order.
PASTE_KEYS = ("ctrl+v", "ctrl+shift+v")
_LINUX_CODES = {"ctrl": 29, "shift": 42, "v": 47}


def paste_command(tool: str, keys: str) -> list[str]:
    """The command that presses `keys` (one of PASTE_KEYS) with `tool`."""
    *mods, key = keys.split("+")
    if tool == "wtype":
        down = [a for m in mods for a in ("-M", m)]
        up = [a for m in reversed(mods) for a in ("-m", m)]
        return ["wtype", *down, "-k", key, *up]
    codes = [_LINUX_CODES[k] for k in (*mods, key)]
    return ["ydotool", "key", *(f"{c}:1" for c in codes), *(f"{c}:0" for c in reversed(codes))]


def erase_command(tool: str, count: int) -> list[str]:
    """BackSpace `count` times ("scratch that"): wtype by name, ydotool by input code (14 KEY_BACKSPACE)."""
    if tool == "wtype":
        return ["wtype", *["-k", "BackSpace"] * count]
    return ["ydotool", "key", *["14:1", "14:0"] * count]


BASE_TIMEOUT = 5.0  # seconds for a tool to start and finish a short text...
PER_CHARACTER = 0.05  # ...plus this per character (ydotool's default delay is 12 ms a key, up and down)


class NotTyped(Exception):
    """Nothing (or not all) reached the window; the message says why."""


class TimedOut(NotTyped):
    """The tool was still running: it may have typed part of the text."""


class Keyboard(Protocol):
    name: str

    def type(self, text: str) -> None: ...
    def paste(self, keys: str = "ctrl+v") -> None: ...
    def enter(self) -> None: ...
    def erase(self, count: int) -> None: ...


def run_tool(cmd: list[str], stdin: bytes | None, timeout: float) -> None:
    """Run one tool to completion; NotTyped with its own words on any failure."""
    name = Path(cmd[0]).name
    with tempfile.TemporaryFile() as errors:
        try:
            subprocess.run(cmd, input=stdin if stdin is not None else b"", check=True, timeout=timeout,
                           stdout=errors, stderr=errors)  # ydotool says "failed to connect" on stdout
        except FileNotFoundError:
            raise NotTyped(f"{name} is not installed") from None
        except subprocess.CalledProcessError as exc:
            errors.seek(0)
            said = errors.read(300).decode(errors="replace").strip().splitlines()
            why = said[0].strip() if said else "no message"
            raise NotTyped(f"{name} failed (exit status {exc.returncode}: {why})") from None
        except subprocess.TimeoutExpired:
            raise TimedOut(f"{name} did not finish within {timeout:g} s") from None
        except OSError as exc:
            raise NotTyped(f"{name} could not run ({exc.strerror or exc})") from None


class ToolKeyboard:
    """Wayland: the first of the installed tools that does not refuse."""

    def __init__(self, tools: Mapping[str, str]) -> None:
        self.tools = dict(tools)  # name -> the executable found on PATH
        self.name = next(iter(self.tools))

    def _each(self, command: Callable[[str], list[str]], stdin: bytes | None, timeout: float) -> None:
        refusals = []
        for tool, path in self.tools.items():
            try:
                run_tool([path, *command(tool)[1:]], stdin, timeout)
            except TimedOut:
                raise
            except NotTyped as exc:
                refusals.append(str(exc))
                continue
            self.name = tool
            return
        raise NotTyped("; ".join(refusals))

    def type(self, text: str) -> None:
        self._each(TYPE_COMMANDS.__getitem__, text.encode("utf-8"), BASE_TIMEOUT + PER_CHARACTER * len(text))

    def paste(self, keys: str = "ctrl+v") -> None:
        self._each(lambda tool: paste_command(tool, keys), None, BASE_TIMEOUT)

    def enter(self) -> None:
        self._each(ENTER_COMMANDS.__getitem__, None, BASE_TIMEOUT)

    def erase(self, count: int) -> None:
        """BackSpace `count` times, in one run of the tool."""
        self._each(lambda tool: erase_command(tool, count), None, BASE_TIMEOUT + PER_CHARACTER * count)


class PynputKeyboard:
    """X11: pynput's controller sends the keys through XTEST."""

    name = "pynput"

    def _controller(self) -> object:
        try:
            from pynput.keyboard import Controller
            return Controller()
        except Exception as exc:  # no display, no X libraries: pynput says which
            raise NotTyped(f"cannot type into windows ({exc})") from None

    def type(self, text: str) -> None:
        keyboard = self._controller()
        try:
            keyboard.type(text)  # type: ignore[attr-defined]
        except Exception as exc:  # a character with no key (pynput's InvalidCharacterException), a lost display
            raise NotTyped(f"typing stopped ({type(exc).__name__}: {exc})") from None

    def paste(self, keys: str = "ctrl+v") -> None:
        from pynput.keyboard import Key

        *mods, key = keys.split("+")
        named = {"ctrl": Key.ctrl, "shift": Key.shift}
        keyboard = self._controller()
        try:
            with keyboard.pressed(*(named[m] for m in mods)):  # type: ignore[attr-defined]
                keyboard.tap(key)  # type: ignore[attr-defined]
        except Exception as exc:
            raise NotTyped(f"could not press {keys} ({type(exc).__name__}: {exc})") from None

    def enter(self) -> None:
        from pynput.keyboard import Key

        keyboard = self._controller()
        try:
            keyboard.tap(Key.enter)  # type: ignore[attr-defined]
        except Exception as exc:
            raise NotTyped(f"could not press Enter ({type(exc).__name__}: {exc})") from None

    def erase(self, count: int) -> None:
        from pynput.keyboard import Key

        keyboard = self._controller()
        try:
            for _ in range(count):
                keyboard.tap(Key.backspace)  # type: ignore[attr-defined]
        except Exception as exc:
            raise NotTyped(f"could not press BackSpace ({type(exc).__name__}: {exc})") from None


def keyboard_for(env: Mapping[str, str]) -> Keyboard | None:
    """The keyboard for this session (tools looked up on its PATH); None on Wayland without a tool."""
    if env.get("WAYLAND_DISPLAY"):
        found = {t: shutil.which(t, path=env.get("PATH")) for t in WAYLAND_TOOLS}
        tools = {t: path for t, path in found.items() if path}
        return ToolKeyboard(tools) if tools else None
    return PynputKeyboard()
