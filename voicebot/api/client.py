"""The Groq HTTP client: speech to text, streamed chat, models, text to speech.

One long-lived `httpx.AsyncClient` per `GroqClient`, so the TLS connection opened
for the first request (or by `warm()` when the hotkey goes down) is reused by the
next turns. The client uploads bytes it is given and knows nothing about audio.

The client is the thin top layer: each method describes its request and how to read
its answer, and the one request path (`voicebot.api.sender`) sends it, adds the key,
judges the answer and retries. Request bodies and results are `voicebot.api.wire`,
failures mapped to `ApiError` (the keys scrubbed from all of them) are
`voicebot.api.errors` and `voicebot.api.error_body`, a streamed chat answer's events are
`voicebot.api.stream`, text to speech is `voicebot.api.tts`, endpoints, timeouts, TLS and
which key goes to which host are `voicebot.api.connection`, and when to retry is
`voicebot.api.retry`. The public names of those modules stay importable from here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.parse
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Mapping, Sequence
from typing import Any

import httpx

from voicebot.api.connection import Endpoint, Keys, Timeouts, check_base, http_client, same_host, tls_context
from voicebot.api.error_body import MAX_MESSAGE, ParsedError, one_line, parse_error_body
from voicebot.api.errors import error_for_exception, error_for_status
from voicebot.api.retry import Random, RetryNotice, is_retryable_exception, server_unavailable, upload_timeout
from voicebot.api.sender import Call, Sender, WaitNotice
from voicebot.api.speech_route import SpeechRoute
from voicebot.api.sse import ContentDelta, Finish, ReasoningDelta, StreamEvent, Usage
from voicebot.api.stream import read_events
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
    "MAX_MESSAGE", "ChatResult", "ContentDelta", "Endpoint", "Finish", "GroqClient", "ModelInfo", "NoModelList",
    "ParsedError", "ReasoningDelta", "RetryNotice", "StreamEvent", "Timeouts", "Transcript", "Usage", "WaitNotice",
    "chat_body", "chat_result_from", "error_for_exception", "error_for_status", "is_retryable_exception", "model_from",
    "one_line", "parse_error_body", "same_host", "speech_fields", "tls_context", "transcript_from",
]

log = logging.getLogger("voicebot.api.client")


class NoModelList(ApiError):
    """The speech server has no `/models` (many local whisper servers do not)."""

    def __init__(self, host: str, *, fallback: bool = False) -> None:
        which = "fallback speech server" if fallback else "speech server"
        super().__init__(f"the {which} at {host} has no model list", code="no_model_list")


# ---------------------------------------------------------------- the client


class GroqClient:
    """Groq's OpenAI-compatible API over one keep-alive connection pool.

    `chat` is the chat server (its root, e.g. https://api.groq.com/openai/v1, and the
    key, which is required); `stt` the speech-to-text server (default: the chat one) and
    `fallback` a second speech server for when that one is down. Each key goes only to its
    own server: a speech server on the chat host without a key of its own gets the chat
    key; a server without a key gets no Authorization. `timeouts` limit every request;
    `max_retries`, `on_retry` (told before each wait), `sleep` and `rng` are the retries';
    `on_wait` is told while an answer is long in coming. After the speech server failed as one
    that cannot serve, `prefers_fallback()` says so until a background probe gets an answer.
    """

    def __init__(self, chat: Endpoint, *, stt: Endpoint | None = None, fallback: Endpoint | None = None,
                 timeouts: Timeouts | None = None, max_retries: int = 2,
                 transport: httpx.AsyncBaseTransport | None = None,
                 on_retry: Callable[[RetryNotice], None] | None = None,
                 on_wait: Callable[[WaitNotice], None] | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 rng: Random | None = None) -> None:
        self.chat_base = check_base(chat.base, "the API base URL")
        self.stt_base = check_base(stt.base, "the speech API base URL") if stt else self.chat_base
        self.stt_fallback_base = check_base(fallback.base, "the fallback speech API base URL") if fallback else None
        keys = Keys(Endpoint(self.chat_base, chat.key), Endpoint(self.stt_base, stt.key if stt else None),
                    Endpoint(self.stt_fallback_base, fallback.key) if fallback and self.stt_fallback_base else None)
        self.timeouts = timeouts or Timeouts()
        self._send = Sender(http_client(self.timeouts, transport), keys, self.timeouts, max_retries=max_retries,
                            on_retry=on_retry, on_wait=on_wait, sleep=sleep, rng=rng)
        self._route = SpeechRoute(self._primary_answers)

    @property
    def max_retries(self) -> int:
        return self._send.max_retries

    def __repr__(self) -> str:
        return f"GroqClient(chat_base={self.chat_base!r}, stt_base={self.stt_base!r})"

    async def __aenter__(self) -> GroqClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop probing, close the pooled connections."""
        await self._route.aclose()
        await self._send.http.aclose()

    def speech_host(self, *, fallback: bool = False) -> str:
        """The host (and port) that speech goes to, for messages."""
        base = self.stt_fallback_base if fallback and self.stt_fallback_base else self.stt_base
        return host_of(httpx.URL(base))

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
        call = Call("POST", httpx.URL(f"{base}/audio/{endpoint}"), role=role, model=model, data=fields,
                    files={"file": (filename, data, content_type)}, upload=True,
                    deadline=upload_timeout(self.timeouts.total, audio_seconds))
        read = _json_transcript if response_format in ("json", "verbose_json") else _plain_transcript
        try:
            return await self._send.send(call, read)
        except ApiError as err:
            if role == "stt" and self.stt_fallback_base is not None and server_unavailable(err.status):
                self._route.primary_failed()
            raise

    def primary_too_slow(self) -> None:
        """The fallback answered while the primary had not: uploads go to the fallback until a
        probe of the primary gets an answer (as after a failure)."""
        if self.stt_fallback_base is not None:
            self._route.primary_failed()

    def prefers_fallback(self) -> bool:
        """Whether the speech server failed lately and has not answered a probe since: uploads
        should go to the fallback meanwhile (it is probed every `speech_route.PROBE_EVERY` s)."""
        return self.stt_fallback_base is not None and self._route.prefer_fallback

    async def _primary_answers(self) -> bool:
        url = httpx.URL(f"{self.stt_base}/models")
        return await self._send.probe(url, "stt", self.timeouts.connect * 2) is not None

    @property
    def speech_is_elsewhere(self) -> bool:
        """Whether speech goes to another server than chat (whose models `voicebot models` lists too)."""
        return self.stt_base != self.chat_base

    async def list_models(self, *, speech: bool = False, fallback: bool = False) -> list[ModelInfo]:
        """The models the key may use (`voicebot models`); `speech`: the speech server's,
        `fallback`: the fallback speech server's.

        A speech server without a model list (404) is `NoModelList`, not a failure.
        """
        if fallback and self.stt_fallback_base is None:
            raise ValueError("no fallback speech server is configured")
        base, role = ((self.stt_fallback_base, "fallback") if fallback and self.stt_fallback_base
                      else (self.stt_base, "stt") if speech else (self.chat_base, "chat"))
        try:
            return await self._send.send(Call("GET", httpx.URL(f"{base}/models"), role=role), _model_list)
        except ApiError as err:
            if (speech or fallback) and err.status in (404, 405):
                raise NoModelList(self.speech_host(fallback=fallback), fallback=fallback) from None
            raise

    async def get_model(self, model_id: str) -> ModelInfo:
        """One model's details (context window for the history budget)."""
        quoted = urllib.parse.quote(model_id, safe="")
        call = Call("GET", httpx.URL(f"{self.chat_base}/models/{quoted}"), model=model_id)
        return await self._send.send(call, _one_model)

    async def warm(self) -> None:
        """Open (or reuse) the keep-alive connection now, so the next request skips DNS+TCP+TLS.

        A HEAD request is the cheapest thing that makes httpx connect; its status does
        not matter and its failure is ignored: the real request will report problems.
        """
        origins: dict[tuple[str, str, int | None], str] = {}
        for base in (self.chat_base, self.stt_base):
            url = httpx.URL(base)
            origins.setdefault((url.scheme, url.host, url.port), base)
        await asyncio.gather(*(self._send.probe(httpx.URL(f"{base}/models"), "chat" if base == self.chat_base
                                                else "stt", self.timeouts.connect * 2)
                               for base in origins.values()))

    async def request(self, method: str, path: str, *, json: Any = None, data: Mapping[str, str] | None = None,
                      files: Mapping[str, tuple[str, bytes, str]] | None = None, once: bool = False) -> httpx.Response:
        """A request to the chat server's `path` ("/files", "/batches/ID") on the one request path.

        For endpoints without a method here (`voicebot.api.files`, `voicebot.api.batches`):
        the key added, retries, errors scrubbed; a 2xx answer read whole. `once`: a request
        that must not happen twice (creating a batch) is not sent again after a timeout
        waiting for its answer.
        """
        call = Call(method, httpx.URL(f"{self.chat_base}{path}"), json=json, data=data, files=files, upload=once)
        return await self._send.send(call, _whole)

    async def chat_complete(self, messages: Sequence[Mapping[str, str]], *, model: str,
                            options: Mapping[str, object]) -> ChatResult:
        """The whole answer in one (non-streamed) request, retried where safe.

        For the requests Groq does not stream: structured outputs (`json_schema`), whose
        reply is checked against its schema before any of it is shown, and the compound
        systems' web-search turns, whose sources arrive with the answer (`raw`).
        """
        body = chat_body(messages, model, options, stream=False)
        call = Call("POST", httpx.URL(f"{self.chat_base}/chat/completions"), json=body, model=model)
        return await self._send.send(call, _chat_result)

    # -- streaming

    async def chat_stream(self, messages: Sequence[Mapping[str, str]], *, model: str,
                          options: Mapping[str, object]) -> AsyncIterator[StreamEvent]:
        """The answer as events while it is generated.

        A failed attempt is retried only while no text has been yielded; after that
        the failure is `StreamInterrupted` with the text shown so far. Close the
        iterator (or cancel its task) to stop early: the response is closed with it.
        """
        call = Call("POST", httpx.URL(f"{self.chat_base}/chat/completions"), model=model, streaming=True,
                    json=chat_body(messages, model, options, stream=True),
                    headers={"Accept": "text/event-stream", "Cache-Control": "no-store"})
        shown: list[str] = []

        def interrupted(err: ApiError) -> ApiError:
            cut = StreamInterrupted(f"the answer was interrupted: {err.message}", partial="".join(shown),
                                    hint="the partial answer was kept; ask again to get the rest")
            cut.status, cut.code, cut.retry_after = err.status, err.code, err.retry_after
            return cut

        async with contextlib.aclosing(self._send.stream(call, read_events, commits=_has_text,
                                                         interrupted=interrupted)) as events:
            async for event in events:
                if isinstance(event, ContentDelta):
                    shown.append(event.text)
                yield event

    # -- text to speech

    def speech(self, text: str, *, model: str, voice: str,
               response_format: str = "wav") -> AsyncGenerator[bytes, None]:
        """`POST /audio/speech`: the audio's bytes as they arrive (see `voicebot.api.tts`)."""
        return speech_stream(self._send, self.chat_base, text, model=model, voice=voice,
                             response_format=response_format)


