"""Retry rules: checked against the official groq SDK itself, which they copy."""

from __future__ import annotations

import email.utils
from collections.abc import Iterator

import groq
import groq._base_client as sdk_base
import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicebot.api.retry import (
    backoff_delay,
    parse_duration,
    retry_after_seconds,
    retry_delay,
    retryable_status,
    should_retry,
    wait_from_message,
)


class FixedRng:
    """`random.Random` stand-in returning one value, so jitter is exact."""

    def __init__(self, value: float) -> None:
        self.value = value

    def random(self) -> float:
        return self.value


@pytest.fixture(scope="module")
def sdk() -> Iterator[groq.Groq]:
    client = groq.Groq(api_key="not-used", base_url="http://127.0.0.1:9")
    yield client
    client.close()


header_values = st.one_of(
    st.none(),
    st.sampled_from(["true", "false", "TRUE", "", "yes"]),
)
retry_values = st.one_of(
    st.none(),
    st.integers(-5, 200).map(str),
    st.floats(-5, 200, allow_nan=False).map(lambda f: f"{f:.3f}"),
    st.sampled_from(["", "soon", "nan", "inf", "-inf", "1e3", "Wed, 21 Oct 2015 07:28:00"]),
)


def _headers(**values: str | None) -> dict[str, str]:
    return {k.replace("_", "-"): v for k, v in values.items() if v is not None}


@given(status=st.integers(100, 599), flag=header_values)
def test_should_retry_matches_the_sdk(sdk: groq.Groq, status: int, flag: str | None) -> None:
    headers = _headers(x_should_retry=flag)
    assert should_retry(status, headers) == sdk._should_retry(httpx.Response(status, headers=headers))


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 599])
def test_retryable_statuses(status: int) -> None:
    assert should_retry(status, {})


@pytest.mark.parametrize("status", [200, 400, 401, 403, 404, 413, 422, 498])
def test_final_statuses(status: int) -> None:
    assert not should_retry(status, None)


def test_server_header_wins_either_way_and_any_case() -> None:
    assert should_retry(400, {"X-Should-Retry": "true"})
    assert not should_retry(503, {"x-should-retry": "false"})
    assert not should_retry(429, httpx.Headers({"X-SHOULD-RETRY": "false"}))


@settings(max_examples=300)
@given(attempt=st.integers(0, 30), ms=retry_values, after=retry_values, jitter=st.floats(0, 1, exclude_max=True))
def test_retry_delay_matches_the_sdk(sdk: groq.Groq, attempt: int, ms: str | None, after: str | None,
                                     jitter: float) -> None:
    # Dates are compared separately: the SDK reads the clock itself. One deliberate
    # difference: a "nan" retry-after-ms makes the SDK ignore a valid retry-after too.
    if ms is not None and ms.strip().lower() == "nan":
        ms = None
    headers = httpx.Headers(_headers(retry_after_ms=ms, retry_after=after))
    options = sdk_base.FinalRequestOptions.construct(method="post", url="/x", max_retries=30)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sdk_base, "random", lambda: jitter)
        expected = sdk._calculate_retry_timeout(30 - attempt, options, headers)
    assert retry_delay(attempt, headers, FixedRng(jitter)) == pytest.approx(expected)


def test_server_wait_is_used_when_sane() -> None:
    assert retry_delay(0, {"retry-after": "7"}, FixedRng(0.5)) == 7.0
    assert retry_delay(0, {"retry-after": "60"}, FixedRng(0.5)) == 60.0
    assert retry_delay(3, {"retry-after-ms": "1500", "retry-after": "9"}, FixedRng(0.5)) == 1.5


@pytest.mark.parametrize("headers", [{"retry-after": "0"}, {"retry-after": "61"}, {"retry-after": "-3"},
                                     {"retry-after": "later"}, {}])
def test_insane_or_missing_waits_fall_back_to_backoff(headers: dict[str, str]) -> None:
    assert retry_delay(1, headers, FixedRng(0.0)) == 1.0


def test_backoff_doubles_to_eight_seconds_less_jitter() -> None:
    assert [backoff_delay(n, FixedRng(0.0)) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert backoff_delay(0, FixedRng(0.999999)) == pytest.approx(0.375, abs=1e-5)
    assert backoff_delay(10_000, FixedRng(0.0)) == 8.0


def test_retry_after_as_http_date_is_relative_to_now() -> None:
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 12, usegmt=True)
    assert retry_after_seconds({"Retry-After": date}, now=now) == pytest.approx(12)
    assert retry_delay(0, {"retry-after": date}, FixedRng(0.0), now=now) == pytest.approx(12)
    far = email.utils.formatdate(now + 3600, usegmt=True)
    assert retry_after_seconds({"retry-after": far}, now=now) == pytest.approx(3600)
    assert retry_delay(0, {"retry-after": far}, FixedRng(0.0), now=now) == 0.5


