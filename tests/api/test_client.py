"""The Groq client: requests on the wire, retries, errors, real sockets, and the fake Groq server."""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import json
import logging
import socket
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiohttp import web
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakegroq import BAD_GATEWAY_HTML, TEST_API_KEY, FakeGroq
from voicebot import __version__
from voicebot.api.client import (
    ContentDelta,
    Endpoint,
    Finish,
    GroqClient,
    ModelInfo,
    ParsedError,
    ReasoningDelta,
    RetryNotice,
    Timeouts,
    Usage,
    error_for_exception,
    error_for_status,
    parse_error_body,
)
from voicebot.errors import ApiError, StreamInterrupted, UsageError

KEY = "gsk_LEAKCHECK_0123456789abcdefXYZ"
BASE = "https://api.groq.test/openai/v1"
DATA = Path(__file__).parents[1] / "data"
MESSAGES = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Capital of France?"}]
Handler = Callable[[httpx.Request], httpx.Response]


class FixedRng:
    def random(self) -> float:
        return 0.0


class Script:
    """A MockTransport answering from a list of responses (or exceptions), recording requests."""

    def __init__(self, *answers: httpx.Response | Exception | Handler) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []
        self.sleeps: list[float] = []
        self.notices: list[RetryNotice] = []

    def handle(self, request: httpx.Request) -> httpx.Response:
        request.read()
        self.requests.append(request)
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        if isinstance(answer.stream, httpx.ByteStream):  # a fresh copy, so the last answer can repeat
            return httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)
        return answer

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)

    def client(self, **kwargs: Any) -> GroqClient:
        return GroqClient(Endpoint(BASE, KEY), transport=httpx.MockTransport(self.handle), sleep=self.sleep,
                          on_retry=self.notices.append, rng=FixedRng(), **kwargs)


def run(coro: Awaitable[Any]) -> Any:
    return asyncio.run(coro)  # type: ignore[arg-type]


def groq_error(status: int, message: str, code: str | None = None, type_: str = "invalid_request_error",
               headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json={"error": {"message": message, "type": type_, "code": code}},
                          headers=headers)


def sse(*objs: dict[str, Any], done: bool = True) -> httpx.Response:
    body = "".join(f"data: {json.dumps(o)}\n\n" for o in objs) + ("data: [DONE]\n\n" if done else "")
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, content=body.encode())


def delta(content: str | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    d = {} if content is None else {"content": content}
    return {"choices": [{"index": 0, "delta": d, "finish_reason": finish}], **extra}


ANSWER = [delta(""), delta("Paris"), delta(" it is."), delta(finish="stop", x_groq={"usage": {"total_tokens": 9}})]


async def stream_all(client: GroqClient, **options: Any) -> list[Any]:
    options.setdefault("include_reasoning", False)  # the fake server's content then starts at once
    async with client:
        return [e async for e in client.chat_stream(MESSAGES, model="openai/gpt-oss-20b", options=options)]


def multipart(request: httpx.Request) -> dict[str, tuple[str | None, str | None, bytes]]:
    """name -> (filename, content type, payload) of a multipart request."""
    head = f"Content-Type: {request.headers['content-type']}\r\n\r\n".encode()
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + request.content)
    parts = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        ctype = part.get("content-type")
        parts[name] = (part.get_filename(), str(ctype) if ctype else None, part.get_payload(decode=True))
    return parts


# ---------------------------------------------------------------- requests on the wire


def test_transcription_upload_is_multipart_with_only_the_fields_set() -> None:
    script = Script(httpx.Response(200, json={"text": "  The capital of France.  ", "x_groq": {"id": "req_1"}}))
    audio = b"fLaC\x00\x01binary"

    async def go() -> Any:
        async with script.client() as client:
            return await client.transcribe(filename="speech.flac", data=audio, content_type="audio/flac",
                                           model="whisper-large-v3-turbo", language="en", temperature=0)

    result = run(go())
    assert result.text == "The capital of France."
    [request] = script.requests
    assert request.method == "POST" and str(request.url) == f"{BASE}/audio/transcriptions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["user-agent"] == f"voicebot/{__version__}"
    parts = multipart(request)
    assert parts["file"] == ("speech.flac", "audio/flac", audio)
    assert {k: v[2] for k, v in parts.items() if k != "file"} == {
        "model": b"whisper-large-v3-turbo", "response_format": b"json", "language": b"en", "temperature": b"0.0"}


