"""Spoken commands in dictation (`dictate_commands = true`): "new line", "new paragraph", "scratch that".

A small, fixed set, so that ordinary words are not taken for commands by surprise:

- "new line" (also "newline") types a line break; "new paragraph" two;
- "scratch that" removes the last dictated piece: the text since the previous command in
  this take, or, at the start of a take, what the previous dictation typed (BackSpace as
  many times as it had characters: only text that landed in a window can be taken back).

Whisper writes a command as it writes any words: "New line.", "new paragraph,", "Scratch
that!". The punctuation and spaces around a command belong to it and go; so does a comma
(or semicolon, colon) just before it, which is only Whisper's mark for the pause before a
command; a full stop, question or exclamation mark before it ends the sentence and stays.
`interpret` is the pure part; `SpokenCommands` keeps what was typed, for a later take.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from voicebot.desktop.keystrokes import NotTyped, keyboard_for
from voicebot.turns.console import Output

L = TypeVar("L")  # how a delivery landed (voicebot.desktop.dictation.Landed): None when it did not

BREAKS = {"new line": "\n", "newline": "\n", "new paragraph": "\n\n"}
SCRATCH = "scratch that"
KEEP = 20  # dictations remembered for "scratch that" in later takes
# One capturing group (the command's words, for re.split); the pause mark before it and the
# punctuation after it are taken with it.
_COMMAND = re.compile(r"[,;:]?\s*\b(new[\s-]?line|new[\s-]+paragraph|scratch[\s-]+that)\b[.,;:!?]*\s*", re.IGNORECASE)


@dataclass(frozen=True)
class Edit:
    """What a take's transcript does: erase that many characters first, then type `text`."""

    text: str
    erase: int = 0  # characters of earlier dictations to take back (BackSpace)
    scratched: int = 0  # how many earlier dictations that is (each "scratch that" at a take's start)


def _command(words: str) -> str:
    """The command's canonical name: "new line", "new paragraph" or "scratch that"."""
    key = " ".join(re.split(r"[\s-]+", words.lower()))
    return "new line" if key in ("newline", "new line") else key


def interpret(transcript: str, earlier: Sequence[str] = ()) -> Edit:
    """The text a transcript types once its commands are applied; `earlier` is what the previous
    dictations typed (oldest first), for a "scratch that" with nothing before it in this take."""
    parts = _COMMAND.split(transcript)
    if len(parts) == 1:
        return Edit(transcript)  # no command: the words exactly as heard
    pieces: list[str] = []
    left = list(earlier)
    erase = scratched = 0
    for index, part in enumerate(parts):
        if index % 2 == 0:  # words between commands
            words = part.strip()
            if index > 0:
                words = words.lstrip(".,;:!? ")
            if words:
                pieces.append(words)
            continue
        command = _command(part)
        if command != SCRATCH:
            pieces.append(BREAKS[command])
        elif pieces:
            pieces.pop()
        elif left:
            erase += len(left.pop())
            scratched += 1
    return Edit("".join(pieces), erase, scratched)


class SpokenCommands:
    """Applies spoken commands to one daemon's dictations, remembering what each typed."""

    def __init__(self) -> None:
        self.typed: list[str] = []  # what recent dictations put into windows, oldest first

    async def land(self, text: str, deliver: Callable[[str], Awaitable[L | None]], output: Output,
                   env: Mapping[str, str], *, then_enter: bool = False) -> tuple[str, L | None]:
        """Take back what "scratch that" asks, then `deliver` the rest; (the text, how it landed)."""
        edit = interpret(text, self.typed)
        output.transcript(edit.text, label=False)
        if edit.erase:
            if not await self._erase(edit.erase, output, env):
                return edit.text, None  # typing after a failed take-back would garble the text
            del self.typed[len(self.typed) - edit.scratched:]
            output.milestone("scratched", f"scratched: {edit.erase} characters taken back", chars=edit.erase,
                             dictations=edit.scratched)
        landed = await deliver(edit.text) if edit.text else None
        if landed is not None and not then_enter:  # after Enter it is sent: nothing to take back
            self.typed = [*self.typed, edit.text][-KEEP:]
        return edit.text, landed

    async def _erase(self, count: int, output: Output, env: Mapping[str, str]) -> bool:
        keyboard = keyboard_for(env)
        if keyboard is None:
            output.notice("not scratched: install wtype or ydotool to press keys on Wayland", delivered=False)
            return False
        try:
            await asyncio.to_thread(keyboard.erase, count)
        except NotTyped as exc:
            output.notice(f"not scratched: {exc}", delivered=False, reason=str(exc))
            return False
        return True


__all__ = ["BREAKS", "SCRATCH", "Edit", "SpokenCommands", "interpret"]
