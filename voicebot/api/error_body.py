"""A server's error body read into one safe line: whatever shape it came in, keys blanked.

Groq answers `{"error": {"message", "type", "code"}}`, but a proxy may answer with an
HTML page, a local whisper server with plain text or FastAPI's `{"detail": ...}`, and a
broken one with nothing at all. `parse_error_body` reads any of them and never raises;
`one_line` and `scrub_text` make any server text fit for the terminal and the logs.
Pure functions: `voicebot.api.errors` turns the result into the user's message.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["MAX_MESSAGE", "ParsedError", "names_unknown_model", "one_line", "parse_error_body", "scrub_text"]

MAX_MESSAGE = 200  # characters of a server's error message kept in our one line


@dataclass(frozen=True)
class ParsedError:
    """The readable parts of an error body, whatever shape it came in."""

    message: str
    type: str | None = None
    code: str | None = None


# ---------------------------------------------------------------- text made safe

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")
_SPACE = re.compile(r"\s+")
_TAG = re.compile(r"<[^>]*>")
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.IGNORECASE | re.DOTALL)
_H1 = re.compile(r"<h1[^>]*>(.*?)</h1>", re.IGNORECASE | re.DOTALL)
_GROQ_KEY = re.compile(r"gsk_[A-Za-z0-9]{6,}")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',;]+")


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """Text made safe for one terminal line: no control characters, bounded length."""
    text = _SPACE.sub(" ", _CONTROL.sub(" ", text)).strip()
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def scrub_text(text: str, keys: tuple[str, ...]) -> str:
    """`text` with the given keys, anything shaped like a Groq key and bearer tokens blanked."""
    for key in keys:
        if key:
            text = text.replace(key, "***")
    text = _GROQ_KEY.sub("gsk_***", text)
    return _BEARER.sub(r"\1***", text)


# ---------------------------------------------------------------- error bodies

_UNKNOWN_MODEL = re.compile(
    r"\b(?:unknown|invalid|no such)\s+model\b"
    r"|\bnot\s+a\s+valid\s+model\b"
    r"|\bmodel\b[^.;]{0,80}?(?:\bnot\s+found\b|\bdoes\s*n[o']t\s+exist\b|\bis\s+not\s+available\b|\bunknown\b)",
    re.IGNORECASE)
UNKNOWN_MODEL_CODES = frozenset({"model_not_found", "model_not_available"})


def names_unknown_model(parsed: ParsedError) -> bool:
    """Whether an error body says the model asked for does not exist, in any server's words.

    Groq and OpenAI say `model_not_found`; vLLM "The model `x` does not exist." with code 404,
    Ollama "model 'x' not found", faster-whisper-server "unknown model: x", LiteLLM "Invalid
    model name", OpenRouter "x is not a valid model ID". Their own codes vary, so the words decide.
    """
    return parsed.code in UNKNOWN_MODEL_CODES or bool(_UNKNOWN_MODEL.search(parsed.message))


_MESSAGE_KEYS = ("error", "message", "detail", "msg")  # where servers put their words, in order


def _str_or_none(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int, float)):
        return one_line(str(value), 80) or None
    return None


def _message_of(value: object, depth: int = 0) -> str:
    """A message from a JSON value that should be a string but may be anything.

    Covers OpenAI's `{"error": {"message"}}`, FastAPI's `detail` as a string, a list
    of validation errors (`[{"loc", "msg"}]`) or an object, and wrappers of those such
    as faster-whisper-server's `{"detail": {"error": {"message"}}}`.
    """
    if depth > 6:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # FastAPI-style validation details
        parts = [_validation_item(v, depth + 1) for v in value[:3]]
        return "; ".join(p for p in parts if p)
    if isinstance(value, Mapping):
        for key in _MESSAGE_KEYS:
            found = _message_of(value.get(key), depth + 1)
            if found:
                return found
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return ""


def _validation_item(value: object, depth: int) -> str:
    """One FastAPI validation error: "body.model: field required" (the location when given)."""
    if not isinstance(value, Mapping):
        return _message_of(value, depth)
    message = _message_of(value.get("msg") or value.get("message"), depth)
    loc = value.get("loc")
    if message and isinstance(loc, list) and loc:
        where = ".".join(str(p) for p in loc[-2:] if isinstance(p, (str, int)) and not isinstance(p, bool))
        return f"{where}: {message}" if where else message
    return message


def _innermost(obj: Mapping[str, object], depth: int = 0) -> Mapping[str, object]:
    """The object that holds the message, type and code: `error` or `detail` unwrapped."""
    for key in ("error", "detail"):
        inner = obj.get(key)
        if isinstance(inner, Mapping) and depth < 6:
            return _innermost(inner, depth + 1)
    return obj


def _from_json(obj: object) -> ParsedError | None:
    if not isinstance(obj, Mapping):
        return None
    if not any(key in obj for key in _MESSAGE_KEYS):
        return None
    inner = _innermost(obj)
    message = one_line(_message_of(inner) or _message_of(obj))
    code = _str_or_none(inner.get("code")) or _str_or_none(obj.get("code"))
    return ParsedError(message, _str_or_none(inner.get("type")) or _str_or_none(obj.get("type")), code)


def _from_html(text: str) -> str:
    for pattern in (_TITLE, _H1):
        match = pattern.search(text)
        if match:
            found = one_line(html.unescape(_TAG.sub(" ", match.group(1))))
            if found:
                return found
    return "an HTML page instead of an API response (a proxy or gateway answered)"


def parse_error_body(status: int, content_type: str | None, body: bytes) -> ParsedError:
    """The message, type and code of an error response; never raises.

    Groq answers `{"error": {"message", "type", "code"}}`, but a proxy may answer
    with an HTML page, a local server with plain text or FastAPI's `{"detail": ...}`,
    and a broken one with nothing or with bytes that are not UTF-8.
    """
    try:
        text = body.decode("utf-8", errors="replace")
        stripped = text.lstrip("\ufeff \t\r\n")
        ctype = (content_type or "").lower()
        if not stripped:
            return ParsedError("")
        if "json" in ctype or stripped[:1] in "{[":
            try:
                parsed = _from_json(json.loads(stripped))
            except (ValueError, RecursionError):
                parsed = None
            if parsed is not None:
                return parsed
        if "html" in ctype or stripped[:1] == "<":
            return ParsedError(_from_html(stripped))
        first = next((line for line in stripped.splitlines() if line.strip()), "")
        return ParsedError(one_line(first))
    except Exception:
        return ParsedError(f"unreadable error body ({len(body)} bytes)")
