"""The fake's second voice: a local OpenAI-style speech server such as faster-whisper-server.

`FakeGroq(style="local")` serves speech-to-text only, under /v1, as such a FastAPI
server does: errors are FastAPI's (`{"detail": "Not Found"}`, a list of validation
errors for a missing field, `{"detail": {"error": {"message": ...}}}` for the rest),
there is no /models and no chat, no rate-limit headers, and one request is decoded
at a time (the others queue). Its own model names; no key unless one is given.
"""

from __future__ import annotations

from typing import Any

from .audio import RESPONSE_FORMATS, SttRequest
from .models import GroqError

LOCAL_ROOT = "/v1"
LOCAL_MODELS = frozenset({"Systran/faster-whisper-small", "Systran/faster-distil-whisper-large-v3"})
DEFAULT_LOCAL_MODEL = "Systran/faster-whisper-small"


class LocalError(GroqError):
    """An error answered in FastAPI's shapes rather than Groq's envelope."""

    def __init__(self, status: int, message: str, *, detail: Any = None) -> None:
        super().__init__(status, message)
        self.detail = detail

    def body(self) -> dict[str, Any]:
        if self.detail is not None:
            return {"detail": self.detail}
        return {"detail": {"error": {"message": self.message, "type": "invalid_request_error"}}}


def not_found() -> LocalError:
    return LocalError(404, "Not Found", detail="Not Found")


def missing(field: str) -> LocalError:
    """FastAPI's 422 for a required form field that was not sent."""
    return LocalError(422, "Field required", detail=[
        {"type": "missing", "loc": ["body", field], "msg": "Field required", "input": None}])


def unauthorized() -> LocalError:
    return LocalError(401, "Invalid API key", detail="Invalid API key")


def _one(form: dict[str, str | list[str]], name: str) -> str | None:
    value = form.get(name)
    return value[0] if isinstance(value, list) else value


def validate_stt(task: str, form: dict[str, str | list[str]]) -> SttRequest:
    """The fields as faster-whisper-server checks them, in its words."""
    model = _one(form, "model")
    if not model:
        raise missing("model")
    if model not in LOCAL_MODELS:
        raise LocalError(404, f"unknown model: {model}")
    fmt = _one(form, "response_format") or "json"
    if fmt not in RESPONSE_FORMATS:
        raise LocalError(400, f"Unsupported response_format: {fmt}")
    try:
        temperature = float(_one(form, "temperature") or 0.0)
    except ValueError:
        raise missing("temperature") from None
    language = _one(form, "language") if task == "transcribe" else None
    return SttRequest(task, model, language, _one(form, "prompt"), fmt, temperature, ())
