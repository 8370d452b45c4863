"""Speech "recognition" for the fake Groq server: decode uploads, recognise known fixtures.

The fake cannot run Whisper, but the team's tests only ever speak the utterances in
tests/data/. So an upload is decoded, mixed to mono and resampled to 16 kHz exactly as
the real service does, and its short-time log-spectral envelope is compared with each
fixture's envelope by normalised cross-correlation over time offsets. That is robust to
containers, sample rates, gain, leading/trailing silence and a trip through a PulseAudio
null sink, yet rejects silence, noise, other speech, truncated speech and audio whose
sample rate was mislabelled (which stretches both time and spectrum).

Besides the utterances in fixtures.json it knows INVENTED ones: sound Whisper would turn
into invented text (murmur.wav, speech played backwards). Sound that is neither is
"unknown speech", which the server answers with a transcript that says so.
"""

from __future__ import annotations

import io
import json
import math
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

DATA_DIR = Path(__file__).resolve().parent.parent / "data"
TARGET_RATE = 16_000

# Feature geometry: 32 ms windows every 10 ms, 24 log-spaced bands over the speech range.
_N_FFT = 512
_HOP = 160
_N_BANDS = 24
_F_LO, _F_HI = 100.0, 7600.0
_DYNAMIC_RANGE_DB = 50.0  # energies below peak - this are floored: gain/noise-floor invariant
_ACTIVE_DB = 35.0  # frames within this of the loudest frame count as "speech present"

# Decision rule. Scores are Pearson correlations of mean-removed envelopes.
MATCH_THRESHOLD = 0.75
_SEGMENT_FRAMES = 30  # stretches of 0.3 s must each match...
_MAX_SHIFT = 12  # ...give or take 120 ms
MIN_COVERAGE = 0.70  # fraction of the fixture's active frames that must be present

# Recognised like fixtures, but answered with Whisper's hallucination (see audio.recognised_text).
INVENTED = ("murmur.wav",)


@dataclass(frozen=True)
class DecodedAudio:
    """What the server learnt from an upload before recognising it."""

    container: str  # "wav", "flac", "ogg", "mp3", "mp4", "webm", or "unknown"
    subtype: str | None
    samplerate: int | None
    channels: int | None
    duration: float | None
    mono16k: np.ndarray | None  # float32 mono at 16 kHz, None when not decodable


@dataclass(frozen=True)
class Match:
    """The outcome of recognition: the best fixture (or None) and its evidence."""

    fixture: str | None
    score: float
    coverage: float
    speech_start: float  # seconds into the upload where activity begins
    speech_end: float
    sound: bool = True  # False: silence, a steady noise floor, or audio the fake could not decode

    @property
    def invented(self) -> bool:
        """Whisper would invent text here: no sound at all, or a known murmur."""
        return not self.sound or self.fixture in INVENTED


class UndecodableAudio(ValueError):
    """The bytes are not audio in any container the fake can read."""