def test_translation_goes_to_its_endpoint_without_a_language() -> None:
    script = Script(httpx.Response(200, json={"text": "Hello"}))

    async def go() -> Any:
        async with script.client(stt=Endpoint("http://127.0.0.1:8080/v1/")) as client:
            return await client.transcribe(filename="a.ogg", data=b"x", content_type="audio/ogg", translate=True,
                                           model="whisper-large-v3", language="fr", prompt="Greetings")

    assert run(go()).text == "Hello"
    [request] = script.requests
    assert str(request.url) == "http://127.0.0.1:8080/v1/audio/translations"
    fields = {k: v[2] for k, v in multipart(request).items() if k != "file"}
    assert fields == {"model": b"whisper-large-v3", "response_format": b"json", "prompt": b"Greetings"}


def test_text_and_verbose_json_formats() -> None:
    verbose = {"task": "transcribe", "language": "English", "duration": 2.5, "text": " Hi there.",
               "segments": [{"id": 0, "start": 0.0, "end": 2.5, "text": " Hi there.", "no_speech_prob": 0.01}]}
    script = Script(httpx.Response(200, text=" plain words\n", headers={"content-type": "text/plain"}),
                    httpx.Response(200, json=verbose))

    async def go() -> tuple[Any, Any]:
        async with script.client() as client:
            kw = dict(filename="a.wav", data=b"x", content_type="audio/wav", model="m")
            return (await client.transcribe(response_format="text", **kw),
                    await client.transcribe(response_format="verbose_json", **kw))

    text, detailed = run(go())
    assert (text.text, text.raw) == ("plain words", {"text": " plain words\n"})
    assert (detailed.text, detailed.language, detailed.duration) == ("Hi there.", "English", 2.5)
    assert detailed.segments[0]["no_speech_prob"] == 0.01 and detailed.raw == verbose


def test_upload_without_extension_is_refused_before_sending() -> None:
    script = Script(httpx.Response(200, json={"text": "x"}))
    with pytest.raises(ValueError, match="extension"):
        run(script.client().transcribe(filename="speech", data=b"x", content_type="audio/flac", model="m"))
    assert script.requests == []


def test_chat_stream_body_has_options_verbatim_and_none_dropped() -> None:
    script = Script(sse(*ANSWER))
    options = {"temperature": 0.2, "top_p": None, "max_completion_tokens": 300, "stop": ["\n\n"],
               "reasoning_effort": "low", "include_reasoning": False, "response_format": {"type": "json_object"},
               "model": "ignored", "stream": False}
    events = run(stream_all(script.client(), **options))
    assert events == [ContentDelta("Paris"), ContentDelta(" it is."), Finish("stop"), Usage(None, None, 9, {"total_tokens": 9})]
    [request] = script.requests
    assert str(request.url) == f"{BASE}/chat/completions"
    assert request.headers["accept"] == "text/event-stream"
    assert json.loads(request.content) == {
        "model": "openai/gpt-oss-20b", "messages": MESSAGES, "stream": True, "temperature": 0.2,
        "max_completion_tokens": 300, "stop": ["\n\n"], "reasoning_effort": "low", "include_reasoning": False,
        "response_format": {"type": "json_object"}}


def test_models_list_and_one_model() -> None:
    entry = {"id": "openai/gpt-oss-20b", "owned_by": "OpenAI", "context_window": 131072, "active": True}
    script = Script(httpx.Response(200, json={"object": "list", "data": [entry, {"no": "id"}]}),
                    httpx.Response(200, json=entry))

    async def go() -> tuple[list[ModelInfo], ModelInfo]:
        async with script.client() as client:
            return await client.list_models(), await client.get_model("openai/gpt-oss-20b")

    models, one = run(go())
    assert models == [ModelInfo("openai/gpt-oss-20b", "OpenAI", 131072, True, entry)] and one == models[0]
    assert script.requests[1].url.raw_path == b"/openai/v1/models/openai%2Fgpt-oss-20b"


