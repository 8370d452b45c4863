"""Key release -> transcript for a 5 s and a ~60 s take on a simulated home link (issue 8.5).

Runs `voicebot run --json` for real (Xvfb + xdotool for the key, a private PulseAudio
server as the microphone, played in real time) against the local Groq-compatible server
with issue 8's link (tests/fakegroq/link.py: 120 ms to connect, 60 ms to each response's
first byte, 500 KB/s up, speech-to-text 150 ms + 10 ms per audio second). The dictations
are made at run time from the speech fixtures (espeak-ng sentences) with a pause after
each sentence, so nothing long is committed:

- a 5 s take (two sentences): the baseline, sent whole as ever;
- a ~60 s take with pieces (the default `piece_seconds`): pieces cut at pauses go up
  while the key is held, only the last one after the release;
- the same ~60 s take with `--piece-seconds 0` (sent whole after the release), in the
  same run, to show what the pieces save.

Prints, per case, the median of release -> transcript (the daemon's event, as the user
sees it), its own timing event's `transcript_ms`, how many uploads went up before the
release and in all, and the ratio of each 60 s case to the 5 s take (the goal: <= 1.3).

Usage: python benchmarks/long_takes.py [--takes N] [--long-seconds S] [--pause-seconds S]
Needs the test tools that `scripts/dev test` installs. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.latency import COMBO, STT, Events  # noqa: E402
from tests.fakegroq import FakeGroq, Link  # noqa: E402
from tests.harness.daemon import VOICEBOT, Desktop, daemon_env, desktop, short_home  # noqa: E402
from tests.harness.xvfb import keydown, keyup  # noqa: E402

DATA = ROOT / "tests" / "data"
SENTENCES = ["capital.wav", "spider.flac", "bonjour.ogg"]
RATE = 16_000


def dictation(path: Path, seconds: float, pause: float) -> float:
    """Sentences one after another, each followed by `pause` s, until `seconds` are filled;
    written as a 16 kHz WAV; returns its length."""
    voices = []
    for name in SENTENCES:
        x, rate = sf.read(DATA / name, dtype="float32", always_2d=True)
        voices.append(soxr.resample(x.mean(axis=1), rate, RATE))
    parts: list[np.ndarray] = []
    total = 0
    while total < seconds * RATE - RATE:
        speech = voices[len(parts) // 2 % len(voices)]
        parts += [speech, np.zeros(round(pause * RATE), dtype=np.float32)]
        total += len(speech) + round(pause * RATE)
    audio = np.concatenate(parts)
    sf.write(path, audio, RATE, subtype="PCM_16")
    return len(audio) / RATE


def takes(fake: FakeGroq, desk: Desktop, audio: Path, seconds: float, count: int,
          extra: list[str]) -> list[dict[str, float]]:
    """`count` takes of `audio` spoken to a fresh daemon: release -> transcript, and the uploads."""
    home = short_home()
    rows = []
    try:
        env = daemon_env(home, fake, desk)
        cmd = [str(VOICEBOT), "run", "--json", "--quiet", *extra]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            events = Events(proc.stdout)
            events.wait("ready")
            time.sleep(1.0)
            for _ in range(count):
                mark = len(events.lines)
                before = len(fake.requests_to(STT))
                keydown(desk.display, COMBO)
                desk.pulse.play(audio, timeout=seconds + 30)
                released = time.time()
                keyup(desk.display, COMBO)
                t_transcript, _ = events.wait("transcript", after=mark, timeout=60)
                _, timing = events.wait("timing", after=mark)
                uploads = fake.requests_to(STT)[before:]
                rows.append({"transcript": t_transcript - released,
                             "own_transcript": timing.get("transcript_ms", 0) / 1000,
                             "last_start": uploads[-1].received_at - released if uploads else 0.0,
                             "own_start": timing.get("upload_start_ms", 0) / 1000,
                             "uploads": len(uploads),
                             "before_release": sum(1 for r in uploads if r.received_at < released),
                             "last_audio": uploads[-1].audio.duration if uploads and uploads[-1].audio else 0.0})
                events.wait("reply", after=mark)
                time.sleep(0.5)
        finally:
            proc.terminate()
            proc.wait(10)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--takes", type=int, default=3)
    ap.add_argument("--long-seconds", type=float, default=60.0)
    ap.add_argument("--pause-seconds", type=float, default=0.6, help="the pause after each sentence")
    ap.add_argument("--no-whole", action="store_true", help="skip the long take sent whole (saves a minute a take)")
    args = ap.parse_args()

    link = Link.home()
    tmp = Path(tempfile.mkdtemp(prefix="vb-long-"))
    try:
        short = tmp / "short.wav"
        long = tmp / "long.wav"
        short_s = dictation(short, 5.0, args.pause_seconds)
        long_s = dictation(long, args.long_seconds, args.pause_seconds)
        cases = {f"{short_s:.1f} s take": (short, short_s, []),
                 f"{long_s:.1f} s take, pieces": (long, long_s, []),
                 f"{long_s:.1f} s take, whole": (long, long_s, ["--piece-seconds", "0"])}
        if args.no_whole:
            del cases[f"{long_s:.1f} s take, whole"]
        results = {}
        with FakeGroq(link=link) as fake, desktop() as desk:
            for name, (audio, seconds, extra) in cases.items():
                results[name] = takes(fake, desk, audio, seconds, args.takes, extra)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    med = statistics.median
    print(f"link: {link.connect_ms:g} ms connect, {link.first_byte_ms:g} ms first byte, "
          f"{(link.uplink_bytes_per_s or 0) / 1000:g} KB/s up, STT {link.stt_ms:g} ms + "
          f"{link.stt_ms_per_audio_s:g} ms/s of audio; median of {args.takes} takes; "
          f"{args.pause_seconds:g} s pause after each sentence")
    print(f"{'ms from the key release':<28}{'last upload':>12}{'transcript':>12}{'own: upload':>13}"
          f"{'transcript':>12}{'uploads':>9}{'before release':>16}{'last upload s':>15}")
    for name, rows in results.items():
        print(f"{name:<28}" + "".join(f"{med(r[k] for r in rows) * 1000:12.0f}" for k in ("last_start", "transcript"))
              + f"{med(r['own_start'] for r in rows) * 1000:13.0f}{med(r['own_transcript'] for r in rows) * 1000:12.0f}"
              f"{med(r['uploads'] for r in rows):9.0f}{med(r['before_release'] for r in rows):16.0f}"
              f"{med(r['last_audio'] for r in rows):15.1f}")
    base_name, *long_names = results
    base = med(r["transcript"] for r in results[base_name])
    for name in long_names:
        value = med(r["transcript"] for r in results[name])
        print(f"{name}: release -> transcript {value / base:.2f}x the {base_name} (goal for pieces: <= 1.3x)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
