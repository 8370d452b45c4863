"""A speaker voicebot can play into and the test can hear: a second null sink, recorded.

voicebot's output device is `vb_speaker`, an ALSA PCM on the private PulseAudio server
(tests/harness/pulse.py) that plays into the null sink of the same name. `parec` records
that sink's monitor at 16 kHz in 10 ms pieces, each stamped with the time it arrived, so
a test can say when sound was heard and when it stopped (the stamp is a little after the
sound was played: measured stops are, if anything, late). What was said is recognised by
comparing the recording's band-energy envelope with the fake server's own speech for each
sentence, the matching tests/fakegroq/stt.py uses for uploads.
"""

from __future__ import annotations

import math
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import soxr

from tests.fakegroq import stt, tts
from tests.harness.pulse import PulseServer

SINK = "vb_speaker"
RATE = 16_000
PIECE = RATE // 100  # 10 ms
SOUND_LEVEL = 0.01  # peak above which a 10 ms piece counts as sound


def add_speaker(pulse: PulseServer) -> dict[str, str]:
    """Create the sink (once) and an ALSA config naming it; the env for voicebot to play there."""
    env = pulse.env()
    listed = subprocess.run(["pactl", f"--server={pulse.server}", "list", "short", "sinks"], env=env,
                            capture_output=True, text=True, timeout=10).stdout
    if SINK not in listed:
        subprocess.run(["pactl", f"--server={pulse.server}", "load-module", "module-null-sink",
                        f"sink_name={SINK}", "format=s16le", "rate=48000", "channels=1"],
                       env=env, check=True, capture_output=True, timeout=10)
    conf = Path(env["ALSA_CONFIG_PATH"]).with_name("asound-speaker.conf")
    conf.write_text(Path(env["ALSA_CONFIG_PATH"]).read_text() +
                    f'pcm.{SINK} {{\n    type pulse\n    server "{pulse.server}"\n    device "{SINK}"\n'
                    f'    hint {{ show on description "voicebot test speaker" }}\n}}\n')
    return {"ALSA_CONFIG_PATH": str(conf), "PULSE_SERVER": pulse.server}


class Recording:
    """The speaker sink's monitor as (arrival time, 10 ms of samples) pieces."""

    def __init__(self, pulse: PulseServer) -> None:
        self.pieces: list[tuple[float, np.ndarray]] = []
        self._lock = threading.Lock()
        self._proc = subprocess.Popen(
            ["parec", f"--server={pulse.server}", f"--device={SINK}.monitor", "--raw", "--format=s16le",
             f"--rate={RATE}", "--channels=1", "--latency-msec=10"],
            env=pulse.env(), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self.pieces and time.monotonic() < deadline:
            time.sleep(0.01)

    def _read(self) -> None:
        out = self._proc.stdout
        assert out is not None
        while chunk := out.read(PIECE * 2):
            samples = np.frombuffer(chunk, dtype="<i2").astype(np.float32) / 32768.0
            with self._lock:
                self.pieces.append((time.monotonic(), samples))

    def stop(self) -> None:
        self._proc.kill()
        self._proc.wait(5)
        self._thread.join(5)

    def since(self, start: float) -> list[tuple[float, np.ndarray]]:
        with self._lock:
            return [(t, s) for t, s in self.pieces if t >= start]

    def audio(self, start: float = 0.0) -> np.ndarray:
        pieces = self.since(start)
        return np.concatenate([s for _, s in pieces]) if pieces else np.zeros(0, np.float32)

    def sound_times(self, start: float = 0.0) -> list[float]:
        """Arrival times of the pieces that held sound."""
        return [t for t, s in self.since(start) if len(s) and float(np.abs(s).max()) > SOUND_LEVEL]


@contextmanager
def recording(pulse: PulseServer) -> Iterator[Recording]:
    rec = Recording(pulse)
    try:
        yield rec
    finally:
        rec.stop()


def reference(text: str, voice: str = "troy") -> np.ndarray:
    """What the fake server says for `text`, at 16 kHz."""
    samples = tts.synthesise(text, voice).astype(np.float32) / 32768.0
    return np.asarray(soxr.resample(samples, tts.RATE, RATE), dtype=np.float32)


def locate(text: str, heard: np.ndarray, voice: str = "troy") -> tuple[float, float]:
    """(score, seconds into `heard`) of the best match of `text`'s speech in the recording.

    The score is the weakest 0.3 s stretch's correlation at the best offset, as the fake's
    recogniser scores uploads: above ~0.75 the sentence was heard whole.
    """
    env = stt.envelope(reference(text, voice))
    span = stt.active_span(env)
    assert span is not None
    template = env[span[0]:span[1]]
    upload = stt.envelope(heard)
    lt, lu = template.shape[0], upload.shape[0]
    best, best_at = -1.0, 0
    for offset in range(lu - lt + 1):
        a = template - template.mean()
        b = upload[offset:offset + lt] - upload[offset:offset + lt].mean()
        denom = math.sqrt(float(np.sum(a * a)) * float(np.sum(b * b)))
        if denom > 0 and float(np.sum(a * b)) / denom > best:
            best, best_at = float(np.sum(a * b)) / denom, offset
    if best < 0:
        return best, 0.0
    return stt._segment_floor(template, upload, 0, best_at, lt), best_at * PIECE / RATE
