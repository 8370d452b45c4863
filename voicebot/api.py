"""The Groq HTTP client: speech to text, streamed chat, models, with retries.

One long-lived `httpx.AsyncClient` per `GroqClient`, so the TLS connection opened
for the first request (or by `warm()` when the hotkey goes down) is reused by the
next turns. The client uploads bytes it is given and knows nothing about audio.

Every failure leaves as `voicebot.errors.ApiError` with one line saying what
happened and a hint saying what to do; the key is scrubbed from all of them.
Stream framing is httpx-sse's; what chunks mean is `voicebot.sse`; when to retry
is `voicebot.retry`. The pure pieces here (`parse_error_body`, `error_for_status`,
`error_for_exception`) are separate so they can be tested without a network.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import os
import random
import re
import socket
import ssl
import time
import urllib.parse
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

import httpx
from httpx_sse import EventSource

from voicebot import __version__
from voicebot.errors import ApiError, StreamInterrupted, UsageError
from voicebot.retry import (
    MAX_SERVER_WAIT,
    Random,
    RetryNotice,
    retry_delay,
    should_retry,
    wait_from_message,
)
from voicebot.retry import server_wait as server_wait_for
from voicebot.sse import (
    BadStreamData,
    ContentDelta,
    Finish,
    ReasoningDelta,
    StreamEvent,
    Usage,
    chunk_usage,
    decode_data,
    events_from_chunk,
    stream_error,
)

__all__ = [
    "ChatResult", "ContentDelta", "Finish", "GroqClient", "ModelInfo", "ParsedError", "ReasoningDelta",
    "RetryNotice", "StreamEvent", "Transcript", "Usage", "error_for_exception", "error_for_status",
    "parse_error_body",
]

log = logging.getLogger("voicebot.api")

USER_AGENT = f"voicebot/{__version__}"
MAX_MESSAGE = 200  # characters of a server's error message kept in our one line
KEEPALIVE_EXPIRY = 60.0  # httpx's 5 s default would drop the connection between spoken turns


# ---------------------------------------------------------------- results


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


@dataclass(frozen=True)
class ParsedError:
    """The readable parts of an error body, whatever shape it came in."""

    message: str
    type: str | None = None
    code: str | None = None


# ---------------------------------------------------------------- error bodies

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


def _str_or_none(value: object) -> str | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (str, int, float)):
        return one_line(str(value), 80) or None
    return None


def _message_of(value: object) -> str:
    """A message from a JSON value that should be a string but may be anything."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):  # FastAPI-style validation details
        parts = [_message_of(v.get("msg") if isinstance(v, Mapping) else v) for v in value[:3]]
        return "; ".join(p for p in parts if p)
    if isinstance(value, Mapping):
        return _message_of(value.get("message") or value.get("msg") or value.get("detail"))
    if value is None or isinstance(value, bool):
        return ""
    if isinstance(value, (int, float)):
        return str(value)
    return ""


def _from_json(obj: object) -> ParsedError | None:
    if not isinstance(obj, Mapping):
        return None
    err = obj.get("error")
    if isinstance(err, Mapping):
        return ParsedError(one_line(_message_of(err.get("message"))), _str_or_none(err.get("type")),
                           _str_or_none(err.get("code")))
    if isinstance(err, str):
        return ParsedError(one_line(err), None, _str_or_none(obj.get("code")))
    for key in ("message", "detail", "msg"):
        if key in obj:
            return ParsedError(one_line(_message_of(obj[key])), _str_or_none(obj.get("type")),
                               _str_or_none(obj.get("code")))
    return None


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


# ---------------------------------------------------------------- errors


def _groq_host(host: str) -> bool:
    return host == "groq.com" or host.endswith(".groq.com") or host.startswith("api.groq.com")


def _reason_phrase(status: int) -> str:
    try:
        from http import HTTPStatus

        return HTTPStatus(status).phrase
    except ValueError:
        return ""


