"""Samples and their levels: pure numpy over PCM, no files, devices or HTTP.

Conversions (to float, to mono, resampled with soxr, back to int16) and the level
analysis that decides whether a recording holds speech: 20 ms frame energies in dBFS
against an absolute floor and the recording's own noise floor. Gain is never normalised,
since that would turn hiss into "speech".
"""

from __future__ import annotations

import numpy as np
import soxr

TARGET_RATE = 16_000  # what the speech API wants (and what the microphone is asked for first)
FRAME_SECONDS = 0.02  # 20 ms analysis frames: short enough to follow syllables
SILENCE_DBFS = -120.0  # level reported for digital silence, so levels stay finite
ABSOLUTE_FLOOR_DBFS = -55.0  # quieter than this is never speech, whatever the recording
NOISE_MARGIN_DB = 10.0  # a voiced frame stands this far above the recording's noise floor
NOISE_PERCENTILE = 10.0  # the quietest tenth of frames estimates the noise floor
MIN_VOICED_SECONDS = 0.25  # less voiced time than this is a click or a cough, not a request
RESAMPLE_QUALITY = "HQ"


def to_float(x: np.ndarray) -> np.ndarray:
    """Samples as float32 in [-1, 1] full scale, NaN/inf replaced so filters stay finite.

    Integer PCM is scaled by its type's full scale; float input beyond full scale is
    clipped here because it is distorted already and would only overflow later stages.
    """
    a = np.asarray(x)
    if a.dtype.kind in "iu":
        half = 2.0 ** (8 * a.dtype.itemsize - 1)
        offset = half if a.dtype.kind == "u" else 0.0
        return ((a.astype(np.float64) - offset) / half).astype(np.float32)
    if a.dtype.kind != "f":
        raise TypeError(f"audio samples must be integer or float, not {a.dtype}")
    clean = np.clip(np.nan_to_num(a, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)
    return clean.astype(np.float32, copy=False)


def to_mono(x: np.ndarray) -> np.ndarray:
    """Average the channels of a (frames, channels) array; 1-D input is already mono.

    Averaging (not summing) cannot clip, and speech is usually the same in every channel.
    """
    a = np.asarray(x)
    if a.ndim == 1:
        return a
    if a.ndim != 2:
        raise ValueError(f"audio must be 1-D or (frames, channels), not {a.ndim}-D")
    if a.shape[1] == 1:
        return a[:, 0]
    dtype = a.dtype if a.dtype.kind == "f" else np.float64
    return a.mean(axis=1, dtype=np.float64).astype(dtype)


def resample(x: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Band-limited rate conversion with soxr, so nothing above the new Nyquist aliases."""
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {src_rate} and {dst_rate}")
    a = np.asarray(x)
    if src_rate == dst_rate or len(a) == 0:
        return a
    return soxr.resample(a, src_rate, dst_rate, quality=RESAMPLE_QUALITY)


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """Float samples quantised to int16 with the 32768 scale libsndfile reads back with."""
    f = np.clip(np.nan_to_num(np.asarray(x, dtype=np.float64)), -1.0, 1.0)
    return np.clip(np.round(f * 32768.0), -32768, 32767).astype(np.int16)


def level_dbfs(block: np.ndarray) -> float:
    """RMS level of a block in dBFS (0 = full-scale square wave), for a live level meter.

    Digital silence and empty blocks report SILENCE_DBFS rather than -inf.
    """
    f = to_mono(to_float(block))
    if f.size == 0:
        return SILENCE_DBFS
    power = float(np.mean(np.square(f, dtype=np.float64)))
    return _power_to_dbfs(power)


def frame_levels_dbfs(x: np.ndarray, rate: int, frame_seconds: float = FRAME_SECONDS) -> np.ndarray:
    """RMS level of each whole, non-overlapping frame in dBFS (a trailing partial frame is
    dropped, so levels depend only on frame alignment, never on how audio was chunked)."""
    frame = _frame_length(rate, frame_seconds)
    f = to_mono(to_float(x))
    count = len(f) // frame
    if count == 0:
        return np.zeros(0, dtype=np.float64)
    frames = f[: count * frame].astype(np.float64).reshape(count, frame)
    power = np.mean(np.square(frames), axis=1)
    with np.errstate(divide="ignore"):
        levels = 10.0 * np.log10(power)
    return np.maximum(levels, SILENCE_DBFS)


def speech_threshold_dbfs(levels: np.ndarray) -> float:
    """Level a frame must reach to count as voiced: above the absolute floor and clearly
    above this recording's own noise floor (so steady hiss or hum never qualifies)."""
    lv = np.asarray(levels, dtype=np.float64)
    if lv.size == 0:
        return ABSOLUTE_FLOOR_DBFS
    noise_floor = float(np.percentile(lv, NOISE_PERCENTILE))
    return max(ABSOLUTE_FLOOR_DBFS, noise_floor + NOISE_MARGIN_DB)


def voiced_seconds(levels: np.ndarray, frame_seconds: float = FRAME_SECONDS) -> float:
    """Total duration of the frames that pass the speech threshold."""
    lv = np.asarray(levels, dtype=np.float64)
    if lv.size == 0:
        return 0.0
    return int(np.count_nonzero(lv >= speech_threshold_dbfs(lv))) * frame_seconds


def speech_present(
    levels: np.ndarray,
    frame_seconds: float = FRAME_SECONDS,
    min_voiced: float = MIN_VOICED_SECONDS,
) -> bool:
    """Whether frame levels (from frame_levels_dbfs) hold enough voiced time to upload."""
    return voiced_seconds(levels, frame_seconds) >= min_voiced - 1e-9


def _frame_length(rate: int, frame_seconds: float) -> int:
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    return max(1, round(rate * frame_seconds))


def _power_to_dbfs(power: float) -> float:
    if power <= 0.0:
        return SILENCE_DBFS
    return max(SILENCE_DBFS, 10.0 * float(np.log10(power)))