def test_a_server_that_ignores_stream_true_still_answers() -> None:
    body = {"choices": [{"message": {"content": "whole answer"}, "finish_reason": "stop"}]}
    script = Script(httpx.Response(200, json=body))
    assert run(stream_all(script.client())) == [ContentDelta("whole answer"), Finish("stop")]


# ---------------------------------------------------------------- retries


def test_rate_limit_waits_what_the_server_says_and_tells_the_user() -> None:
    script = Script(groq_error(429, "Rate limit reached. Please try again in 7s.", "rate_limit_exceeded",
                               headers={"retry-after": "7"}), sse(*ANSWER))
    assert ContentDelta("Paris") in run(stream_all(script.client()))
    assert script.sleeps == [7.0]
    assert script.notices == [RetryNotice(attempt=1, delay=7.0, reason="rate limited")]
    assert len(script.requests) == 2


def test_server_errors_back_off_then_give_up_with_a_clear_error() -> None:
    script = Script(groq_error(503, "Service Unavailable", type_="internal_server_error"))
    with pytest.raises(ApiError) as info:
        run(stream_all(script.client()))
    assert len(script.requests) == 3 and script.sleeps == [0.5, 1.0]
    assert [n.attempt for n in script.notices] == [1, 2]
    assert script.notices[0].reason == "server error 503"
    assert info.value.status == 503 and "having trouble" in str(info.value)


@pytest.mark.parametrize("answer", [groq_error(400, "bad"), groq_error(401, "Invalid API Key", "invalid_api_key"),
                                    groq_error(404, "no such model", "model_not_found"),
                                    groq_error(503, "down", headers={"x-should-retry": "false"})])
def test_final_answers_are_not_retried(answer: httpx.Response) -> None:
    script = Script(answer)
    with pytest.raises(ApiError):
        run(script.client().list_models())
    assert len(script.requests) == 1 and script.sleeps == [] and script.notices == []


def test_x_should_retry_true_retries_even_a_400() -> None:
    script = Script(groq_error(400, "try me again", headers={"x-should-retry": "true"}),
                    httpx.Response(200, json={"data": []}))
    assert run(script.client().list_models()) == []
    assert len(script.requests) == 2


def test_a_rate_limit_wait_over_a_minute_is_not_waited_for() -> None:
    script = Script(groq_error(429, "Please try again in 2m0s.", "rate_limit_exceeded", headers={"retry-after": "120"}))
    with pytest.raises(ApiError) as info:
        run(stream_all(script.client()))
    assert len(script.requests) == 1 and script.sleeps == []
    assert info.value.retry_after == 120 and info.value.status == 429
    assert "rate limited" in str(info.value) and "wait 120 s" in str(info.value)


def test_rate_limit_after_retries_sets_retry_after() -> None:
    script = Script(groq_error(429, "slow down", "rate_limit_exceeded"))
    with pytest.raises(ApiError) as info:
        run(stream_all(script.client(max_retries=1)))
    assert len(script.requests) == 2 and script.sleeps == [0.5]
    assert info.value.retry_after is not None and info.value.retry_after > 0
    assert info.value.code == "rate_limit_exceeded"


def test_connection_failures_are_retried() -> None:
    script = Script(httpx.ConnectError("boom"), httpx.ReadTimeout("slow"), httpx.Response(200, json={"data": []}))
    assert run(script.client().list_models()) == []
    assert [n.reason for n in script.notices] == ["request failed", "timed out"]


def test_stream_is_retried_while_no_text_was_shown() -> None:
    broken = httpx.Response(200, headers={"content-type": "text/event-stream"},
                            stream=FailingStream([b'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n']))
    script = Script(groq_error(500, "oops"), broken, sse(*ANSWER))
    events = run(stream_all(script.client()))
    assert [e for e in events if isinstance(e, ContentDelta)] == [ContentDelta("Paris"), ContentDelta(" it is.")]
    assert len(script.requests) == 3


