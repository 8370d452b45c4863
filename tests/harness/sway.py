"""A real Wayland desktop for tests: headless sway, and a foot terminal that records its keys.

sway refuses to run as root, so it runs under `setpriv` as an unprivileged uid with its
own XDG_RUNTIME_DIR owned by that uid; the tests (root on CI) reach it through an
absolute WAYLAND_DISPLAY path, which needs no runtime dir of their own. The headless
backend needs no GPU, seat or input device (the pixman renderer, no libinput); wtype's
virtual keyboard is the only keyboard, as a dictation tool's is on a real desktop.

A desktop has a keyboard all along; a headless seat has none, and a seat that gains its
first keyboard while wtype starts typing loses the first keys (the client binds its
wl_keyboard only when the seat says it has one: 6 texts in 20 lost 1-2 leading characters).
So a keyboard that stays for the session, as a physical one does, is plugged in first: a
wtype that only sleeps. Each wtype that types still switches the seat to its own keymap,
exactly as on a real desktop.

The target window is `foot` running a reader under `stty -icanon -echo` (typed text
without Enter would otherwise wait in the terminal's line buffer) that appends every byte
it receives to a file: what a user would see land in a terminal, nothing more.
Readiness is asked, not guessed: sway's IPC reports the output, then the focused window.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

START_TIMEOUT = 20.0
UNPRIVILEGED = 65534  # nobody/nogroup: present on every Debian system
TOOLS = ("sway", "swaymsg", "wtype", "wl-copy", "wl-paste", "foot", "setpriv")
APP_ID = "voicebot-test-field"

SWAY_CONFIG = """\
xwayland disable
output HEADLESS-1 resolution 1024x768
default_border none
focus_on_window_activation focus
"""


def missing_tools() -> list[str]:
    """What this harness needs that is not installed (empty when all is there)."""
    return [tool for tool in TOOLS if shutil.which(tool) is None]


def _wait(ready: Callable[[], Any], what: str, timeout: float, alive: Callable[[], str | None]) -> Any:
    """Poll `ready` until it gives a true value; RuntimeError naming `what` (and why) otherwise."""
    deadline = time.monotonic() + timeout
    while True:
        value = ready()
        if value:
            return value
        dead = alive()
        if dead is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} not ready within {timeout:g} s{': ' + dead if dead else ''}")
        time.sleep(0.02)


class Sway:
    """One headless sway; `env()` is what a Wayland client of it needs."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.runtime = root / "run"
        self.log = root / "sway.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.keyboard: subprocess.Popen[bytes] | None = None
        self.ipc = ""
        self.display = ""

    def start(self) -> None:
        self.runtime.mkdir(mode=0o700)
        os.chown(self.runtime, UNPRIVILEGED, UNPRIVILEGED)
        config = self.root / "sway.config"
        config.write_text(SWAY_CONFIG)
        config.chmod(0o644)
        self.root.chmod(0o755)  # sway (the unprivileged uid) reads its config here
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.runtime),
               "XDG_RUNTIME_DIR": str(self.runtime), "WLR_BACKENDS": "headless", "WLR_LIBINPUT_NO_DEVICES": "1",
               "WLR_RENDERER": "pixman", "LANG": "C.UTF-8"}
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                ["setpriv", f"--reuid={UNPRIVILEGED}", f"--regid={UNPRIVILEGED}", "--clear-groups",
                 "sway", "--config", str(config)],
                env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True)
        self.ipc = str(_wait(lambda: next(self.runtime.glob("sway-ipc.*.sock"), None), "sway's IPC socket",
                             START_TIMEOUT, self._dead))
        _wait(lambda: any(o.get("active") for o in self.msg("get_outputs")), "sway's headless output",
              START_TIMEOUT, self._dead)
        sockets = [p for p in self.runtime.glob("wayland-*") if not p.name.endswith(".lock")]
        assert len(sockets) == 1, sockets
        self.display = str(sockets[0])
        # The session's own keyboard (see above): a virtual keyboard that never types (100000 s asleep).
        self.keyboard = subprocess.Popen(["wtype", "-s", "100000000"], env=self.env(), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _wait(lambda: any(i.get("type") == "keyboard" for i in self.msg("get_inputs")), "the session's keyboard",
              START_TIMEOUT, self._dead)

    def _dead(self) -> str | None:
        if self.proc is not None and self.proc.poll() is None:
            return None
        return f"sway exited: {self.log.read_text(errors='replace')[-800:]}"

    def msg(self, kind: str, *command: str) -> Any:
        """`swaymsg -t kind` (a query, or `command` to run) through sway's IPC socket, as JSON."""
        done = subprocess.run(["swaymsg", "-s", self.ipc, "-r", "-t", kind, *command], capture_output=True,
                              timeout=10, stdin=subprocess.DEVNULL)
        return json.loads(done.stdout) if done.returncode == 0 and done.stdout.strip() else []

    def focused_app(self) -> str | None:
        """The app_id of the window that has the keyboard now (None: none has)."""
        def walk(node: dict[str, Any]) -> str | None:
            if node.get("focused") and node.get("app_id"):
                return str(node["app_id"])
            for child in node.get("nodes", []) + node.get("floating_nodes", []):
                found = walk(child)
                if found:
                    return found
            return None
        tree = self.msg("get_tree")
        return walk(tree) if tree else None

    def env(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """A client's environment: this compositor's socket by absolute path, and no X display."""
        env = dict(os.environ if base is None else base)
        env.pop("DISPLAY", None)
        env["WAYLAND_DISPLAY"] = self.display
        return env

    def stop(self) -> None:
        if self.keyboard is not None:
            self.keyboard.kill()
            self.keyboard.wait(5)
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@contextmanager
def sway() -> Iterator[Sway]:
    """A headless sway for the duration; stopped (and its directory removed) afterwards."""
    root = Path(tempfile.mkdtemp(prefix="vb-sway-", dir="/tmp"))
    compositor = Sway(root)
    try:
        compositor.start()
        yield compositor
    finally:
        compositor.stop()
        shutil.rmtree(root, ignore_errors=True)


class Terminal:
    """A focused foot window whose reader writes every byte it receives to a file."""

    def __init__(self, compositor: Sway, directory: Path, *, foot_ini: str = "") -> None:
        self.compositor = compositor
        self.path = directory / "received"
        ready = directory / "reader-ready"
        ini = directory / "foot.ini"
        ini.write_text(foot_ini)
        reader = f"stty -icanon -echo && : > {shlex.quote(str(ready))} && exec cat > {shlex.quote(str(self.path))}"
        self.log = directory / "foot.log"
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(["foot", "--config", str(ini), "--app-id", APP_ID, "sh", "-c", reader],
                                         env=compositor.env(), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        _wait(lambda: ready.exists() and compositor.focused_app() == APP_ID, "the foot window", START_TIMEOUT,
              self._dead)

    def _dead(self) -> str | None:
        if self.proc.poll() is None:
            return None
        return f"foot exited: {self.log.read_text(errors='replace')[-800:]}"

    def received(self) -> str:
        return self.path.read_bytes().decode("utf-8", errors="replace") if self.path.exists() else ""

    def wait(self, done: Callable[[str], bool], timeout: float = 20.0) -> str:
        """What the window received once `done(received)` holds; AssertionError (with it) on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            got = self.received()
            if done(got):
                return got
            assert time.monotonic() < deadline and self._dead() is None, (got, self._dead())
            time.sleep(0.02)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def set_clipboard(compositor: Sway, data: bytes, kind: str | None = None, *, primary: bool = False) -> None:
    """What a user copies: wl-copy serves it from its own background process, as in a session."""
    cmd = ["wl-copy", *(["--primary"] if primary else []), *(["--type", kind] if kind else [])]
    # not a pipe for its output: wl-copy's child keeps serving the selection and would hold it open
    subprocess.run(cmd, input=data, check=True, timeout=10, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=compositor.env())
    deadline = time.monotonic() + 10  # wl-copy returns before its child owns the selection: wait until served
    while clipboard(compositor, kind, primary=primary) != data:
        assert time.monotonic() < deadline, "wl-copy never served the selection"
        time.sleep(0.02)


def clipboard(compositor: Sway, kind: str | None = None, *, primary: bool = False) -> bytes | None:
    """The clipboard's bytes exactly (None when nothing is copied)."""
    cmd = ["wl-paste", "--no-newline", *(["--primary"] if primary else []), *(["--type", kind] if kind else [])]
    done = subprocess.run(cmd, capture_output=True, timeout=10, env=compositor.env(), stdin=subprocess.DEVNULL)
    return done.stdout if done.returncode == 0 else None


def clipboard_types(compositor: Sway) -> list[str]:
    done = subprocess.run(["wl-paste", "--list-types"], capture_output=True, timeout=10, env=compositor.env(),
                          stdin=subprocess.DEVNULL)
    return done.stdout.decode().split() if done.returncode == 0 else []
