"""Proof that the fake Groq server speaks Groq's wire protocol: the official SDK accepts it.

The `groq` SDK parses every response into its typed models and maps errors to its
exception classes, so anything the fake gets wrong in shape or status shows up here.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import groq
import pytest

from tests.fakegroq import TEST_API_KEY, FakeGroq

DATA = Path(__file__).parent / "data"
FIXTURES = json.loads((DATA / "fixtures.json").read_text(encoding="utf-8"))
SPEECH = [name for name, meta in FIXTURES.items() if meta is not None]
MODEL = "openai/gpt-oss-20b"
CAPITAL_Q = [{"role": "user", "content": "What is the capital of France?"}]


def client(fake: FakeGroq, **kwargs: object) -> groq.Groq:
    return groq.Groq(api_key=TEST_API_KEY, base_url=fake.host_url, **kwargs)  # type: ignore[arg-type]


def aclient(fake: FakeGroq, **kwargs: object) -> groq.AsyncGroq:
    return groq.AsyncGroq(api_key=TEST_API_KEY, base_url=fake.host_url, **kwargs)  # type: ignore[arg-type]


# ---- chat ---------------------------------------------------------------------------------


def test_chat_non_stream(fake_groq: FakeGroq) -> None:
    with client(fake_groq) as c:
        done = c.chat.completions.create(model=MODEL, messages=CAPITAL_Q, reasoning_effort="low")
    choice = done.choices[0]
    assert choice.message.content == "The capital of France is Paris."
    assert choice.message.reasoning and "capital of France" in choice.message.reasoning
    assert choice.finish_reason == "stop"
    assert done.usage is not None
    assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens
    assert done.x_groq is not None and done.x_groq.id and done.x_groq.id.startswith("req_")
    sent = fake_groq.requests_to("/chat/completions")[0]
    assert sent.json["reasoning_effort"] == "low" and sent.auth == "ok"


def test_chat_hidden_reasoning_never_reaches_content(fake_groq: FakeGroq) -> None:
    with client(fake_groq) as c:
        done = c.chat.completions.create(model=MODEL, messages=CAPITAL_Q, include_reasoning=False)
    assert done.choices[0].message.reasoning is None
    assert done.choices[0].message.content == "The capital of France is Paris."
    assert done.usage is not None and done.usage.completion_tokens_details is not None
    assert done.usage.completion_tokens_details.reasoning_tokens > 0  # still billed


def test_chat_stream_pieces_usage_and_include_usage_chunk(fake_groq: FakeGroq) -> None:
    with client(fake_groq) as c:
        stream = c.chat.completions.create(
            model=MODEL, messages=[{"role": "user", "content": "How many legs does a spider have?"}],
            stream=True, extra_body={"stream_options": {"include_usage": True}},  # not a named SDK argument
        )
        chunks = list(stream)
    first, final, usage_chunk = chunks[0], chunks[-2], chunks[-1]
    assert first.choices[0].delta.role == "assistant" and first.choices[0].delta.content == ""
    assert first.x_groq is not None and first.x_groq.id
    pieces = [ch.choices[0].delta.content for ch in chunks if ch.choices and ch.choices[0].delta.content]
    assert "".join(pieces) == "A spider has eight legs."
    assert len(pieces) == 5  # split at word boundaries
    reasoning = "".join(ch.choices[0].delta.reasoning or "" for ch in chunks if ch.choices)
    assert "spider" in reasoning and "user asks" not in "".join(pieces)
    assert final.choices[0].finish_reason == "stop"
    assert final.x_groq is not None and final.x_groq.usage is not None
    assert usage_chunk.choices == [] and usage_chunk.usage == final.x_groq.usage


def test_chat_stream_async_and_set_reply(fake_groq: FakeGroq) -> None:
    fake_groq.set_reply("Hello there, friend.", times=1)

    async def run() -> tuple[str, str]:
        async with aclient(fake_groq) as c:
            texts = []
            for _ in range(2):
                stream = await c.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": "hi"}], stream=True)
                texts.append("".join([ch.choices[0].delta.content or "" async for ch in stream if ch.choices]))
            return texts[0], texts[1]

    assert asyncio.run(run()) == ("Hello there, friend.", "You said: hi")


def test_chat_async_non_stream_stop_and_length(fake_groq: FakeGroq) -> None:
    async def run() -> tuple[groq.types.chat.ChatCompletion, groq.types.chat.ChatCompletion]:
        async with aclient(fake_groq) as c:
            cut = await c.chat.completions.create(model=MODEL, messages=CAPITAL_Q, stop=[" Paris", "xyz"])
            short = await c.chat.completions.create(model=MODEL, messages=CAPITAL_Q, max_completion_tokens=15,
                                                    reasoning_effort="low")
            return cut, short

    cut, short = asyncio.run(run())
    assert cut.choices[0].message.content == "The capital of France is"
    assert cut.choices[0].finish_reason == "stop"
    assert short.choices[0].finish_reason == "length"
    assert short.usage is not None and short.usage.completion_tokens <= 15
    content = short.choices[0].message.content or ""
    assert content and "The capital of France is Paris.".startswith(content) and content != "The capital of France is Paris."


def test_chat_json_mode(fake_groq: FakeGroq) -> None:
    with client(fake_groq) as c:
        done = c.chat.completions.create(model=MODEL, response_format={"type": "json_object"},
                                         messages=[{"role": "user", "content": "Reply in JSON: capital of France?"}])
        assert isinstance(json.loads(done.choices[0].message.content or ""), dict)
        with pytest.raises(groq.BadRequestError):  # JSON mode needs "json" in the messages
            c.chat.completions.create(model=MODEL, response_format={"type": "json_object"}, messages=CAPITAL_Q)


# ---- speech to text -------------------------------------------------------------------------


@pytest.mark.parametrize("name", SPEECH)
@pytest.mark.parametrize("fmt", ["json", "text", "verbose_json"])
def test_transcriptions_each_fixture_each_format(fake_groq: FakeGroq, name: str, fmt: str) -> None:
    expected = " " + FIXTURES[name]["text"]
    with client(fake_groq) as c:
        out = c.audio.transcriptions.create(file=(name, (DATA / name).read_bytes()),
                                            model="whisper-large-v3-turbo", response_format=fmt)
    if fmt == "text":
        assert out == expected  # the SDK hands text/plain back as a str
    else:
        assert out.text == expected
    if fmt == "verbose_json":
        extra = out.model_extra or {}
        assert extra["task"] == "transcribe"
        assert extra["language"] == {"en": "English", "fr": "French"}[FIXTURES[name]["language"]]
        assert extra["segments"][0]["no_speech_prob"] < 0.1
        assert extra["duration"] > 1.0
    audio = fake_groq.requests_to("/audio/transcriptions")[0].audio
    assert audio is not None and audio.fixture == name and audio.filename == name


def test_transcription_of_silence_hallucinates_like_whisper(fake_groq: FakeGroq) -> None:
    with client(fake_groq) as c:
        out = c.audio.transcriptions.create(file=("silence.wav", (DATA / "silence.wav").read_bytes()),
                                            model="whisper-large-v3", response_format="verbose_json",
                                            timestamp_granularities=["word", "segment"])
    extra = out.model_extra or {}
    assert out.text == " Thank you."
    assert extra["segments"][0]["no_speech_prob"] > 0.5 and extra["segments"][0]["avg_logprob"] < -1.0
    assert [w["word"] for w in extra["words"]] == ["Thank", "you."]


def test_translation_french_to_english_async(fake_groq: FakeGroq) -> None:
    async def run() -> str:
        async with aclient(fake_groq) as c:
            out = await c.audio.translations.create(file=("bonjour.ogg", (DATA / "bonjour.ogg").read_bytes()),
                                                    model="whisper-large-v3")
            return out.text

    assert asyncio.run(run()) == " " + FIXTURES["bonjour.ogg"]["translation"]


def test_turbo_cannot_translate(fake_groq: FakeGroq) -> None:
    with client(fake_groq) as c, pytest.raises(groq.BadRequestError):
        c.audio.translations.create(file=("bonjour.ogg", (DATA / "bonjour.ogg").read_bytes()),
                                    model="whisper-large-v3-turbo")


def test_async_transcription(fake_groq: FakeGroq) -> None:
    async def run() -> str:
        async with aclient(fake_groq) as c:
            out = await c.audio.transcriptions.create(file=("spider.flac", (DATA / "spider.flac").read_bytes()),
                                                      model="whisper-large-v3-turbo", language="en")
            return out.text

    assert asyncio.run(run()) == " How many legs does a spider have?"


# ---- models --------------------------------------------------------------------------------------


def test_models_list_and_retrieve_with_slash(fake_groq: FakeGroq) -> None:
    with client(fake_groq) as c:
        ids = [m.id for m in c.models.list().data]
        got = c.models.retrieve("openai/gpt-oss-20b")
    assert {"openai/gpt-oss-20b", "openai/gpt-oss-120b", "whisper-large-v3", "whisper-large-v3-turbo"} <= set(ids)
    assert got.id == "openai/gpt-oss-20b" and (got.model_extra or {})["context_window"] == 131072


def test_models_async(fake_groq: FakeGroq) -> None:
    async def run() -> list[str]:
        async with aclient(fake_groq) as c:
            return [m.id for m in (await c.models.list()).data]

    assert "openai/gpt-oss-120b" in asyncio.run(run())


# ---- errors -----------------------------------------------------------------------------------------


def test_bad_key_is_authentication_error_and_never_recorded(fake_groq: FakeGroq) -> None:
    with groq.Groq(api_key="gsk_wrong", base_url=fake_groq.host_url) as c:
        with pytest.raises(groq.AuthenticationError) as info:
            c.models.list()
    assert info.value.status_code == 401
    assert info.value.body == {"error": {"message": "Invalid API Key", "type": "invalid_request_error", "code": "invalid_api_key"}}
    with client(fake_groq) as c:
        c.models.list()
    recorded = repr(fake_groq.requests) + json.dumps([r.to_json() for r in fake_groq.requests])
    assert "gsk_wrong" not in recorded and TEST_API_KEY not in recorded
    assert [r.auth for r in fake_groq.requests] == ["invalid", "ok"]


@pytest.mark.parametrize(
    ("kwargs", "exc", "code"),
    [
        ({"model": "no-such-model"}, groq.NotFoundError, "model_not_found"),
        ({"model": "llama-3.3-70b-versatile"}, groq.BadRequestError, "model_decommissioned"),
        ({"model": MODEL, "n": 2}, groq.BadRequestError, None),
        ({"model": MODEL, "logit_bias": {"1": 1}}, groq.BadRequestError, None),
        ({"model": MODEL, "stop": ["a", "b", "c", "d", "e"]}, groq.BadRequestError, None),
        ({"model": MODEL, "messages": [{"role": "robot", "content": "x"}]}, groq.BadRequestError, None),
        ({"model": MODEL, "messages": [{"role": "user", "content": "x" * 600_000}]}, groq.BadRequestError,
         "context_length_exceeded"),
    ],
)
def test_chat_validation_errors_map_to_sdk_classes(fake_groq: FakeGroq, kwargs: dict[str, object],
                                                    exc: type[groq.APIStatusError], code: str | None) -> None:
    kwargs = {"messages": CAPITAL_Q, **kwargs}
    with client(fake_groq) as c, pytest.raises(exc) as info:
        c.chat.completions.create(**kwargs)  # type: ignore[call-overload]
    body = info.value.body
    assert isinstance(body, dict) and body["error"].get("code") == code and body["error"]["message"]


def test_429_sdk_retries_per_retry_after_then_gives_up(fake_groq: FakeGroq) -> None:
    fake_groq.fail_next("/chat/completions", 429, times=5, headers={"retry-after-ms": "20", "retry-after": "1"})
    with client(fake_groq, max_retries=2) as c, pytest.raises(groq.RateLimitError) as info:
        c.chat.completions.create(model=MODEL, messages=CAPITAL_Q)
    seen = fake_groq.requests_to("/chat/completions")
    assert len(seen) == 3  # first try + 2 retries
    assert [r.headers.get("x-stainless-retry-count") for r in seen] == ["0", "1", "2"]
    assert info.value.body["error"]["code"] == "rate_limit_exceeded"  # type: ignore[index]
    assert info.value.response.headers["x-ratelimit-limit-requests"]


def test_429_then_success_with_whole_second_retry_after(fake_groq: FakeGroq) -> None:
    fake_groq.fail_next("/models", 429, headers={"retry-after": "1"})
    with client(fake_groq, max_retries=1) as c:
        assert c.models.list().data
    assert [r.status for r in fake_groq.requests_to("/models")] == [429, 200]


def test_x_should_retry_false_and_html_proxy_page(fake_groq: FakeGroq) -> None:
    from tests.fakegroq import BAD_GATEWAY_HTML

    fake_groq.fail_next("/models", 502, times=3, body=BAD_GATEWAY_HTML, headers={"x-should-retry": "false"})
    with client(fake_groq, max_retries=2) as c, pytest.raises(groq.InternalServerError) as info:
        c.models.list()
    assert info.value.status_code == 502 and "Bad Gateway" in info.value.response.text
    assert len(fake_groq.requests_to("/models")) == 1


@pytest.mark.parametrize("style", ["event", "data"])
def test_mid_stream_error_raises_api_error_after_partial_content(fake_groq: FakeGroq, style: str) -> None:
    fake_groq.inject("/chat/completions", error_after=3, error_style=style)
    got: list[str] = []
    with client(fake_groq) as c:
        stream = c.chat.completions.create(model=MODEL, messages=CAPITAL_Q, stream=True, include_reasoning=False)
        with pytest.raises(groq.APIError, match="interrupted"):
            for ch in stream:
                got.append(ch.choices[0].delta.content or "")
    assert "".join(got) == "The capital"


# ---- text to speech -------------------------------------------------------------------------

TTS_MODEL = "canopylabs/orpheus-v1-english"


def test_speech_is_a_streamed_wav_of_real_speech(fake_groq: FakeGroq) -> None:
    import io

    import numpy as np
    import soundfile as sf

    with client(fake_groq) as c, c.audio.speech.with_streaming_response.create(
            model=TTS_MODEL, voice="troy", input="The capital of France is Paris.", response_format="wav") as r:
        assert r.headers["content-type"] == "audio/wav"
        pieces = list(r.iter_bytes(4800))
    body = b"".join(pieces)
    assert len(pieces) > 3 and body[:4] == b"RIFF" and body[8:12] == b"WAVE"
    assert body[4:8] == b"\xff\xff\xff\xff"  # streamed: the length is not known when the header goes
    fixed = body[:4] + (len(body) - 8).to_bytes(4, "little") + body[8:40] + (len(body) - 44).to_bytes(4, "little") \
        + body[44:]
    samples, rate = sf.read(io.BytesIO(fixed))
    assert rate == 24_000 and 1.0 < len(samples) / rate < 4.0
    assert np.abs(samples).max() > 0.1  # speech, not silence
    sent = fake_groq.requests_to("/audio/speech")[0]
    assert sent.json == {"model": TTS_MODEL, "voice": "troy", "input": "The capital of France is Paris.",
                         "response_format": "wav"}


def test_speech_async_create(fake_groq: FakeGroq) -> None:
    async def main() -> bytes:
        async with aclient(fake_groq) as c:
            response = await c.audio.speech.create(model=TTS_MODEL, voice="autumn", input="Hello.")
            return await response.read()
    assert asyncio.run(main())[:4] == b"RIFF"


@pytest.mark.parametrize(("kwargs", "status", "match"), [
    ({"voice": "alloy"}, 400, "voice must be one of"),
    ({"input": "x" * 201}, 400, "at most 200 characters"),
    ({"model": "openai/gpt-oss-20b"}, 400, "does not support text to speech"),
    ({"model": "orpheus-v9"}, 404, "does not exist"),
])
def test_speech_checks_model_voice_and_length_like_groq(fake_groq: FakeGroq, kwargs: dict[str, str], status: int,
                                                        match: str) -> None:
    request = {"model": TTS_MODEL, "voice": "troy", "input": "Hello.", **kwargs}
    with client(fake_groq, max_retries=0) as c, pytest.raises(groq.APIStatusError, match=match) as caught:
        c.audio.speech.create(**request)  # type: ignore[arg-type]
    assert caught.value.status_code == status


def test_speech_terms_not_accepted_is_a_400_model_terms_required(fake_groq: FakeGroq) -> None:
    fake_groq.set_terms_accepted(False)
    with client(fake_groq, max_retries=0) as c, pytest.raises(groq.BadRequestError) as caught:
        c.audio.speech.create(model=TTS_MODEL, voice="troy", input="Hello.")
    body = caught.value.body
    assert isinstance(body, dict)
    body = body.get("error", body)
    assert body["code"] == "model_terms_required" and body["type"] == "invalid_request_error"
    assert "console.groq.com/playground?model=" in body["message"]