def test_stream_is_not_retried_once_text_was_shown() -> None:
    broken = httpx.Response(200, headers={"content-type": "text/event-stream"},
                            stream=FailingStream([b'data: {"choices":[{"delta":{"reasoning":"hmm"}}]}\n\n',
                                                  b'data: {"choices":[{"delta":{"content":"Par"}}]}\n\n']))
    script = Script(broken, sse(*ANSWER))
    seen: list[Any] = []

    async def go() -> None:
        async with script.client() as client:
            async for event in client.chat_stream(MESSAGES, model="m", options={}):
                seen.append(event)

    with pytest.raises(StreamInterrupted) as info:
        run(go())
    assert seen == [ReasoningDelta("hmm"), ContentDelta("Par")]
    assert info.value.partial == "Par" and len(script.requests) == 1
    assert "interrupted" in str(info.value)


class FailingStream(httpx.AsyncByteStream):
    """A body that breaks, as a dropped connection does, after its pieces."""

    def __init__(self, pieces: Sequence[bytes]) -> None:
        self.pieces = pieces

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece
        raise httpx.ReadError("connection reset by peer")


# ---------------------------------------------------------------- error text


@pytest.mark.parametrize("status, body, words, code", [
    (401, {"error": {"message": "Invalid API Key", "code": "invalid_api_key"}}, ["rejected", "check GROQ_API_KEY"],
     "invalid_api_key"),
    (404, {"error": {"message": "The model `x` does not exist", "code": "model_not_found"}},
     ["'x'", "`voicebot models`"], "model_not_found"),
    (400, {"error": {"message": "The model `llama-3.3-70b-versatile` has been decommissioned",
                     "code": "model_decommissioned"}}, ["retired", "pick another model"], "model_decommissioned"),
    (413, {"error": {"message": "Request Entity Too Large"}}, ["too large", "shorter recording"], None),
    (429, {"error": {"message": "Rate limit reached", "code": "rate_limit_exceeded"}}, ["rate limited", "wait"],
     "rate_limit_exceeded"),
    (503, {"error": {"message": "Service Unavailable"}}, ["having trouble", "503", "groqstatus.com"], "server_error"),
])
def test_each_status_gets_what_happened_and_what_to_do(status: int, body: dict[str, Any], words: list[str],
                                                       code: str | None) -> None:
    parsed = parse_error_body(status, "application/json", json.dumps(body).encode())
    err = error_for_status(status, parsed, host="api.groq.com", model="x")
    text = str(err)
    assert "\n" not in text and err.status == status and err.code == code
    for word in words:
        assert word in text


def test_unknown_path_404_points_at_the_base_url() -> None:
    err = error_for_status(404, ParsedError("Unknown request URL: GET /v1/models"), host="api.groq.com")
    assert "check the API base URL" in str(err)


def test_html_proxy_page_becomes_its_title() -> None:
    script = Script(httpx.Response(502, text=BAD_GATEWAY_HTML, headers={"content-type": "text/html"}))
    with pytest.raises(ApiError) as info:
        run(script.client(max_retries=0).list_models())
    assert str(info.value) == "api.groq.test is having trouble (HTTP 502 Bad Gateway) (try again in a moment)"


@pytest.mark.parametrize("answer, words", [
    (httpx.Response(200, content=b""), "an empty body"),
    (httpx.Response(200, content=b'{"id": "chatcmpl-', headers={"content-type": "application/json"}), "invalid JSON"),
    (httpx.Response(200, json={"id": "x", "object": "chat.completion"}), "no choices"),
    (httpx.Response(200, text="<html>captive portal</html>"), "HTML page"),
    (httpx.Response(200, json=[1, 2]), "not an object"),
])
def test_broken_success_bodies_are_clear_errors(answer: httpx.Response, words: str) -> None:
    with pytest.raises(ApiError) as info:
        run(stream_all(Script(answer).client()))
    assert words in str(info.value) and info.value.code == "bad_response"


@pytest.mark.parametrize("body, ctype, message", [
    (b'{"error": {"message": "Invalid API Key", "type": "invalid_request_error", "code": "invalid_api_key"}}',
     "application/json", "Invalid API Key"),
    (b'{"detail": [{"msg": "field required"}]}', "application/json", "field required"),
    (b'{"error": "plain string"}', "application/json", "plain string"),
    (b"upstream connect error\nreset reason: overflow", "text/plain", "upstream connect error"),
    (b"\xff\xfe\x00garbage \xc3", "application/octet-stream", "garbage"),
    (b"", "application/json", ""),
    (b"{not json", "application/json", "{not json"),
])
def test_parse_error_body_shapes(body: bytes, ctype: str, message: str) -> None:
    assert message in parse_error_body(500, ctype, body).message


