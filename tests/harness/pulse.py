"""A private PulseAudio server for live audio tests, and the ALSA config that points PortAudio at it.

PortAudio (Debian's build) speaks ALSA, and ALSA reaches PulseAudio through the `pulse`
plugin of libasound2-plugins. The server runs as a plain foreground process with its own
HOME and runtime dir, so it never touches (or needs) a system or user daemon, and the null
sink `vb_test` is both where `paplay` plays and, through its monitor, the microphone.

The ALSA file REPLACES the system alsa.conf (ALSA_CONFIG_PATH): nothing of the machine's own
sound setup (~/.asoundrc, /etc/asound.conf, real cards) can leak into a test. It needs no
`pcm_type.pulse` entry: when a type is not declared, alsa-lib loads
`libasound_module_pcm_<type>.so` from its plugin directory by itself.
PortAudio reads the ALSA config once, when it initialises (on `import sounddevice`), so
capture under this harness must run in a subprocess started with `env()`.

A null sink renders in blocks of up to 2 s until some client asks for less: the first
capture client would then wait ~2 s for its first sample and `paplay` would take ~2 s
longer than its file. So a "keeper" (`parec` asking for 20 ms, drained and discarded) stays
connected to the monitor, and `start()` returns only once the keeper hears the sink ticking.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

START_TIMEOUT = 15.0
SINK = "vb_test"
_PLUGIN_GLOBS = ("/usr/lib/*/alsa-lib/libasound_module_pcm_pulse.so", "/usr/lib/alsa-lib/libasound_module_pcm_pulse.so",
                 "/usr/lib64/alsa-lib/libasound_module_pcm_pulse.so")


def missing_tools() -> list[str]:
    """What this harness needs that is not installed (empty when all is there)."""
    missing = [tool for tool in ("pulseaudio", "pactl", "paplay", "parec") if shutil.which(tool) is None]
    if not any(glob.glob(pattern) for pattern in _PLUGIN_GLOBS):
        missing.append("libasound2-plugins (ALSA pulse plugin)")
    return missing


def server_script(socket: Path, *, rate: int = 16_000, channels: int = 1) -> str:
    """The `-F` startup script: one private socket and one null sink, nothing auto-detected."""
    return (
        f"load-module module-native-protocol-unix socket={socket} auth-anonymous=1\n"
        f"load-module module-null-sink sink_name={SINK} format=s16le rate={rate} channels={channels}\n"
        f"set-default-sink {SINK}\n"
        f"set-default-source {SINK}.monitor\n"
    )


def alsa_config(server: str, *, source: str = f"{SINK}.monitor") -> str:
    """An alsa.conf replacement whose default PCM records `source` on the pulse `server`."""
    return (
        "# Written by tests/harness/pulse.py for ALSA_CONFIG_PATH: replaces the system alsa.conf.\n"
        "pcm.!default {\n"
        "    type pulse\n"
        f'    server "{server}"\n'
        f'    device "{source}"\n'
        "}\n"
        "ctl.!default {\n"
        "    type pulse\n"
        f'    server "{server}"\n'
        "}\n"
    )


class PulseServer:
    """One private `pulseaudio` process; `start()` waits until it answers, `stop()` ends it."""

    def __init__(self, root: Path, *, rate: int = 16_000, channels: int = 1) -> None:
        self.root = root
        self.socket = root / "native"
        self.server = f"unix:{self.socket}"
        self.alsa_conf = root / "asound.conf"
        self.log_path = root / "pulseaudio.log"
        self._script = root / "server.pa"
        self._home = root / "home"
        self._runtime = root / "runtime"
        self._rate, self._channels = rate, channels
        self._proc: subprocess.Popen[bytes] | None = None
        self._keeper: subprocess.Popen[bytes] | None = None

    def _server_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_", "XDG_", "DBUS_"))}
        return {**env, "HOME": str(self._home), "XDG_RUNTIME_DIR": str(self._runtime),
                "XDG_CONFIG_HOME": str(self._home / ".config"), "PULSE_RUNTIME_PATH": str(self._runtime),
                "PULSE_STATE_PATH": str(self._home / "state")}

    def start(self, *, timeout: float = START_TIMEOUT) -> PulseServer:
        """Start the server (again, after `stop()`); return once it answers and its sink ticks."""
        if self._proc is not None:
            raise RuntimeError("the server is already running")
        self._home.mkdir(exist_ok=True)
        self._runtime.mkdir(mode=0o700, exist_ok=True)
        self._script.write_text(server_script(self.socket, rate=self._rate, channels=self._channels))
        self.alsa_conf.write_text(alsa_config(self.server))
        self.socket.unlink(missing_ok=True)
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                ["pulseaudio", "-n", "-F", str(self._script), "--daemonize=no", "--system=no",
                 "--exit-idle-time=-1", "--disallow-exit", "--use-pid-file=no", "--disable-shm=yes",
                 "--realtime=no", "--high-priority=no", "--log-target=stderr", "--log-level=notice"],
                env=self._server_env(), stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        deadline = time.monotonic() + timeout
        while not self._answers():
            if self._proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"pulseaudio did not start: {self.log_tail()}")
            time.sleep(0.05)
        self._start_keeper(deadline)
        return self

    def _start_keeper(self, deadline: float) -> None:
        """Hold the sink at 20 ms latency (see the module doc); wait for its first bytes."""
        self._keeper = subprocess.Popen(
            ["parec", f"--server={self.server}", f"--device={SINK}.monitor", "--raw", "--latency-msec=20"],
            env=self._server_env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        ticking = threading.Event()
        out = self._keeper.stdout
        assert out is not None

        def drain() -> None:  # ends at EOF, when the keeper or the server goes
            try:
                while out.read1(65536):
                    ticking.set()
            except (OSError, ValueError):
                pass
            finally:
                out.close()

        threading.Thread(target=drain, name="pulse-keeper-drain", daemon=True).start()
        if not ticking.wait(max(0.0, deadline - time.monotonic())):
            self.stop()
            raise RuntimeError(f"the pulseaudio null sink never delivered audio: {self.log_tail()}")

    def _answers(self) -> bool:
        if not self.socket.exists():
            return False
        done = subprocess.run(["pactl", f"--server={self.server}", "info"], env=self._server_env(),
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=10)
        return done.returncode == 0

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def send_signal(self, sig: int) -> None:
        """Signal the server itself: SIGSTOP hangs every client's stream, SIGKILL kills it."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.send_signal(sig)

    def stop_keeper(self) -> None:
        """Let the sink tick at what its clients ask for (benchmarks/idle.py: a 20 ms keeper wakes every
        client of the monitor 50 times a second, which no idle microphone on a desktop pays)."""
        keeper, self._keeper = self._keeper, None
        if keeper is not None:
            keeper.kill()
            keeper.wait(5)  # its drain thread sees EOF and closes the pipe

    def stop(self) -> None:
        """End the server: TERM, then KILL if it lingers. Clients see their streams die."""
        self.stop_keeper()
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def log_tail(self, chars: int = 800) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:].strip()
        except OSError:
            return ""

    def env(self) -> dict[str, str]:
        """The environment for a subprocess whose PortAudio/ALSA must use this server only."""
        return {**self._server_env(), "ALSA_CONFIG_PATH": str(self.alsa_conf), "PULSE_SERVER": self.server}

    def play_command(self, path: str | os.PathLike[str]) -> list[str]:
        """`paplay` for `path` into the test sink (paced in real time by the null sink)."""
        return ["paplay", f"--server={self.server}", f"--device={SINK}", os.fspath(path)]

    def play(self, path: str | os.PathLike[str], *, wait: bool = True,
             timeout: float = 60.0) -> subprocess.Popen[bytes]:
        """Play a sound file into the sink; with `wait`, return once it has been played."""
        proc = subprocess.Popen(self.play_command(path), env=self.env(), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        if wait:
            _, err = proc.communicate(timeout=timeout)
            if proc.returncode:
                raise RuntimeError(f"paplay failed ({proc.returncode}): {err.decode(errors='replace').strip()}")
        return proc


def _short_tempdir() -> Path:
    """A private directory whose socket path fits the 108-byte limit of unix sockets."""
    root = Path(tempfile.mkdtemp(prefix="vb-pulse-"))
    if len(str(root / "native")) > 100:
        shutil.rmtree(root)
        root = Path(tempfile.mkdtemp(prefix="vb-pulse-", dir="/tmp"))
    return root


@contextmanager
def pulse_server(*, rate: int = 16_000, channels: int = 1,
                 timeout: float = START_TIMEOUT) -> Iterator[PulseServer]:
    """A running private server in a fresh temp dir; stopped and removed afterwards."""
    root = _short_tempdir()
    server = PulseServer(root, rate=rate, channels=channels)
    try:
        yield server.start(timeout=timeout)
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
