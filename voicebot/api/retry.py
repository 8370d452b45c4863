"""When to retry a failed request and how long to wait, as pure functions.

The rules copy the official `groq` SDK (`_base_client.py`: `_should_retry`,
`_parse_retry_after_header`, `_calculate_retry_timeout`) so voicebot behaves like
every other Groq client the user may know: the server's `x-should-retry` wins,
then 408/409/429/5xx are retried; the wait is the server's `retry-after-ms` /
`retry-after` when it is sane (0 < s <= 60), else exponential backoff with jitter.
Which network failures are worth another attempt is decided here too
(`is_retryable_exception`). Kept free of I/O and clocks (both are parameters) so
they are tested exactly.
"""

from __future__ import annotations

import email.utils
import re
import ssl
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import httpx

INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
MAX_SERVER_WAIT = 60.0  # a longer retry-after is not waited for: the user is told instead
RETRYABLE_STATUSES = frozenset({408, 409, 429})


class Random(Protocol):
    """The one method of `random.Random` the backoff needs (tests pass a fixed one)."""

    def random(self) -> float: ...


@dataclass(frozen=True)
class RetryNotice:
    """Told to `on_retry` before each wait so the user never watches a silent pause.

    `attempt` counts the attempts that failed so far (1 before the first retry);
    `reason` is a short phrase such as "rate limited" or "server error 503".
    """

    attempt: int
    delay: float
    reason: str


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    """Case-insensitive lookup that works for plain dicts as well as httpx.Headers."""
    if not headers:
        return None
    value = headers.get(name)
    if value is not None:
        return value
    for key, val in headers.items():
        if key.lower() == name:
            return val
    return None


def retryable_status(status: int) -> bool:
    """Whether a status is worth another attempt when the server says nothing more:
    408, 409, 429 and every 5xx (the groq SDK's rule)."""
    return status in RETRYABLE_STATUSES or status >= 500


def should_retry(status: int, headers: Mapping[str, str] | None = None) -> bool:
    """Whether a response with this status is worth another attempt (`x-should-retry` wins)."""
    explicit = _header(headers, "x-should-retry")
    if explicit == "true":
        return True
    if explicit == "false":
        return False
    return retryable_status(status)


def causes(exc: BaseException) -> list[BaseException]:
    """The exception and its causes (httpx wraps httpcore wraps OSError)."""
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen and len(seen) < 10:
        seen.append(current)
        current = current.__cause__ or current.__context__
    return seen


def is_cert_failure(exc: BaseException) -> bool:
    """A TLS certificate that did not verify: retrying cannot fix it."""
    return any(isinstance(e, ssl.SSLCertVerificationError) or "CERTIFICATE_VERIFY_FAILED" in str(e)
               for e in causes(exc))


def is_retryable_exception(exc: BaseException) -> bool:
    """Network failures worth another attempt (as the groq SDK: all but our own mistakes)."""
    if isinstance(exc, TimeoutError):
        return True
    if isinstance(exc, (httpx.UnsupportedProtocol, httpx.LocalProtocolError, httpx.ProxyError)):
        return False
    if isinstance(exc, httpx.ConnectError) and is_cert_failure(exc):
        return False
    return isinstance(exc, httpx.TransportError)


# ---------------------------------------------------------------- retry notices

_STATUS_REASONS: tuple[tuple[Callable[[int], bool], str], ...] = (
    (lambda s: s == 429, "rate limited"),
    (lambda s: s >= 500, "server error {status}"),
    (lambda s: s == 408, "request timed out"),
    (lambda s: True, "HTTP {status}"),
)
_CODE_REASONS = {
    "stalled": "answer stalled", "timeout": "timed out", "connect_timeout": "connection timed out",
    "dns_failure": "host not found", "connection_refused": "connection refused",
    "connection_lost": "connection lost", "stream_truncated": "answer cut off",
}


def retry_reason(status: int | None, code: str | None) -> str:
    """A few words for the "…, retrying in 7 s" notice, from the status or the error's code."""
    if status is not None:
        template = next(words for applies, words in _STATUS_REASONS if applies(status))
        return template.format(status=status)
    return _CODE_REASONS.get(code or "", "request failed")


