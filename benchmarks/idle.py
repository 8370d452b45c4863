"""Idle cost of the real daemon with its microphone open, against a bare PortAudio stream.

Starts `voicebot run --json --no-hotkeys` for real (a private PulseAudio server as the
microphone, Xvfb as the display, the local Groq-compatible server as the API), lets it
settle, and reads its CPU time from /proc/<pid>/stat over a window (default 20 s) and its
RSS from /proc/<pid>/status. In the same run, the baseline: a bare PortAudio input stream
(sounddevice, 16 kHz mono int16, a no-op callback) with 20, 100 and 200 ms blocks, measured
the same way. Then voicebot's Microphone alone, old path (one 20 ms stream) against new
(200 ms blocks while idle, a 20 ms stream per take): its idle CPU, and over several key
presses the time from the press to the take's first block (the pre-roll), to its first
block recorded after the pre-roll, and from the release to the end of the take.

Everything runs twice unless --keeper says otherwise: with the harness's "keeper" (a parec
asking the sink for 20 ms, as another low-latency recorder would; it wakes every client of
the source 50 times a second) and without it (only voicebot records, as on most desktops).

Usage: python benchmarks/idle.py [--seconds S] [--preroll-ms MS ...] [--keeper on|off|both]
Needs the test tools that `scripts/dev test` installs. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
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


MIC = """
import asyncio, json, statistics, sys, time, logging
from voicebot.mic.microphone import Microphone
idle_ms, presses = int(sys.argv[1]), int(sys.argv[2])
joins = []
class Joins(logging.Handler):
    def emit(self, record):
        if record.getMessage().startswith("input streams joined"):
            joins.append(record.args[0])
logging.getLogger("voicebot.mic.microphone").addHandler(Joins())
logging.getLogger("voicebot.mic.microphone").setLevel(logging.DEBUG)
async def main():
    mic = Microphone(preroll_ms=300, release_tail_ms=200, idle_block_ms=idle_ms)
    await mic.open()
    print("ready", flush=True)
    await asyncio.to_thread(sys.stdin.readline)  # the idle window is over
    first, live, end = [], [], []
    for i in range(presses):
        await asyncio.sleep(0.6 + 0.083 * i)  # presses at different points of the idle blocks
        pressed = time.monotonic()
        async with mic.take() as take:
            async def consume():
                async for _ in take:
                    now = time.monotonic()
                    if not first or len(first) <= i:
                        first.append(now - pressed)
                    if take.frames > take.preroll_frames and len(live) <= i:
                        live.append(now - pressed)
            task = asyncio.create_task(consume())
            await asyncio.sleep(0.8)
            released = time.monotonic()
            take.stop()
            await task
            end.append(time.monotonic() - released)
    med = lambda xs: 1000 * statistics.median(xs)
    print(json.dumps({"first_ms": med(first), "live_ms": med(live), "end_ms": med(end),
                      "live_max_ms": 1000 * max(live), "joins": joins}), flush=True)
    await mic.close()
asyncio.run(main())
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


def microphone(env: dict[str, str], seconds: float, idle_ms: int, presses: int) -> tuple[float, float, dict]:
    """voicebot's Microphone alone: idle CPU and RSS, then key press / release timings."""
    env = {**env, "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", MIC, str(idle_ms), str(presses)], env=env, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert proc.stdin is not None and proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(SETTLE)
        cpu, rss = measure(proc.pid, seconds)
        proc.stdin.write("go\n")
        proc.stdin.flush()
        return cpu, rss, json.loads(proc.stdout.readline())
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


def run_set(fake: FakeGroq, desk: object, args: argparse.Namespace, label: str) -> None:
    pulse = desk.pulse  # type: ignore[attr-defined]
    audio_env = {**os.environ, **{k: pulse.env()[k] for k in ("ALSA_CONFIG_PATH", "PULSE_SERVER")}}
    rows: list[tuple[str, float, float]] = []
    for ms in (20, 100, 200):
        rows.append((f"bare PortAudio stream, {ms} ms blocks", *bare(audio_env, args.seconds, 16 * ms)))
    if args.experiments:
        rows.append(("bare blocking reads of 100 ms, 20 ms periods",
                     *bare(audio_env, args.seconds, 1600, "read", 320)))
    presses: list[tuple[str, dict]] = []
    for name, idle_ms in (("old: one 20 ms stream", 20), ("100 ms idle, 20 ms per take", 100),
                          ("new: 200 ms idle, 20 ms per take", 200)):
        cpu, rss, timing = microphone(audio_env, args.seconds, idle_ms, args.presses)
        rows.append((f"Microphone alone, {name}", cpu, rss))
        presses.append((name, timing))
    rows.extend((f"voicebot daemon, preroll_ms={ms}", *daemon(fake, desk, args.seconds, ms))
                for ms in args.preroll_ms)
    width = max(len(r[0]) for r in rows)
    print(f"\n== {label}; window {args.seconds:g} s per process, after {SETTLE:g} s to settle")
    for name, cpu, rss in rows:
        print(f"{name:<{width}}  {cpu:5.2f} % of one core  {rss:6.1f} MiB RSS")
    base20, base100 = rows[0][1], rows[1][1]
    for name, cpu, _ in rows[len(rows) - 3 - len(args.preroll_ms):]:
        print(f"{name}: {cpu / base20:.2f}x the 20 ms bare stream, {cpu / max(base100, 1e-9):.2f}x the 100 ms one")
    print(f"key presses (median of {args.presses}):")
    for name, t in presses:
        print(f"  {name:<34} press -> first block {t['first_ms']:5.1f} ms, -> first block after the pre-roll "
              f"{t['live_ms']:5.1f} ms (max {t['live_max_ms']:.0f}), release -> take end {t['end_ms']:5.1f} ms"
              + (f"; joins: {', '.join(sorted(set(t['joins'])))}" if t["joins"] else ""))


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--preroll-ms", type=int, nargs="*", default=[300, 0])
    ap.add_argument("--presses", type=int, default=9)
    ap.add_argument("--keeper", choices=("on", "off", "both"), default="both")
    ap.add_argument("--experiments", action="store_true", help="also a blocking-read stream")
    args = ap.parse_args()
    with FakeGroq() as fake, desktop() as desk:
        if args.keeper in ("on", "both"):
            run_set(fake, desk, args, "sink held at 20 ms by another recorder (the harness's keeper)")
        if args.keeper in ("off", "both"):
            desk.pulse.stop_keeper()
            run_set(fake, desk, args, "only voicebot records (no keeper)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
