"""The clipboard through its command-line tools: wl-copy/wl-paste on Wayland, else xclip or xsel.

Tools run with an argument list and the text on stdin: user speech never passes
through a shell. Reading is for putting the user's clipboard back after a paste, and for
knowing a write took: xclip, xsel and wl-copy return before the child they fork owns the
selection, so a paste pressed at once can deliver the PREVIOUS clipboard. Every write
here returns only once reading the clipboard back gives what was written (polled every
20 ms for up to 2 s), and raises UsageError when it never does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from voicebot.errors import UsageError

Which = Callable[[str], str | None]
TOOL_TIMEOUT = 5.0  # seconds: a clipboard owner that does not answer must not hold dictation up
SERVED_WAIT = 2.0  # seconds a write may take to be served back before it counts as failed
SERVED_POLL = 0.02  # seconds between reads while waiting

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
    """Hand the text to the clipboard tool on stdin; return once the clipboard serves it (UsageError: never).

    Its stderr goes to a temporary file, not a pipe: xclip and wl-copy fork a child that
    keeps serving the selection and inherits stderr, so a pipe would never reach EOF.
    """
    env = os.environ if env is None else env
    name, find = _tool(env, None)
    _run_writer(_resolved(_WRITERS[name], find), text)
    _until_served(_resolved(_READERS[name], find), text.encode("utf-8"))


def _until_served(reader: list[str], expected: bytes) -> None:
    """Return once `reader` gives `expected` (b"": an empty clipboard); UsageError after SERVED_WAIT.

    The writer's forked child takes the selection on its own time: until it does, the
    clipboard still holds what was there before.
    """
    deadline = time.monotonic() + SERVED_WAIT
    while (_read(reader) or b"") != expected:
        if time.monotonic() >= deadline:
            raise UsageError(f"the clipboard did not take the new content within {SERVED_WAIT:g} s "
                             f"({Path(reader[0]).name} still read something else)")
        time.sleep(SERVED_POLL)


def _run_writer(cmd: Sequence[str], data: str | bytes) -> None:
    raw = data.encode("utf-8") if isinstance(data, str) else data
    with tempfile.TemporaryFile() as errors:
        try:
            subprocess.run(list(cmd), input=raw, check=True, timeout=TOOL_TIMEOUT,
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
    data = _read(reader_command(os.environ if env is None else env))
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return None


# The PRIMARY selection: what is selected now (X11, and Wayland compositors with primary selection).
_PRIMARY_READERS = {"wl-copy": ["wl-paste", "--primary", "--no-newline"],
                    "xclip": ["xclip", "-selection", "primary", "-out"], "xsel": ["xsel", "--primary", "--output"]}


def read_selection(env: Mapping[str, str] | None = None) -> str | None:
    """The selected text (PRIMARY), or None when nothing (or no text) is selected.

    Raises UsageError when no tool can read it at all.
    """
    env = os.environ if env is None else env
    name, find = _tool(env, None)
    data = _read(_resolved(_PRIMARY_READERS[name], find))
    try:
        return data.decode("utf-8") if data is not None else None
    except UnicodeDecodeError:
        return None


def _read(cmd: list[str]) -> bytes | None:
    """A reader's output; None when it has nothing (of that type) to give."""
    try:
        done = subprocess.run(cmd, capture_output=True, timeout=TOOL_TIMEOUT, stdin=subprocess.DEVNULL)
    except (OSError, subprocess.SubprocessError) as exc:
        raise UsageError(f"could not read the clipboard with {Path(cmd[0]).name}: {exc}") from None
    if done.returncode != 0:  # xclip: "target ... not available"; wl-paste: "Nothing is copied"
        return None
    return done.stdout


# What the clipboard holds, for putting it back: text, or one other type such as an image.
_TYPES = {"wl-copy": ["wl-paste", "--list-types"], "xclip": ["xclip", "-selection", "clipboard", "-out", "-t",
                                                             "TARGETS"]}
_TYPED_READ = {"wl-copy": ["wl-paste", "--no-newline", "--type"], "xclip": ["xclip", "-selection", "clipboard",
                                                                            "-out", "-t"]}
_TYPED_WRITE = {"wl-copy": ["wl-copy", "--type"], "xclip": ["xclip", "-selection", "clipboard", "-in", "-t"]}
_NOT_CONTENT = {"TARGETS", "TIMESTAMP", "MULTIPLE", "SAVE_TARGETS", "DELETE", "INSERT_SELECTION", "INSERT_PROPERTY"}


def _is_text(kind: str) -> bool:
    return kind in ("UTF8_STRING", "STRING", "TEXT", "COMPOUND_TEXT") or kind.startswith("text/plain")


@dataclass(frozen=True)
class Saved:
    """A clipboard's content as it was: its bytes and their type (None: text)."""

    data: bytes
    kind: str | None = None


def save_clipboard(env: Mapping[str, str] | None = None) -> Saved | None:
    """What the clipboard holds now, to put back later; None when it is empty.

    Text is kept as text. Otherwise (an image, a file list) the first real type the
    owner offers is kept with its bytes; xsel knows only text.
    """
    env = os.environ if env is None else env
    name, find = _tool(env, None)
    if name in _TYPES:
        listed = _read(_resolved(_TYPES[name], find))
        kinds = [k.strip() for k in (listed or b"").decode(errors="replace").splitlines() if k.strip()]
        if not kinds:
            return None
        if not any(_is_text(k) for k in kinds):
            kind = next((k for k in kinds if k not in _NOT_CONTENT), None)
            data = _read(_resolved([*_TYPED_READ[name], kind], find)) if kind else None
            return Saved(data, kind) if data is not None and kind else None
    text = read_clipboard(env)
    return Saved(text.encode("utf-8")) if text is not None else None


def put_back(saved: Saved, env: Mapping[str, str] | None = None) -> None:
    """Make `saved` the clipboard again, with its type."""
    env = os.environ if env is None else env
    name, find = _tool(env, None)
    if saved.kind is None:
        _run_writer(_resolved(_WRITERS[name], find), saved.data)
        _until_served(_resolved(_READERS[name], find), saved.data)
        return
    _run_writer(_resolved([*_TYPED_WRITE[name], saved.kind], find), saved.data)
    _until_served(_resolved([*_TYPED_READ[name], saved.kind], find), saved.data)


# Emptying it: wl-copy and xsel can; xclip can only offer an empty text.
_CLEAR = {"wl-copy": ["wl-copy", "--clear"], "xsel": ["xsel", "--clipboard", "--clear"]}


def clear_clipboard(env: Mapping[str, str] | None = None) -> None:
    """Leave the clipboard empty (as it was before a dictation was pasted through it)."""
    env = os.environ if env is None else env
    name, find = _tool(env, None)
    _run_writer(_resolved(_CLEAR.get(name, _WRITERS[name]), find), b"")
    _until_served(_resolved(_READERS[name], find), b"")
