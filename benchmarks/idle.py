"""Idle cost of the real daemon with its microphone open, against a bare PortAudio stream.

Starts `voicebot run --json --no-hotkeys` for real (a private PulseAudio server as the
microphone, Xvfb as the display, the local Groq-compatible server as the API), lets it
settle, and reads its CPU time from /proc/<pid>/stat over a window (default 20 s) and its
RSS from /proc/<pid>/status. In the same run, the baseline: a bare PortAudio input stream
(sounddevice, 16 kHz mono int16, a no-op callback) with 20 ms and with 100 ms blocks,
measured the same way. Prints each figure and the daemon's ratio to the baselines.

Usage: python benchmarks/idle.py [--seconds S] [--preroll-ms MS ...]
Needs the test tools that `scripts/dev test` installs. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakegroq import FakeGroq  # noqa: E402
from tests.harness.daemon import Daemon, daemon_env, desktop, short_home  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")
SETTLE = 3.0  # seconds after start-up before the window opens

BARE = """
import sys, time, threading
import sounddevice as sd
block, mode = int(sys.argv[1]), sys.argv[2]
if mode == "callback":
    stream = sd.RawInputStream(samplerate=16000, channels=1, dtype="int16", blocksize=block,
                               callback=lambda data, frames, when, status: None)
    stream.start()
else:  # a reader thread doing blocking reads of `block` frames
    stream = sd.RawInputStream(samplerate=16000, channels=1, dtype="int16", blocksize=int(sys.argv[3]))
    stream.start()
    def read():
        while True:
            stream.read(block)
    threading.Thread(target=read, daemon=True).start()
print("ready", flush=True)
time.sleep(3600)
"""


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (and of its threads), from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def measure(pid: int, seconds: float) -> tuple[float, float]:
    """(percent of one core, RSS MiB) over `seconds`."""
    start_cpu, start = cpu_seconds(pid), time.monotonic()
    time.sleep(seconds)
    used, elapsed = cpu_seconds(pid) - start_cpu, time.monotonic() - start
    return 100 * used / elapsed, rss_mib(pid)


def bare(env: dict[str, str], seconds: float, block: int, mode: str = "callback",
         period: int = 0) -> tuple[float, float]:
    proc = subprocess.Popen([sys.executable, "-c", BARE, str(block), mode, str(period or block)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        time.sleep(SETTLE)
        return measure(proc.pid, seconds)
    finally:
        proc.kill()
        proc.wait(5)


def daemon(fake: FakeGroq, desk: object, seconds: float, preroll_ms: int) -> tuple[float, float]:
    home = short_home()
    try:
        env = daemon_env(home, fake, desk, display=False)  # type: ignore[arg-type]
        d = Daemon(["--no-hotkeys", "--quiet", "--preroll-ms", str(preroll_ms)], env, home)
        try:
            d.wait_for("ready", 30)
            time.sleep(SETTLE)
            return measure(d.proc.pid, seconds)
        finally:
            d.stop()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--preroll-ms", type=int, nargs="*", default=[300, 0])
    ap.add_argument("--experiments", action="store_true", help="also blocking-read streams")
    args = ap.parse_args()
    rows: list[tuple[str, float, float]] = []
    with FakeGroq() as fake, desktop() as desk:
        audio_env = {**os.environ, **{k: desk.pulse.env()[k] for k in ("ALSA_CONFIG_PATH", "PULSE_SERVER")}}
        rows.append(("bare PortAudio stream, 20 ms blocks", *bare(audio_env, args.seconds, 320)))
        rows.append(("bare PortAudio stream, 100 ms blocks", *bare(audio_env, args.seconds, 1600)))
        if args.experiments:
            rows.append(("bare blocking reads of 100 ms, 20 ms periods",
                         *bare(audio_env, args.seconds, 1600, "read", 320)))
            rows.append(("bare blocking reads of 100 ms, 100 ms periods",
                         *bare(audio_env, args.seconds, 1600, "read", 1600)))
        rows.extend((f"voicebot daemon, preroll_ms={ms}", *daemon(fake, desk, args.seconds, ms))
                    for ms in args.preroll_ms)
    width = max(len(r[0]) for r in rows)
    print(f"window: {args.seconds:g} s per process, after {SETTLE:g} s to settle")
    for name, cpu, rss in rows:
        print(f"{name:<{width}}  {cpu:5.2f} % of one core  {rss:6.1f} MiB RSS")
    base20, base100 = rows[0][1], rows[1][1]
    for name, cpu, _ in rows:
        if name.startswith("voicebot"):
            print(f"{name}: {cpu / base20:.2f}x the 20 ms bare stream, {cpu / base100:.2f}x the 100 ms one")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
