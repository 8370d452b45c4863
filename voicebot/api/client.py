"""The Groq HTTP client: speech to text, streamed chat, models, with retries.

One long-lived `httpx.AsyncClient` per `GroqClient`, so the TLS connection opened
for the first request (or by `warm()` when the hotkey goes down) is reused by the
next turns. The client uploads bytes it is given and knows nothing about audio.

The client is the thin top layer: request bodies and results are
`voicebot.api.wire`, failures mapped to `ApiError` (the keys scrubbed from all of
them) are `voicebot.api.errors` and `voicebot.api.error_body`, one streamed attempt is
`voicebot.api.stream`, text to speech is `voicebot.api.tts`, TLS and which key goes
to which host is `voicebot.api.connection`, and when to retry is `voicebot.api.retry`. The
public names of those modules stay importable from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
import urllib.parse
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any, NoReturn

import httpx

from voicebot.api.connection import Keys, check_base, http_client, same_host, tls_context
from voicebot.api.error_body import MAX_MESSAGE, ParsedError, one_line, parse_error_body
from voicebot.api.errors import AttemptFailed, error_for_exception, error_for_status, status_failure
from voicebot.api.retry import (
    MAX_SERVER_WAIT,
    Random,
    RetryNotice,
    is_retryable_exception,
    may_still_be_working,
    retry_delay,
    retry_reason,
    upload_timeout,
)
from voicebot.api.retry import server_wait as server_wait_for
from voicebot.api.sse import ContentDelta, Finish, ReasoningDelta, StreamEvent, Usage
from voicebot.api.stream import stream_attempt
from voicebot.api.tts import speech_stream
from voicebot.api.wire import (
    ChatResult,
    ModelInfo,
    Transcript,
    bad_response,
    chat_body,
    chat_result_from,
    host_of,
    json_object,
    model_from,
    speech_fields,
    transcript_from,
)
from voicebot.errors import ApiError, StreamInterrupted

__all__ = [
    "MAX_MESSAGE", "ChatResult", "ContentDelta", "Finish", "GroqClient", "ModelInfo", "NoModelList",
    "ParsedError", "ReasoningDelta", "RetryNotice", "StreamEvent", "Transcript", "Usage", "chat_body",
    "chat_result_from", "error_for_exception", "error_for_status", "is_retryable_exception", "model_from",
    "one_line", "parse_error_body", "same_host", "speech_fields", "tls_context", "transcript_from",
]

log = logging.getLogger("voicebot.api.client")


class NoModelList(ApiError):
    """The speech server has no `/models` (many local whisper servers do not)."""

    def __init__(self, host: str) -> None:
        super().__init__(f"the speech server at {host} has no model list", code="no_model_list")


# ---------------------------------------------------------------- the client


class GroqClient:
    """Groq's OpenAI-compatible API over one keep-alive connection pool.

    `chat_base` is the OpenAI-style root (https://api.groq.com/openai/v1);
    `stt_base` defaults to it and may point speech at another server, and
    `stt_fallback_base` names a second speech server for when that one is down.
    Each key goes only to its own server: `api_key` to the chat host, `stt_api_key`
    to the speech server (the chat key only when speech is on the chat host), the
    fallback's key to the fallback; a server without a key gets no Authorization.
    """

    def __init__(self, *, api_key: str, chat_base: str, stt_base: str | None = None,
                 stt_api_key: str | None = None, stt_fallback_base: str | None = None,
                 stt_fallback_api_key: str | None = None,
                 max_retries: int = 2, timeout: float = 60.0, connect_timeout: float = 5.0,
                 stall_timeout: float = 20.0, transport: httpx.AsyncBaseTransport | None = None,
                 on_retry: Callable[[RetryNotice], None] | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 rng: Random | None = None) -> None:
        self.chat_base = check_base(chat_base, "the API base URL")
        self.stt_base = check_base(stt_base, "the speech API base URL") if stt_base else self.chat_base
        self.stt_fallback_base = (check_base(stt_fallback_base, "the fallback speech API base URL")
                                  if stt_fallback_base else None)
        self._keys = Keys(chat=api_key, chat_base=self.chat_base, stt_base=self.stt_base, stt=stt_api_key,
                          fallback=stt_fallback_api_key)
        self.max_retries = max(0, int(max_retries))
        self.timeout = float(timeout)
        self.connect_timeout = float(connect_timeout)
        self.stall_timeout = float(stall_timeout)
        self._on_retry = on_retry
        self._sleep = sleep
        self._rng: Random = rng or random.Random()
        self._http = http_client(timeout=self.timeout, connect_timeout=self.connect_timeout, transport=transport)

    def __repr__(self) -> str:
        return f"GroqClient(chat_base={self.chat_base!r}, stt_base={self.stt_base!r})"

    async def __aenter__(self) -> GroqClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._http.aclose()

    def speech_host(self, *, fallback: bool = False) -> str:
        """The host (and port) that speech goes to, for messages."""
        base = self.stt_fallback_base if fallback and self.stt_fallback_base else self.stt_base
        return host_of(httpx.URL(base))

    # -- the keys stay here: added per request, each for its own server, scrubbed from every error

    def _auth(self, role: str = "chat") -> dict[str, str]:
        return self._keys.auth(role)

    def _scrub(self, err: ApiError) -> ApiError:
        """The error with the keys (or anything shaped like one) blanked out of its text."""
        err.message = self._keys.scrub(err.message)
        err.hint = None if err.hint is None else self._keys.scrub(err.hint)
        err.args = (err.message,)
        if isinstance(err, StreamInterrupted):
            err.partial = self._keys.blank(err.partial)
        return err

    # -- retries

    def _notify(self, attempt: int, delay: float, reason: str) -> None:
        log.debug("retrying in %.2f s (%s), attempt %d failed", delay, reason, attempt)
        if self._on_retry is not None:
            self._on_retry(RetryNotice(attempt=attempt, delay=delay, reason=reason))

    async def _after_failure(self, failure: AttemptFailed, attempt: int, *, quiet: bool = False) -> None:
        """Wait before the next attempt, or raise the failure's error when none should follow.

        `quiet` retries without the "retrying in …" notice (the voice: its text is on screen)."""
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
        if quiet:
            log.debug("retrying quietly in %.2f s (%s)", delay, retry_reason(failure.status, err.code))
        else:
            self._notify(attempt + 1, delay, retry_reason(failure.status, err.code))
        await self._sleep(delay)

    def _status_failure(self, response: httpx.Response, model: str | None, role: str = "chat") -> AttemptFailed:
        return status_failure(response, host=host_of(response.request.url), model=model,
                              key_name=self._keys.names[role])

    def _exception_failure(self, exc: BaseException, url: httpx.URL, *, streaming: bool,
                           timeout: float | None = None, upload: bool = False) -> AttemptFailed:
        err = error_for_exception(exc, host=host_of(url), streaming=streaming, timeout=timeout or self.timeout,
                                  connect_timeout=self.connect_timeout, stall_timeout=self.stall_timeout)
        if upload and may_still_be_working(exc):
            err.message += "; not sent again, as the server may still be working on it"
            err.hint = ("raise the timeout setting (uploads also get time for their length), or set "
                        "stt_concurrency = 1 for a server that decodes one request at a time")
            return AttemptFailed(err, retryable=False)
        return AttemptFailed(err, retryable=is_retryable_exception(exc))

    # -- plain requests

    async def _request(self, method: str, url: str, *, model: str | None = None, role: str = "chat",
                       deadline: float | None = None, **kwargs: Any) -> httpx.Response:
        """A request with retries and an overall deadline per attempt; a 2xx response, read.

        `deadline` (an upload's, longer than `timeout`) also marks the request as an
        upload, which a timeout waiting for its answer does not send again.
        """
        request_url = httpx.URL(url)
        limit = deadline or self.timeout
        if deadline is not None:
            kwargs["timeout"] = httpx.Timeout(deadline, connect=self.connect_timeout)
        attempt = 0
        while True:
            started = time.monotonic()
            try:
                async with asyncio.timeout(limit):
                    response = await self._http.request(method, request_url, headers=self._auth(role), **kwargs)
            except (httpx.TransportError, TimeoutError) as exc:
                log.debug("%s %s failed after %.0f ms: %s", method, request_url.path,
                          (time.monotonic() - started) * 1000, type(exc).__name__)
                failure = self._exception_failure(exc, request_url, streaming=False, timeout=limit,
                                                  upload=deadline is not None)
            else:
                log.debug("%s %s -> %d in %.0f ms (%d bytes)", method, request_url.path, response.status_code,
                          (time.monotonic() - started) * 1000, len(response.content))
                if response.is_success:
                    return response
                failure = self._status_failure(response, model, role)
            await self._after_failure(failure, attempt)
            attempt += 1

    async def _get_json(self, url: str, *, model: str | None = None, role: str = "chat",
                        **kwargs: Any) -> dict[str, Any]:
        response = await self._request("GET", url, model=model, role=role, **kwargs)
        return self._decode(response)

    def _decode(self, response: httpx.Response) -> dict[str, Any]:
        try:
            return json_object(response.content, response.headers.get("content-type", ""),
                               host_of(response.request.url))
        except ApiError as err:
            raise self._scrub(err) from None

    # -- public API

    async def transcribe(self, *, filename: str, data: bytes, content_type: str, model: str,
                         translate: bool = False, language: str | None = None, prompt: str | None = None,
                         temperature: float | None = None, response_format: str = "json",
                         audio_seconds: float | None = None, fallback: bool = False) -> Transcript:
        """Upload audio bytes for transcription (or translation into English).

        The deadline grows with `audio_seconds` (`retry.upload_timeout`); `fallback`
        sends it to the fallback speech server instead.
        """
        if "." not in filename.strip("."):
            raise ValueError(f"upload filename {filename!r} needs an extension; the API types files by it")
        if fallback and self.stt_fallback_base is None:
            raise ValueError("no fallback speech server is configured")
        base, role = (self.stt_fallback_base, "fallback") if fallback and self.stt_fallback_base else (
            self.stt_base, "stt")
        endpoint = "translations" if translate else "transcriptions"
        fields = speech_fields(model=model, translate=translate, language=language, prompt=prompt,
                               temperature=temperature, response_format=response_format)
        response = await self._request("POST", f"{base}/audio/{endpoint}", model=model, role=role,
                                       deadline=upload_timeout(self.timeout, audio_seconds),
                                       files={"file": (filename, data, content_type)}, data=fields)
        if response_format in ("json", "verbose_json"):
            obj = self._decode(response)
            try:
                return transcript_from(obj, host_of(response.request.url))
            except ApiError as err:
                raise self._scrub(err) from None
        text = response.content.decode("utf-8", errors="replace")
        return Transcript(text=text.strip(), language=None, duration=None, segments=(), raw={"text": text})

    @property
    def speech_is_elsewhere(self) -> bool:
        """Whether speech goes to another server than chat (whose models `voicebot models` lists too)."""
        return self.stt_base != self.chat_base

    async def list_models(self, *, speech: bool = False) -> list[ModelInfo]:
        """The models the key may use (`voicebot models`); `speech`: the speech server's.

        A speech server without a model list (404) is `NoModelList`, not a failure.
        """
        base, role = (self.stt_base, "stt") if speech else (self.chat_base, "chat")
        try:
            obj = await self._get_json(f"{base}/models", role=role)
        except ApiError as err:
            if speech and err.status in (404, 405):
                raise NoModelList(self.speech_host()) from None
            raise
        data = obj.get("data")
        if not isinstance(data, list):
            raise self._scrub(bad_response(httpx.URL(base).host, "no model list"))
        return [m for m in (model_from(e) for e in data if isinstance(e, Mapping)) if m is not None]

    async def get_model(self, model_id: str) -> ModelInfo:
        """One model's details (context window for the history budget)."""
        quoted = urllib.parse.quote(model_id, safe="")
        obj = await self._get_json(f"{self.chat_base}/models/{quoted}", model=model_id)
        found = model_from(obj)
        if found is None:
            raise self._scrub(bad_response(httpx.URL(self.chat_base).host, "a model without an id"))
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
        role = "chat" if base == self.chat_base else "stt"
        try:
            async with asyncio.timeout(self.connect_timeout * 2):
                response = await self._http.head(f"{base}/models", headers=self._auth(role))
            log.debug("warm %s -> %d in %.0f ms", httpx.URL(base).host, response.status_code,
                      (time.monotonic() - started) * 1000)
        except (httpx.HTTPError, TimeoutError) as exc:
            log.debug("warm %s failed: %s", httpx.URL(base).host, type(exc).__name__)

    async def request(self, method: str, path: str, *, json: Any = None, data: Mapping[str, str] | None = None,
                      files: Mapping[str, tuple[str, bytes, str]] | None = None, once: bool = False) -> httpx.Response:
        """A request to the chat server's `path` ("/files", "/batches/ID") on the one request path.

        For endpoints without a method here (`voicebot.api.files`, `voicebot.api.batches`):
        the key added, retries, errors scrubbed; a 2xx answer read whole. `once`: a request
        that must not happen twice (creating a batch) is not sent again after a timeout
        waiting for its answer.
        """
        extra: dict[str, Any] = {"json": json, "data": data, "files": files}
        return await self._request(method, f"{self.chat_base}{path}", deadline=self.timeout if once else None,
                                   **{k: v for k, v in extra.items() if v is not None})

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
            except AttemptFailed as failure:
                if text_seen:
                    self._interrupted(failure.error, "".join(shown))
                await self._after_failure(failure, attempt)
                attempt += 1

    def _interrupted(self, err: ApiError, partial: str) -> NoReturn:
        hint = "the partial answer was kept; ask again to get the rest"
        interrupted = StreamInterrupted(f"the answer was interrupted: {err.message}", partial=partial, hint=hint)
        interrupted.status, interrupted.code, interrupted.retry_after = err.status, err.code, err.retry_after
        raise self._scrub(interrupted) from None

    def _stream_once(self, url: httpx.URL, body: dict[str, Any], model: str) -> AsyncGenerator[StreamEvent, None]:
        """One attempt (see `voicebot.api.stream`): its events, or `AttemptFailed`."""
        headers = {**self._auth(), "Accept": "text/event-stream", "Cache-Control": "no-store"}
        timeout = httpx.Timeout(self.timeout, connect=self.connect_timeout, read=self.stall_timeout)
        request = self._http.build_request("POST", url, json=body, headers=headers, timeout=timeout)
        return stream_attempt(self._http, request, model=model,
                              failure_of=lambda exc: self._exception_failure(exc, url, streaming=True))

    # -- text to speech

    def speech(self, text: str, *, model: str, voice: str,
               response_format: str = "wav") -> AsyncGenerator[bytes, None]:
        """`POST /audio/speech`: the audio's bytes as they arrive (see `voicebot.api.tts`)."""
        return speech_stream(self, text, model=model, voice=voice, response_format=response_format)
