"""Where dictated text goes: printed, typed into the focused window, or put on the clipboard.

Typing uses pynput's keyboard controller and the clipboard an external tool run with an
argument list and the text on stdin: user speech never passes through a shell.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence

from voicebot.errors import UsageError

TARGETS = ("print", "type", "clipboard")


def clipboard_command(env: Mapping[str, str], which: object = shutil.which) -> list[str]:
    """The clipboard writer for this session: wl-copy on Wayland, else xclip or xsel."""
    candidates: list[Sequence[str]] = []
    if env.get("WAYLAND_DISPLAY"):
        candidates.append(["wl-copy"])
    candidates += [["xclip", "-selection", "clipboard", "-in"], ["xsel", "--clipboard", "--input"]]
    for cmd in candidates:
        if which(cmd[0]):  # type: ignore[operator]
            return list(cmd)
    raise UsageError("no clipboard tool found", hint="install wl-clipboard (Wayland) or xclip (X11)")


def copy_to_clipboard(text: str, env: Mapping[str, str] | None = None) -> None:
    """Hand the text to the clipboard tool on stdin.

    Its stderr goes to a temporary file, not a pipe: xclip and wl-copy fork a child that
    keeps serving the selection and inherits stderr, so a pipe would never reach EOF.
    """
    cmd = clipboard_command(os.environ if env is None else env)
    with tempfile.TemporaryFile() as errors:
        try:
            subprocess.run(cmd, input=text.encode("utf-8"), check=True, timeout=5,
                           stdout=subprocess.DEVNULL, stderr=errors)
        except subprocess.CalledProcessError as exc:
            errors.seek(0)
            said = errors.read(300).decode(errors="replace").strip().splitlines()
            why = said[0] if said else f"exit status {exc.returncode}"
            raise UsageError(f"could not copy to the clipboard with {cmd[0]}: {why}") from None
        except (OSError, subprocess.SubprocessError) as exc:
            raise UsageError(f"could not copy to the clipboard with {cmd[0]}: {exc}") from None


def type_text(text: str) -> None:
    """Type into whatever window has the focus, as if on the keyboard."""
    try:
        from pynput.keyboard import Controller
    except Exception as exc:
        raise UsageError(f"cannot type into windows: {exc}") from None
    Controller().type(text)


async def deliver(text: str, target: str) -> None:
    """Send dictated text where the user asked, off the event loop (typing takes time)."""
    if target == "type":
        await asyncio.to_thread(type_text, text)
    elif target == "clipboard":
        await asyncio.to_thread(copy_to_clipboard, text)
