"""How long `voicebot toggle` and the other control verbs take, against `python -c pass`.

A desktop shortcut runs `voicebot toggle` on every press, so the whole client process
(interpreter start-up, imports, one round trip over the control socket, exit) is what
the user waits for. This starts a real daemon (`voicebot run --no-hotkeys`, the local
Groq-compatible server as its API, a private PulseAudio server as its microphone when
the test tools are installed) and times, interleaved round by round so that machine
noise hits every command alike:

- baseline: `python -c pass` with the same interpreter (the same virtual environment,
  its site-packages and .pth files included);
- `voicebot status`, `ping`, `new`, `cancel`: the client path with little work in the
  daemon;
- `voicebot toggle` twice per round (start a take, then stop it; the take is silent, so
  nothing is uploaded), when a microphone is available;
- `voicebot status` with no daemon (the error path).

Prints the median of each and its ratio to the baseline's median. Asserts nothing.
Usage: python benchmarks/control_startup.py [--rounds N]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakegroq import TEST_API_KEY, FakeGroq  # noqa: E402
from tests.harness import pulse as pulse_harness  # noqa: E402

PYTHON = sys.executable
VOICEBOT = str(Path(sys.executable).with_name("voicebot"))


def timed(cmd: list[str], env: Mapping[str, str]) -> tuple[float, int, str]:
    """Wall-clock seconds from spawning `cmd` to its exit, its exit code and its stderr."""
    start = time.perf_counter()
    done = subprocess.run(cmd, env=dict(env), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True)
    return time.perf_counter() - start, done.returncode, done.stderr


@contextmanager
def daemon(env: Mapping[str, str]) -> Iterator[subprocess.Popen[str]]:
    """A `voicebot run --no-hotkeys --json` that has reported `ready`."""
    proc = subprocess.Popen([VOICEBOT, "run", "--no-hotkeys", "--json", "--quiet"], env=dict(env),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if json.loads(line).get("type") == "ready":
                break
        else:
            raise RuntimeError("the daemon exited before it was ready")
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=40, help="timed runs of each command (default 40)")
    args = ap.parse_args()

    with_mic = not pulse_harness.missing_tools()
    fake = FakeGroq().start()
    home = Path(tempfile.mkdtemp(prefix="vb-ctl-", dir="/tmp"))
    (home / "run").mkdir(mode=0o700)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(home),
           "XDG_RUNTIME_DIR": str(home / "run"), "XDG_CONFIG_HOME": str(home / "config"),
           "XDG_DATA_HOME": str(home / "data"), "GROQ_API_KEY": TEST_API_KEY, "GROQ_BASE_URL": fake.host_url}
    if "PYTHONPATH" in os.environ:  # lets a run time another checkout of voicebot, for a before/after
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    times: dict[str, list[float]] = {}
    failures: dict[str, list[str]] = {}

    def record(name: str, cmd: list[str], env_: Mapping[str, str], expect: int = 0) -> None:
        seconds, code, err = timed(cmd, env_)
        times.setdefault(name, []).append(seconds)
        if code != expect:
            failures.setdefault(name, []).append(f"exit {code}: {err.strip()[:200]}")

    no_daemon = {**env, "VOICEBOT_CONTROL_SOCKET": str(home / "nobody-here.sock")}
    try:
        with pulse_harness.pulse_server() if with_mic else nullcontext() as pulse:
            if pulse is not None:
                pulse_env = pulse.env()
                env.update({k: pulse_env[k] for k in ("ALSA_CONFIG_PATH", "PULSE_SERVER")})
            with daemon(env):
                for round_ in range(args.rounds + 3):  # the first 3 rounds warm the caches and are dropped
                    record("python -c pass", [PYTHON, "-c", "pass"], env)
                    for verb in ("status", "ping", "new", "cancel"):
                        record(f"voicebot {verb}", [VOICEBOT, verb], env)
                    if with_mic:
                        record("voicebot toggle (start)", [VOICEBOT, "toggle"], env)
                        record("voicebot toggle (stop)", [VOICEBOT, "toggle"], env)
                        # the silent take ends ("no speech detected") before the next round starts one
                        for _ in range(100):
                            out = subprocess.run([VOICEBOT, "status", "--json"], env=env, capture_output=True,
                                                 text=True).stdout
                            if json.loads(out or "{}").get("state") == "listening":
                                break
                            time.sleep(0.02)
                    record("voicebot status, no daemon", [VOICEBOT, "status"], no_daemon, expect=2)
                    if round_ < 3:
                        for series in times.values():
                            series.clear()
                        failures.clear()
    finally:
        fake.stop()
        shutil.rmtree(home, ignore_errors=True)

    base = statistics.median(times["python -c pass"])
    print(f"{args.rounds} rounds, interleaved; interpreter {PYTHON}")
    print(f"{'command':<30} {'median':>9} {'ratio':>7}")
    for name, series in times.items():
        med = statistics.median(series)
        note = f"  ({len(failures[name])} unexpected exits, e.g. {failures[name][0]})" if name in failures else ""
        print(f"{name:<30} {med * 1000:7.1f} ms {med / base:6.2f}x{note}")
    if not with_mic:
        print("toggle not timed: the PulseAudio test tools are missing (scripts/dev test installs them)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
