"""What a chat-completion stream means: SSE data chunks mapped to voicebot's events.

Framing (bytes -> `ServerSentEvent`: CRLF/CR/LF, comments, multi-line `data:`,
UTF-8 split across network reads) is httpx-sse's job; this module is the pure
part after it, so every chunk shape Groq (or another OpenAI-style server) sends
can be unit-tested without a network: content and reasoning deltas, the finish
reason, and usage wherever it comes (`x_groq.usage`, top-level `usage`, or a
separate chunk with empty `choices`). Errors are recognised here but turned into
exceptions by the client, which knows whether text was already shown.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

DONE = "[DONE]"


@dataclass(frozen=True)
class ContentDelta:
    """A piece of the answer, to show as it arrives."""

    text: str


@dataclass(frozen=True)
class ReasoningDelta:
    """A piece of the model's reasoning (gpt-oss `delta.reasoning`), shown only on request."""

    text: str


@dataclass(frozen=True)
class Usage:
    """Token counts of the request; `raw` keeps every field (timings, cached tokens...)."""

    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    raw: dict[str, Any] = field(default_factory=dict, compare=True)


@dataclass(frozen=True)
class Finish:
    """Why the model stopped: stop, length, tool_calls, content_filter..."""

    reason: str


StreamEvent = ContentDelta | ReasoningDelta | Usage | Finish


class BadStreamData(ValueError):
    """An SSE `data:` payload that is neither `[DONE]` nor a JSON object."""


def _int_or_none(value: object) -> int | None:
    """Token counts as ints; anything else (null, strings, bools) as unknown."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return int(value)


def usage_from(obj: object) -> Usage | None:
    """A `Usage` from a usage object, or None when there is none."""
    if not isinstance(obj, Mapping) or not obj:
        return None
    return Usage(
        prompt_tokens=_int_or_none(obj.get("prompt_tokens")),
        completion_tokens=_int_or_none(obj.get("completion_tokens")),
        total_tokens=_int_or_none(obj.get("total_tokens")),
        raw=dict(obj),
    )


def chunk_usage(obj: Mapping[str, Any]) -> Usage | None:
    """Usage carried by one chunk: top-level `usage` (OpenAI style) first, else `x_groq.usage`."""
    found = usage_from(obj.get("usage"))
    if found is not None:
        return found
    x_groq = obj.get("x_groq")
    return usage_from(x_groq.get("usage")) if isinstance(x_groq, Mapping) else None


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def events_from_chunk(obj: Mapping[str, Any]) -> list[StreamEvent]:
    """The events one `chat.completion.chunk` object carries, in display order.

    Only choice 0 is read (voicebot never asks for n > 1). Empty deltas (the
    first chunk's `{"role": "assistant", "content": ""}`) carry no event.
    Reasoning comes before content because a model reasons before answering.
    """
    events: list[StreamEvent] = []
    choices = obj.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices else None
    if isinstance(choice, Mapping) and choice.get("index", 0) in (0, None):
        delta = choice.get("delta")
        if isinstance(delta, Mapping):
            reasoning = _text(delta.get("reasoning")) or _text(delta.get("reasoning_content"))
            if reasoning:
                events.append(ReasoningDelta(reasoning))
            content = _text(delta.get("content"))
            if content:
                events.append(ContentDelta(content))
        reason = choice.get("finish_reason")
        if isinstance(reason, str) and reason:
            events.append(Finish(reason))
    usage = chunk_usage(obj)
    if usage is not None:
        events.append(usage)
    return events


def stream_error(event: str, obj: object) -> Mapping[str, Any] | None:
    """The error a stream reports, if this SSE event is one.

    Groq reports a failure after the 200 status as a data object with an `error`
    key, as an `event: error` frame, or in `x_groq.error` when a stream stops early.
    """
    if isinstance(obj, Mapping):
        x_groq = obj.get("x_groq")
        for err in (obj.get("error"), x_groq.get("error") if isinstance(x_groq, Mapping) else None):
            if isinstance(err, Mapping):
                return err
            if isinstance(err, str) and err:
                return {"message": err}
    if event == "error":
        if isinstance(obj, Mapping):
            return obj
        return {"message": obj if isinstance(obj, str) else "the server reported an error"}
    return None


def decode_data(data: str) -> Mapping[str, Any] | None:
    """The JSON object of one `data:` payload; None for `[DONE]`.

    Raises BadStreamData for anything else, so a garbled stream fails loudly
    instead of silently dropping part of an answer.
    """
    if data.strip() == DONE:
        return None
    try:
        obj = json.loads(data)
    except ValueError:
        raise BadStreamData(f"malformed data in the answer stream: {data[:60]!r}") from None
    if not isinstance(obj, Mapping):
        raise BadStreamData(f"unexpected data in the answer stream: {data[:60]!r}")
    return obj