def _looks_like_model_problem(parsed: ParsedError) -> bool:
    text = f"{parsed.code or ''} {parsed.message}".lower()
    return "model" in text


def error_for_status(status: int, parsed: ParsedError, *, host: str, model: str | None = None,
                     retry_after: float | None = None) -> ApiError:
    """The ApiError for an HTTP error status: what happened, and what to do about it."""
    detail = parsed.message or _reason_phrase(status) or "no details given"
    code = parsed.code
    subject = f"model {model!r}" if model else "the model"

    def err(message: str, hint: str | None, *, code_: str | None = code) -> ApiError:
        return ApiError(one_line(message, 300), hint=hint, status=status, code=code_, retry_after=retry_after)

    if status == 401:
        return err(f"the API key was rejected by {host}: {detail}", "check GROQ_API_KEY",
                   code_=code or "invalid_api_key")
    if status == 403:
        return err(f"access denied by {host}: {detail}",
                   "check GROQ_API_KEY and that your organisation may use this model")
    if code == "model_decommissioned" or (status == 400 and "decommission" in detail.lower()):
        return err(f"{subject} has been retired: {detail}",
                   "pick another model; see `voicebot models`", code_=code or "model_decommissioned")
    if status == 404:
        if model and code != "unknown_url" and (code == "model_not_found" or _looks_like_model_problem(parsed)):
            return err(f"{subject} is unknown to {host}: {detail}", "see `voicebot models` for the available ones",
                       code_=code or "model_not_found")
        return err(f"not found at {host}: {detail}", "check the API base URL (Groq's ends in /openai/v1)")
    if status == 413:
        return err(f"request too large: {detail}",
                   "send a shorter recording (25 MB at most) or start a new conversation")
    if status == 429:
        wait = f"wait {retry_after:.0f} s and try again" if retry_after else "wait a little and try again"
        return err(f"rate limited by {host}: {detail}", wait, code_=code or "rate_limit_exceeded")
    if status == 498:
        return err(f"flex capacity exceeded at {host}: {detail}",
                   "try again shortly, or use service_tier on_demand")
    if status >= 500:
        phrase = _reason_phrase(status)
        where = "; status at https://groqstatus.com" if _groq_host(host) else ""
        message = f"{host} is having trouble (HTTP {status}{' ' + phrase if phrase else ''})"
        if parsed.message and not (phrase and phrase.lower() in parsed.message.lower()):
            message += f": {parsed.message}"
        return err(message, f"try again in a moment{where}", code_=code or "server_error")
    if status in (400, 422) and ("reasoning" in detail.lower()):
        # voicebot asks gpt-oss for low reasoning effort by default; other models may refuse the field.
        return err(f"request rejected by {host}: {detail}",
                   'for a model that does not reason, set reasoning_effort = "none" (or --reasoning-effort none)')
    if status in (400, 422):
        return err(f"request rejected by {host}: {detail}", "check the settings shown by `voicebot config`")
    return err(f"unexpected HTTP {status} from {host}: {detail}", "try again; if it persists, report it")