@settings(max_examples=300)
@given(status=st.integers(100, 599), ctype=st.one_of(st.none(), st.sampled_from(
    ["application/json", "text/html", "text/plain", "", "application/json; charset=latin-1"])),
    body=st.one_of(st.binary(max_size=300), st.recursive(
        st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30),
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
            st.sampled_from(["error", "message", "code", "type", "detail", "msg"]), inner, max_size=4),
        max_leaves=15).map(lambda v: json.dumps(v).encode())))
def test_parse_error_body_never_raises_and_yields_one_short_line(status: int, ctype: str | None, body: bytes) -> None:
    parsed = parse_error_body(status, ctype, body)
    assert "\n" not in parsed.message and "\r" not in parsed.message and len(parsed.message) <= 200
    err = error_for_status(status if status >= 400 else 500, parsed, host="h")
    assert "\n" not in str(err)


def test_connection_errors_name_the_host() -> None:
    refused = httpx.ConnectError("All connection attempts failed")
    refused.__cause__ = ConnectionRefusedError(111, "Connect call failed")
    dns = httpx.ConnectError("[Errno -2] Name or service not known")
    dns.__cause__ = socket.gaierror(-2, "Name or service not known")
    cert = httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")
    assert error_for_exception(refused, host="h:1").code == "connection_refused"
    assert str(error_for_exception(dns, host="api.groq.com")).startswith("cannot resolve host api.groq.com")
    assert error_for_exception(cert, host="h").code == "tls_verify_failed"
    assert "20 s" in str(error_for_exception(httpx.ReadTimeout("x"), host="h", streaming=True, stall_timeout=20))
    assert "60 s" in str(error_for_exception(TimeoutError(), host="h", timeout=60))


# ---------------------------------------------------------------- the key never shows


def test_the_key_never_appears_in_errors_reprs_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    echo = f"Incorrect API key provided: {KEY}. Authorization: Bearer {KEY}"
    answers: list[httpx.Response | Exception] = [
        groq_error(401, echo, "invalid_api_key"),
        groq_error(400, echo),
        groq_error(429, echo, headers={"retry-after": "600"}),
        groq_error(503, echo),
        httpx.Response(502, text=f"<html><title>{echo}</title></html>"),
        httpx.Response(200, text=f"<html>{KEY}</html>"),
        httpx.Response(200, content=KEY.encode()),
        sse({"error": {"message": echo, "code": KEY}}),
        sse(delta("Hello"), {"error": {"message": echo}}),
        httpx.Response(200, headers={"content-type": "text/event-stream"}, content=f"event: error\ndata: {echo}\n\n".encode()),
        httpx.ConnectError(echo), httpx.ReadTimeout(echo), httpx.RemoteProtocolError(echo),
    ]
    calls: list[Callable[[GroqClient], Awaitable[Any]]] = [
        lambda c: c.list_models(), lambda c: c.get_model("m"), stream_all,
        lambda c: c.transcribe(filename="a.wav", data=b"x", content_type="audio/wav", model="m")]
    errors: list[ApiError] = []
    for answer in answers:
        for call in calls:
            client = Script(answer).client(max_retries=1)
            assert KEY not in repr(client) and KEY not in str(client)
            try:
                run(call(client))
            except ApiError as exc:
                errors.append(exc)
            finally:
                run(client.aclose())
    assert len(errors) == len(answers) * len(calls)
    assert any(isinstance(e, StreamInterrupted) for e in errors)
    for err in errors:
        for text in (str(err), repr(err), err.message, str(err.hint), repr(err.args), getattr(err, "partial", "")):
            assert KEY not in text and "LEAKCHECK" not in text, text
    assert "LEAKCHECK" not in caplog.text


def test_a_key_that_cannot_be_sent_is_refused_without_echoing_it() -> None:
    for bad in ("gsk_SECRET\nX-Injected: 1", "gsk_SECRÉT", "gsk SECRET", "   "):
        with pytest.raises(UsageError) as info:
            GroqClient(Endpoint(BASE, bad))
        assert "SECRET" not in str(info.value) and "SECRET" not in repr(info.value)
    assert "GroqClient(chat_base=" in repr(GroqClient(Endpoint(BASE, f" {KEY}\n")))


