"""Key release -> upload -> first word: how fast the real daemon turns speech around.

Runs `voicebot run --json` for real (Xvfb + xdotool for the key, a private PulseAudio
server as the microphone, the local Groq-compatible server) and times several takes:

- release -> upload: from the key coming up to the server receiving the transcription
  request. It includes the designed release tail (release_tail_ms, which keeps the
  last word), so the tail is also subtracted to show voicebot's own overhead;
- release -> first word: to the first answer delta on the daemon's stdout;
- baseline: a bare httpx POST of the same FLAC to the same server, measured the same
  way in the same run; the overhead is reported as a ratio against it.

With --speak (spoken answers, `speech_latency`): release -> first audio sample played,
next to release -> first word and release -> the first sentence complete, the audio
heard by recording the speaker sink's monitor (tests/harness/speaker.py); the baseline
is a bare streamed POST to /audio/speech (time to its first byte), in the same run.

Usage: python benchmarks/latency.py [--takes N] [--preroll-ms MS] [--speak [--tts-ms MS]]
Needs the test tools that `scripts/dev test` installs. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.fakegroq import TEST_API_KEY, FakeGroq  # noqa: E402
from tests.harness.pulse import pulse_server  # noqa: E402
from tests.harness.xvfb import keydown, keyup, xvfb  # noqa: E402
from voicebot.audio import prepare_file  # noqa: E402

FIXTURE = ROOT / "tests" / "data" / "capital.wav"
COMBO = "ctrl+alt+space"


class Events:
    """The daemon's JSON lines, each stamped with the wall-clock time it arrived."""

    def __init__(self, stream: object) -> None:
        self.lines: list[tuple[float, dict[str, object]]] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self._cond:
                self.lines.append((time.time(), json.loads(line)))
                self._cond.notify_all()

    def wait(self, kind: str, after: int = 0, timeout: float = 30.0) -> tuple[int, float, dict[str, object]]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, (t, ev) in enumerate(self.lines[after:], start=after):
                    if ev.get("type") == kind:
                        return i, t, ev
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {kind!r} event; got {[e for _, e in self.lines[after:]]}")
                self._cond.wait(left)


def baseline(fake: FakeGroq, runs: int) -> list[float]:
    """Seconds from starting a bare multipart POST to the server receiving it."""
    upload = prepare_file(FIXTURE)
    out = []
    with httpx.Client(headers={"Authorization": f"Bearer {TEST_API_KEY}"}) as client:
        for _ in range(runs):
            before = len(fake.requests)
            start = time.time()
            client.post(f"{fake.base_url}/audio/transcriptions", data={"model": "whisper-large-v3-turbo"},
                        files={"file": upload.as_upload()})
            out.append(fake.requests[before].received_at - start)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--takes", type=int, default=5)
    ap.add_argument("--preroll-ms", type=int, default=300)
    ap.add_argument("--release-tail-ms", type=int, default=200)
    ap.add_argument("--speak", action="store_true", help="time spoken answers: release -> first audio played")
    ap.add_argument("--tts-ms", type=int, default=150, help="simulated synthesis time to the first audio byte")
    ap.add_argument("--chunk-ms", type=int, default=30, help="simulated time between the answer's chunks")
    args = ap.parse_args()
    if args.speak:
        return speech_latency(args)

    fake = FakeGroq().start()
    home = Path(tempfile.mkdtemp(prefix="vb-bench-"))
    upload_lat: list[float] = []
    first_word: list[float] = []
    try:
        with xvfb() as display, pulse_server() as pulse:
            env = {**os.environ, **pulse.env(), "DISPLAY": display, "GROQ_API_KEY": TEST_API_KEY,
                   "GROQ_BASE_URL": fake.host_url, "HOME": str(home), "XDG_RUNTIME_DIR": str(home),
                   "XDG_CONFIG_HOME": str(home / "cfg"), "XDG_DATA_HOME": str(home / "data")}
            cmd = ["voicebot", "run", "--json", "--quiet", "--preroll-ms", str(args.preroll_ms),
                   "--release-tail-ms", str(args.release_tail_ms)]
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            events = Events(proc.stdout)
            events.wait("ready")
            for _ in range(args.takes):
                mark = len(events.lines)
                before = len(fake.requests_to("/audio/transcriptions"))
                keydown(display, COMBO)
                pulse.play(FIXTURE)
                released = time.time()
                keyup(display, COMBO)
                reqs = fake.wait_for_requests(before + 1, path="/audio/transcriptions", timeout=30)
                upload_lat.append(reqs[before].received_at - released)
                _, t_delta, _ = events.wait("delta", after=mark)
                first_word.append(t_delta - released)
                events.wait("reply", after=mark)
            proc.terminate()
            proc.wait(10)
        base = baseline(fake, max(5, args.takes))
    finally:
        fake.stop()

    tail = args.release_tail_ms / 1000
    med = statistics.median
    overhead = [u - tail for u in upload_lat]
    print(f"takes: {args.takes}  preroll_ms: {args.preroll_ms}  release_tail_ms: {args.release_tail_ms}")
    print(f"release -> upload received      median {med(upload_lat) * 1000:7.1f} ms   "
          f"(min {min(upload_lat) * 1000:.1f}, max {max(upload_lat) * 1000:.1f})")
    print(f"  of which voicebot's own work  median {med(overhead) * 1000:7.1f} ms   (upload minus the tail)")
    print(f"release -> first answer word    median {med(first_word) * 1000:7.1f} ms")
    print(f"baseline bare POST -> received  median {med(base) * 1000:7.1f} ms")
    print(f"ratio: voicebot overhead / bare POST = {med(overhead) / med(base):.2f}")
    return 0