def _causes(exc: BaseException) -> list[BaseException]:
    """The exception and its causes (httpx wraps httpcore wraps OSError)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def _is_cert_failure(exc: BaseException) -> bool:
    return any(isinstance(e, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(e)
               for e in _causes(exc))


def is_retryable_exception(exc: BaseException) -> bool:
    """Network failures worth another attempt (as the groq SDK: all but our own mistakes)."""
    if isinstance(exc, TimeoutError):
        return True
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)):
        return False
    if isinstance(exc, httpx.ConnectError) and _is_cert_failure(exc):
        return False
    return isinstance(exc, httpx.TransportError)


def error_for_exception(exc: BaseException, *, host: str, streaming: bool = False, timeout: float = 60.0,
                        connect_timeout: float = 5.0, stall_timeout: float = 20.0) -> ApiError:
    """The ApiError for a network failure, naming the host and the likely fix."""

    def err(message: str, hint: str, code: str) -> ApiError:
        return ApiError(one_line(message, 300), hint=hint, code=code)

    network = "check the network connection and the API base URL"
    if isinstance(exc, httpx.ConnectTimeout):
        return err(f"timed out connecting to {host} after {connect_timeout:g} s", network, "connect_timeout")
    if isinstance(exc, httpx.ConnectError):
        causes = _causes(exc)
        if _is_cert_failure(exc):
            return err(f"the TLS certificate of {host} could not be verified",
                       "is a proxy intercepting HTTPS? point SSL_CERT_FILE at its CA bundle", "tls_verify_failed")
        if any(isinstance(e, socket.gaierror) for e in causes):
            return err(f"cannot resolve host {host}", network, "dns_failure")
        if any(isinstance(e, ConnectionRefusedError) for e in causes):
            return err(f"connection to {host} refused", "is the server running? check the API base URL",
                       "connection_refused")
        return err(f"cannot connect to {host}: {exc}", network, "connect_failed")
    if isinstance(exc, httpx.ReadTimeout):
        if streaming:
            return err(f"the answer stalled: nothing received from {host} for {stall_timeout:g} s",
                       "try again; raise stall_timeout if the model is slow", "stalled")
        return err(f"no response from {host} within {timeout:g} s", "try again in a moment", "timeout")
    if isinstance(exc, httpx.WriteTimeout):
        return err(f"timed out sending the request to {host}", "check the network; a shorter recording helps",
                   "timeout")
    if isinstance(exc, httpx.PoolTimeout):
        return err(f"no free connection to {host} within {timeout:g} s", "try again", "timeout")
    if isinstance(exc, (TimeoutError, httpx.TimeoutException)):
        return err(f"no complete response from {host} within {timeout:g} s",
                   "try again; raise the timeout setting for long recordings", "timeout")
    if isinstance(exc, httpx.ProxyError):
        return err(f"the proxy refused the request to {host}: {exc}", "check HTTPS_PROXY / HTTP_PROXY", "proxy_error")
    if isinstance(exc, httpx.UnsupportedProtocol):
        return err(f"cannot use the API base URL for {host}: {exc}", "it must start with https:// or http://",
                   "bad_url")
    if isinstance(exc, (httpx.NetworkError, httpx.RemoteProtocolError)):
        return err(f"the connection to {host} was lost: {exc or type(exc).__name__}",
                   "check the network and try again", "connection_lost")
    return err(f"request to {host} failed: {exc or type(exc).__name__}", "try again", "request_failed")


def _retry_reason(status: int | None, err: ApiError) -> str:
    """A few words for the "…, retrying in 7 s" notice."""
    if status == 429:
        return "rate limited"
    if status is not None and status >= 500:
        return f"server error {status}"
    if status == 408:
        return "request timed out"
    if status is not None:
        return f"HTTP {status}"
    return {
        "stalled": "answer stalled", "timeout": "timed out", "connect_timeout": "connection timed out",
        "dns_failure": "host not found", "connection_refused": "connection refused",
        "connection_lost": "connection lost", "stream_truncated": "answer cut off",
    }.get(err.code or "", "request failed")


# ---------------------------------------------------------------- responses


def _host(url: httpx.URL) -> str:
    return f"{url.host}:{url.port}" if url.port else url.host


def _bad_response(host: str, what: str, status: int | None = 200) -> ApiError:
    return ApiError(f"unexpected response from {host}: {what}",
                    hint="the server (or a proxy in between) misbehaved; try again", status=status,
                    code="bad_response")


def _json_object(body: bytes, content_type: str, host: str) -> dict[str, Any]:
    """A success body as a JSON object, or a clear ApiError for empty/HTML/garbled ones."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        raise _bad_response(host, "an empty body")
    if text.startswith("<") or "html" in content_type.lower():
        raise _bad_response(host, "an HTML page instead of JSON (a captive portal or proxy?)")
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        raise _bad_response(host, f"invalid JSON {one_line(text, 40)!r}") from None
    if not isinstance(obj, dict):
        raise _bad_response(host, "JSON that is not an object")
    return obj


