"""The clipboard through its command-line tools: wl-copy/wl-paste on Wayland, else xclip or xsel.

Tools run with an argument list and the text on stdin: user speech never passes
through a shell. Reading is for putting the user's clipboard back after a paste.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

from voicebot.errors import UsageError

Which = Callable[[str], str | None]
TOOL_TIMEOUT = 5.0  # seconds: a clipboard owner that does not answer must not hold dictation up

_WRITERS = {"wl-copy": ["wl-copy"], "xclip": ["xclip", "-selection", "clipboard", "-in"],
            "xsel": ["xsel", "--clipboard", "--input"]}
_READERS = {"wl-copy": ["wl-paste", "--no-newline"], "xclip": ["xclip", "-selection", "clipboard", "-out"],
            "xsel": ["xsel", "--clipboard", "--output"]}


def _tool(env: Mapping[str, str], which: Which | None) -> tuple[str, Which]:
    find: Which = which or (lambda name: shutil.which(name, path=env.get("PATH")))
    names: list[str] = ["wl-copy"] if env.get("WAYLAND_DISPLAY") else []
    names += ["xclip", "xsel"]
    for name in names:
        if find(name):
            return name, find
    raise UsageError("no clipboard tool found", hint="install wl-clipboard (Wayland) or xclip (X11)")


def _resolved(cmd: list[str], find: Which) -> list[str]:
    """The command with its executable as found on the session's PATH."""
    return [find(cmd[0]) or cmd[0], *cmd[1:]]


def clipboard_command(env: Mapping[str, str], which: Which | None = None) -> list[str]:
    """The clipboard writer for this session: wl-copy on Wayland, else xclip or xsel."""
    name, find = _tool(env, which)
    return _resolved(_WRITERS[name], find)


def reader_command(env: Mapping[str, str], which: Which | None = None) -> list[str]:
    """The matching reader (wl-paste comes with wl-copy in wl-clipboard)."""
    name, find = _tool(env, which)
    return _resolved(_READERS[name], find)


def _first_line(data: bytes, fallback: str) -> str:
    said = data[:300].decode(errors="replace").strip().splitlines()
    return said[0] if said else fallback


def copy_to_clipboard(text: str, env: Mapping[str, str] | None = None) -> None:
    """Hand the text to the clipboard tool on stdin.

    Its stderr goes to a temporary file, not a pipe: xclip and wl-copy fork a child that
    keeps serving the selection and inherits stderr, so a pipe would never reach EOF.
    """
    cmd = clipboard_command(os.environ if env is None else env)
    _run_writer(cmd, text)


def _run_writer(cmd: Sequence[str], text: str) -> None:
    with tempfile.TemporaryFile() as errors:
        try:
            subprocess.run(list(cmd), input=text.encode("utf-8"), check=True, timeout=TOOL_TIMEOUT,
                           stdout=subprocess.DEVNULL, stderr=errors)
        except subprocess.CalledProcessError as exc:
            errors.seek(0)
            why = _first_line(errors.read(), f"exit status {exc.returncode}")
            raise UsageError(f"could not copy to the clipboard with {Path(cmd[0]).name}: {why}") from None
        except (OSError, subprocess.SubprocessError) as exc:
            raise UsageError(f"could not copy to the clipboard with {Path(cmd[0]).name}: {exc}") from None


def read_clipboard(env: Mapping[str, str] | None = None) -> str | None:
    """The clipboard's text, or None when it is empty or holds no text (an image, say).

    Raises UsageError when no tool can read it at all.
    """
    cmd = reader_command(os.environ if env is None else env)
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=TOOL_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        raise UsageError(f"could not read the clipboard with {Path(cmd[0]).name}: {exc}") from None
    if done.returncode != 0:  # xclip: "target ... not available"; wl-paste: "Nothing is copied"
        return None
    try:
        return done.stdout.decode("utf-8")
    except UnicodeDecodeError:
        return None