# ---------------------------------------------------------------- readers of answers


def _has_text(event: StreamEvent) -> bool:
    """Whether a chat event showed the user something (after it, a failure is not retried)."""
    return isinstance(event, (ContentDelta, ReasoningDelta)) and bool(event.text)


def _whole(response: httpx.Response) -> httpx.Response:
    return response


def _json(response: httpx.Response) -> dict[str, Any]:
    return json_object(response.content, response.headers.get("content-type", ""), host_of(response.request.url))


def _chat_result(response: httpx.Response) -> ChatResult:
    return chat_result_from(_json(response), host_of(response.request.url))


def _json_transcript(response: httpx.Response) -> Transcript:
    return transcript_from(_json(response), host_of(response.request.url))


def _plain_transcript(response: httpx.Response) -> Transcript:
    text = response.content.decode("utf-8", errors="replace")
    return Transcript(text=text.strip(), language=None, duration=None, segments=(), raw={"text": text})


def _model_list(response: httpx.Response) -> list[ModelInfo]:
    data = _json(response).get("data")
    if not isinstance(data, list):
        raise bad_response(response.request.url.host, "no model list")
    return [m for m in (model_from(e) for e in data if isinstance(e, Mapping)) if m is not None]


def _one_model(response: httpx.Response) -> ModelInfo:
    found = model_from(_json(response))
    if found is None:
        raise bad_response(response.request.url.host, "a model without an id")
    return found