def transcript_from(obj: Mapping[str, Any], host: str = "the server") -> Transcript:
    """A Transcript from a json or verbose_json body."""
    text = obj.get("text")
    if not isinstance(text, str):
        raise _bad_response(host, "no text in the transcription")
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
        raise _bad_response(host, "no choices in the chat completion")
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


def _check_key(api_key: str) -> str:
    """The key as it will be sent; bad characters are refused here, where the error can't echo it."""
    key = api_key.strip() if isinstance(api_key, str) else ""
    if not key:
        raise UsageError("no API key: set GROQ_API_KEY")
    if not all("\x21" <= ch <= "\x7e" for ch in key):
        raise UsageError("the API key contains spaces or characters that cannot be sent",
                         hint="check GROQ_API_KEY")
    return key


def tls_context(env: Mapping[str, str]) -> ssl.SSLContext:
    """A verifying TLS context: the CA bundle in SSL_CERT_FILE (or SSL_CERT_DIR) when set, else certifi's.

    httpx 0.28 reads the same variables, but a bad path there surfaces as a bare
    FileNotFoundError or SSLError; built here it is one line naming the variable.
    Verification and hostname checks are always on: there is no switch to turn them off.
    """
    cafile = env.get("SSL_CERT_FILE") or None
    capath = None if cafile else env.get("SSL_CERT_DIR") or None
    try:
        if cafile or capath:
            return ssl.create_default_context(cafile=cafile, capath=capath)
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except (OSError, ssl.SSLError) as exc:
        var, where = ("SSL_CERT_FILE", cafile) if cafile else ("SSL_CERT_DIR", capath)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"cannot load CA certificates from {var}={where}: {one_line(reason, 120)}",
                         hint=f"point {var} at a PEM bundle, or unset it") from None


def _check_base(base: str, name: str) -> str:
    try:
        url = httpx.URL(base) if isinstance(base, str) else None
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise UsageError(f"{name} must be an http(s) URL such as https://api.groq.com/openai/v1")
    return base.rstrip("/")


