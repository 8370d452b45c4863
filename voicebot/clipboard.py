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

from voicebot.errors import UsageError

Which = Callable[[str], str | None]
TOOL_TIMEOUT = 5.0  # seconds: a clipboard owner that does not answer must not hold dictation up

_WRITERS = {"wl-copy": ["wl-copy"], "xclip": ["xclip", "-selection", "clipboard", "-in"],
            "xsel": ["xsel", "--clipboard", "--input"]}
_READERS = {"wl-copy": ["wl-paste", "--no-newline"], "xclip": ["xclip", "-selection", "clipboard", "-out"],
            "xsel": ["xsel", "--clipboard", "--output"]}


def _tool(env: Mapping[str, str], which: Which) -> str:
    names: list[str] = ["wl-copy"] if env.get("WAYLAND_DISPLAY") else []
    names += ["xclip", "xsel"]
    for name in names:
        if which(name):
            return name
    raise UsageError("no clipboard tool found", hint="install wl-clipboard (Wayland) or xclip (X11)")


def clipboard_command(env: Mapping[str, str], which: Which = shutil.which) -> list[str]:
    """The clipboard writer for this session: wl-copy on Wayland, else xclip or xsel."""
    return list(_WRITERS[_tool(env, which)])


def reader_command(env: Mapping[str, str], which: Which = shutil.which) -> list[str]:
    """The matching reader (wl-paste comes with wl-copy in wl-clipboard)."""
    return list(_READERS[_tool(env, which)])


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
            raise UsageError(f"could not copy to the clipboard with {cmd[0]}: {why}") from None
        except (OSError, subprocess.SubprocessError) as exc:
            raise UsageError(f"could not copy to the clipboard with {cmd[0]}: {exc}") from None


def read_clipboard(env: Mapping[str, str] | None = None) -> str | None:
    """The clipboard's text, or None when it is empty or holds no text (an image, say).

    Raises UsageError when no tool can read it at all.
    """
    cmd = reader_command(os.environ if env is None else env)
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=TOOL_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        raise UsageError(f"could not read the clipboard with {cmd[0]}: {exc}") from None
    if done.returncode != 0:  # xclip: "target ... not available"; wl-paste: "Nothing is copied"
        return None
    try:
        return done.stdout.decode("utf-8")
    except UnicodeDecodeError:
        return None