def test_unreadable_waits_are_none() -> None:
    assert retry_after_seconds(None) is None
    assert retry_after_seconds({"retry-after": "soon"}) is None
    assert retry_after_seconds({"retry-after-ms": "nan"}) is None
    assert retry_after_seconds({"retry-after-ms": "x", "retry-after": "3"}) == 3.0
    assert retry_after_seconds({"retry-after-ms": "nan", "retry-after": "3"}) == 3.0


@given(st.dictionaries(st.sampled_from(["retry-after", "Retry-After", "retry-after-ms", "x"]), st.text(max_size=40)),
       st.integers(-3, 5000))
def test_retry_delay_never_raises_and_is_bounded(headers: dict[str, str], attempt: int) -> None:
    delay = retry_delay(attempt, headers, FixedRng(0.3), now=1_700_000_000.0)
    assert 0 <= delay <= 60


@pytest.mark.parametrize("text, seconds", [("7.66s", 7.66), ("2m59.56s", 179.56), ("250ms", 0.25),
                                           ("1h2m3s", 3723.0), ("5m", 300.0), ("1m30s500ms", 90.5)])
def test_parse_duration(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "7", "s", "1.5.2s"])
def test_parse_duration_rejects_non_durations(text: str) -> None:
    assert parse_duration(text) is None


def test_wait_from_groq_rate_limit_message() -> None:
    message = ("Rate limit reached for model `openai/gpt-oss-20b` in organization `org_x` service tier "
               "`on_demand` on tokens per minute (TPM): Limit 8000, Used 7950. Please try again in 2m59.56s.")
    assert wait_from_message(message) == pytest.approx(179.56)
    assert wait_from_message("Please try again in 450ms. Need more tokens?") == pytest.approx(0.45)
    assert wait_from_message("slow down") is None


def test_429_without_retry_after_waits_for_the_exhausted_ratelimit_bucket() -> None:
    from voicebot.api.retry import ratelimit_reset_seconds, server_wait
    headers = {"x-ratelimit-remaining-requests": "13", "x-ratelimit-reset-requests": "2m59.56s",
               "x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "7.66s"}
    assert ratelimit_reset_seconds(headers) == pytest.approx(7.66)
    assert server_wait(429, headers) == pytest.approx(7.66)
    assert server_wait(503, headers) is None  # only a rate limit waits for the bucket
    assert server_wait(429, {**headers, "retry-after": "3"}) == 3.0  # retry-after still wins
    neither = {**headers, "x-ratelimit-remaining-tokens": "5"}
    assert ratelimit_reset_seconds(neither) == pytest.approx(179.56)  # no bucket at 0: the longer reset
    assert ratelimit_reset_seconds({}) is None


def test_retryable_status_is_the_sdk_rule_without_headers() -> None:
    from voicebot.api.retry import retryable_status

    assert [s for s in (400, 401, 404, 408, 409, 413, 422, 429, 498, 500, 502, 503, 599) if retryable_status(s)] == [
        408, 409, 429, 500, 502, 503, 599]
    assert should_retry(503, {"x-should-retry": "false"}) is False and should_retry(400, {"x-should-retry": "true"})


def test_network_failures_worth_another_attempt() -> None:
    import ssl

    from voicebot.api.retry import is_retryable_exception

    cert = httpx.ConnectError("bad cert")
    cert.__cause__ = ssl.SSLCertVerificationError("CERTIFICATE_VERIFY_FAILED")
    assert is_retryable_exception(httpx.ConnectError("refused")) and is_retryable_exception(TimeoutError())
    assert is_retryable_exception(httpx.ReadTimeout("slow"))
    assert not is_retryable_exception(cert) and not is_retryable_exception(httpx.UnsupportedProtocol("ftp"))
    assert not is_retryable_exception(ValueError("ours"))


def test_retryable_status_is_the_sdks_rule_without_headers() -> None:
    for status in range(100, 600):
        assert retryable_status(status) == (status in (408, 409, 429) or status >= 500) == should_retry(status)
    assert [s for s in range(400, 500) if retryable_status(s)] == [408, 409, 429]
