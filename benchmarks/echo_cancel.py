"""Barge-in by voice through the sound server's echo canceller, measured before it is offered.

Hands-free listening stops hearing while voicebot speaks (its voice reaches the microphone
through the speakers). PulseAudio's `module-echo-cancel` (aec_method=webrtc) subtracts what
was played from what is recorded; this measures whether what comes back out of it is safe
to listen to while voicebot speaks, with the real detector and segmenter
(voicebot.listen.vad.SpeechDetector, voicebot.listen.utterances.step, default options).

In a private PulseAudio server (tests/harness/pulse.py): the microphone is the null sink
`vb_test`, voicebot's speaker the null sink `vb_speaker`, and `module-loopback` plays the
speaker back into the microphone (as the live echo test does), so its voice really comes
back. `module-echo-cancel` is loaded with the microphone's monitor as source_master and the
speaker as sink_master; spoken answers (espeak-ng, the fake server's voice) are played into
its sink, and both its source (echo-cancelled) and the raw microphone are recorded, each
10 ms piece stamped with its arrival time.

1. False barge-ins: for each of --sessions sessions (the canceller loaded afresh, so its
   first answer is heard while it converges), --answers spoken answers are played with a
   second of quiet after each; utterances started on the cancelled source are counted per
   answer. The same-run baseline is the raw microphone through the same detector. The
   microphone's volume is printed after each session: the canceller's gain control turns it
   down while the answers play, which is most of what keeps them out.
2. Barge-in: a question (tests/data/capital.wav) is played into the microphone sink
   0.8-2.5 s into each of --questions answers, and the detector, run live on the cancelled
   source, stops the answer (kills its player) as soon as an utterance starts, as barge-in
   would. Counted: answers cut by their own echo before the question (an utterance started
   before its first word: with barge-in, a turn made of its own voice); how soon after the
   question's first word an utterance starts (its first word found in the raw recording by
   cross-correlation with the file, which speaks from its first sample; arrival times of
   both recordings); when the answer's last sound played (the speaker sink's monitor);
   whether the utterance, pre-roll to end, is the question every word (the fake server's
   recogniser, tests/fakegroq/stt.py). Baseline: the same question with no answer playing.

Usage: python benchmarks/echo_cancel.py [--sessions 3] [--answers 6] [--questions 12] [-v]
                                        [--aec-args analog_gain_control=0 ...]
Needs the test tools that `scripts/dev test` installs. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import soundfile as sf  # noqa: E402
import soxr  # noqa: E402

from tests.fakegroq import stt, tts  # noqa: E402
from tests.harness.pulse import SINK as MIC  # noqa: E402
from tests.harness.pulse import PulseServer, pulse_server  # noqa: E402
from tests.harness.speaker import SINK as SPEAKER  # noqa: E402
from tests.harness.speaker import add_speaker  # noqa: E402
from voicebot.listen import utterances as seg_  # noqa: E402
from voicebot.listen.vad import FRAME, FRAME_MS, SpeechDetector  # noqa: E402

RATE = 16_000
PIECE = RATE // 100
EC_SOURCE, EC_SINK = "vb_ec_source", "vb_ec_sink"
QUESTION = ROOT / "tests" / "data" / "capital.wav"
ANSWERS = (
    "The capital of France is Paris. It lies on the river Seine. About two million people live there.",
    "Spiders are not insects. They have eight legs, two body parts, and most of them spin silk.",
    "Sure. Tomorrow will be mostly sunny, with a high of eighteen degrees and a light wind from the west.",
    "Here is a quick summary: the meeting moved to Thursday at ten, and Anna will bring the figures.",
    "One cup of rice needs about two cups of water. Bring it to a boil, then let it simmer for fifteen minutes.",
    "The speed of light is close to three hundred thousand kilometres a second, so sunlight takes eight minutes.",
)


class Recorder:
    """`parec` of one source at 16 kHz mono, as (arrival time, 10 ms piece) pairs."""

    def __init__(self, pulse: PulseServer, device: str,
                 listener: Callable[[float, np.ndarray], None] | None = None) -> None:
        self.pieces: list[tuple[float, np.ndarray]] = []
        self._listener = listener
        self._proc = subprocess.Popen(
            ["parec", f"--server={pulse.server}", f"--device={device}", "--raw", "--format=s16le",
             f"--rate={RATE}", "--channels=1", "--latency-msec=10"],
            env=pulse.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        out = self._proc.stdout
        assert out is not None
        while chunk := out.read(PIECE * 2):
            piece = (time.monotonic(), np.frombuffer(chunk, "<i2").copy())
            self.pieces.append(piece)
            if self._listener is not None:
                self._listener(*piece)

    def stop(self) -> tuple[np.ndarray, np.ndarray]:
        """The samples, and each sample's arrival time (its piece's)."""
        self._proc.kill()
        self._proc.wait(5)
        self._thread.join(5)
        audio = np.concatenate([p for _, p in self.pieces])
        times = np.concatenate([np.full(len(p), t) for t, p in self.pieces])
        return audio, times


def pactl(pulse: PulseServer, *args: str) -> str:
    return subprocess.run(["pactl", f"--server={pulse.server}", *args], env=pulse.env(), check=True,
                          capture_output=True, text=True, timeout=10).stdout.strip()


AEC_ARGS: list[str] = []  # --aec-args: the canceller's own options (module-echo-cancel's aec_args)


def load_canceller(pulse: PulseServer) -> str:
    return pactl(pulse, "load-module", "module-echo-cancel", "aec_method=webrtc", f"source_master={MIC}.monitor",
                 f"sink_master={SPEAKER}", f"source_name={EC_SOURCE}", f"sink_name={EC_SINK}",
                 *([f'aec_args="{" ".join(AEC_ARGS)}"'] if AEC_ARGS else []))


def play(pulse: PulseServer, path: Path, device: str, *, wait: bool = True) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(["paplay", f"--server={pulse.server}", f"--device={device}", str(path)],
                            env=pulse.env(), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    if wait:
        proc.wait(120)
    return proc


def utterances(audio: np.ndarray) -> list[tuple[int, int, int]]:
    """(decision sample, first sample of its audio, end sample) of each utterance the real detector starts."""
    detector = SpeechDetector(RATE)
    seg = seg_.Segmenter(seg_.ListenOptions(timeout_seconds=0), frame_ms=FRAME_MS)
    out: list[tuple[int, int, int]] = []
    at = 0
    for frame_audio, probability in detector.feed(audio.astype(np.int16)):
        at += FRAME
        seg, events = seg_.step(seg, frame_audio, probability)
        for event in events:
            if isinstance(event, seg_.Started):
                out.append((at, at - len(event.audio) // 2, len(audio)))
            elif isinstance(event, seg_.Ended):
                out[-1] = (*out[-1][:2], at)
    return out


def wav(path: Path, text: str) -> Path:
    sf.write(path, tts.synthesise(text, "troy"), tts.RATE, subtype="PCM_16")
    return path


def false_barge_ins(pulse: PulseServer, files: list[Path], sessions: int, answers: int) -> None:
    per_answer: list[int] = []
    raw_per_answer: list[int] = []
    first: list[int] = []
    for s in range(sessions):
        module = load_canceller(pulse)
        ec, raw = Recorder(pulse, EC_SOURCE), Recorder(pulse, f"{MIC}.monitor")
        time.sleep(0.5)
        spans = []
        for i in range(answers):
            t0 = time.monotonic()
            play(pulse, files[(s + i) % len(files)], EC_SINK)
            time.sleep(1.0)  # its tail, and the quiet a listening session would hear next
            spans.append((t0, time.monotonic()))
        (ea, et), (ra, rt) = ec.stop(), raw.stop()
        volume = pactl(pulse, "get-source-volume", f"{MIC}.monitor").splitlines()[0].split("/")
        print(f"  session {s + 1}: the microphone's volume after it (the canceller's gain control moves it): "
              f"{volume[1].strip()} ({volume[2].strip()})" if len(volume) > 2 else volume[0], flush=True)
        pactl(pulse, "unload-module", module)
        for name, (audio, times), counts in (("cancelled", (ea, et), per_answer), ("raw", (ra, rt), raw_per_answer)):
            found = utterances(audio)
            for i, (a, b) in enumerate(spans):
                n = sum(1 for d, _, _ in found if a <= times[min(d, len(times) - 1)] < b)
                counts.append(n)
                if name == "cancelled" and i == 0:
                    first.append(n)
            level = 20 * np.log10(max(1e-9, float(np.sqrt(np.mean((audio / 32768.0) ** 2)))))
            print(f"  session {s + 1} {name:9s}: utterances per answer {counts[-answers:]}, "
                  f"RMS over the session {level:.1f} dBFS", flush=True)
    n = len(per_answer)
    print(f"false barge-ins: {sum(per_answer)} in {n} spoken answers through the canceller "
          f"({sum(first)} in the {len(first)} answers heard while it converged); "
          f"baseline, the raw microphone: {sum(raw_per_answer)} in {n} ({sum(raw_per_answer) / n:.2f} an answer)")


def locate(raw: np.ndarray, question: np.ndarray) -> int:
    """Where the question starts in the raw microphone: the best normalised cross-correlation (FFT)."""
    a, b = raw.astype(np.float64), question.astype(np.float64)
    n = 1 << int(np.ceil(np.log2(len(a) + len(b))))
    corr = np.fft.irfft(np.fft.rfft(a, n) * np.conj(np.fft.rfft(b, n)), n)[: len(a) - len(b) + 1]
    energy = np.concatenate(([0.0], np.cumsum(a * a)))
    local = np.sqrt(np.maximum(energy[len(b):] - energy[: len(a) - len(b) + 1], 1e-9))
    return int(np.argmax(corr / local))


class Barge:
    """The detector live on the cancelled source: an utterance started while an answer plays stops it."""

    def __init__(self) -> None:
        self.detector = SpeechDetector(RATE)
        self.seg = seg_.Segmenter(seg_.ListenOptions(timeout_seconds=0), frame_ms=FRAME_MS)
        self.answer: subprocess.Popen[bytes] | None = None
        self.started: list[float] = []  # arrival time of the piece in which each utterance started
        self.stopped: list[float] = []  # when an answer was stopped by one

    def __call__(self, arrived: float, piece: np.ndarray) -> None:
        for audio, probability in self.detector.feed(piece):
            self.seg, events = seg_.step(self.seg, audio, probability)
            if any(isinstance(e, seg_.Started) for e in events):
                self.started.append(arrived)
                answer = self.answer
                if answer is not None and answer.poll() is None:
                    answer.kill()
                    self.stopped.append(time.monotonic())


def detection(pulse: PulseServer, files: list[Path], questions: int, over_answer: bool, verbose: bool = False) -> None:
    """Questions into the microphone, alone or over an answer that an utterance's start stops."""
    q16 = soxr.resample(sf.read(QUESTION, dtype="int16")[0], sf.info(QUESTION).samplerate, RATE).astype(np.int16)
    module = load_canceller(pulse)
    barge = Barge()
    rng = random.Random(16)
    ec, raw = Recorder(pulse, EC_SOURCE, barge), Recorder(pulse, f"{MIC}.monitor")
    spoken = Recorder(pulse, f"{SPEAKER}.monitor")
    time.sleep(0.5)
    if over_answer:  # the canceller has converged on one answer first, as in a conversation
        play(pulse, files[-1], EC_SINK)
        time.sleep(1.0)
    windows = []
    for i in range(questions):
        t0 = time.monotonic()
        if over_answer:
            barge.answer = play(pulse, files[i % len(files)], EC_SINK, wait=False)
            time.sleep(rng.uniform(0.8, 2.5))
        play(pulse, QUESTION, MIC)
        if barge.answer is not None:
            barge.answer.wait(60)
        barge.answer = None
        time.sleep(1.5)
        windows.append((t0, time.monotonic()))
    (ea, et), (ra, rt), (sa, st) = ec.stop(), raw.stop(), spoken.stop()
    pactl(pulse, "unload-module", module)
    found = utterances(ea)
    delays: list[float] = []
    silences: list[float] = []
    early_at: list[float] = []
    recognised = early = later = 0
    loud = st[np.abs(sa) > 0.01 * 32768]  # arrival times of speaker samples with sound
    for i, (a, b) in enumerate(windows):
        lo, hi = int(np.searchsorted(rt, a)), int(np.searchsorted(rt, b))
        onset = float(rt[min(len(rt) - 1, lo + locate(ra[lo:hi], q16))])  # capital.wav speaks from its first sample
        mine = [(float(et[min(d, len(et) - 1)]), f, e) for d, f, e in found if a <= et[min(d, len(et) - 1)] < b]
        before = [t for t, _, _ in mine if t < onset - 0.05]  # its own echo started it: the answer was cut
        after = [(t, f, e) for t, f, e in mine if t >= onset - 0.05]
        early += bool(before)
        early_at += [t - a for t in before[:1]]
        later += max(0, len(after) - 1)
        if verbose:
            print(f"    {i + 1:2d}: question at {onset - a:.2f} s; utterances at "
                  f"{[(round(t - a, 2), round((e - f) / RATE, 2)) for t, f, e in mine]} (s, length); "
                  f"answer stopped at {[round(t - a, 2) for t in barge.stopped if a <= t < b]}", flush=True)
        if not after:
            continue
        t, f, e = after[0]
        delays.append((t - onset) * 1000)
        recognised += stt.recognise(ea[f:e].astype(np.float32) / 32768).fixture == QUESTION.name
        if over_answer and not before:
            sound = loud[(loud >= onset) & (loud < b)]
            silences.append(((sound[-1] if len(sound) else onset) - onset) * 1000)
    label = "over an answer" if over_answer else "alone (baseline)"
    figures = (f"first word -> utterance start median {statistics.median(delays):.0f} ms, "
               f"max {max(delays):.0f} ms" if delays else "never started")
    print(f"question {label}: started {len(delays)} of {questions}, {figures}; the utterance recognised as the "
          f"question {recognised} of {questions}; more utterances after it {later}", flush=True)
    if over_answer:
        print(f"  answers cut by their own echo before the question: {early} of {questions}"
              + (f" (at {', '.join(f'{t:.2f}' for t in early_at)} s into the answer)" if early_at else ""), flush=True)
        if silences:
            print(f"  the answer's last sound after the question's first word (answers not cut before it): median "
                  f"{statistics.median(silences):.0f} ms, max {max(silences):.0f} ms, "
                  f"{sum(x <= 300 for x in silences)} of {len(silences)} within 300 ms", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--answers", type=int, default=6)
    parser.add_argument("--questions", type=int, default=12)
    parser.add_argument("--aec-args", nargs="*", default=[], help="the canceller's options, e.g. "
                        "analog_gain_control=0 digital_gain_control=0 (module-echo-cancel's aec_args)")
    parser.add_argument("-v", "--verbose", action="store_true", help="each question's times")
    args = parser.parse_args()
    AEC_ARGS[:] = args.aec_args
    with tempfile.TemporaryDirectory() as tmp, pulse_server() as pulse:
        files = [wav(Path(tmp) / f"answer{i}.wav", text) for i, text in enumerate(ANSWERS)]
        add_speaker(pulse)
        pulse.stop_keeper()  # only the recorders hold the sinks' latency, as voicebot alone would
        pactl(pulse, "load-module", "module-loopback", f"source={SPEAKER}.monitor", f"sink={MIC}", "latency_msec=20")
        print(f"module-echo-cancel aec_method=webrtc {' '.join(AEC_ARGS)}; speaker looped into the microphone; "
              f"{args.sessions} sessions x {args.answers} answers", flush=True)
        if args.sessions:
            false_barge_ins(pulse, files, args.sessions, args.answers)
        if args.questions:
            detection(pulse, files, args.questions, over_answer=False, verbose=args.verbose)
            detection(pulse, files, args.questions, over_answer=True, verbose=args.verbose)


if __name__ == "__main__":
    main()
