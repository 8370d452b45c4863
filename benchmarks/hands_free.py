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

Then, on a simulated slow link (tests/fakegroq/link.py, issue 8's home link), each spoken
question is timed from the end of its speech (paplay has played it: its exit, less the
file's trailing quiet) to the first word of the answer (the daemon's first `delta`
event), against the physical floor (server STT for the upload's length + TTFT + two round
trips) plus `endpoint_ms`, the quiet the end of speech is decided on.

With --noise-minutes M, only this: M minutes of hiss, pink noise, keyboard clicks, a fan
and music (tests/harness/noise.py, an equal share each) are played into a listening daemon,
and it prints how many utterances each started and how many were uploaded.

Runs with only voicebot recording (the harness's 20 ms keeper stopped), as on a desktop.
Usage: python benchmarks/hands_free.py [--seconds S] [--utterances N] [--link-utterances N]
       python benchmarks/hands_free.py --noise-minutes 10   (noise only: utterances started, uploads)
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

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
from idle import SETTLE, measure  # noqa: E402

from tests.fakegroq import FakeGroq, Link  # noqa: E402
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


def utterances(fake: FakeGroq, desk: object, n: int, verbose: bool = False,
               seconds: float = 0.0) -> tuple[list[tuple[float, float, float]], tuple[float, float]]:
    """(decision -> take end ms, decision -> upload start ms, decision -> first word ms) per utterance,
    and with `seconds`, CPU and RSS idle afterwards (an utterance's take moves to short blocks: the
    one after its turn must listen on long blocks again)."""
    home = short_home()
    out = []
    after = (0.0, 0.0)
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
            if seconds:
                time.sleep(SETTLE)
                after = measure(d.proc.pid, seconds)
        finally:
            d.stop()
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return out, after


def trailing_quiet(path: Path) -> float:
    """Seconds of quiet after the last sound of a fixture (above -40 dBFS)."""
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    loud = np.flatnonzero(np.abs(audio.mean(axis=1)) > 0.01)
    return (audio.shape[0] - (loud[-1] + 1)) / rate


def slow_link(n: int, endpoint_ms: int = 600) -> list[dict[str, float]]:
    """Speech end -> upload start / first word, and the floor, per question on the home link."""
    link = Link.home()
    rows = []
    with FakeGroq(link=link) as fake, desktop() as desk:
        home = short_home()
        try:
            env = daemon_env(home, fake, desk, display=False)
            d = Daemon(["--no-hotkeys", "--quiet", "--hands-free", "--hands-free-timeout", "0"], env, home)
            try:
                d.wait_for("hands_free", 60)
                for i in range(n):
                    fixture = FIXTURES[i % len(FIXTURES)]
                    mark = d.mark()
                    before = len(fake.requests_to("/audio/transcriptions"))
                    player = desk.pulse.play(fixture, wait=False)
                    player.wait(60)
                    spoken_end = time.time() - trailing_quiet(fixture)
                    d.wait_for("delta", 60, since=mark)
                    first_word = time.time()
                    timing = d.wait_for("timing", 60, since=mark)
                    req = fake.requests_to("/audio/transcriptions")[before]
                    assert req.audio is not None and req.audio.duration is not None
                    rows.append({"first_word": first_word - spoken_end, "upload_start": req.received_at - spoken_end,
                                 "decided": (first_word - spoken_end) - timing["first_word_ms"] / 1000,
                                 "own_upload_start": timing["upload_start_ms"] / 1000,
                                 "floor": (link.floor_ms(req.audio.duration) + endpoint_ms) / 1000})
                    d.wait_for("hands_free", 60, since=mark + 1, where=lambda e: e.get("listening") is True)
            finally:
                d.stop()
        finally:
            shutil.rmtree(home, ignore_errors=True)
    return rows


def noise_run(minutes: float) -> int:
    """`minutes` of the five noises (an equal share each) played into a listening daemon: what it started, sent."""
    with FakeGroq() as fake, desktop() as desk, tempfile.TemporaryDirectory(prefix="vb-noise-") as tmp:
        made = noise.noises(Path(tmp), minutes * 60 / len(noise.KINDS))
        files = {kind: noise.write(Path(tmp) / f"{kind.replace(' ', '-')}.wav", audio) for kind, audio in made.items()}
        home = short_home()
        try:
            d = Daemon(["--no-hotkeys", "--quiet", "--hands-free", "--hands-free-timeout", "0"],
                       daemon_env(home, fake, desk, display=False), home)
            try:
                d.wait_for("hands_free", 60)
                print(f"{minutes:g} minutes of noise played into a listening daemon ({len(files)} kinds):")
                for kind, path in files.items():
                    mark, before = d.mark(), len(fake.requests_to("/audio/transcriptions"))
                    desk.pulse.play(path, timeout=minutes * 60 + 60)
                    time.sleep(1.5)  # an utterance started at the very end has ended (endpoint_ms) by now
                    started = len(d.of_type("recording", mark))
                    uploads = len(fake.requests_to("/audio/transcriptions")) - before
                    print(f"  {kind:<11} {len(made[kind]) / noise.RATE:6.0f} s: {started} utterance(s) started, "
                          f"{uploads} upload(s)")
                total = len(fake.requests_to("/audio/transcriptions"))
                print(f"  in all: {len(d.of_type('recording'))} utterance(s) started, {total} upload(s)")
            finally:
                d.stop()
        finally:
            shutil.rmtree(home, ignore_errors=True)
    return 0


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--utterances", type=int, default=6)
    ap.add_argument("--link-utterances", type=int, default=6)
    ap.add_argument("--only-utterances", action="store_true")
    ap.add_argument("--only-link", action="store_true")
    ap.add_argument("--noise-minutes", type=float, default=0.0,
                    help="only play this many minutes of noise into a listening daemon and count uploads")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    if args.noise_minutes:
        return noise_run(args.noise_minutes)
    if args.only_link:
        return report_link(slow_link(args.link_utterances))
    with FakeGroq() as fake, desktop() as desk:
        desk.pulse.stop_keeper()
        if args.only_utterances:
            print(utterances(fake, desk, args.utterances, args.verbose)[0])
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
        rows, (after_cpu, after_rss) = utterances(fake, desk, args.utterances, args.verbose, args.seconds)
        print(f"  ... again after {len(rows)} turns      {after_cpu:5.2f} % of one core  {after_rss:6.1f} MiB RSS"
              f"  ({after_cpu / max(base_cpu, 1e-9):.1f}x the baseline's CPU)")
    ended = [r[0] for r in rows]
    decided = [r[1] for r in rows]
    first = [r[2] for r in rows]
    print(f"{len(rows)} utterances played into the sink (endpoint_ms 600):")
    print(f"  end-of-speech decision -> take encoded: median {statistics.median(ended):.0f} ms, "
          f"max {max(ended):.0f} ms")
    print(f"  end-of-speech decision -> upload start (after the take is kept on disk, as every take): "
          f"median {statistics.median(decided):.0f} ms, max {max(decided):.0f} ms")
    print(f"  end-of-speech decision -> first word of the answer: median {statistics.median(first):.0f} ms")
    print(f"  decision -> upload start per utterance (ms): {', '.join(f'{x:.0f}' for x in decided)}; "
          f"{sum(x <= 50 for x in decided)} of {len(decided)} within 50 ms")
    return report_link(slow_link(args.link_utterances))


def report_link(rows: list[dict[str, float]]) -> int:
    link = Link.home()
    ratios = [r["first_word"] / r["floor"] for r in rows]
    print(f"{len(rows)} questions on a slow link ({link.connect_ms:g} ms connect, {link.first_byte_ms:g} ms first "
          f"byte, {(link.uplink_bytes_per_s or 0) / 1000:g} KB/s up, STT {link.stt_ms:g} ms + "
          f"{link.stt_ms_per_audio_s:g} ms/s, TTFT {link.ttft_ms:g} ms), from the end of speech:")
    for name in ("decided", "upload_start", "first_word", "floor"):
        values = [r[name] * 1000 for r in rows]
        label = {"decided": "end-of-speech decision", "upload_start": "upload start (server)",
                 "first_word": "first word", "floor": "floor + endpoint_ms (baseline)"}[name]
        print(f"  {label:<32} median {statistics.median(values):5.0f} ms  ({', '.join(f'{v:.0f}' for v in values)})")
    own = [r["own_upload_start"] * 1000 for r in rows]
    print(f"  decision -> upload start by the daemon's clock (ms): {', '.join(f'{x:.0f}' for x in own)}; "
          f"{sum(x <= 50 for x in own)} of {len(own)} within 50 ms")
    print(f"  first word / (floor + endpoint_ms): median {statistics.median(ratios):.2f}x, "
          f"max {max(ratios):.2f}x; {sum(x <= 1.15 for x in ratios)} of {len(ratios)} within 1.15x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