def retry_after_seconds(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """The server's requested wait in seconds, or None when it names none we can read.

    `retry-after-ms` is preferred (more precise), then `retry-after` as seconds
    (floats tolerated), then as an HTTP date relative to `now`.
    """
    ms = _header(headers, "retry-after-ms")
    if ms is not None:
        try:
            value = float(ms) / 1000
            if value == value:  # NaN is no wait at all
                return value
        except ValueError:
            pass
    raw = _header(headers, "retry-after")
    if raw is None:
        return None
    try:
        value = float(raw)
        return value if value == value else None
    except ValueError:
        pass
    try:
        parsed = email.utils.parsedate_tz(raw)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if parsed is None:
        return None
    try:
        when = email.utils.mktime_tz(parsed)
    except (OverflowError, ValueError):
        return None
    return float(when - (time.time() if now is None else now))


def backoff_delay(attempt: int, rng: Random) -> float:
    """`min(0.5 * 2**attempt, 8)` seconds less up to 25 % jitter (attempt 0 = first retry)."""
    base = min(INITIAL_RETRY_DELAY * 2.0 ** min(max(attempt, 0), 1000), MAX_RETRY_DELAY)
    return max(base * (1 - 0.25 * rng.random()), 0.0)


def retry_delay(attempt: int, headers: Mapping[str, str] | None, rng: Random, now: float | None = None,
                *, status: int | None = None) -> float:
    """Seconds to wait before retry number `attempt` (0-based), as the groq SDK computes it,
    plus, for a 429 without retry-after, the rate-limit reset headers (see server_wait)."""
    server = server_wait(status, headers, now)
    if server is not None and 0 < server <= MAX_SERVER_WAIT:
        return server
    return backoff_delay(attempt, rng)


_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?(?:(\d+(?:\.\d+)?)ms)?")
_TRY_AGAIN = re.compile(r"try again in ((?:\d+(?:\.\d+)?(?:h|ms|m|s))+)", re.IGNORECASE)


def parse_duration(text: str) -> float | None:
    """Groq's reset durations ("7.66s", "2m59.56s", "1h2m", "250ms") in seconds."""
    text = text.strip()
    if not text:
        return None
    match = _DURATION.fullmatch(text)
    if match is None or not any(match.groups()):
        return None
    hours, minutes, seconds, millis = (float(g) if g else 0.0 for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def wait_from_message(message: str) -> float | None:
    """The wait a 429 message names ("Please try again in 2m59.56s"), when headers name none."""
    match = _TRY_AGAIN.search(message)
    return parse_duration(match.group(1)) if match else None


def ratelimit_reset_seconds(headers: Mapping[str, str] | None) -> float | None:
    """When a 429 names no retry-after: the reset of the exhausted `x-ratelimit-*` bucket.

    Groq sends `x-ratelimit-remaining-{requests,tokens}` and `x-ratelimit-reset-...`
    (durations like "7.66s") on every response. The bucket at 0 is the one to wait for;
    if neither says 0, the longer reset is the safe guess.
    """
    resets: list[tuple[bool, float]] = []
    for bucket in ("requests", "tokens"):
        reset = _header(headers, f"x-ratelimit-reset-{bucket}")
        seconds = parse_duration(reset) if reset else None
        if seconds is not None:
            resets.append((_header(headers, f"x-ratelimit-remaining-{bucket}") == "0", seconds))
    exhausted = [seconds for empty, seconds in resets if empty]
    chosen = exhausted or [seconds for _, seconds in resets]
    return max(chosen) if chosen else None


def server_wait(status: int | None, headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """The wait the server asks for: retry-after(-ms), or for a 429 the rate-limit reset headers."""
    wait = retry_after_seconds(headers, now)
    if wait is None and status == 429:
        wait = ratelimit_reset_seconds(headers)
    return wait


# ---------------------------------------------------------------- uploads

UPLOAD_SECONDS_PER_AUDIO_SECOND = 0.5  # a server decoding at 2x real time still answers in time


def upload_timeout(base: float, audio_seconds: float | None) -> float:
    """The deadline for one speech upload: the `timeout` setting plus time for the audio itself.

    A cloud server answers a minute of audio in a second or two, but a local Whisper
    may decode at a few times real time, and a long piece must not time out merely
    because it is long.
    """
    extra = audio_seconds * UPLOAD_SECONDS_PER_AUDIO_SECOND if audio_seconds and audio_seconds > 0 else 0.0
    return base + extra


def may_still_be_working(exc: BaseException) -> bool:
    """A timeout while waiting for the answer: the request arrived, and the server may still be
    decoding it. An upload is then not sent again: a second copy would queue behind the first
    on a server that decodes one at a time, and time out in turn (connect and write timeouts,
    where the server never had the whole request, are still retried)."""
    if isinstance(exc, (httpx.ConnectTimeout, httpx.WriteTimeout, httpx.PoolTimeout)):
        return False
    return isinstance(exc, (httpx.ReadTimeout, TimeoutError))


def server_unavailable(status: int | None) -> bool:
    """A failure that says the server cannot serve now (network failure: `status` None, or a
    retryable status), as opposed to one about the request: the speech fallback's cue."""
    return status is None or retryable_status(status)