class _AttemptFailed(Exception):
    """One attempt's failure: the error to raise, whether another attempt may help, and why."""

    def __init__(self, error: ApiError, *, retryable: bool, status: int | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retryable = retryable
        self.status = status
        self.headers = headers


# ---------------------------------------------------------------- the client


class GroqClient:
    """Groq's OpenAI-compatible API over one keep-alive connection pool.

    `chat_base` is the OpenAI-style root (https://api.groq.com/openai/v1);
    `stt_base` defaults to it and may point speech at another server.
    """

    def __init__(self, *, api_key: str, chat_base: str, stt_base: str | None = None,
                 max_retries: int = 2, timeout: float = 60.0, connect_timeout: float = 5.0,
                 stall_timeout: float = 20.0, transport: httpx.AsyncBaseTransport | None = None,
                 on_retry: Callable[[RetryNotice], None] | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 rng: Random | None = None) -> None:
        self.__key = _check_key(api_key)
        self.chat_base = _check_base(chat_base, "the API base URL")
        self.stt_base = _check_base(stt_base, "the speech API base URL") if stt_base else self.chat_base
        self.max_retries = max(0, int(max_retries))
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self.stall_timeout = float(stall_timeout)
        self._on_retry = on_retry
        self._sleep = sleep
        self._rng: Random = rng or random.Random()
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(self.timeout, connect=self.connect_timeout),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            transport=transport,
            verify=tls_context(os.environ),
            follow_redirects=False,  # never carry the key to wherever a redirect points
            limits=httpx.Limits(max_connections=10, max_keepalive_connections=4, keepalive_expiry=KEEPALIVE_EXPIRY),
        )

    def __repr__(self) -> str:
        return f"GroqClient(chat_base={self.chat_base!r}, stt_base={self.stt_base!r})"

    async def __aenter__(self) -> GroqClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._http.aclose()

    # -- the key stays here: added per request, scrubbed from every error

    def _auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.__key}"}

    def _scrub(self, err: ApiError) -> ApiError:
        """The error with the key (or anything shaped like one) blanked out of its text."""

        def clean(text: str | None) -> str | None:
            if text is None:
                return None
            text = text.replace(self.__key, "***")
            text = _GROQ_KEY.sub("gsk_***", text)
            return _BEARER.sub(r"\1***", text)

        err.message = clean(err.message) or ""
        err.hint = clean(err.hint)
        err.args = (err.message,)
        if isinstance(err, StreamInterrupted):
            err.partial = err.partial.replace(self.__key, "***")
        return err

    # -- retries

    def _notify(self, attempt: int, delay: float, reason: str) -> None:
        log.debug("retrying in %.2f s (%s), attempt %d failed", delay, reason, attempt)
        if self._on_retry is not None:
            self._on_retry(RetryNotice(attempt=attempt, delay=delay, reason=reason))

    async def _after_failure(self, failure: _AttemptFailed, attempt: int) -> None:
        """Wait before the next attempt, or raise the failure's error when none should follow."""
        err = failure.error
        server_wait = server_wait_for(failure.status, failure.headers)
        delay = retry_delay(attempt, failure.headers, self._rng, status=failure.status)
        too_long = failure.status == 429 and server_wait is not None and server_wait > MAX_SERVER_WAIT
        if not failure.retryable or attempt >= self.max_retries or too_long:
            # A wait over a minute is the user's call, not ours: they are told how long.
            if failure.status == 429 and err.retry_after is None:
                err.retry_after = delay
                err.hint = f"wait {delay:.0f} s and try again"
            raise self._scrub(err) from None
        self._notify(attempt + 1, delay, _retry_reason(failure.status, err))
        await self._sleep(delay)

    def _status_failure(self, response: httpx.Response, model: str | None) -> _AttemptFailed:
        host = _host(response.request.url)
        parsed = parse_error_body(response.status_code, response.headers.get("content-type"), response.content)
        retry_after = None
        if response.status_code == 429:
            retry_after = server_wait_for(429, response.headers) or wait_from_message(parsed.message)
            if retry_after is not None and retry_after <= 0:
                retry_after = None
        err = error_for_status(response.status_code, parsed, host=host, model=model, retry_after=retry_after)
        return _AttemptFailed(err, retryable=should_retry(response.status_code, response.headers),
                              status=response.status_code, headers=response.headers)

    def _exception_failure(self, exc: BaseException, url: httpx.URL, *, streaming: bool) -> _AttemptFailed:
        err = error_for_exception(exc, host=_host(url), streaming=streaming, timeout=self.timeout,
                                  connect_timeout=self.connect_timeout, stall_timeout=self.stall_timeout)
        return _AttemptFailed(err, retryable=is_retryable_exception(exc))

    # -- plain requests

    async def _request(self, method: str, url: str, *, model: str | None = None,
                       **kwargs: Any) -> httpx.Response:
        """A request with retries and an overall deadline per attempt; a 2xx response, read."""
        request_url = httpx.URL(url)
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                async with asyncio.timeout(self.timeout):
                    response = await self._http.request(method, request_url, headers=self._auth(), **kwargs)
            except (httpx.TransportError, TimeoutError) as exc:
                log.debug("%s %s failed after %.0f ms: %s", method, request_url.path,
                          (time.monotonic() - started) * 1000, type(exc).__name__)
                failure = self._exception_failure(exc, request_url, streaming=False)
            else:
                log.debug("%s %s -> %d in %.0f ms (%d bytes)", method, request_url.path, response.status_code,
                          (time.monotonic() - started) * 1000, len(response.content))
                if response.is_success:
                    return response
                failure = self._status_failure(response, model)
            await self._after_failure(failure, attempt)
            attempt += 1

    async def _get_json(self, url: str, *, model: str | None = None, **kwargs: Any) -> dict[str, Any]:
        response = await self._request("GET", url, model=model, **kwargs)
        return self._decode(response)

    def _decode(self, response: httpx.Response) -> dict[str, Any]:
        try:
            return _json_object(response.content, response.headers.get("content-type", ""),
                                _host(response.request.url))
        except ApiError as err:
            raise self._scrub(err) from None

    # -- public API

    async def transcribe(self, *, filename: str, data: bytes, content_type: str, model: str,
                         translate: bool = False, language: str | None = None, prompt: str | None = None,
                         temperature: float | None = None, response_format: str = "json") -> Transcript:
        """Upload audio bytes for transcription (or translation into English)."""
        if "." not in filename.strip("."):
            raise ValueError(f"upload filename {filename!r} needs an extension; the API types files by it")
        endpoint = "translations" if translate else "transcriptions"
        fields = speech_fields(model=model, translate=translate, language=language, prompt=prompt,
                               temperature=temperature, response_format=response_format)
        response = await self._request("POST", f"{self.stt_base}/audio/{endpoint}", model=model,
                                       files={"file": (filename, data, content_type)}, data=fields)
        if response_format in ("json", "verbose_json"):
            obj = self._decode(response)
            try:
                return transcript_from(obj, _host(response.request.url))
            except ApiError as err:
                raise self._scrub(err) from None
        text = response.content.decode("utf-8", errors="replace")
        return Transcript(text=text.strip(), language=None, duration=None, segments=(), raw={"text": text})

    async def chat(self, messages: Sequence[Mapping[str, str]], *, model: str,
                   options: Mapping[str, object]) -> ChatResult:
        """A whole answer at once (no streaming)."""
        response = await self._request("POST", f"{self.chat_base}/chat/completions", model=model,
                                       json=chat_body(messages, model, options, stream=False))
        obj = self._decode(response)
        try:
            return chat_result_from(obj, _host(response.request.url))
        except ApiError as err:
            raise self._scrub(err) from None

    async def list_models(self) -> list[ModelInfo]:
        """The models the key may use (`voicebot models`)."""
        obj = await self._get_json(f"{self.chat_base}/models")
        data = obj.get("data")
        if not isinstance(data, list):
            raise self._scrub(_bad_response(httpx.URL(self.chat_base).host, "no model list"))
        return [m for m in (model_from(e) for e in data if isinstance(e, Mapping)) if m is not None]

    async def get_model(self, model_id: str) -> ModelInfo:
        """One model's details (context window for the history budget)."""
        quoted = urllib.parse.quote(model_id, safe="")
        obj = await self._get_json(f"{self.chat_base}/models/{quoted}", model=model_id)
        found = model_from(obj)
        if found is None:
            raise self._scrub(_bad_response(httpx.URL(self.chat_base).host, "a model without an id"))
        return found

    async def warm(self) -> None:
        """Open (or reuse) the keep-alive connection now, so the next request skips DNS+TCP+TLS.

        A HEAD request is the cheapest thing that makes httpx connect; its status does
        not matter and its failure is ignored: the real request will report problems.
        """
        origins: dict[tuple[str, str, int | None], str] = {}
        for base in (self.chat_base, self.stt_base):
            url = httpx.URL(base)
            origins.setdefault((url.scheme, url.host, url.port), base)
        await asyncio.gather(*(self._warm_one(base) for base in origins.values()))

    async def _warm_one(self, base: str) -> None:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.connect_timeout * 2):
                response = await self._http.head(f"{base}/models", headers=self._auth())
            log.debug("warm %s -> %d in %.0f ms", httpx.URL(base).host, response.status_code,
                      (time.monotonic() - started) * 1000)
        except (httpx.HTTPError, TimeoutError) as exc:
            log.debug("warm %s failed: %s", httpx.URL(base).host, type(exc).__name__)

    # -- streaming

    async def chat_stream(self, messages: Sequence[Mapping[str, str]], *, model: str,
                          options: Mapping[str, object]) -> AsyncIterator[StreamEvent]:
        """The answer as events while it is generated.

        A failed attempt is retried only while no text has been yielded; after that
        the failure is `StreamInterrupted` with the text shown so far. Close the
        iterator (or cancel its task) to stop early: the response is closed with it.
        """
        body = chat_body(messages, model, options, stream=True)
        url = httpx.URL(f"{self.chat_base}/chat/completions")
        shown: list[str] = []
        text_seen = False
        attempt = 0
        while True:
            try:
                async with contextlib.aclosing(self._stream_once(url, body, model)) as events:
                    async for event in events:
                        if isinstance(event, (ContentDelta, ReasoningDelta)) and event.text:
                            text_seen = True
                            if isinstance(event, ContentDelta):
                                shown.append(event.text)
                        yield event
                return
            except _AttemptFailed as failure:
                if text_seen:
                    self._interrupted(failure.error, "".join(shown))
                await self._after_failure(failure, attempt)
                attempt += 1

    def _interrupted(self, err: ApiError, partial: str) -> NoReturn:
        hint = "the partial answer was kept; ask again to get the rest"
        interrupted = StreamInterrupted(f"the answer was interrupted: {err.message}", partial=partial, hint=hint)
        interrupted.status, interrupted.code, interrupted.retry_after = err.status, err.code, err.retry_after
        raise self._scrub(interrupted) from None

    async def _stream_once(self, url: httpx.URL, body: dict[str, Any],
                           model: str) -> AsyncGenerator[StreamEvent, None]:
        """One attempt: its events, or `_AttemptFailed`."""
        host = _host(url)
        headers = {**self._auth(), "Accept": "text/event-stream", "Cache-Control": "no-store"}
        timeout = httpx.Timeout(self.timeout, connect=self.connect_timeout, read=self.stall_timeout)
        request = self._http.build_request("POST", url, json=body, headers=headers, timeout=timeout)
        started = time.monotonic()
        try:
            response = await self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            log.debug("POST %s failed after %.0f ms: %s", url.path, (time.monotonic() - started) * 1000,
                      type(exc).__name__)
            raise self._exception_failure(exc, url, streaming=True) from None
        log.debug("POST %s -> %d in %.0f ms (stream)", url.path, response.status_code,
                  (time.monotonic() - started) * 1000)
        done = finished = False
        chars = 0
        try:
            if not response.is_success:
                await response.aread()
                raise self._status_failure(response, model)
            ctype = response.headers.get("content-type", "")
            if "text/event-stream" not in ctype.lower():
                # A server that ignored stream=true (or a proxy page): answer from the whole body.
                await response.aread()
                try:
                    whole = self._events_from_whole_body(response, host)
                except ApiError as err:
                    raise _AttemptFailed(err, retryable=False) from None
                for event in whole:
                    yield event
                done = True
                return
            response.encoding = "utf-8"  # the SSE spec fixes UTF-8 whatever the charset says
            async for sse in EventSource(response).aiter_sse():
                if done:
                    continue  # drain to the end so the connection can be reused
                if sse.event == "error":
                    try:
                        payload: object = json.loads(sse.data)
                    except ValueError:
                        payload = sse.data
                    raise self._in_stream_failure(stream_error("error", payload) or {}, host)
                if sse.event not in ("message", "") or not sse.data:
                    continue
                try:
                    obj = decode_data(sse.data)
                except BadStreamData as bad:
                    raise _AttemptFailed(_bad_response(host, str(bad)), retryable=False) from None
                if obj is None:
                    done = True
                    continue
                error = stream_error(sse.event, obj)
                if error is not None:
                    raise self._in_stream_failure(error, host)
                for event in events_from_chunk(obj):
                    if isinstance(event, Finish):
                        finished = True
                    elif isinstance(event, ContentDelta):
                        chars += len(event.text)
                    yield event
            if not (done or finished):
                raise _AttemptFailed(ApiError(f"the answer stream from {host} ended before the answer did",
                                              hint="try again", code="stream_truncated"), retryable=True)
        except httpx.TransportError as exc:
            if done or finished:
                log.debug("stream from %s ended badly after the answer was complete: %s", host, type(exc).__name__)
                return
            raise self._exception_failure(exc, url, streaming=True) from None
        finally:
            await response.aclose()
            log.debug("stream from %s closed after %.0f ms, %d answer chars", host,
                      (time.monotonic() - started) * 1000, chars)

    def _in_stream_failure(self, error: Mapping[str, Any], host: str) -> _AttemptFailed:
        """An error reported inside a 200 stream: never retried (the server chose to stop)."""
        parsed = parse_error_body(200, "application/json", json.dumps({"error": dict(error)}, default=str).encode())
        status_like = error.get("status_code") or error.get("status")
        status = status_like if isinstance(status_like, int) and 400 <= status_like < 600 else None
        if status is not None:
            err = error_for_status(status, parsed, host=host)
        else:
            detail = parsed.message or "no details given"
            err = ApiError(one_line(f"{host} reported an error mid-answer: {detail}", 300), hint="try again",
                           code=parsed.code or parsed.type or "stream_error")
        return _AttemptFailed(err, retryable=False, status=status)

    def _events_from_whole_body(self, response: httpx.Response, host: str) -> list[StreamEvent]:
        obj = _json_object(response.content, response.headers.get("content-type", ""), host)
        error = stream_error("message", obj)
        if error is not None:
            raise self._in_stream_failure(error, host)
        result = chat_result_from(obj, host)
        events: list[StreamEvent] = []
        if result.reasoning:
            events.append(ReasoningDelta(result.reasoning))
        if result.text:
            events.append(ContentDelta(result.text))
        if result.finish_reason:
            events.append(Finish(result.finish_reason))
        if result.usage is not None:
            events.append(result.usage)
        return events

    # -- text to speech

    async def speech(self, text: str, *, model: str, voice: str,
                     response_format: str = "wav") -> AsyncGenerator[bytes, None]:
        """`POST /audio/speech`: the audio's bytes as they arrive (the body streams in chunks).

        Retried by the same rules as every request (voicebot.retry) while no byte has come,
        but without retry notices: a voice that fails is one notice from the caller, and the
        text it speaks is already on screen. Once audio has come, a failure is raised as is.
        """
        url = httpx.URL(f"{self.chat_base}/audio/speech")
        body = {"model": model, "voice": voice, "input": text, "response_format": response_format}
        headers = {**self._auth(), "Accept": f"audio/{response_format}"}
        timeout = httpx.Timeout(self.timeout, connect=self.connect_timeout, read=self.stall_timeout)
        attempt = 0
        while True:
            received = False
            try:
                async with self._http.stream("POST", url, json=body, headers=headers, timeout=timeout) as response:
                    if not response.is_success:
                        await response.aread()
                        raise self._status_failure(response, model)
                    async for chunk in response.aiter_bytes():
                        received = True
                        yield chunk
                return
            except httpx.TransportError as exc:
                failure = self._exception_failure(exc, url, streaming=True)
            except _AttemptFailed as failed:
                failure = failed
            wait = server_wait_for(failure.status, failure.headers)
            if (received or not failure.retryable or attempt >= self.max_retries
                    or (wait is not None and wait > MAX_SERVER_WAIT)):
                raise self._scrub(failure.error) from None
            delay = retry_delay(attempt, failure.headers, self._rng, status=failure.status)
            log.debug("speech: retrying in %.2f s (%s)", delay, _retry_reason(failure.status, failure.error))
            await self._sleep(delay)
            attempt += 1