def test_bad_base_urls_are_usage_errors() -> None:
    for base in ("api.groq.com/openai/v1", "ftp://x/y", ""):
        with pytest.raises(UsageError):
            GroqClient(Endpoint(base, KEY))


# ---------------------------------------------------------------- real sockets


class LocalServer:
    """An aiohttp server on 127.0.0.1 in the test's own loop, noting each client connection."""

    def __init__(self, routes: Callable[[web.Application], None], ssl_context: ssl.SSLContext | None = None) -> None:
        self.app = web.Application()
        routes(self.app)
        self.peers: list[Any] = []
        self.ssl_context = ssl_context

        @web.middleware
        async def note_peer(request: web.Request, handler: Any) -> web.StreamResponse:
            self.peers.append(request.transport.get_extra_info("peername") if request.transport else None)
            return await handler(request)

        self.app.middlewares.append(note_peer)

    async def __aenter__(self) -> str:
        self.runner = web.AppRunner(self.app, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=self.ssl_context)
        await site.start()
        port = self.runner.addresses[0][1]
        return f"{'https' if self.ssl_context else 'http'}://127.0.0.1:{port}/openai/v1"

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


async def _sse_ok(request: web.Request) -> web.StreamResponse:
    await request.read()
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await resp.prepare(request)
    for obj in ANSWER:
        await resp.write(f"data: {json.dumps(obj)}\n\n".encode())
    await resp.write(b"data: [DONE]\n\n")
    await resp.write_eof()
    return resp


async def _no_models(request: web.Request) -> web.Response:
    """Handlers are coroutine functions: aiohttp deprecates plain callables ("Bare functions")."""
    return web.json_response({"data": []})


async def _transcript_hi(request: web.Request) -> web.Response:
    return await _json_after_read(request, {"text": "hi"})


def test_one_keep_alive_connection_serves_warm_and_every_request() -> None:
    def routes(app: web.Application) -> None:
        app.router.add_get("/openai/v1/models", _no_models)
        app.router.add_post("/openai/v1/chat/completions", _sse_ok)
        app.router.add_post("/openai/v1/audio/transcriptions", _transcript_hi)

    async def go() -> LocalServer:
        server = LocalServer(routes)
        async with server as base, GroqClient(Endpoint(base, KEY)) as client:
            await client.warm()
            await client.transcribe(filename="a.flac", data=b"x" * 5000, content_type="audio/flac", model="m")
            for _ in range(2):
                assert ContentDelta("Paris") in [e async for e in client.chat_stream(MESSAGES, model="m", options={})]
            await client.warm()
            await client.list_models()
        return server

    server = run(go())
    assert len(server.peers) == 6 and len(set(server.peers)) == 1


async def _json_after_read(request: web.Request, body: Any) -> web.Response:
    await request.read()
    return web.json_response(body)


def _stalling_stream(first: bytes, pause: float, pings: int = 0) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    async def handler(request: web.Request) -> web.StreamResponse:
        await request.read()
        resp = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await resp.prepare(request)
        await resp.write(first)
        for _ in range(pings):
            await asyncio.sleep(pause)
            await resp.write(b": ping\n\n")
        if not pings:
            await asyncio.sleep(pause)
        await resp.write(f"data: {json.dumps(ANSWER[-1])}\n\ndata: [DONE]\n\n".encode())
        return resp

    return handler


def _stream_against(handler: Callable[[web.Request], Awaitable[web.StreamResponse]], **kwargs: Any) -> list[Any]:
    async def go() -> list[Any]:
        server = LocalServer(lambda app: app.router.add_post("/openai/v1/chat/completions", handler))
        async with server as base:
            client = GroqClient(Endpoint(base, KEY), **kwargs)
            return await stream_all(client)

    return run(go())


def test_a_silent_stream_stalls_with_a_clear_error() -> None:
    handler = _stalling_stream(f"data: {json.dumps(delta(''))}\n\n".encode(), pause=30)
    with pytest.raises(ApiError) as info:
        _stream_against(handler, timeouts=Timeouts(stall=0.3), max_retries=0)
    assert info.value.code == "stalled" and "nothing received" in str(info.value)


