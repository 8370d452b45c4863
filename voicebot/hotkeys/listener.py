"""The pynput adapter that feeds `voicebot.hotkeys.machine.HotkeyMachine` from the keyboard.

`HotkeyListener` runs pynput's listener thread, which only converts keys and hands them to
the asyncio loop with `call_soon_threadsafe`: all state lives on the loop, in one thread.
pynput is imported only when the listener starts, so the pure machine needs no display.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Union

from voicebot.errors import UsageError
from voicebot.hotkeys.combo import FAMILIES, KeyId
from voicebot.hotkeys.machine import Action, HotkeyMachine

log = logging.getLogger("voicebot.hotkeys.machine")

NO_DISPLAY = (
    "cannot watch global hotkeys: no X display (on Wayland use --no-hotkeys and bind a "
    "desktop shortcut to `voicebot toggle`)"
)

_X_KEYSYM_NAMES: dict[int, str] = {
    0xFFE7: "alt_l",  # Meta_L: X names Alt by this when Shift is down
    0xFFE8: "alt_r",  # Meta_R
    0xFE03: "alt_gr",  # ISO_Level3_Shift: right Alt on most non-US layouts
    **{0xFFBE + n - 1: f"f{n}" for n in range(21, 25)},  # XK_F21..XK_F24
}
_WIN32_VK_NAMES: dict[int, str] = {0x70 + n - 1: f"f{n}" for n in range(21, 25)}  # VK_F21..VK_F24


def vk_names_for(backend_module: str) -> Mapping[int, str]:
    """Platform key codes that pynput leaves unnamed but a combo can name."""
    if backend_module.endswith("_xorg"):
        return _X_KEYSYM_NAMES
    if backend_module.endswith("_win32"):
        return _WIN32_VK_NAMES
    return {}


def key_from_pynput(key: Any, key_enum: Any, vk_names: Mapping[int, str]) -> KeyId | None:
    """Convert a pynput Key/KeyCode to a KeyId, keeping left and right apart.

    pynput's `Listener.canonical` is not used: it folds right modifiers into left ones
    (so `right_ctrl` could not be told apart) and drops the VK of characters.
    """
    if key is None:
        return None  # pynput could not decode the event
    if isinstance(key, key_enum):
        for family in FAMILIES:
            for name in (f"{family}_r", f"{family}_l", family):
                if key is getattr(key_enum, name, None):
                    return KeyId(name=name)  # on X `Key.ctrl is Key.ctrl_l`: the left one
        return KeyId(name=key.name)
    char: str | None = getattr(key, "char", None)
    vk: int | None = getattr(key, "vk", None)
    if char is not None and len(char) == 1 and (ord(char) < 0x20 or ord(char) == 0x7F):
        char = _control_char_key(char, vk)  # Ctrl+A arrives as "\x01" on Windows and macOS
    if char:
        return KeyId(char=char.lower())
    if vk is not None:
        return KeyId(name=vk_names[vk]) if vk in vk_names else KeyId(vk=vk)
    return None


def _control_char_key(char: str, vk: int | None) -> str | None:
    """The letter or digit behind a control character, from its VK when that is ASCII-like."""
    if vk is not None and (0x30 <= vk <= 0x39 or 0x41 <= vk <= 0x5A or 0x61 <= vk <= 0x7A):
        return chr(vk).lower()
    if 1 <= ord(char) <= 26:
        return chr(ord(char) + 0x60)
    return None


def _wait_ready(listener: Any, timeout: float) -> None:
    """pynput's `wait()` blocks forever if its thread dies first, so watch the thread too."""
    ready = threading.Event()

    def wait() -> None:
        listener.wait()
        ready.set()

    threading.Thread(target=wait, daemon=True).start()
    deadline = time.monotonic() + timeout
    while not ready.wait(0.05):
        if not listener.is_alive() or time.monotonic() > deadline:
            listener.stop()
            try:
                listener.join(0)  # re-raises what killed the listener thread
            except Exception as exc:
                raise UsageError(f"cannot watch global hotkeys: {type(exc).__name__}: {exc}") from exc
            raise UsageError("cannot watch global hotkeys: the keyboard listener did not start")


ActionSink = Union["asyncio.Queue[Action]", Callable[[Action], Awaitable[None] | None]]


class HotkeyListener:
    """Runs pynput's keyboard listener and feeds a HotkeyMachine on the asyncio loop.

    Actions go to `sink`: an asyncio.Queue, or a callback (plain or async) that is called
    for one action at a time, in order.
    """

    def __init__(
        self,
        machine: HotkeyMachine,
        sink: ActionSink,
        *,
        clock: Callable[[], float] = time.monotonic,
        ready_timeout: float = 10.0,
    ) -> None:
        self.machine = machine
        self._sink = sink
        self._clock = clock
        self._ready_timeout = ready_timeout
        self._listener: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._queue: asyncio.Queue[Action] | None = None
        self._pump: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """False before start, after stop, or when the X connection died."""
        return self._listener is not None and self._listener.is_alive()

    async def start(self) -> None:
        """Start watching keys; a UsageError (exit 2) when there is no display to watch."""
        try:
            from pynput import keyboard
        except ImportError as exc:  # pynput raises this for "no X display", among others
            raise UsageError(NO_DISPLAY) from exc
        self._loop = asyncio.get_running_loop()
        if isinstance(self._sink, asyncio.Queue):
            self._queue = self._sink
        else:
            self._queue = asyncio.Queue()
            self._pump = asyncio.create_task(self._deliver(self._sink), name="hotkey-actions")
        vk_names = vk_names_for(keyboard.Listener.__module__)
        key_enum = keyboard.Key

        def handler(pressed: bool) -> Callable[..., bool | None]:
            def on_event(key: Any, injected: bool = False) -> bool | None:
                t = self._clock()
                key_id = key_from_pynput(key, key_enum, vk_names)
                if key_id is None or injected:
                    return None  # injected: keys voicebot itself types (dictation)
                try:
                    loop = self._loop
                    assert loop is not None
                    loop.call_soon_threadsafe(self._feed, key_id, pressed, t)
                except RuntimeError:  # the loop is closed: nobody listens any more
                    return False
                return None

            return on_event

        self._listener = keyboard.Listener(on_press=handler(True), on_release=handler(False))
        self._listener.start()
        try:
            await asyncio.to_thread(_wait_ready, self._listener, self._ready_timeout)
        except BaseException:
            self.stop()
            raise

    def _feed(self, key: KeyId, pressed: bool, t: float) -> None:
        """Runs on the loop thread, so the machine is only ever touched from there."""
        assert self._queue is not None
        for action in self.machine.feed(key, pressed, t):
            self._queue.put_nowait(action)

    async def _deliver(self, callback: Callable[[Action], Awaitable[None] | None]) -> None:
        assert self._queue is not None
        while True:
            action = await self._queue.get()
            try:
                result = callback(action)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                log.exception("hotkey action handler failed on %r", action)

    def stop(self) -> None:
        """Stop the listener thread and the delivery task; safe to call twice."""
        if self._listener is not None:
            self._listener.stop()
        if self._pump is not None:
            self._pump.cancel()
            self._pump = None

    async def __aenter__(self) -> HotkeyListener:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop()