SPOKEN = "The capital of France is Paris. It lies on the river Seine, in the north of the country."


def tts_baseline(fake: FakeGroq, text: str, runs: int) -> list[float]:
    """Seconds from a bare streamed POST /audio/speech to its first body byte (synthesis + round trip)."""
    out = []
    body = {"model": "canopylabs/orpheus-v1-english", "voice": "troy", "input": text, "response_format": "wav"}
    with httpx.Client(headers={"Authorization": f"Bearer {TEST_API_KEY}"}) as client:
        for _ in range(runs):
            start = time.time()
            with client.stream("POST", f"{fake.base_url}/audio/speech", json=body) as response:
                for index, _ in enumerate(response.iter_raw()):
                    if index == 0:
                        out.append(time.time() - start)
    return out


def speech_latency(args: argparse.Namespace) -> int:
    """Release -> first answer word -> first sentence complete -> first audio sample heard."""
    from tests.fakegroq import tts
    from tests.harness.speaker import add_speaker, recording
    from voicebot.speech_text import SpeechText

    fake = FakeGroq().start()
    fake.set_reply(SPOKEN)
    fake.set_chunk_delay(args.chunk_ms / 1000)
    fake.set_speech_delay(first=args.tts_ms / 1000)
    first_sentence = SpeechText().feed(SPOKEN + " ")[0]
    tts.synthesise(first_sentence, "troy")  # espeak-ng once, outside the timings
    home = Path(tempfile.mkdtemp(prefix="vb-bench-"))
    first_word: list[float] = []
    sentence_done: list[float] = []
    speech_event: list[float] = []
    first_audio: list[float] = []
    try:
        with xvfb() as display, pulse_server() as pulse, contextlib.ExitStack() as stack:
            speaker_env = add_speaker(pulse)  # the sink first: the recorder listens to its monitor
            rec = stack.enter_context(recording(pulse))
            env = {**os.environ, **pulse.env(), **speaker_env, "DISPLAY": display,
                   "GROQ_API_KEY": TEST_API_KEY, "GROQ_BASE_URL": fake.host_url, "HOME": str(home),
                   "XDG_RUNTIME_DIR": str(home), "XDG_CONFIG_HOME": str(home / "cfg"),
                   "XDG_DATA_HOME": str(home / "data")}
            cmd = ["voicebot", "run", "--json", "--quiet", "--speak", "--voice", "troy", "--output-device",
                   "vb_speaker", "--preroll-ms", str(args.preroll_ms), "--release-tail-ms", str(args.release_tail_ms)]
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            events = Events(proc.stdout)
            events.wait("ready")
            for _ in range(args.takes):
                mark = len(events.lines)
                keydown(display, COMBO)
                pulse.play(FIXTURE)
                released = time.time()
                released_mono = time.monotonic()
                keyup(display, COMBO)
                _, t_delta, _ = events.wait("delta", after=mark)
                first_word.append(t_delta - released)
                _, t_speech, _ = events.wait("speech", after=mark)
                speech_event.append(t_speech - released)
                splitter = SpeechText()
                for t, ev in events.lines[mark:]:
                    if ev.get("type") == "delta" and splitter.feed(str(ev["text"])):
                        sentence_done.append(t - released)
                        break
                deadline = time.monotonic() + 10
                while not rec.sound_times(released_mono) and time.monotonic() < deadline:
                    time.sleep(0.005)
                heard = rec.sound_times(released_mono)
                first_audio.append(heard[0] - released_mono if heard else float("nan"))
                events.wait("reply", after=mark)
                time.sleep(6)  # let the answer be spoken to its end before the next take
            proc.terminate()
            proc.wait(10)
        base = tts_baseline(fake, first_sentence, max(5, args.takes))
    finally:
        fake.stop()

    med = statistics.median
    after_sentence = [a - s for a, s in zip(first_audio, sentence_done, strict=True)]
    print(f"takes: {args.takes}  simulated TTS time {args.tts_ms} ms, answer chunks every {args.chunk_ms} ms")
    print(f"release -> first answer word        median {med(first_word) * 1000:7.1f} ms")
    print(f"release -> first sentence complete  median {med(sentence_done) * 1000:7.1f} ms")
    print(f"release -> `speech` event           median {med(speech_event) * 1000:7.1f} ms")
    print(f"release -> first audio sample heard median {med(first_audio) * 1000:7.1f} ms   "
          f"(min {min(first_audio) * 1000:.1f}, max {max(first_audio) * 1000:.1f})")
    print(f"  sentence complete -> audio heard  median {med(after_sentence) * 1000:7.1f} ms")
    print(f"baseline: bare POST /audio/speech -> first byte  median {med(base) * 1000:7.1f} ms")
    print(f"goal: audio within TTS time + 1 round trip of the sentence's last word; "
          f"measured / baseline = {med(after_sentence) / med(base):.2f} "
          f"(voicebot's own part {(med(after_sentence) - med(base)) * 1000:.1f} ms: the request, WAV decoding, "
          f"opening the output, the sound server)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
