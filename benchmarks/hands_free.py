"""Hands-free listening measured: its idle cost, and how soon an utterance goes up once speech ends.

Starts `voicebot run --json --no-hotkeys` for real (a private PulseAudio server as the
microphone, the local Groq-compatible server as the API). The same-run baseline is that
daemon idle without a session; then the same daemon with `--hands-free`, idle while it
listens, in the null sink's digital silence (below the detector's floor: no frame is
scored) and with a -50 dBFS pink-noise room floor playing (steady noise: gated like silence
once it is the room's noise): CPU from /proc/<pid>/stat over a window, RSS from
/proc/<pid>/status. Then speech fixtures are played into the sink one at a time, each once
the daemon listens again, and the turn's own timing event gives end-of-speech decision ->
take encoded -> upload start -> first word of the answer.

Runs with only voicebot recording (the harness's 20 ms keeper stopped), as on a desktop.
Usage: python benchmarks/hands_free.py [--seconds S] [--utterances N]
Needs the test tools that `scripts/dev test` installs. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from idle import SETTLE, measure  # noqa: E402

from tests.fakegroq import FakeGroq  # noqa: E402
from tests.harness import noise  # noqa: E402
from tests.harness.daemon import Daemon, daemon_env, desktop, short_home  # noqa: E402

DATA = ROOT / "tests" / "data"
FIXTURES = [DATA / "capital.wav", DATA / "spider.flac"]


def idle(fake: FakeGroq, desk: object, seconds: float, hands_free: bool,
         floor: Path | None = None) -> tuple[float, float]:
    """CPU and RSS of an idle daemon; with `floor`, that noise plays into the sink meanwhile."""
    home = short_home()
    player = None
    try:
        env = daemon_env(home, fake, desk, display=False)  # type: ignore[arg-type]
        d = Daemon(["--no-hotkeys", "--quiet", *(["--hands-free", "--hands-free-timeout", "0"] if hands_free else [])],
                   env, home)
        try:
            d.wait_for("hands_free" if hands_free else "ready", 60)
            if floor is not None:
                player = desk.pulse.play(floor, wait=False)  # type: ignore[attr-defined]
            time.sleep(SETTLE)
            return measure(d.proc.pid, seconds)
        finally:
            if player is not None:
                player.kill()
                player.wait(5)
            d.stop()
    finally:
        shutil.rmtree(home, ignore_errors=True)


def utterances(fake: FakeGroq, desk: object, n: int, verbose: bool = False) -> list[tuple[float, float, float]]:
    """(decision -> take end ms, decision -> upload start ms, decision -> first word ms) per utterance."""
    home = short_home()
    out = []
    try:
        env = daemon_env(home, fake, desk, display=False)  # type: ignore[arg-type]
        d = Daemon(["--no-hotkeys", "--quiet", "--hands-free", "--hands-free-timeout", "0"], env, home)
        try:
            d.wait_for("hands_free", 60)
            for i in range(n):
                mark = d.mark()
                desk.pulse.play(FIXTURES[i % len(FIXTURES)])  # type: ignore[attr-defined]
                timing = d.wait_for("timing", 60, since=mark)
                if verbose:
                    print("   ", timing, flush=True)
                out.append((timing["take_end_ms"], timing["upload_start_ms"], timing["first_word_ms"]))
                d.wait_for("hands_free", 60, since=mark + 1, where=lambda e: e.get("listening") is True)
        finally:
            d.stop()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--utterances", type=int, default=6)
    ap.add_argument("--only-utterances", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    with FakeGroq() as fake, desktop() as desk:
        desk.pulse.stop_keeper()
        if args.only_utterances:
            print(utterances(fake, desk, args.utterances, args.verbose))
            return 0
        base_cpu, base_rss = idle(fake, desk, args.seconds, hands_free=False)
        hf_cpu, hf_rss = idle(fake, desk, args.seconds, hands_free=True)
        with tempfile.TemporaryDirectory(prefix="vb-floor-") as tmp:
            seconds = f"{args.seconds + SETTLE + 5}"
            pink = noise.at_rms(noise.sox(Path(tmp) / "p.wav", "synth", seconds, "pinknoise"), -50)
            floor = noise.write(Path(tmp) / "floor.wav", pink)
            room_cpu, room_rss = idle(fake, desk, args.seconds, hands_free=True, floor=floor)
        print(f"idle over {args.seconds:g} s (after {SETTLE:g} s to settle), only voicebot recording:")
        print(f"  daemon, no session (baseline)  {base_cpu:5.2f} % of one core  {base_rss:6.1f} MiB RSS")
        print(f"  daemon listening hands-free    {hf_cpu:5.2f} % of one core  {hf_rss:6.1f} MiB RSS"
              f"  ({hf_cpu / max(base_cpu, 1e-9):.1f}x the baseline's CPU, +{hf_rss - base_rss:.1f} MiB)")
        print(f"  ... with a -50 dBFS room noise   {room_cpu:5.2f} % of one core  {room_rss:6.1f} MiB RSS"
              f"  ({room_cpu / max(base_cpu, 1e-9):.1f}x the baseline's CPU: steady noise is gated after ~3 s)")
        rows = utterances(fake, desk, args.utterances, args.verbose)
    ended = [r[0] for r in rows]
    decided = [r[1] for r in rows]
    first = [r[2] for r in rows]
    print(f"{len(rows)} utterances played into the sink (endpoint_ms 600):")
    print(f"  end-of-speech decision -> take encoded: median {statistics.median(ended):.0f} ms, "
          f"max {max(ended):.0f} ms")
    print(f"  end-of-speech decision -> upload start (after the take is kept on disk, as every take): "
          f"median {statistics.median(decided):.0f} ms, max {max(decided):.0f} ms")
    print(f"  end-of-speech decision -> first word of the answer: median {statistics.median(first):.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
