"""The fake's model catalogue and its error type, shared by every endpoint."""

from __future__ import annotations

from typing import Any

CREATED = 1_754_000_000

# What GET /models lists, shaped like Groq's model objects.
MODELS: dict[str, dict[str, Any]] = {
    "openai/gpt-oss-20b": {"owned_by": "OpenAI", "context_window": 131072, "max_completion_tokens": 65536},
    "openai/gpt-oss-120b": {"owned_by": "OpenAI", "context_window": 131072, "max_completion_tokens": 65536},
    "whisper-large-v3": {"owned_by": "OpenAI", "context_window": 448, "max_completion_tokens": 448},
    "whisper-large-v3-turbo": {"owned_by": "OpenAI", "context_window": 448, "max_completion_tokens": 448},
}
MODELS |= {  # Groq's compound systems: a chat model that searches the web server-side (fakegroq.compound)
    model: {"owned_by": "Groq", "context_window": 131072, "max_completion_tokens": 8192}
    for model in ("groq/compound", "groq/compound-mini")
}
CHAT_MODELS = frozenset({"openai/gpt-oss-20b", "openai/gpt-oss-120b", "groq/compound", "groq/compound-mini"})
TRANSCRIPTION_MODELS = frozenset({"whisper-large-v3", "whisper-large-v3-turbo"})
TRANSLATION_MODELS = frozenset({"whisper-large-v3"})
DECOMMISSIONED = frozenset({"llama-3.3-70b-versatile", "llama-3.1-8b-instant"})
MAX_COMPLETION_TOKENS = {name: int(m["max_completion_tokens"]) for name, m in MODELS.items()}


def model_object(model_id: str) -> dict[str, Any]:
    """One entry of GET /models, as Groq returns it."""
    m = MODELS[model_id]
    return {
        "id": model_id,
        "object": "model",
        "created": CREATED,
        "owned_by": m["owned_by"],
        "active": True,
        "context_window": m["context_window"],
        "public_apps": None,
        "max_completion_tokens": m["max_completion_tokens"],
    }


class GroqError(Exception):
    """An error answer: HTTP status plus Groq's JSON error envelope."""

    def __init__(self, status: int, message: str, *, code: str | None = None,
                 param: str | None = None, type_: str = "invalid_request_error",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.code, self.param, self.type = status, message, code, param, type_
        self.headers = headers or {}  # extra response headers, e.g. retry-after on a 429

    def body(self) -> dict[str, Any]:
        """{"error": {...}} exactly as Groq nests it (absent fields left out)."""
        err: dict[str, Any] = {"message": self.message, "type": self.type}
        if self.param:
            err["param"] = self.param
        if self.code:
            err["code"] = self.code
        return {"error": err}
