"""Text to speech for the fake: Groq's /audio/speech checks, and real speech from espeak-ng.

The real service (canopylabs/orpheus-v1-english) answers 16-bit mono WAV at 24 kHz and
streams it in chunks while it is generated, so the header's RIFF and data lengths are
placeholders. The fake does the same with espeak-ng's speech, resampled to 24 kHz.
"""

from __future__ import annotations

import functools
import io
import shutil
import struct
import subprocess
from dataclasses import dataclass
from typing import Any

import numpy as np
import soundfile as sf
import soxr

from .models import MODELS, GroqError

TTS_MODELS: dict[str, tuple[str, ...]] = {
    "canopylabs/orpheus-v1-english": ("autumn", "diana", "hannah", "austin", "daniel", "troy"),
    "canopylabs/orpheus-arabic-saudi": ("fahad", "sultan", "noura", "lulwa", "aisha", "abdullah"),
}
RESPONSE_FORMATS = ("flac", "mp3", "mulaw", "ogg", "wav")
MAX_INPUT_CHARS = 200
RATE = 24_000
CHUNK_SAMPLES = 2_400  # 100 ms of audio per streamed chunk
# espeak-ng voices standing in for Orpheus's (female voices higher, male lower).
_ESPEAK = {"autumn": "en+f3", "diana": "en+f2", "hannah": "en+f4", "austin": "en+m3", "daniel": "en+m1",
           "troy": "en+m2"}


@dataclass(frozen=True)
class SpeechRequest:
    model: str
    voice: str
    text: str
    response_format: str
    speed: float


def terms_error(model: str) -> GroqError:
    """What Groq answers before an organisation admin has accepted a model's terms."""
    return GroqError(400, f"The model `{model}` requires terms acceptance. Please have the org admin accept the "
                          f"terms at https://console.groq.com/playground?model={model}", code="model_terms_required")


def validate_speech(body: Any) -> SpeechRequest:
    """Check a /audio/speech JSON body like Groq; raise GroqError otherwise."""
    if not isinstance(body, dict):
        raise GroqError(400, "request body must be a JSON object")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise GroqError(400, "model is required", param="model")
    if model not in TTS_MODELS:
        if model in MODELS:
            raise GroqError(400, f"model `{model}` does not support text to speech", param="model")
        raise GroqError(404, f"The model `{model}` does not exist or you do not have access to it.",
                        code="model_not_found")
    voice = body.get("voice")
    voices = TTS_MODELS[model]
    if voice not in voices:
        raise GroqError(400, f"voice must be one of [{' '.join(voices)}] for model `{model}`", param="voice")
    text = body.get("input")
    if not isinstance(text, str) or not text.strip():
        raise GroqError(400, "input is required", param="input")
    if len(text) > MAX_INPUT_CHARS:
        raise GroqError(400, f"input must be at most {MAX_INPUT_CHARS} characters, got {len(text)}", param="input")
    fmt = body.get("response_format", "wav")
    if fmt not in RESPONSE_FORMATS:
        raise GroqError(400, f"response_format must be one of [{' '.join(RESPONSE_FORMATS)}]",
                        param="response_format")
    if fmt != "wav":
        raise GroqError(400, f"the fake server produces only wav, not {fmt}", param="response_format")
    speed = body.get("speed", 1.0)
    if not isinstance(speed, (int, float)) or not 0.5 <= float(speed) <= 5.0:
        raise GroqError(400, "speed must be between 0.5 and 5", param="speed")
    return SpeechRequest(model, voice, text, fmt, float(speed))


def available() -> bool:
    return shutil.which("espeak-ng") is not None


@functools.lru_cache(maxsize=256)
def synthesise(text: str, voice: str = "autumn") -> np.ndarray:
    """int16 mono samples at 24 kHz of `text` spoken by espeak-ng (cached: tests repeat phrases)."""
    wav = subprocess.run(["espeak-ng", "-v", _ESPEAK.get(voice, "en"), "-s", "170", "--stdout", text],
                         check=True, capture_output=True, timeout=30).stdout
    # espeak-ng's own streamed header has placeholder sizes too: patch them so libsndfile reads it
    fixed = wav[:4] + struct.pack("<I", len(wav) - 8) + wav[8:40] + struct.pack("<I", len(wav) - 44) + wav[44:]
    samples, rate = sf.read(io.BytesIO(fixed), dtype="float32")
    resampled = soxr.resample(samples, rate, RATE, quality="HQ") if rate != RATE else samples
    return np.clip(np.asarray(resampled) * 32767, -32768, 32767).astype("<i2")


def streamed_header(rate: int = RATE) -> bytes:
    """A WAV header for a stream of unknown length: the size fields say 0xFFFFFFFF."""
    unknown = 0xFFFFFFFF
    fmt = struct.pack("<HHIIHH", 1, 1, rate, rate * 2, 2, 16)
    return b"RIFF" + struct.pack("<I", unknown) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt + \
        b"data" + struct.pack("<I", unknown)


def chunks(samples: np.ndarray) -> list[bytes]:
    """The body as it is streamed: the header, then 100 ms of audio at a time."""
    raw = samples.astype("<i2").tobytes()
    step = CHUNK_SAMPLES * 2
    return [streamed_header()] + [raw[i:i + step] for i in range(0, len(raw), step)]