def sniff_container(data: bytes) -> str:
    """Guess the container from magic bytes (for formats libsndfile cannot decode)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WAVE":
        return "wav"
    if data[:4] == b"fLaC":
        return "flac"
    if data[:4] == b"OggS":
        return "ogg"
    if data[4:8] == b"ftyp":
        return "mp4"
    if data[:4] == b"\x1aE\xdf\xa3":
        return "webm"
    if data[:3] == b"ID3" or (len(data) > 1 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0):
        return "mp3"
    return "unknown"


def decode(data: bytes) -> DecodedAudio:
    """Decode an upload and bring it to 16 kHz mono, as the real service does first.

    Containers libsndfile cannot read but Groq accepts (mp4/m4a/webm) come back with
    only the container known; anything else that fails to decode raises UndecodableAudio.
    """
    sniffed = sniff_container(data)
    try:
        samples, rate = sf.read(io.BytesIO(data), dtype="float32", always_2d=True)
        info = sf.info(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, TypeError, ValueError) as exc:
        if sniffed in ("mp4", "webm"):
            return DecodedAudio(sniffed, None, None, None, None, None)
        raise UndecodableAudio(str(exc)) from None
    container = {"WAV": "wav", "WAVEX": "wav", "FLAC": "flac", "OGG": "ogg", "MP3": "mp3"}.get(
        info.format, info.format.lower()
    )
    return DecodedAudio(
        container=container,
        subtype=info.subtype,
        samplerate=int(rate),
        channels=int(samples.shape[1]),
        duration=samples.shape[0] / rate if rate else 0.0,
        mono16k=to_mono16k(samples, int(rate)),
    )


def to_mono16k(samples: np.ndarray, rate: int) -> np.ndarray:
    """Mix down and resample with soxr (high quality), returning float32 mono."""
    mono = samples.mean(axis=1) if samples.ndim == 2 else samples
    mono = np.ascontiguousarray(mono, dtype=np.float32)
    if rate != TARGET_RATE and mono.size:
        mono = soxr.resample(mono, rate, TARGET_RATE, quality="HQ").astype(np.float32)
    return mono


@lru_cache(maxsize=1)
def _band_matrix() -> np.ndarray:
    """Triangular log-spaced filterbank (bands x fft bins), built once."""
    freqs = np.fft.rfftfreq(_N_FFT, 1.0 / TARGET_RATE)
    edges = np.geomspace(_F_LO, _F_HI, _N_BANDS + 2)
    bank = np.zeros((_N_BANDS, freqs.size), dtype=np.float64)
    for b in range(_N_BANDS):
        lo, mid, hi = edges[b], edges[b + 1], edges[b + 2]
        rising = (freqs - lo) / (mid - lo)
        falling = (hi - freqs) / (hi - mid)
        bank[b] = np.clip(np.minimum(rising, falling), 0.0, None)
    return bank


def envelope(mono16k: np.ndarray) -> np.ndarray:
    """Log band energies (frames x bands, dB) floored at a fixed depth below the peak.

    Flooring relative to the peak makes the envelope independent of gain and of the
    noise floor a capture path adds; digital silence becomes a flat floor.
    """
    x = np.asarray(mono16k, dtype=np.float64)
    if x.size < _N_FFT:
        x = np.pad(x, (0, _N_FFT - x.size))
    frames = np.lib.stride_tricks.sliding_window_view(x, _N_FFT)[::_HOP]
    spectrum = np.abs(np.fft.rfft(frames * np.hanning(_N_FFT), axis=1)) ** 2
    bands = spectrum @ _band_matrix().T
    db = 10.0 * np.log10(bands + 1e-20)
    return np.maximum(db, db.max() - _DYNAMIC_RANGE_DB)


def active_span(env: np.ndarray) -> tuple[int, int] | None:
    """First and one-past-last frame with speech-like energy, or None for silence."""
    frame_db = 10.0 * np.log10(np.sum(10.0 ** (env / 10.0), axis=1))
    if frame_db.max() - frame_db.min() < 6.0:  # flat: digital silence or steady noise
        return None
    active = np.flatnonzero(frame_db >= frame_db.max() - _ACTIVE_DB)
    return int(active[0]), int(active[-1]) + 1


@dataclass(frozen=True)
class Template:
    """A fixture's envelope cropped to its speech, ready for correlation."""

    name: str
    env: np.ndarray


