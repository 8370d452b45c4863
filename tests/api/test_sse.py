"""Stream decoding: chunk -> events (pure), and bytes -> events whatever the chunking."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicebot.api.client import Endpoint, GroqClient
from voicebot.api.sse import (
    BadStreamData,
    ContentDelta,
    Finish,
    ReasoningDelta,
    StreamEvent,
    Usage,
    decode_data,
    events_from_chunk,
    stream_error,
)
from voicebot.errors import ApiError, StreamInterrupted

KEY = "gsk_sse_test_key_0123456789"
USAGE = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}


def chunk(content: str | None = None, *, reasoning: str | None = None, finish: str | None = None,
          **extra: Any) -> dict[str, Any]:
    delta: dict[str, Any] = {}
    if content is not None:
        delta["content"] = content
    if reasoning is not None:
        delta["reasoning"] = reasoning
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "m",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}


# ---------------------------------------------------------------- events_from_chunk


def test_first_chunk_with_role_and_empty_content_has_no_event() -> None:
    first = {"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]}
    assert events_from_chunk(first) == []


def test_content_and_reasoning() -> None:
    assert events_from_chunk(chunk("Paris")) == [ContentDelta("Paris")]
    assert events_from_chunk(chunk(reasoning="thinking")) == [ReasoningDelta("thinking")]
    assert events_from_chunk(chunk("a", reasoning="b")) == [ReasoningDelta("b"), ContentDelta("a")]
    other = {"choices": [{"delta": {"reasoning_content": "r", "content": None}}]}
    assert events_from_chunk(other) == [ReasoningDelta("r")]


def test_last_chunk_with_x_groq_usage() -> None:
    last = chunk(finish="stop", x_groq={"id": "req_1", "usage": {**USAGE, "queue_time": 0.01}})
    events = events_from_chunk(last)
    assert events == [Finish("stop"), Usage(12, 3, 15, {**USAGE, "queue_time": 0.01})]


def test_top_level_usage_wins_over_x_groq_and_comes_once() -> None:
    both = chunk(finish="length", usage=USAGE, x_groq={"usage": {"prompt_tokens": 99}})
    assert events_from_chunk(both) == [Finish("length"), Usage(12, 3, 15, USAGE)]


def test_separate_usage_chunk_with_empty_choices() -> None:
    assert events_from_chunk({"choices": [], "usage": USAGE}) == [Usage(12, 3, 15, USAGE)]


@pytest.mark.parametrize("obj", [{"choices": None, "usage": None}, {"choices": [None]}, {"choices": "x"},
                                 {"choices": [{"delta": "x", "finish_reason": 3}]}, {},
                                 {"choices": [{"index": 1, "delta": {"content": "second choice"}}]},
                                 {"x_groq": {"usage": {}}}, {"x_groq": "id"}])
def test_odd_chunks_carry_nothing(obj: dict[str, Any]) -> None:
    assert events_from_chunk(obj) == []


def test_usage_counts_that_are_not_numbers_are_unknown() -> None:
    [usage] = events_from_chunk({"usage": {"prompt_tokens": "12", "completion_tokens": True, "total_tokens": 4.0}})
    assert usage == Usage(None, None, 4, {"prompt_tokens": "12", "completion_tokens": True, "total_tokens": 4.0})


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(
        st.sampled_from(["choices", "delta", "content", "reasoning", "finish_reason", "usage", "x_groq",
                         "index", "prompt_tokens", "total_tokens", "error", "message"]), inner, max_size=4),
    max_leaves=20,
)


@given(st.dictionaries(st.sampled_from(["choices", "usage", "x_groq", "error", "id"]), json_values, max_size=4))
def test_events_from_chunk_never_raises_on_any_json(obj: dict[str, Any]) -> None:
    for event in events_from_chunk(obj):
        assert isinstance(event, (ContentDelta, ReasoningDelta, Usage, Finish))
    stream_error("message", obj)


# ---------------------------------------------------------------- errors and data


def test_stream_errors_in_every_shape() -> None:
    err = {"message": "Service Unavailable", "type": "internal_server_error"}
    assert stream_error("message", {"error": err}) == err
    assert stream_error("error", {"error": err}) == err
    assert stream_error("error", {"message": "bare"}) == {"message": "bare"}
    assert stream_error("error", "plain text") == {"message": "plain text"}
    assert stream_error("message", {"error": "overloaded"}) == {"message": "overloaded"}
    assert stream_error("message", {"x_groq": {"error": "stopped early"}}) == {"message": "stopped early"}
    assert stream_error("message", chunk("ok")) is None
    assert stream_error("message", {"error": None, "choices": []}) is None


def test_decode_data() -> None:
    assert decode_data("[DONE]") is None
    assert decode_data(" [DONE] ") is None
    assert decode_data('{"a": 1}') == {"a": 1}
    for bad in ('{"id": "chatcmpl-', "[1, 2]", "42", "hello"):
        with pytest.raises(BadStreamData):
            decode_data(bad)


# ---------------------------------------------------------------- bytes -> events through the client


class Chunks(httpx.AsyncByteStream):
    """A response body delivered in exactly these pieces, optionally failing at the end."""

    def __init__(self, pieces: Sequence[bytes], fail: Exception | None = None) -> None:
        self.pieces = pieces
        self.fail = fail

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            await asyncio.sleep(0)
            yield piece
        if self.fail is not None:
            raise self.fail


def sse_response(pieces: Sequence[bytes], fail: Exception | None = None) -> httpx.Response:
    return httpx.Response(200, headers={"content-type": "text/event-stream"}, stream=Chunks(pieces, fail))


async def collect(pieces: Sequence[bytes], fail: Exception | None = None, max_retries: int = 0) -> list[StreamEvent]:
    transport = httpx.MockTransport(lambda request: sse_response(pieces, fail))

    async def no_sleep(_: float) -> None:
        return None

    async with GroqClient(Endpoint("https://api.groq.test/openai/v1", KEY), transport=transport,
                          max_retries=max_retries, sleep=no_sleep) as client:
        return [e async for e in client.chat_stream([{"role": "user", "content": "hi"}], model="m", options={})]


def split_at(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    bounds = [0, *sorted({c for c in cuts if 0 < c < len(data)}), len(data)]
    return [data[a:b] for a, b in zip(bounds, bounds[1:])]


def expected_events(objs: Sequence[Mapping[str, Any]]) -> list[StreamEvent]:
    return [e for obj in objs for e in events_from_chunk(obj)]


# Text that stresses the decoder: multi-byte UTF-8, and characters str.splitlines() would
# wrongly treat as line breaks (JSON may carry them raw inside strings).
tricky_text = st.text(alphabet=st.sampled_from(list("ab \t:é€😀\u2028\u2029\x85\x1c\x0b\x0c\"\\\r\n")) | st.characters(codec="utf-8"),  # no lone surrogates: they have no UTF-8 form
                      max_size=12)


@st.composite
def chunk_objects(draw: st.DrawFn) -> list[dict[str, Any]]:
    objs: list[dict[str, Any]] = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}]
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["content", "reasoning", "both"]))
        text = draw(tricky_text)
        objs.append(chunk(text if kind != "reasoning" else None, reasoning=text if kind != "content" else None))
    objs.append(chunk(finish=draw(st.sampled_from(["stop", "length"])), x_groq={"usage": USAGE}))
    if draw(st.booleans()):
        objs.append({"choices": [], "usage": USAGE})
    return objs


@st.composite
def encoded_stream(draw: st.DrawFn) -> tuple[list[dict[str, Any]], bytes]:
    """Objects, and one of the many valid SSE encodings of them ending in [DONE]."""
    objs = draw(chunk_objects())
    eol = lambda: draw(st.sampled_from(["\n", "\r\n", "\r"]))  # noqa: E731 - each line picks its own
    out: list[str] = []

    def blank() -> str:
        """An empty line; after a lone CR an LF alone would merge into CRLF, ending no line."""
        end = eol()
        return "\r\n" if end == "\n" and out and out[-1].endswith("\r") else end

    for obj in objs + [None]:
        if draw(st.booleans()):
            out.append(": ping" + eol())
        if draw(st.booleans()):
            out.append("event: message" + eol())
        if draw(st.booleans()):
            out.append("id: 7" + eol() + "retry: 3000" + eol())
        if obj is None:
            out.append("data: [DONE]" + eol())
            out.append(blank())
            break
        indent = draw(st.sampled_from([None, 1]))  # indent=1 spreads the JSON over many data: lines
        body = json.dumps(obj, ensure_ascii=draw(st.booleans()), indent=indent)
        space = draw(st.sampled_from(["", " "]))
        out.extend(f"data:{space}{line}{eol()}" for line in body.split("\n"))
        out.append(blank())
    return objs, "".join(out).encode()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(stream=encoded_stream(), cuts=st.lists(st.integers(0, 4000), max_size=40))
def test_any_rechunking_decodes_to_the_same_events(stream: tuple[list[dict[str, Any]], bytes],
                                                   cuts: list[int]) -> None:
    objs, data = stream
    assert asyncio.run(collect(split_at(data, cuts))) == expected_events(objs)


@pytest.mark.slow
def test_every_single_split_point_of_a_tricky_stream() -> None:
    """Exhaustive over cut positions: inside multi-byte characters, and between CR and LF."""
    objs = [chunk(reasoning="é😀"), chunk("Pa"), chunk("ris\u2028€"), chunk(finish="stop", usage=USAGE)]
    text = ": ping\r\n\r\n" + "".join(f"data: {json.dumps(o, ensure_ascii=False)}\r\n\r\n" for o in objs[:2])
    text += "".join(f"data: {json.dumps(o, ensure_ascii=False)}\r\r" for o in objs[2:]) + "data: [DONE]\r\n\r\n"
    data = text.encode()
    assert b"\xf0\x9f\x98\x80" in data and b"\r\n" in data
    want = expected_events(objs)
    for cut in range(1, len(data)):
        assert asyncio.run(collect([data[:cut], data[cut:]])) == want, cut
    assert asyncio.run(collect([bytes([b]) for b in data])) == want


def test_multiline_data_is_joined_with_newlines() -> None:
    data = b'data: {"choices": [{"delta":\ndata: {"content": "hi"}}]}\n\ndata: {"choices":[{"delta":{},"finish_reason":"stop"}]}\n\ndata: [DONE]\n\n'
    assert asyncio.run(collect([data])) == [ContentDelta("hi"), Finish("stop")]


def test_unknown_event_types_are_ignored() -> None:
    data = b'event: ping\ndata: {"choices": [{"delta": {"content": "no"}}]}\n\n' + \
           b'data: {"choices": [{"delta": {"content": "yes"}, "finish_reason": "stop"}]}\n\ndata: [DONE]\n\n'
    assert asyncio.run(collect([data])) == [ContentDelta("yes"), Finish("stop")]


def test_finish_without_done_is_a_complete_answer() -> None:
    data = b'data: {"choices": [{"delta": {"content": "ok"}, "finish_reason": "stop"}]}\n\n'
    assert asyncio.run(collect([data])) == [ContentDelta("ok"), Finish("stop")]


def test_events_after_done_are_ignored() -> None:
    data = b'data: {"choices":[{"delta":{"content":"a"}}]}\n\ndata: [DONE]\n\ndata: {"choices":[{"delta":{"content":"b"}}]}\n\n'
    assert asyncio.run(collect([data])) == [ContentDelta("a")]


def test_error_frame_before_any_text_is_an_api_error() -> None:
    frame = b'event: error\ndata: {"error": {"message": "Service Unavailable", "type": "internal_server_error"}}\n\n'
    with pytest.raises(ApiError) as info:
        asyncio.run(collect([frame]))
    assert not isinstance(info.value, StreamInterrupted)
    assert "Service Unavailable" in str(info.value)
    assert info.value.code == "internal_server_error"


def test_error_object_after_text_interrupts_with_the_partial_answer() -> None:
    data = (b'data: {"choices":[{"delta":{"content":"The capital"}}]}\n\n'
            b'data: {"error": {"message": "overloaded", "code": "service_unavailable"}}\n\n')
    with pytest.raises(StreamInterrupted) as info:
        asyncio.run(collect([data]))
    assert info.value.partial == "The capital"
    assert "overloaded" in str(info.value)
    assert info.value.code == "service_unavailable"


def test_malformed_json_in_the_stream_is_reported_not_skipped() -> None:
    data = b'data: {"choices":[{"delta":{"content":"Hi"}}]}\n\ndata: {"id": "chatcmpl-\n\n'
    with pytest.raises(StreamInterrupted) as info:
        asyncio.run(collect([data]))
    assert info.value.partial == "Hi"
    assert "malformed" in str(info.value)


def test_stream_ending_early_without_text_is_an_error_after_retries() -> None:
    data = b'data: {"choices":[{"delta":{"role":"assistant","content":""}}]}\n\n'
    with pytest.raises(ApiError) as info:
        asyncio.run(collect([data], max_retries=1))
    assert info.value.code == "stream_truncated"


def test_connection_lost_after_text_keeps_the_partial_answer() -> None:
    data = b'data: {"choices":[{"delta":{"content":"Par"}}]}\n\n'
    with pytest.raises(StreamInterrupted) as info:
        asyncio.run(collect([data], fail=httpx.RemoteProtocolError("peer closed connection"), max_retries=2))
    assert info.value.partial == "Par"
    assert info.value.code == "connection_lost"