def test_a_stall_after_text_interrupts_with_the_partial_answer() -> None:
    handler = _stalling_stream(f"data: {json.dumps(delta('Par'))}\n\n".encode(), pause=30)
    with pytest.raises(StreamInterrupted) as info:
        _stream_against(handler, timeouts=Timeouts(stall=0.3))
    assert info.value.partial == "Par" and info.value.code == "stalled"


def test_keep_alive_comments_are_not_a_stall() -> None:
    """The stall limit is per read (httpx's read timeout), not for the whole answer."""
    handler = _stalling_stream(f"data: {json.dumps(delta('Par'))}\n\n".encode(), pause=0.1, pings=12)
    events = _stream_against(handler, timeouts=Timeouts(stall=1.0), max_retries=0)
    assert events[0] == ContentDelta("Par") and Finish("stop") in events


def test_non_streaming_calls_have_an_overall_deadline() -> None:
    async def drip(request: web.Request) -> web.StreamResponse:
        resp = web.StreamResponse(headers={"Content-Type": "application/json"})
        await resp.prepare(request)
        await resp.write(b'{"data": [')
        for _ in range(300):
            await asyncio.sleep(0.05)
            await resp.write(b" ")
        await resp.write(b"]}")
        return resp

    async def go() -> None:
        server = LocalServer(lambda app: app.router.add_get("/openai/v1/models", drip))
        async with server as base:
            async with GroqClient(Endpoint(base, KEY), timeouts=Timeouts(total=0.5), max_retries=0) as client:
                await client.list_models()

    with pytest.raises(ApiError) as info:
        run(go())
    assert info.value.code == "timeout"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_connection_refused_names_the_host() -> None:
    port = _free_port()
    script_sleeps: list[float] = []

    async def nap(s: float) -> None:
        script_sleeps.append(s)

    with pytest.raises(ApiError) as info:
        run(GroqClient(Endpoint(f"http://127.0.0.1:{port}/openai/v1", KEY), sleep=nap).list_models())
    assert info.value.code == "connection_refused" and f"127.0.0.1:{port}" in str(info.value)
    assert len(script_sleeps) == 2


def test_unknown_host_is_a_dns_failure() -> None:
    with pytest.raises(ApiError) as info:
        run(GroqClient(Endpoint("http://no-such-host.invalid/openai/v1", KEY), max_retries=0).list_models())
    assert info.value.code == "dns_failure" and "no-such-host.invalid" in str(info.value)


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> ssl.SSLContext:
    folder = tmp_path_factory.mktemp("tls")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-days", "1", "-keyout", str(folder / "k.pem"),
                    "-out", str(folder / "c.pem")], check=True, capture_output=True)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(folder / "c.pem", folder / "k.pem")
    return context


def test_tls_is_verified_and_a_bad_certificate_is_not_retried(self_signed: ssl.SSLContext) -> None:
    sleeps: list[float] = []

    async def nap(s: float) -> None:
        sleeps.append(s)

    async def go() -> None:
        server = LocalServer(lambda app: app.router.add_get("/openai/v1/models", _no_models), self_signed)
        async with server as base, GroqClient(Endpoint(base, KEY), sleep=nap) as client:
            await client.list_models()

    with pytest.raises(ApiError) as info:
        run(go())
    assert info.value.code == "tls_verify_failed" and sleeps == []


# ---------------------------------------------------------------- against the fake Groq server


@pytest.fixture
def groq_client(fake_groq: FakeGroq) -> Iterator[Callable[..., GroqClient]]:
    def make(**kwargs: Any) -> GroqClient:
        async def quick(_: float) -> None:
            return None

        key = kwargs.pop("api_key", TEST_API_KEY)
        return GroqClient(Endpoint(fake_groq.base_url, key), sleep=quick, **kwargs)

    yield make


