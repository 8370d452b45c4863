"""A private Xvfb for tests that need a real X server (global hotkeys), plus xdotool helpers.

Xvfb picks its own free display number (`-displayfd`), which avoids racing other
test runs for `:99`; it writes that number only once it accepts connections, and we
still connect once with python-xlib before handing the display out.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

START_TIMEOUT = 15.0


def missing_tools() -> list[str]:
    """The programs these helpers need that are not installed (empty when all are)."""
    return [tool for tool in ("Xvfb", "xdotool") if shutil.which(tool) is None]


def _read_display_number(fd: int, proc: subprocess.Popen[bytes], deadline: float) -> str:
    """Read the display number Xvfb writes to `fd` when it is ready, or fail with its stderr."""
    data = b""
    while not data.endswith(b"\n"):
        remaining = deadline - time.monotonic()
        if proc.poll() is not None or remaining <= 0:
            err = proc.stderr.read().decode(errors="replace") if proc.poll() is not None and proc.stderr else ""
            raise RuntimeError(f"Xvfb did not start (exit {proc.returncode}): {err.strip()[-500:]}")
        ready, _, _ = select.select([fd], [], [], min(remaining, 0.2))
        if ready:
            chunk = os.read(fd, 64)
            if not chunk:
                continue
            data += chunk
    return ":" + data.decode().strip()


def _wait_connectable(display: str, deadline: float) -> None:
    """Connect once as a client would: the display is really up, not just announced."""
    import Xlib.display
    import Xlib.error

    while True:
        try:
            Xlib.display.Display(display).close()
            return
        except (Xlib.error.DisplayError, ConnectionError, OSError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


@contextmanager
def xvfb(*, timeout: float = START_TIMEOUT) -> Iterator[str]:
    """Run `Xvfb -nolisten tcp` on a free display; yield its DISPLAY (":N"); kill it afterwards."""
    read_fd, write_fd = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(write_fd), "-nolisten", "tcp", "-screen", "0", "640x480x24"],
        pass_fds=(write_fd,),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    os.close(write_fd)
    try:
        deadline = time.monotonic() + timeout
        display = _read_display_number(read_fd, proc, deadline)
        _wait_connectable(display, deadline)
        yield display
    finally:
        os.close(read_fd)
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if proc.stderr:
            proc.stderr.close()


def keycode(display: str, keysym_name: str) -> str:
    """The keycode of a keysym on `display`, e.g. "Control_R" -> "105", for `keydown`."""
    import Xlib.display
    import Xlib.XK

    conn = Xlib.display.Display(display)
    try:
        code = conn.keysym_to_keycode(Xlib.XK.string_to_keysym(keysym_name))
    finally:
        conn.close()
    if not code:
        raise LookupError(f"{keysym_name} has no keycode on {display}")
    return str(code)


def xdotool(display: str, *args: str) -> None:
    """Run xdotool against `display` (keys go through XTEST, as from a real keyboard)."""
    env = {**os.environ, "DISPLAY": display}
    subprocess.run(["xdotool", *args], env=env, check=True, timeout=10, capture_output=True)


def keydown(display: str, keys: str) -> None:
    """Press and hold `keys`, e.g. "ctrl+alt+space" (pressed left to right) or a keycode "105".

    xdotool presses Control_L along with a keysym like Control_R; pass the keycode to
    press one physical modifier alone.
    """
    xdotool(display, "keydown", keys)


def keyup(display: str, keys: str) -> None:
    """Release `keys` (left to right)."""
    xdotool(display, "keyup", keys)


def focused_window(display: str) -> tuple[Any, Any]:
    """(connection, window): a new X window, mapped and given the input focus, that receives key
    presses; what a text field is to the keys voicebot types. The caller reads its events."""
    import Xlib.display
    from Xlib import X

    conn = Xlib.display.Display(display)
    screen = conn.screen()
    window = screen.root.create_window(0, 0, 200, 100, 0, screen.root_depth,
                                       event_mask=X.KeyPressMask | X.StructureNotifyMask)
    window.map()
    conn.sync()
    while conn.next_event().type != X.MapNotify:
        pass
    window.set_input_focus(X.RevertToPointerRoot, X.CurrentTime)
    conn.sync()
    return conn, window
