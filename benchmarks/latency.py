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
Prints medians per stage and the ratios. Usage:
  python benchmarks/latency.py [--takes N] [--formats opus flac] [--preroll-ms MS] [--release-tail-ms MS]
Needs the test tools that `scripts/dev test` installs. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import io
import json
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf
import soxr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakegroq import TEST_API_KEY, FakeGroq, Link  # noqa: E402
from tests.harness.daemon import VOICEBOT, daemon_env, desktop, short_home  # noqa: E402
from tests.harness.xvfb import keydown, keyup  # noqa: E402

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
    args = ap.parse_args()

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
            print(f"{name}: release -> first word {fw * 1000:.0f} ms = {fw / floor:.2f}x the floor, "
                  f"{fw / seed:.2f}x the seed-style client; upload {rate:.1f} KB/s of audio; "
                  f"its own timing event: take recorded {median(rows, 'own_take_end') * 1000:.0f} ms, "
                  f"upload begun {median(rows, 'own_upload_start') * 1000:.0f} ms (the take is kept on disk between), "
                  f"first word {median(rows, 'own_first_word') * 1000:.0f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
