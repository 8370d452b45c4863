"""A streamed chat answer read into events, in layers as httpx's own read path is:
events from SSE (or from a whole body, from a server that ignored stream=true), then
the checks on the whole (ended before the answer did).

`read_events` is a reader for `voicebot.api.sender.Sender.stream`: it yields
`StreamEvent`s or raises `AttemptFailed`; sending, judging the status and whether to
try again (only while no text was shown) are the sender's and the client's, not this
module's.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from httpx_sse import EventSource, ServerSentEvent

from voicebot.api.errors import AttemptFailed, in_stream_failure
from voicebot.api.sse import (
    BadStreamData,
    ContentDelta,
    Finish,
    ReasoningDelta,
    StreamEvent,
    decode_data,
    events_from_chunk,
    stream_error,
)
from voicebot.api.wire import bad_response, chat_result_from, host_of, json_object
from voicebot.errors import ApiError

log = logging.getLogger("voicebot.api.client")


@dataclass
class Progress:
    """How far one attempt got: `[DONE]` seen, a finish reason seen, answer characters."""

    done: bool = False
    finished: bool = False
    chars: int = 0

    @property
    def complete(self) -> bool:
        return self.done or self.finished

    def note(self, event: StreamEvent) -> None:
        if isinstance(event, Finish):
            self.finished = True
        elif isinstance(event, ContentDelta):
            self.chars += len(event.text)


async def read_events(response: httpx.Response) -> AsyncIterator[StreamEvent]:
    """One attempt's events, or `AttemptFailed`; a network failure after the answer was
    complete (a broken close) is only logged, before that it is raised for the sender."""
    host = host_of(response.request.url)
    started = time.monotonic()
    progress = Progress()
    try:
        async for event in _events(response, host, progress):
            progress.note(event)
            yield event
        if not progress.complete:
            raise AttemptFailed(ApiError(f"the answer stream from {host} ended before the answer did",
                                         hint="try again", code="stream_truncated"), retryable=True)
    except httpx.TransportError as exc:
        if not progress.complete:
            raise
        log.debug("stream from %s ended badly after the answer was complete: %s", host, type(exc).__name__)
    finally:
        log.debug("stream from %s read for %.0f ms, %d answer chars", host,
                  (time.monotonic() - started) * 1000, progress.chars)


def _events(response: httpx.Response, host: str, progress: Progress) -> AsyncIterator[StreamEvent]:
    """SSE events, or, from a server that ignored stream=true (or a proxy page), the whole body's."""
    if "text/event-stream" in response.headers.get("content-type", "").lower():
        return _sse_events(response, host, progress)
    return _whole_body_events(response, host, progress)


async def _whole_body_events(response: httpx.Response, host: str, progress: Progress) -> AsyncIterator[StreamEvent]:
    await response.aread()
    try:
        events = events_from_whole_body(response, host)
    except ApiError as err:
        raise AttemptFailed(err, retryable=False) from None
    for event in events:
        yield event
    progress.done = True


async def _sse_events(response: httpx.Response, host: str, progress: Progress) -> AsyncIterator[StreamEvent]:
    response.encoding = "utf-8"  # the SSE spec fixes UTF-8 whatever the charset says
    async for sse in EventSource(response).aiter_sse():
        if progress.done:
            continue  # drain to the end so the connection can be reused
        obj = chunk_of(sse, host)
        if obj is None:
            continue
        if obj is DONE_MARK:
            progress.done = True
            continue
        for event in events_from_chunk(obj):
            yield event


DONE_MARK: dict[str, Any] = {}  # chunk_of's answer for `data: [DONE]`


def chunk_of(sse: ServerSentEvent, host: str) -> dict[str, Any] | None:
    """The JSON chunk an SSE event carries: None to skip, `DONE_MARK` at the end; errors raise."""
    if sse.event == "error":
        try:
            payload: object = json.loads(sse.data)
        except ValueError:
            payload = sse.data
        raise in_stream_failure(stream_error("error", payload) or {}, host)
    if sse.event not in ("message", "") or not sse.data:
        return None
    try:
        obj = decode_data(sse.data)
    except BadStreamData as bad:
        raise AttemptFailed(bad_response(host, str(bad)), retryable=False) from None
    if obj is None:
        return DONE_MARK
    error = stream_error(sse.event, obj)
    if error is not None:
        raise in_stream_failure(error, host)
    return dict(obj)


def events_from_whole_body(response: httpx.Response, host: str) -> list[StreamEvent]:
    """The events a whole (non-streamed) chat completion amounts to."""
    obj = json_object(response.content, response.headers.get("content-type", ""), host)
    error = stream_error("message", obj)
    if error is not None:
        raise in_stream_failure(error, host)
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
