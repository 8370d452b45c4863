"""The API's bodies: requests built and responses read into plain results, as pure functions.

Nothing here sends anything; `voicebot.api.client` does. A success body that is empty, an
HTML page or not a JSON object becomes a clear `ApiError` ("bad_response").
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from voicebot.api.error_body import one_line
from voicebot.api.sse import Usage, chunk_usage
from voicebot.errors import ApiError

if TYPE_CHECKING:  # only named here: the batch and memos commands' parsers load this without httpx
    import httpx

__all__ = [
    "ChatResult", "ModelInfo", "Transcript", "bad_response", "chat_body", "chat_result_from", "host_of",
    "json_object", "model_from", "speech_fields", "transcript_from",
]


@dataclass(frozen=True)
class Transcript:
    """What Whisper heard. `raw` is the whole response ({"text": ...} for text formats)."""

    text: str
    language: str | None
    duration: float | None
    segments: tuple[dict[str, Any], ...]
    raw: dict[str, Any]


@dataclass(frozen=True)
class ChatResult:
    """A whole (non-streamed) chat answer."""

    text: str
    reasoning: str | None
    finish_reason: str | None
    usage: Usage | None
    raw: dict[str, Any]


@dataclass(frozen=True)
class ModelInfo:
    """One entry of `GET /models`."""

    id: str
    owned_by: str | None
    context_window: int | None
    active: bool | None
    raw: dict[str, Any]


def host_of(url: httpx.URL) -> str:
    return f"{url.host}:{url.port}" if url.port else url.host


def bad_response(host: str, what: str, status: int | None = 200) -> ApiError:
    return ApiError(f"unexpected response from {host}: {what}",
                    hint="the server (or a proxy in between) misbehaved; try again", status=status,
                    code="bad_response")


def json_object(body: bytes, content_type: str, host: str) -> dict[str, Any]:
    """A success body as a JSON object, or a clear ApiError for empty/HTML/garbled ones."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        raise bad_response(host, "an empty body")
    if text.startswith("<") or "html" in content_type.lower():
        raise bad_response(host, "an HTML page instead of JSON (a captive portal or proxy?)")
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        raise bad_response(host, f"invalid JSON {one_line(text, 40)!r}") from None
    if not isinstance(obj, dict):
        raise bad_response(host, "JSON that is not an object")
    return obj


def transcript_from(obj: Mapping[str, Any], host: str = "the server") -> Transcript:
    """A Transcript from a json or verbose_json body."""
    text = obj.get("text")
    if not isinstance(text, str):
        raise bad_response(host, "no text in the transcription")
    language = obj.get("language")
    duration = obj.get("duration")
    segments = obj.get("segments")
    return Transcript(
        text=text.strip(),
        language=language if isinstance(language, str) else None,
        duration=float(duration) if isinstance(duration, (int, float)) and not isinstance(duration, bool) else None,
        segments=tuple(dict(s) for s in segments if isinstance(s, Mapping)) if isinstance(segments, list) else (),
        raw=dict(obj),
    )


def chat_result_from(obj: Mapping[str, Any], host: str = "the server") -> ChatResult:
    """A ChatResult from a chat.completion body; no `choices` is a bad response."""
    choices = obj.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], Mapping):
        raise bad_response(host, "no choices in the chat completion")
    choice = choices[0]
    message = choice.get("message")
    message = message if isinstance(message, Mapping) else {}
    content = message.get("content")
    reasoning = message.get("reasoning")
    reason = choice.get("finish_reason")
    return ChatResult(
        text=content if isinstance(content, str) else "",
        reasoning=reasoning if isinstance(reasoning, str) else None,
        finish_reason=reason if isinstance(reason, str) else None,
        usage=chunk_usage(obj),
        raw=dict(obj),
    )


def model_from(obj: Mapping[str, Any]) -> ModelInfo | None:
    """A ModelInfo from one models entry; None when it has no id."""
    model_id = obj.get("id")
    if not isinstance(model_id, str) or not model_id:
        return None
    owner = obj.get("owned_by")
    window = obj.get("context_window")
    active = obj.get("active")
    return ModelInfo(
        id=model_id,
        owned_by=owner if isinstance(owner, str) else None,
        context_window=window if isinstance(window, int) and not isinstance(window, bool) else None,
        active=active if isinstance(active, bool) else None,
        raw=dict(obj),
    )


def chat_body(messages: Sequence[Mapping[str, str]], model: str, options: Mapping[str, object], *,
              stream: bool) -> dict[str, Any]:
    """The chat request body: options verbatim (None dropped); model/messages/stream always ours."""
    body: dict[str, Any] = {k: v for k, v in options.items() if v is not None}
    body.update(model=model, messages=[dict(m) for m in messages], stream=stream)
    return body


def speech_fields(*, model: str, translate: bool, language: str | None, prompt: str | None,
                  temperature: float | None, response_format: str) -> dict[str, str]:
    """The multipart form fields that are set. Translation takes no language (it always yields English)."""
    fields = {"model": model, "response_format": response_format}
    if language and not translate:
        fields["language"] = language
    if prompt:
        fields["prompt"] = prompt
    if temperature is not None:
        fields["temperature"] = repr(float(temperature))
    return fields
