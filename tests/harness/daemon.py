"""Run the installed `voicebot run --json` as a user would, and follow its event stream.

The daemon runs as a subprocess in a private world: its own HOME, XDG_RUNTIME_DIR (so its
control socket) and XDG_CONFIG_HOME in a short temp dir, the private PulseAudio's ALSA
config (tests/harness/pulse.py) as its microphone, a private Xvfb (tests/harness/xvfb.py)
as its display, and the local Groq server (tests/fakegroq) as its API. A reader thread
collects the JSON event lines as they are flushed, so tests wait on events, not on time.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.fakegroq import TEST_API_KEY, FakeGroq
from tests.harness import pulse as pulse_harness
from tests.harness import xvfb as xvfb_harness

VOICEBOT = Path(sys.executable).with_name("voicebot")
READY_TIMEOUT = 30.0  # generous: a loaded 2-core machine starting PortAudio, pynput and the socket
EXIT_TIMEOUT = 10.0

Event = dict[str, Any]


def missing_tools() -> list[str]:
    """What the live daemon tests need that is not installed (empty when all is there)."""
    return xvfb_harness.missing_tools() + pulse_harness.missing_tools()


def live_marks() -> list[pytest.MarkDecorator]:
    """A live daemon test module's marks: `live`, and skipped (saying what is missing) without the tools."""
    missing = missing_tools()
    return [pytest.mark.live,
            pytest.mark.skipif(bool(missing), reason=f"needs {', '.join(missing)} (apt, see scripts/dev)")]


@dataclass
class Desktop:
    """One Xvfb display and one private PulseAudio server, shared by the daemons of a module."""

    display: str
    pulse: pulse_harness.PulseServer


@contextmanager
def desktop() -> Iterator[Desktop]:
    """Start Xvfb and PulseAudio together; both are stopped afterwards."""
    with xvfb_harness.xvfb() as display, pulse_harness.pulse_server() as pulse:
        yield Desktop(display, pulse)


def short_home() -> Path:
    """A fresh private directory short enough for a unix socket path below it (108-byte limit)."""
    return Path(tempfile.mkdtemp(prefix="vb-home-", dir="/tmp"))


def daemon_env(home: Path, fake: FakeGroq, desk: Desktop | None = None, *,
               display: bool = True, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a voicebot process: private dirs, the fake API, the test desktop.

    With `display=False` there is no DISPLAY (nor WAYLAND_DISPLAY) at all, as on a
    headless box or a Wayland session pynput cannot use.
    """
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(home),
           "XDG_RUNTIME_DIR": str(home / "run"), "XDG_CONFIG_HOME": str(home / "config"),
           "XDG_DATA_HOME": str(home / "data"), "GROQ_API_KEY": TEST_API_KEY, "GROQ_BASE_URL": fake.host_url}
    if desk is not None:
        pulse_env = desk.pulse.env()  # also the server's own HOME and XDG dirs: take only the audio routing
        env.update({k: pulse_env[k] for k in ("ALSA_CONFIG_PATH", "PULSE_SERVER")})
        if display:
            env["DISPLAY"] = desk.display
    (home / "run").mkdir(mode=0o700, exist_ok=True)
    return {**env, **(extra or {})}


class Daemon:
    """A running `voicebot run --json ...`; its events arrive on a list as they are printed."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str], home: Path) -> None:
        self.args = list(args)
        self.env = dict(env)
        self.home = home
        self.stderr_path = home / "daemon.stderr"
        self._events: list[Event] = []
        self._stdout_lines: list[str] = []
        self._closed = False
        self._changed = threading.Condition()
        with self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen([str(VOICEBOT), "run", "--json", *self.args], env=self.env,
                                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err, text=True)
        threading.Thread(target=self._read, name="voicebot-events", daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            with self._changed:
                self._stdout_lines.append(line)
                if line.strip():
                    self._events.append(json.loads(line))
                self._changed.notify_all()
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    @property
    def events(self) -> list[Event]:
        """Every event so far, oldest first."""
        with self._changed:
            return list(self._events)

    def mark(self) -> int:
        """A position in the event stream, for `wait_for(..., since=mark)`."""
        with self._changed:
            return len(self._events)

    def of_type(self, kind: str, since: int = 0) -> list[Event]:
        return [e for e in self.events[since:] if e.get("type") == kind]

    def wait_for(self, kind: str, timeout: float = 20.0, *, since: int = 0,
                 where: Callable[[Event], bool] | None = None) -> Event:
        """The first event of type `kind` (at or after `since`, matching `where`); AssertionError on timeout/exit."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for event in self._events[since:]:
                    if event.get("type") == kind and (where is None or where(event)):
                        return event
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    why = "the daemon exited" if self._closed else f"no {kind!r} event within {timeout:g} s"
                    raise AssertionError(f"{why}; events: {self._events}; stderr: {self.stderr()[-1500:]}")
                self._changed.wait(min(remaining, 0.5))

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def output(self) -> str:
        """Everything the daemon printed so far (stdout then stderr), for leak and traceback checks."""
        with self._changed:
            out = "".join(self._stdout_lines)
        return out + self.stderr()

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = EXIT_TIMEOUT) -> int:
        """Its exit code once it has exited and its output has been read to the end."""
        code = self.proc.wait(timeout)
        with self._changed:
            self._changed.wait_for(lambda: self._closed, timeout)
        return code

    def stop(self) -> int:
        """SIGTERM, and SIGKILL if it lingers: never leave a daemon behind a failed test."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.wait()
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.wait()


def voicebot(args: Sequence[str], env: Mapping[str, str], *, timeout: float = 30.0) -> subprocess.CompletedProcess[str]:
    """Run one short `voicebot ...` command (a control-socket client, a second `run`) to completion."""
    return subprocess.run([str(VOICEBOT), *args], env=dict(env), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout)


def status(env: Mapping[str, str]) -> dict[str, Any]:
    """The daemon's `voicebot status --json` reply."""
    done = voicebot(["status", "--json"], env)
    assert done.returncode == 0, done.stderr
    reply: dict[str, Any] = json.loads(done.stdout)
    return reply


def wait_state(env: Mapping[str, str], state: str, timeout: float = 20.0) -> dict[str, Any]:
    """Poll `voicebot status` until the daemon reports `state` (turns end a little after their last event)."""
    deadline = time.monotonic() + timeout
    while True:
        reply = status(env)
        if reply.get("state") == state or time.monotonic() > deadline:
            return reply
        time.sleep(0.05)


@contextmanager
def running_daemon(args: Sequence[str], fake: FakeGroq, desk: Desktop | None, *, display: bool = True,
                   config: str | None = None, extra_env: Mapping[str, str] | None = None,
                   wait_ready: bool = True) -> Iterator[Daemon]:
    """A daemon in a fresh private home (with `config` as its config.toml), ready to take keys.

    Afterwards it is stopped if still running, and what it printed is checked for the
    promises that always hold: no traceback, and never the API key.
    """
    home = short_home()
    try:
        env = daemon_env(home, fake, desk, display=display, extra=extra_env)
        if config is not None:
            (home / "config" / "voicebot").mkdir(parents=True)
            (home / "config" / "voicebot" / "config.toml").write_text(config)
        daemon = Daemon(args, env, home)
        try:
            if wait_ready:
                daemon.wait_for("ready", READY_TIMEOUT)
            yield daemon
        finally:
            daemon.stop()
            printed = daemon.output()
            assert "Traceback" not in printed, printed[-3000:]
            assert TEST_API_KEY not in printed
    finally:
        shutil.rmtree(home, ignore_errors=True)