def test_fake_groq_transcribes_and_answers(fake_groq: FakeGroq, groq_client: Callable[..., GroqClient]) -> None:
    async def go() -> tuple[str, list[Any]]:
        async with groq_client() as client:
            heard = await client.transcribe(filename="capital.wav", data=(DATA / "capital.wav").read_bytes(),
                                            content_type="audio/wav", model="whisper-large-v3-turbo")
            events = [e async for e in client.chat_stream([{"role": "user", "content": heard.text}],
                                                          model="openai/gpt-oss-20b", options={"reasoning_effort": "low"})]
            return heard.text, events

    fixtures = json.loads((DATA / "fixtures.json").read_text())
    text, events = run(go())
    assert text == fixtures["capital.wav"]["text"]
    assert "".join(e.text for e in events if isinstance(e, ContentDelta))
    assert any(isinstance(e, Usage) for e in events) and any(isinstance(e, Finish) for e in events)
    [upload] = fake_groq.requests_to("/audio/transcriptions")
    assert upload.auth == "ok" and upload.audio is not None and upload.audio.filename == "capital.wav"


@pytest.mark.parametrize("style", ["event", "data", "invalid_json"])
def test_fake_groq_mid_stream_errors_interrupt(fake_groq: FakeGroq, groq_client: Callable[..., GroqClient],
                                               style: str) -> None:
    fake_groq.set_reply("One two three four five six.")
    fake_groq.inject("/chat/completions", error_after=3, error_style=style)
    with pytest.raises(StreamInterrupted) as info:
        run(stream_all(groq_client()))
    assert info.value.partial and "One two three four five six.".startswith(info.value.partial)
    assert len(fake_groq.requests_to("/chat/completions")) == 1


def test_fake_groq_dropped_connection_before_text_is_retried(fake_groq: FakeGroq,
                                                             groq_client: Callable[..., GroqClient]) -> None:
    fake_groq.inject("/chat/completions", drop_after=0)
    fake_groq.fail_next("/chat/completions", 502, body=BAD_GATEWAY_HTML)
    notices: list[RetryNotice] = []
    events = run(stream_all(groq_client(on_retry=notices.append)))
    assert any(isinstance(e, ContentDelta) for e in events)
    assert [n.reason for n in notices] == ["connection lost", "server error 502"]


def test_fake_groq_wrong_key_and_unknown_model(fake_groq: FakeGroq, groq_client: Callable[..., GroqClient]) -> None:
    with pytest.raises(ApiError) as info:
        run(groq_client(api_key="gsk_wrong_key_123456").list_models())
    assert info.value.status == 401 and "GROQ_API_KEY" in str(info.value)
    with pytest.raises(ApiError) as info:
        run(groq_client().get_model("no-such-model"))
    assert info.value.status == 404 and "voicebot models" in str(info.value)


def test_closing_the_stream_early_hangs_up(fake_groq: FakeGroq, groq_client: Callable[..., GroqClient]) -> None:
    """Barge-in: the consumer stops reading, and the server sees the client go away."""
    fake_groq.set_reply("A long answer that the user interrupts after the first word or so.")
    fake_groq.set_chunk_delay(0.05)

    async def go() -> list[Any]:
        async with groq_client() as client:
            stream = client.chat_stream(MESSAGES, model="openai/gpt-oss-20b", options={"include_reasoning": False})
            seen = []
            async for event in stream:
                seen.append(event)
                if isinstance(event, ContentDelta):
                    break
            await stream.aclose()  # type: ignore[attr-defined]
            return seen

    seen = run(go())
    assert isinstance(seen[-1], ContentDelta)
    [request] = fake_groq.wait_until(lambda reqs: bool(reqs) and reqs[-1].completed, timeout=10)
    assert request.client_disconnected


def test_wrong_base_url_404_is_not_blamed_on_the_model(fake_groq: FakeGroq) -> None:
    client = GroqClient(Endpoint(fake_groq.host_url + "/v1", TEST_API_KEY))
    with pytest.raises(ApiError) as info:
        run(client.get_model("openai/gpt-oss-20b"))
    assert info.value.status == 404 and "check the API base URL" in str(info.value)


def test_a_model_refusing_reasoning_options_says_how_to_turn_them_off() -> None:
    from voicebot.api.client import ParsedError, error_for_status
    err = error_for_status(400, ParsedError("`reasoning_effort` is not supported with this model",
                                            "invalid_request_error", None), host="api.groq.com", model="m")
    assert 'reasoning_effort = "none"' in str(err) and err.exit_code == 1
