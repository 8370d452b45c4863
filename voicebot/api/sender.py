"""The one request path: build a request, send it, judge the answer, retry or raise.

Every request the client makes goes through `Sender.stream` (as every request of
openai-python goes through `_base_client.request`): the key for the request's server is
added, the answer's status is judged, a failure is retried by the rules of
`voicebot.api.retry` (back-off, or the server's Retry-After) while no part of the answer
was used, and what is finally raised is one `ApiError` with the keys scrubbed out. The
client's methods (chat, speech to text, models, text to speech) only describe their
request (`Call`) and how to read its answer (a reader); they hold no loop of their own.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from voicebot.api.connection import Keys, Timeouts
from voicebot.api.errors import AttemptFailed, error_for_exception, status_failure
from voicebot.api.retry import (
    MAX_SERVER_WAIT,
    Random,
    RetryNotice,
    is_retryable_exception,
    may_still_be_working,
    retry_delay,
    retry_reason,
    server_wait,
)
from voicebot.api.wire import host_of
from voicebot.errors import ApiError, StreamInterrupted

__all__ = ["WAIT_MARKS", "Call", "Sender", "WaitNotice"]

log = logging.getLogger("voicebot.api.client")

T = TypeVar("T")
Reader = Callable[[httpx.Response], AsyncIterator[T]]

WAIT_MARKS = (3, 10, 20, 30, 45, 60)  # seconds into a wait at which it is shown, then every 30 s
SERVERS = {"chat": "the chat server", "stt": "the speech server", "fallback": "the fallback speech server"}


@dataclass(frozen=True)
class WaitNotice:
    """Told to `on_wait` while an answer is long in coming, so a wait is never silent.

    `role` says which server ("chat", "stt", "fallback"), `host` where, `seconds` how long so far.
    """

    role: str
    host: str
    seconds: int

    @property
    def server(self) -> str:
        return SERVERS.get(self.role, "the server")

    @property
    def text(self) -> str:
        return f"waiting for {self.server} at {self.host}… ({self.seconds} s)"


def wait_marks() -> Iterator[int]:
    """3, 10, 20, 30, 45, 60, 90, 120, … seconds."""
    yield from WAIT_MARKS
    yield from itertools.count(WAIT_MARKS[-1] + 30, 30)


@dataclass(frozen=True)
class Call:
    """One request as a client method describes it.

    `role` names the server and so its key ("chat", "stt", "fallback"). `streaming`: the
    answer is read as it arrives (`Timeouts.stall` between pieces, no overall limit);
    otherwise it is read whole within `deadline` (default `Timeouts.total`). `upload`: a
    timeout waiting for the answer is not sent again (the server may still be working on
    it). `quiet`: retried without a notice (the voice: its text is on screen already).
    """

    method: str
    url: httpx.URL
    role: str = "chat"
    model: str | None = None
    json: Any = None
    data: Mapping[str, str] | None = None
    files: Mapping[str, tuple[str, bytes, str]] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    streaming: bool = False
    deadline: float | None = None
    upload: bool = False
    quiet: bool = False


def _always(item: object) -> bool:
    return True


class Sender:
    """Sends `Call`s over one pooled httpx client and owns their retries and their errors."""

    def __init__(self, http: httpx.AsyncClient, keys: Keys, timeouts: Timeouts, *, max_retries: int,
                 on_retry: Callable[[RetryNotice], None] | None = None,
                 on_wait: Callable[[WaitNotice], None] | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep, rng: Random | None = None) -> None:
        self.http = http
        self.timeouts = timeouts
        self.max_retries = max(0, int(max_retries))
        self._keys = keys
        self._on_retry = on_retry
        self._on_wait = on_wait
        self._sleep = sleep
        self._rng: Random = rng or random.Random()

    # -- the one loop

    async def stream(self, call: Call, read: Reader[T], *, commits: Callable[[T], bool] = _always,
                     interrupted: Callable[[ApiError], ApiError] | None = None) -> AsyncGenerator[T, None]:
        """The items `read` makes of the answer, retried while none that `commits` was yielded.

        Once a committing item went out, a failure is not retried: it is raised as
        `interrupted` makes it (default: as it is). Close the iterator to stop early.
        """
        attempt = 0
        while True:
            committed = False
            try:
                async with contextlib.aclosing(self._attempt(call, read)) as items:
                    async for item in items:
                        committed = committed or commits(item)
                        yield item
                return
            except AttemptFailed as failure:
                if committed:
                    err = interrupted(failure.error) if interrupted is not None else failure.error
                    raise self.scrub(err) from None
                await self._after_failure(failure, attempt, quiet=call.quiet)
                attempt += 1

    async def send(self, call: Call, decode: Callable[[httpx.Response], T]) -> T:
        """A request read whole, and `decode` of its answer (an `ApiError` there is not retried)."""

        async def whole(response: httpx.Response) -> AsyncIterator[T]:
            yield decode(response)

        async with contextlib.aclosing(self.stream(call, whole)) as items:
            async for item in items:
                return item
        raise AssertionError("a whole answer always makes one item")  # pragma: no cover

    async def probe(self, url: httpx.URL, role: str, limit: float) -> int | None:
        """A cheap HEAD that only shows whether the server answers: its status, None if it did not.

        Never retried and never raises: it opens (or checks) the keep-alive connection."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(limit):
                response = await self.http.head(url, headers=self._keys.auth(role))
        except (httpx.HTTPError, TimeoutError) as exc:
            log.debug("probe %s failed after %.0f ms: %s", url.host, (time.monotonic() - started) * 1000,
                      type(exc).__name__)
            return None
        log.debug("probe %s -> %d in %.0f ms", url.host, response.status_code, (time.monotonic() - started) * 1000)
        return response.status_code

    # -- one attempt, in layers: build, open (status judged), read

    def _build(self, call: Call) -> httpx.Request:
        timeout = self.timeouts.streamed() if call.streaming else self.timeouts.whole(call.deadline)
        return self.http.build_request(call.method, call.url, json=call.json, data=call.data, files=call.files,
                                       headers={**self._keys.auth(call.role), **call.headers}, timeout=timeout)

    async def _attempt(self, call: Call, read: Reader[T]) -> AsyncGenerator[T, None]:
        response = await self._open(call, self._build(call))
        try:
            async for item in read(response):
                yield item
        except httpx.TransportError as exc:
            raise self._exception_failure(exc, call) from None
        except ApiError as err:  # the answer came but makes no sense: sending it again will not help
            raise AttemptFailed(err, retryable=False) from None
        finally:
            await response.aclose()

    async def _open(self, call: Call, request: httpx.Request) -> httpx.Response:
        """The response with its status judged; read whole unless the call streams."""
        limit = None if call.streaming else (call.deadline or self.timeouts.total)
        started = time.monotonic()
        try:
            async with asyncio.timeout(limit), self._waiting(call):
                response = await self.http.send(request, stream=True)
                try:
                    if not call.streaming or not response.is_success:
                        await response.aread()
                except BaseException:
                    await response.aclose()
                    raise
        except (httpx.TransportError, TimeoutError) as exc:
            log.debug("%s %s failed after %.0f ms: %s", call.method, call.url.path,
                      (time.monotonic() - started) * 1000, type(exc).__name__)
            raise self._exception_failure(exc, call, limit) from None
        log.debug("%s %s -> %d in %.0f ms%s", call.method, call.url.path, response.status_code,
                  (time.monotonic() - started) * 1000, " (stream)" if call.streaming else "")
        if not response.is_success:
            raise status_failure(response, host=host_of(response.request.url), model=call.model,
                                 key_name=self._keys.names[call.role], key_sent=self._keys.sent(call.role))
        return response

    @contextlib.asynccontextmanager
    async def _waiting(self, call: Call) -> AsyncIterator[None]:
        """While the answer is awaited: `on_wait` told at each of `wait_marks` (not for quiet calls)."""
        if self._on_wait is None or call.quiet:
            yield
            return
        telling = asyncio.get_running_loop().create_task(self._tell_waiting(call, self._on_wait))
        try:
            yield
        finally:
            telling.cancel()

    @staticmethod
    async def _tell_waiting(call: Call, tell: Callable[[WaitNotice], None]) -> None:
        started = time.monotonic()
        for mark in wait_marks():
            await asyncio.sleep(max(0.0, started + mark - time.monotonic()))
            tell(WaitNotice(call.role, host_of(call.url), mark))

    # -- failures

    def _exception_failure(self, exc: BaseException, call: Call, limit: float | None = None) -> AttemptFailed:
        t = self.timeouts
        err = error_for_exception(exc, host=host_of(call.url), streaming=call.streaming, timeout=limit or t.total,
                                  connect_timeout=t.connect, stall_timeout=t.stall)
        if call.upload and may_still_be_working(exc):
            err.message += "; not sent again, as the server may still be working on it"
            err.hint = ("raise the timeout setting (uploads also get time for their length), or set "
                        "stt_concurrency = 1 for a server that decodes one request at a time")
            return AttemptFailed(err, retryable=False)
        return AttemptFailed(err, retryable=is_retryable_exception(exc))

    async def _after_failure(self, failure: AttemptFailed, attempt: int, *, quiet: bool = False) -> None:
        """Wait before the next attempt, or raise the failure's error when none should follow."""
        err = failure.error
        wait = server_wait(failure.status, failure.headers)
        delay = retry_delay(attempt, failure.headers, self._rng, status=failure.status)
        too_long = failure.status == 429 and wait is not None and wait > MAX_SERVER_WAIT
        if not failure.retryable or attempt >= self.max_retries or too_long:
            # A wait over a minute is the user's call, not ours: they are told how long.
            if failure.status == 429 and err.retry_after is None:
                err.retry_after = delay
                err.hint = f"wait {delay:.0f} s and try again"
            raise self.scrub(err) from None
        reason = retry_reason(failure.status, err.code)
        if quiet:
            log.debug("retrying quietly in %.2f s (%s)", delay, reason)
        else:
            log.debug("retrying in %.2f s (%s), attempt %d failed", delay, reason, attempt + 1)
            if self._on_retry is not None:
                self._on_retry(RetryNotice(attempt=attempt + 1, delay=delay, reason=reason))
        await self._sleep(delay)

    def scrub(self, err: ApiError) -> ApiError:
        """The error with the keys (or anything shaped like one) blanked out of its text."""
        err.message = self._keys.scrub(err.message)
        err.hint = None if err.hint is None else self._keys.scrub(err.hint)
        err.args = (err.message,)
        if isinstance(err, StreamInterrupted):
            err.partial = self._keys.blank(err.partial)
        return err