@lru_cache(maxsize=1)
def fixtures() -> dict[str, dict[str, str] | None]:
    """The known utterances (tests/data/fixtures.json): name -> texts, None = no speech."""
    return json.loads((DATA_DIR / "fixtures.json").read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def templates() -> tuple[Template, ...]:
    """Envelopes of every speech fixture and INVENTED sound, computed the same way as for uploads."""
    out = []
    for name in [*(n for n, meta in fixtures().items() if meta is not None), *INVENTED]:
        decoded = decode((DATA_DIR / name).read_bytes())
        assert decoded.mono16k is not None
        env = envelope(decoded.mono16k)
        span = active_span(env)
        assert span is not None, name
        out.append(Template(name, env[span[0] : span[1]]))
    return tuple(out)


def _segment_floor(template: np.ndarray, upload: np.ndarray, t0: int, u0: int, n: int) -> float:
    """Lowest correlation over ~0.3 s stretches of an alignment, each allowed a small shift.

    A global correlation forgives one wrong word in six ("capital of Germany" still
    scores 0.8 against "capital of France"); requiring every stretch to agree does not.
    The per-stretch shift of up to _MAX_SHIFT frames absorbs the dropouts and jitter of
    a real-time capture path, which a single rigid offset would punish.
    """
    t_mean = template[t0 : t0 + n].mean()
    u_mean = upload[u0 : u0 + n].mean()
    worst = 1.0
    for idx in np.array_split(np.arange(n), max(1, round(n / _SEGMENT_FRAMES))):
        a = template[t0 + idx[0] : t0 + idx[-1] + 1] - t_mean
        best = -1.0
        for shift in range(-_MAX_SHIFT, _MAX_SHIFT + 1):
            lo = u0 + idx[0] + shift
            if lo < 0 or lo + a.shape[0] > upload.shape[0]:
                continue
            b = upload[lo : lo + a.shape[0]] - u_mean
            denom = math.sqrt(float(np.sum(a * a)) * float(np.sum(b * b)))
            if denom > 0:
                best = max(best, float(np.sum(a * b)) / denom)
        worst = min(worst, best)
    return worst


def _best_alignment(template: np.ndarray, upload: np.ndarray) -> tuple[float, float]:
    """Best score of the template against the upload over all time offsets.

    Offsets may run the template partly off either end of the upload (that is how a
    truncated recording looks); only offsets whose overlap covers MIN_COVERAGE of the
    template are considered. The offset is chosen by global correlation and scored by
    its weakest stretch. Returns (score, coverage).
    """
    lt, lu = template.shape[0], upload.shape[0]
    need = max(1, math.ceil(MIN_COVERAGE * lt))
    best, best_at = -1.0, (0, 0, 0)
    for offset in range(need - lt, lu - need + 1):
        t0, u0 = max(0, -offset), max(0, offset)
        n = min(lt - t0, lu - u0)
        a = template[t0 : t0 + n]
        b = upload[u0 : u0 + n]
        a = a - a.mean()
        b = b - b.mean()
        denom = math.sqrt(float(np.sum(a * a)) * float(np.sum(b * b)))
        if denom <= 0.0:
            continue
        score = float(np.sum(a * b)) / denom
        if score > best:
            best, best_at = score, (t0, u0, n)
    t0, u0, n = best_at
    if n == 0:
        return -1.0, 0.0
    return min(best, _segment_floor(template, upload, t0, u0, n)), n / lt


def recognise(mono16k: np.ndarray | None) -> Match:
    """Which fixture (if any) this 16 kHz mono audio is, with the evidence."""
    if mono16k is None or mono16k.size < _N_FFT or not np.any(mono16k):
        return Match(None, 0.0, 0.0, 0.0, 0.0, sound=False)
    env = envelope(mono16k)
    span = active_span(env)
    if span is None:
        return Match(None, 0.0, 0.0, 0.0, 0.0, sound=False)
    # Cropped exactly to the sound (like the templates): a capture that starts late then
    # simply overlaps less of the fixture instead of comparing silence with speech.
    upload = env[span[0] : span[1]]
    scored = [(cov >= MIN_COVERAGE, score, cov, tpl.name)
              for tpl in templates() for score, cov in [_best_alignment(tpl.env, upload)]]
    passing = [s for s in scored if s[1] >= MATCH_THRESHOLD and s[2] >= MIN_COVERAGE]
    words = [s for s in passing if s[3] not in INVENTED]  # real words win over murmur in the same upload
    _, best_score, best_cov, best_name = max(words or passing or scored)
    start, end = span[0] * _HOP / TARGET_RATE, (span[1] * _HOP + _N_FFT) / TARGET_RATE
    end = min(end, mono16k.size / TARGET_RATE)
    return Match(best_name if passing else None, max(best_score, 0.0), best_cov, start, end)
