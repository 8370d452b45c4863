"""Noise for hands-free tests and benchmarks, made at run time with sox and numpy (nothing downloaded).

hiss (white noise), pink noise, keyboard clicks (short decaying bursts at typing rate), a fan
(low-passed brown noise with a slow swell and a 100 Hz hum), music (sox-synthesised plucked
and sawtooth notes over a bass line): the kinds a desk microphone hears that are not speech.
All 16 kHz mono int16; `write` saves one as a WAV for `paplay`.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import numpy as np
import soundfile as sf

RATE = 16_000
KINDS = ("hiss", "pink noise", "keyboard", "fan", "music")


def sox(out: Path, *args: str) -> np.ndarray:
    subprocess.run(["sox", "-n", "-r", str(RATE), "-c", "1", "-b", "16", str(out), *args],
                   check=True, capture_output=True)
    return read(out)


def read(path: Path) -> np.ndarray:
    data, rate = sf.read(path, dtype="int16", always_2d=True)
    data = data.mean(axis=1).astype(np.int16)
    if rate != RATE:
        import soxr

        data = soxr.resample(data, rate, RATE)
    return data


def at_rms(x: np.ndarray, dbfs: float) -> np.ndarray:
    f = x.astype(np.float64)
    rms = np.sqrt(np.mean(f**2)) or 1.0
    return np.clip(f * (32768 * 10 ** (dbfs / 20)) / rms, -32768, 32767).astype(np.int16)


def clicks(seconds: float, rng: random.Random) -> np.ndarray:
    """Typing: 4-9 keystrokes a second, each a 5-15 ms decaying burst, some loud, in bursts of words."""
    out = np.zeros(int(RATE * seconds), np.float64)
    t = 0.0
    while t < seconds - 0.05:
        n = int(RATE * rng.uniform(0.005, 0.015))
        burst = np.random.default_rng(rng.randrange(1 << 30)).standard_normal(n) * np.exp(-np.arange(n) / (n / 4))
        i = int(t * RATE)
        out[i: i + n] += burst * rng.uniform(2000, 12000)
        t += rng.uniform(0.11, 0.25) if rng.random() > 0.15 else rng.uniform(0.4, 1.2)
    return np.clip(out, -32768, 32767).astype(np.int16)


def music(tmp: Path, seconds: float, rng: random.Random) -> np.ndarray:
    """Plucked and sawtooth notes (a melody over a bass line), sox-synthesised."""
    notes = ["C4", "D4", "E4", "F4", "G4", "A4", "B4", "C5", "E5", "G3", "A3"]
    chains: list[str] = []
    total = 0.0
    while total < seconds:
        d = rng.choice([0.15, 0.25, 0.25, 0.5])
        kind = rng.choice(["pluck", "pluck", "sawtooth", "square", "sine"])
        chains += ["synth", f"{d}", kind, rng.choice(notes), "fade", "0.01", f"{d}", f"{d / 3:.3f}", ":"]
        total += d
    melody = tmp / "melody.wav"
    subprocess.run(["sox", "-n", "-r", "44100", "-c", "1", "-b", "16", str(melody), *chains[:-1]],
                   check=True, capture_output=True)
    bass = sox(tmp / "bass.wav", "synth", f"{seconds}", "sine", "55", "tremolo", "2", "60")
    m = read(melody)[: len(bass)]
    mix = m.astype(np.float64) + 0.5 * bass[: len(m)]
    return at_rms(mix.astype(np.int16), -22)


def noises(tmp: Path, seconds: float) -> dict[str, np.ndarray]:
    rng = random.Random(16)
    s = f"{seconds}"
    fan = sox(tmp / "fan.wav", "synth", s, "brownnoise", "lowpass", "600", "tremolo", "0.3", "20")
    hum = sox(tmp / "hum.wav", "synth", s, "sine", "100")
    return {
        "hiss": at_rms(sox(tmp / "hiss.wav", "synth", s, "whitenoise"), -40),
        "pink noise": at_rms(sox(tmp / "pink.wav", "synth", s, "pinknoise"), -30),
        "keyboard": clicks(seconds, rng),
        "fan": at_rms(fan.astype(np.float64) + 0.05 * at_rms(hum, -30), -30),
        "music": music(tmp, seconds, rng),
    }


def write(path: Path, audio: np.ndarray) -> Path:
    sf.write(path, audio, RATE, subtype="PCM_16")
    return path
