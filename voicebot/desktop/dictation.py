"""Where dictated text goes: printed, typed into the focused window, or put on the clipboard.

`Dictation.land` is the one call after a dictate take's transcript: optional clean-up by
the chat model (voicebot.desktop.cleanup, guarded against answering), the text printed, then
delivered. Delivery never claims what it did not do: a typing tool that is missing or
fails leaves a notice saying the text was not typed and why (the text is on the console
above it). With `restore_clipboard`, the clipboard target pastes and then puts the
user's previous clipboard back in a background task, unless they copied something else
in the meantime. With `then_enter` (a dictate binding's), Enter follows text that landed,
and only then: after a failed delivery it could send half a message or run half a command.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from voicebot.api.client import GroqClient
from voicebot.desktop.cleanup import clean
from voicebot.desktop.clipboard import (
    Saved,
    clear_clipboard,
    copy_to_clipboard,
    put_back,
    read_clipboard,
    save_clipboard,
)
from voicebot.desktop.keystrokes import Keyboard, NotTyped, keyboard_for
from voicebot.desktop.spoken_commands import SpokenCommands
from voicebot.errors import UsageError
from voicebot.turns.console import Output

if TYPE_CHECKING:
    from voicebot.turns.options import ChatOptions

__all__ = ["TARGETS", "Dictation", "DictationOptions", "deliver"]

log = logging.getLogger("voicebot.desktop.dictation")
TARGETS = ("print", "type", "clipboard")
CLOSE_WAIT = 0.5  # seconds a stopping daemon gives the clipboard restore (within its 2 s promise)
# A pasting application fetches the clipboard after the keys, on its own time (a pipe from
# the owner); an Enter pressed at once could arrive first and send the line without the text.
PASTE_SETTLE = 0.3
Landed = Literal["typed", "pasted"] | None


@dataclass(frozen=True, kw_only=True)
class DictationOptions:
    """Where dictated text goes, how the clipboard is handled, and the optional clean-up."""

    target: str = "print"  # print, type or clipboard (besides the console)
    restore_clipboard: bool = False  # with clipboard: paste, then put the previous clipboard back
    restore_seconds: float = 1.5  # the paste window before the previous clipboard goes back
    paste_keys: str = "ctrl+v"  # the keys that paste (ctrl+shift+v in terminals)
    cleanup: ChatOptions | None = None  # the chat model and fields for the clean-up; None: no clean-up
    commands: bool = False  # "new line", "scratch that"... (voicebot.desktop.spoken_commands)


@dataclass
class _Restore:
    """A clipboard to put back: what the user had, what we put there, the task that waits."""

    previous: Saved | None
    ours: str
    task: asyncio.Task[None] | None = None


def restore_if_unchanged(previous: Saved | None, ours: str, env: Mapping[str, str] | None = None) -> bool:
    """Put `previous` back (None: an empty clipboard) if the clipboard still holds our text; True when it did."""
    if previous == Saved(ours.encode("utf-8")):
        return False
    if read_clipboard(env) != ours:  # the user copied something else meanwhile: theirs wins
        return False
    if previous is None:
        clear_clipboard(env)  # it was empty: the dictation does not linger there
    else:
        put_back(previous, env)
    return True


class Dictation:
    """Delivers dictated text for one daemon (or command); owns the pending clipboard restore."""

    def __init__(self, options: DictationOptions, output: Output, client: GroqClient | None = None,
                 env: Mapping[str, str] | None = None) -> None:
        self.options = options
        self.output = output
        self.client = client
        self.env = os.environ if env is None else env
        self._restore: _Restore | None = None
        self.spoken = SpokenCommands()  # what was dictated, for "scratch that" in a later take

    async def land(self, text: str, then_enter: bool = False) -> str:
        """Clean up (if asked), print, deliver (then Enter if asked and it landed); returns the text."""
        if self.options.cleanup is not None and self.client is not None:
            try:
                text = await self._cleaned(text)
            except asyncio.CancelledError:
                self.output.transcript(text, label=False)  # cut short: what was said is still shown
                raise
        if self.options.commands:  # "new line", "scratch that": applied, then delivered (spoken_commands)
            target = self.options.target
            spoken: tuple[str, Landed] = await self.spoken.land(text, lambda rest: deliver(rest, target, self),
                                                                self.output, self.env, then_enter=then_enter)
            text, landed = spoken
        else:
            self.output.transcript(text, label=False)
            landed = await deliver(text, self.options.target, self)
        if then_enter and landed is not None:
            await self._enter(landed)
        return text

    async def _enter(self, landed: Landed) -> None:
        keyboard = keyboard_for(self.env)
        if keyboard is None:
            return
        if landed == "pasted":
            await asyncio.sleep(PASTE_SETTLE)
        try:
            await asyncio.to_thread(keyboard.enter)
        except NotTyped as exc:
            self.output.notice(f"Enter not pressed: {exc}", reason=str(exc))

    async def _cleaned(self, text: str) -> str:
        assert self.client is not None and self.options.cleanup is not None
        self.output.status("cleaning up…")
        chat = self.options.cleanup
        result = await clean(self.client, text, model=chat.model, chat_options=chat.body())
        if result.fallback is not None:
            self.output.notice(f"dictation not cleaned up: {result.fallback}; using the words as heard",
                               check="dictate_cleanup", reason=result.fallback)
        return result.text

    def _not_delivered(self, what: str, reason: str) -> None:
        self.output.notice(f"{what}: {reason}; the text is only printed above", delivered=False, reason=reason)

    async def type(self, text: str) -> bool:
        """Type into the focused window (True when typed); on Wayland without a tool, the clipboard, saying so."""
        keyboard = keyboard_for(self.env)
        if keyboard is None:
            try:
                await asyncio.to_thread(copy_to_clipboard, text, self.env)
            except UsageError as exc:
                self._not_delivered("not typed", f"no wtype or ydotool for Wayland, and {exc}")
                return False
            self.output.notice("not typed: install wtype or ydotool to type on Wayland; the text is on the "
                               "clipboard instead, paste it with Ctrl+V", delivered="clipboard")
            return False
        try:
            await asyncio.to_thread(keyboard.type, text)
        except NotTyped as exc:
            self._not_delivered("not typed", str(exc))
            return False
        return True

    async def copy(self, text: str) -> bool:
        """Put on the clipboard; with restore_clipboard, paste it (True when pasted) and put the old one back later."""
        if not self.options.restore_clipboard:
            try:
                await asyncio.to_thread(copy_to_clipboard, text, self.env)
            except UsageError as exc:
                self._not_delivered("not copied", str(exc))
            return False
        keyboard = keyboard_for(self.env)
        previous = await self._previous_clipboard()
        try:
            await asyncio.to_thread(copy_to_clipboard, text, self.env)
        except UsageError as exc:
            self._not_delivered("not copied", str(exc))
            return False
        if keyboard is None:
            self.output.notice("not pasted: install wtype or ydotool to paste on Wayland; the text stays on the "
                               "clipboard", delivered="clipboard")
            return False
        if not await self._paste(keyboard):
            return False
        restore = _Restore(previous, text)
        restore.task = asyncio.create_task(self._restore_later(restore), name="restore-clipboard")
        self._restore = restore
        return True

    async def _previous_clipboard(self) -> Saved | None:
        """What the user had copied; a restore still pending already knows it (ours is on it now)."""
        pending, self._restore = self._restore, None
        if pending is not None and pending.task is not None and not pending.task.done():
            pending.task.cancel()
            return pending.previous
        try:
            return await asyncio.to_thread(save_clipboard, self.env)
        except UsageError:
            return None  # the copy below reports the missing tool

    async def _paste(self, keyboard: Keyboard) -> bool:
        try:
            await asyncio.to_thread(keyboard.paste, self.options.paste_keys)
        except NotTyped as exc:
            self.output.notice(f"not pasted: {exc}; the text stays on the clipboard", delivered="clipboard",
                               reason=str(exc))
            return False
        return True

    async def _restore_later(self, restore: _Restore) -> None:
        await asyncio.sleep(self.options.restore_seconds)
        await self._put_back(restore)

    async def _put_back(self, restore: _Restore) -> None:
        try:
            await asyncio.to_thread(restore_if_unchanged, restore.previous, restore.ours, self.env)
        except UsageError as exc:
            self.output.notice(f"could not put the previous clipboard back: {exc}")
        finally:
            if self._restore is restore:
                self._restore = None

    async def settled(self) -> None:
        """Wait until a pending clipboard restore has run (or there is none)."""
        restore = self._restore
        if restore is not None and restore.task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.shield(restore.task)

    async def close(self) -> None:
        """Put a pending clipboard back now (the daemon is stopping), within a short wait."""
        restore, self._restore = self._restore, None
        if restore is None or restore.task is None or restore.task.done():
            return
        restore.task.cancel()
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await restore.task
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self._put_back(restore), CLOSE_WAIT)


async def deliver(text: str, target: str, dictation: Dictation) -> Landed:
    """Send dictated text where the user asked, off the event loop (typing takes time).

    Says how it landed in the window: typed, pasted (the application fetches it after the
    keys), or None when it did not (printed or copied only, or it failed).
    """
    if target == "type":
        return "typed" if await dictation.type(text) else None
    if target == "clipboard":
        return "pasted" if await dictation.copy(text) else None
    return None
