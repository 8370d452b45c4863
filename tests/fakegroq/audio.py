"""Speech-to-text endpoints of the fake: form validation and Groq-shaped answers (pure)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .chat import count_tokens
from .models import DECOMMISSIONED, MODELS, TRANSCRIPTION_MODELS, TRANSLATION_MODELS, GroqError
from .stt import Match, fixtures

ALLOWED_EXTENSIONS = ("flac", "mp3", "mp4", "mpeg", "mpga", "m4a", "ogg", "opus", "wav", "webm")
MAX_FILE_BYTES = 25 * 1024 * 1024
MIN_DURATION = 0.01
RESPONSE_FORMATS = ("json", "text", "verbose_json")
HALLUCINATION = " Thank you."  # Whisper's invented text for silence, noise and murmur
# Speech that is none of the fixtures: said plainly, so a newcomer's own recording is not
# mistaken for silence (it used to be answered with the hallucination above).
UNKNOWN_SPEECH = " [fake Groq: unknown speech; it recognises only the recordings in tests/data/fixtures.json]"
LANGUAGE_NAMES = {
    "en": "English", "fr": "French", "de": "German", "es": "Spanish", "it": "Italian",
    "pt": "Portuguese", "nl": "Dutch", "ja": "Japanese", "zh": "Chinese", "ru": "Russian",
    "pl": "Polish", "sv": "Swedish", "ko": "Korean", "ar": "Arabic", "hi": "Hindi",
}


@dataclass(frozen=True)
class SttRequest:
    """Validated form fields of a transcription or translation request."""

    task: str  # "transcribe" or "translate"
    model: str
    language: str | None
    prompt: str | None
    response_format: str
    temperature: float
    granularities: tuple[str, ...]


def extension_ok(filename: str | None) -> bool:
    """Groq decides by the filename's extension, not by the bytes."""
    return bool(filename) and "." in filename and filename.rsplit(".", 1)[1].lower() in ALLOWED_EXTENSIONS


def file_type_error() -> GroqError:
    return GroqError(400, "file must be one of the following types: [" + " ".join(ALLOWED_EXTENSIONS) + "]")


def _one(form: dict[str, str | list[str]], name: str) -> str | None:
    value = form.get(name)
    return value[-1] if isinstance(value, list) else value


def validate_stt(task: str, form: dict[str, str | list[str]]) -> SttRequest:
    """Check the non-file fields like Groq; raise GroqError with its status otherwise."""
    model = _one(form, "model")
    if not model:
        raise GroqError(400, "model is required", param="model")
    if model in DECOMMISSIONED:
        raise GroqError(400, f"The model `{model}` has been decommissioned and is no longer supported.",
                        code="model_decommissioned")
    if model not in MODELS:
        raise GroqError(404, f"The model `{model}` does not exist or you do not have access to it.",
                        code="model_not_found")
    allowed = TRANSLATION_MODELS if task == "translate" else TRANSCRIPTION_MODELS
    if model not in allowed:
        what = "translations" if task == "translate" else "transcriptions"
        raise GroqError(400, f"model `{model}` does not support {what}", param="model")
    fmt = _one(form, "response_format") or "json"
    if fmt not in RESPONSE_FORMATS:
        raise GroqError(400, "response_format must be one of [json text verbose_json]", param="response_format")
    try:
        temperature = float(_one(form, "temperature") or 0.0)
    except ValueError:
        raise GroqError(400, "temperature must be a number", param="temperature") from None
    if not 0.0 <= temperature <= 1.0:
        raise GroqError(400, "temperature must be between 0 and 1", param="temperature")
    language = _one(form, "language") if task == "transcribe" else None
    if language is not None and language not in LANGUAGE_NAMES:
        raise GroqError(400, f"invalid language `{language}`: must be an ISO-639-1 code", param="language")
    prompt = _one(form, "prompt")
    if prompt is not None and count_tokens(prompt) > 224:
        raise GroqError(400, "prompt is too long: at most 224 tokens are allowed", param="prompt")
    raw = form.get("timestamp_granularities[]", [])
    granularities = tuple(raw if isinstance(raw, list) else [raw])
    if any(g not in ("word", "segment") for g in granularities):
        raise GroqError(400, "timestamp_granularities must be 'word' and/or 'segment'",
                        param="timestamp_granularities")
    if granularities and fmt != "verbose_json":
        raise GroqError(400, "response_format must be set verbose_json to use timestamp granularities",
                        param="timestamp_granularities")
    return SttRequest(task, model, language, prompt, fmt, temperature, granularities)


def recognised_text(task: str, match: Match, heard: str | None = None) -> tuple[str, str]:
    """(text with Whisper's leading space, ISO language) for a recognition outcome; `heard`
    (FakeGroq.set_heard) stands for the words of a recognised recording."""
    if match.invented:
        return HALLUCINATION, "en"
    meta = fixtures().get(match.fixture) if match.fixture else None
    if meta is None:
        return UNKNOWN_SPEECH, "en"
    if heard is not None:
        return " " + heard, meta["language"]
    if task == "translate":
        return " " + meta["translation"], "en"
    return " " + meta["text"], meta["language"]


def _tokens(text: str, end: float) -> list[int]:
    """Stable fake Whisper token ids: timestamp tokens around one id per word."""
    words = [50365 + (sum(map(ord, w)) * 131) % 40000 for w in text.split()]
    return [50365, *words, 50365 + round(end / 0.02)]


def verbose_body(req: SttRequest, match: Match, *, duration: float, rid: str,
                 heard: str | None = None) -> dict[str, Any]:
    """verbose_json as Groq sends it: task, language name, duration, segments, words."""
    text, lang = recognised_text(req.task, match, heard)
    speech = not match.invented
    start = round(match.speech_start, 2) if speech else 0.0
    end = round(match.speech_end, 2) if speech else round(duration, 2)
    if req.task == "transcribe" and req.language:
        lang = req.language
    body: dict[str, Any] = {
        "task": req.task,
        "language": LANGUAGE_NAMES.get(lang, lang),
        "duration": round(duration, 2),
        "text": text,
    }
    if not req.granularities or "segment" in req.granularities:
        body["segments"] = [{
            "id": 0, "seek": 0, "start": start, "end": end, "text": text,
            "tokens": _tokens(text, end), "temperature": req.temperature,
            "avg_logprob": -0.18 if speech else -1.31,
            "compression_ratio": 0.92 if speech else 0.56,
            "no_speech_prob": 2.1e-11 if speech else 0.87,
        }]
    if "word" in req.granularities:
        words = text.split()
        step = (end - start) / max(1, len(words))
        body["words"] = [{"word": w, "start": round(start + i * step, 2), "end": round(start + (i + 1) * step, 2)}
                         for i, w in enumerate(words)]
    body["x_groq"] = {"id": rid}
    return body
