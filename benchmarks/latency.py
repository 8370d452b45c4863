"""Key release -> first answer word on a simulated home link: voicebot against the floor and a seed-style client.

Runs `voicebot run --json` for real (Xvfb + xdotool for the key, a private PulseAudio
server as the microphone) against the local Groq-compatible server with a simulated link
(tests/fakegroq/link.py; by default issue 8's: 120 ms to connect, 60 ms to each response's
first byte, 500 KB/s up, speech-to-text 150 ms + 10 ms per audio second, chat TTFT 200 ms).
For each take, the stages from the key release:

  release -> upload start (the server has the request) -> upload end (its whole body)
          -> transcript (the daemon's event) -> first word (its first answer delta)

In the same run, with the same link:
- the physical floor: server STT for the take's length + TTFT + two round trips;
- a seed-style client: the official `groq` SDK, the same speech as a 48 kHz 16-bit WAV, a
  fresh client per question, no streaming (its "first word" is the whole answer), timed
  from the moment it has the recording (it waits for no tail).
Prints medians per stage and the ratios.

With --speak (spoken answers, `speech_latency`): release -> first audio sample played,
next to release -> first word and release -> the first sentence complete, the audio
heard by recording the speaker sink's monitor (tests/harness/speaker.py); the baseline
is a bare streamed POST to /audio/speech (time to its first byte), in the same run.

Usage: python benchmarks/latency.py [--takes N] [--formats opus flac] [--preroll-ms MS]
                                    [--release-tail-ms MS] [--speak [--tts-ms MS]]
Needs the test tools that `scripts/dev test` installs. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import soundfile as sf
import soxr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakegroq import TEST_API_KEY, FakeGroq, Link  # noqa: E402
from tests.harness.daemon import VOICEBOT, daemon_env, desktop, short_home  # noqa: E402
from tests.harness.pulse import pulse_server  # noqa: E402
from tests.harness.xvfb import keydown, keyup, xvfb  # noqa: E402

FIXTURE = ROOT / "tests" / "data" / "capital.wav"
COMBO = "ctrl+alt+space"
STT = "/audio/transcriptions"
STAGES = ("upload_start", "upload_end", "transcript", "first_word")


class Events:
    """The daemon's JSON lines, each stamped with the wall-clock time it arrived."""

    def __init__(self, stream: Any) -> None:
        self.lines: list[tuple[float, dict[str, Any]]] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: Any) -> None:
        for line in stream:
            with self._cond:
                self.lines.append((time.time(), json.loads(line)))
                self._cond.notify_all()

    def wait(self, kind: str, after: int = 0, timeout: float = 30.0) -> tuple[float, dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for t, ev in self.lines[after:]:
                    if ev.get("type") == kind:
                        return t, ev
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {kind!r} event; got {[e for _, e in self.lines[after:]]}")
                self._cond.wait(left)


def voicebot_takes(fake: FakeGroq, desk: Any, takes: int, audio_format: str, preroll_ms: int,
                   release_tail_ms: int) -> list[dict[str, float]]:
    """Stage times (ms from the key release) of `takes` spoken questions to the real daemon."""
    home = short_home()
    rows = []
    try:
        env = daemon_env(home, fake, desk)
        cmd = [str(VOICEBOT), "run", "--json", "--quiet", "--preroll-ms", str(preroll_ms),
               "--release-tail-ms", str(release_tail_ms), "--audio-format", audio_format]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        try:
            events = Events(proc.stdout)
            events.wait("ready")
            time.sleep(1.0)
            for _ in range(takes):
                mark = len(events.lines)
                before = len(fake.requests_to(STT))
                keydown(desk.display, COMBO)
                desk.pulse.play(FIXTURE)
                released = time.time()
                keyup(desk.display, COMBO)
                req = fake.wait_for_requests(before + 1, path=STT, timeout=30, completed=True)[before]
                t_transcript, _ = events.wait("transcript", after=mark)
                t_delta, _ = events.wait("delta", after=mark)
                _, timing = events.wait("timing", after=mark)
                assert req.body_at is not None and req.audio is not None and req.audio.duration is not None
                rows.append({"upload_start": req.received_at - released, "upload_end": req.body_at - released,
                             "transcript": t_transcript - released, "first_word": t_delta - released,
                             "audio_seconds": req.audio.duration, "bytes": req.audio.size,
                             "own_first_word": timing.get("first_word_ms", 0) / 1000,
                             "own_take_end": timing.get("take_end_ms", 0) / 1000,
                             "own_upload_start": timing.get("upload_start_ms", 0) / 1000,
                             "floor": (fake.link.floor_ms(req.audio.duration) if fake.link else 0) / 1000})
                time.sleep(0.5)
        finally:
            proc.terminate()
            proc.wait(10)
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return rows


def seed_style(fake: FakeGroq, takes: int, seconds: float) -> list[dict[str, float]]:
    """The seed's way: a 48 kHz WAV of the same speech, a fresh SDK client, no streaming."""
    import groq

    speech, rate = sf.read(str(FIXTURE), dtype="float32")
    at48 = soxr.resample(speech, rate, 48_000)
    padded = np.zeros(max(len(at48), round(seconds * 48_000)), dtype=np.float32)
    padded[: len(at48)] = at48
    buffer = io.BytesIO()
    sf.write(buffer, padded, 48_000, format="WAV", subtype="PCM_16")
    wav = buffer.getvalue()
    rows = []
    for _ in range(takes):
        before = len(fake.requests_to(STT))
        released = time.time()
        client = groq.Groq(api_key=TEST_API_KEY, base_url=fake.host_url, max_retries=0)
        text = client.audio.transcriptions.create(file=("speech.wav", wav), model="whisper-large-v3-turbo").text
        t_transcript = time.time()
        client.chat.completions.create(model="openai/gpt-oss-20b", stream=False,
                                       messages=[{"role": "user", "content": text}])
        t_answer = time.time()
        client.close()
        req = fake.requests_to(STT)[before]
        assert req.body_at is not None and req.audio is not None and req.audio.duration is not None
        rows.append({"upload_start": req.received_at - released, "upload_end": req.body_at - released,
                     "transcript": t_transcript - released, "first_word": t_answer - released,
                     "audio_seconds": req.audio.duration, "bytes": req.audio.size,
                     "floor": (fake.link.floor_ms(req.audio.duration) if fake.link else 0) / 1000})
    return rows


def median(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--takes", type=int, default=5)
    ap.add_argument("--formats", nargs="+", default=["opus", "flac"], choices=("opus", "flac"))
    ap.add_argument("--preroll-ms", type=int, default=300)
    ap.add_argument("--release-tail-ms", type=int, default=200)
    ap.add_argument("--speak", action="store_true", help="time spoken answers: release -> first audio played")
    ap.add_argument("--tts-ms", type=int, default=150, help="simulated synthesis time to the first audio byte")
    ap.add_argument("--chunk-ms", type=int, default=30, help="simulated time between the answer's chunks")
    args = ap.parse_args()
    if args.speak:
        return speech_latency(args)

    link = Link.home()
    results: dict[str, list[dict[str, float]]] = {}
    with FakeGroq(link=link) as fake, desktop() as desk:
        for fmt in args.formats:
            results[f"voicebot ({fmt})"] = voicebot_takes(fake, desk, args.takes, fmt, args.preroll_ms,
                                                          args.release_tail_ms)
        first = next(iter(results.values()))
        results["seed-style client"] = seed_style(fake, args.takes, median(first, "audio_seconds"))

    print(f"link: {link.connect_ms:g} ms connect, {link.first_byte_ms:g} ms first byte, "
          f"{(link.uplink_bytes_per_s or 0) / 1000:g} KB/s up, STT {link.stt_ms:g} ms + "
          f"{link.stt_ms_per_audio_s:g} ms/s of audio, TTFT {link.ttft_ms:g} ms; median of {args.takes} takes")
    print(f"{'ms from the key release':<24}" + "".join(f"{s:>14}" for s in STAGES) + f"{'audio s':>9}{'KB':>7}")
    for name, rows in results.items():
        print(f"{name:<24}" + "".join(f"{median(rows, s) * 1000:14.0f}" for s in STAGES)
              + f"{median(rows, 'audio_seconds'):9.2f}{median(rows, 'bytes') / 1000:7.1f}")
    floor = median(first, "floor")
    print(f"{'physical floor':<24}" + f"{'':>42}" + f"{floor * 1000:14.0f}")
    seed = median(results["seed-style client"], "first_word")
    for name, rows in results.items():
        if name.startswith("voicebot"):
            fw = median(rows, "first_word")
            rate = median(rows, "bytes") / median(rows, "audio_seconds") / 1000
            starts = sorted(r["upload_start"] * 1000 for r in rows)
            own = sorted(r["own_upload_start"] * 1000 for r in rows)
            print(f"{name}: release -> upload start per take (ms): " + ", ".join(f"{s:.0f}" for s in starts)
                  + f" (max {starts[-1]:.0f}; the release as xdotool was started, so its start-up is in it)")
            print(f"{name}: the same by the daemon's own clock (its key-up event -> the request goes out): "
                  + ", ".join(f"{s:.0f}" for s in own) + f" (max {own[-1]:.0f})")
            print(f"{name}: release -> first word {fw * 1000:.0f} ms = {fw / floor:.2f}x the floor, "
                  f"{fw / seed:.2f}x the seed-style client; upload {rate:.1f} KB/s of audio; "
                  f"its own timing event: take recorded {median(rows, 'own_take_end') * 1000:.0f} ms, "
                  f"upload begun {median(rows, 'own_upload_start') * 1000:.0f} ms (the take is kept on disk between), "
                  f"first word {median(rows, 'own_first_word') * 1000:.0f} ms")
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
    from voicebot.voice.speakable import SpeechText

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
