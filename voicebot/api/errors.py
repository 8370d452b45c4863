"""What an API failure means to the user: statuses and exceptions mapped to one clear line.

Every failure leaves the client as `voicebot.errors.ApiError` with one line saying
what happened and a hint saying what to do. The mapping is data: `STATUS_RULES`
(an HTTP status → message template, hint, code) and `EXCEPTION_RULES` (an exception
type → the same), first matching row wins. Pure functions, tested without a network.
Reading the server's own words out of an error body is `voicebot.api.error_body`.
"""

from __future__ import annotations

import json
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus

import httpx

from voicebot.api.error_body import ParsedError, names_unknown_model, one_line, parse_error_body
from voicebot.api.retry import causes, is_cert_failure, server_wait, should_retry, wait_from_message
from voicebot.errors import USAGE_API_CODES, ApiError

__all__ = [
    "EXCEPTION_RULES", "STATUS_RULES", "AttemptFailed", "error_for_exception", "error_for_status",
    "in_stream_failure", "seconds_text", "status_failure",
]

DEFAULT_KEY_NAME = "GROQ_API_KEY"


class AttemptFailed(Exception):
    """One attempt's failure: the error to raise, whether another attempt may help, and why."""

    def __init__(self, error: ApiError, *, retryable: bool, status: int | None = None,
                 headers: Mapping[str, str] | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.retryable = retryable
        self.status = status
        self.headers = headers


# ---------------------------------------------------------------- statuses


def _groq_host(host: str) -> bool:
    return host == "groq.com" or host.endswith(".groq.com") or host.startswith("api.groq.com")


def _reason_phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


@dataclass(frozen=True)
class Facts:
    """What a rule may test and its templates may name."""

    status: int
    parsed: ParsedError
    host: str
    model: str | None
    retry_after: float | None
    key_name: str
    key_sent: bool = True

    @property
    def detail(self) -> str:
        return self.parsed.message or _reason_phrase(self.status) or "no details given"

    @property
    def subject(self) -> str:
        return f"model {self.model!r}" if self.model else "the model"

    @property
    def wait(self) -> str:
        return f"wait {self.retry_after:.0f} s and try again" if self.retry_after else "wait a little and try again"

    @property
    def phrase(self) -> str:
        """" Service Unavailable" after "HTTP 503", when the status has a name."""
        phrase = _reason_phrase(self.status)
        return f" {phrase}" if phrase else ""

    @property
    def server_words(self) -> str:
        """": <the server's message>" when it adds anything to the status's name."""
        phrase = _reason_phrase(self.status)
        if self.parsed.message and not (phrase and phrase.lower() in self.parsed.message.lower()):
            return f": {self.parsed.message}"
        return ""

    @property
    def base_hint(self) -> str:
        """What an API root looks like, for a 404: Groq's own, or any OpenAI-style server's."""
        return "Groq's ends in /openai/v1" if _groq_host(self.host) else "an OpenAI-style root usually ends in /v1"

    @property
    def status_page(self) -> str:
        return "; status at https://groqstatus.com" if _groq_host(self.host) else ""


@dataclass(frozen=True)
class Rule:
    """One row: when it applies, the message and hint templates (str.format over Facts), the code
    used when the server names none (None: keep the server's)."""

    applies: Callable[[Facts], bool]
    message: str
    hint: str
    code: str | None = None


def _status(*codes: int) -> Callable[[Facts], bool]:
    return lambda f: f.status in codes


def _retired(f: Facts) -> bool:
    return f.parsed.code == "model_decommissioned" or (f.status == 400 and "decommission" in f.detail.lower())


def _unknown_model(f: Facts) -> bool:
    """A 404 that mentions the model, or any refusal whose words say the model does not exist
    (whatever code the server gave it: a vLLM says 404, a whisper server "model")."""
    code = f.parsed.code
    if not f.model or code == "unknown_url":
        return False
    if f.status == 404 and (code == "model_not_found" or "model" in f"{code or ''} {f.parsed.message}".lower()):
        return True
    return f.status in (400, 404, 422) and names_unknown_model(f.parsed)


def _reasoning_refused(f: Facts) -> bool:
    # voicebot asks gpt-oss for low reasoning effort by default; other models may refuse the field.
    return f.status in (400, 422) and "reasoning" in f.detail.lower()


STATUS_RULES: tuple[Rule, ...] = (
    Rule(lambda f: f.status == 401 and not f.key_sent, "{host} wants an API key, and none was sent to it: {detail}",
         "set {key_name}", "missing_api_key"),
    Rule(_status(401), "the API key was rejected by {host}: {detail}", "check {key_name}", "invalid_api_key"),
    Rule(_status(403), "access denied by {host}: {detail}",
         "check {key_name} and that your organisation may use this model"),
    Rule(_retired, "{subject} has been retired: {detail}", "pick another model; see `voicebot models`",
         "model_decommissioned"),
    Rule(_unknown_model, "{subject} is unknown to {host}: {detail}", "see `voicebot models` for the available ones",
         "model_not_found"),
    Rule(_status(404), "not found at {host}: {detail}", "check the API base URL ({base_hint})"),
    Rule(_status(413), "request too large: {detail}",
         "send a shorter recording (25 MB at most) or start a new conversation"),
    Rule(_status(429), "rate limited by {host}: {detail}", "{wait}", "rate_limit_exceeded"),
    Rule(_status(498), "flex capacity exceeded at {host}: {detail}",
         "try again shortly, or use service_tier on_demand"),
    Rule(lambda f: f.status >= 500, "{host} is having trouble (HTTP {status}{phrase}){server_words}",
         "try again in a moment{status_page}", "server_error"),
    Rule(_reasoning_refused, "request rejected by {host}: {detail}",
         'for a model that does not reason, set reasoning_effort = "none" (or --reasoning-effort none)'),
    Rule(_status(400, 422), "request rejected by {host}: {detail}", "check the settings shown by `voicebot config`"),
    Rule(lambda f: True, "unexpected HTTP {status} from {host}: {detail}", "try again; if it persists, report it"),
)


def _fill(template: str, facts: Facts) -> str:
    names = {"status": facts.status, "host": facts.host, "detail": facts.detail, "subject": facts.subject,
             "wait": facts.wait, "phrase": facts.phrase,
             "server_words": facts.server_words, "status_page": facts.status_page,
             "key_name": facts.key_name, "base_hint": facts.base_hint}
    return template.format_map(names)


def error_for_status(status: int, parsed: ParsedError, *, host: str, model: str | None = None,
                     retry_after: float | None = None, key_name: str = DEFAULT_KEY_NAME,
                     key_sent: bool = True) -> ApiError:
    """The ApiError for an HTTP error status: what happened, and what to do about it.

    `key_name` is where the user sets the key for this host (named by 401/403 hints), and
    `key_sent` whether one was sent at all. A model that does not exist (or no longer does)
    gets Groq's code whatever the server called it, so it is a usage error on every server.
    """
    facts = Facts(status, parsed, host, model, retry_after, key_name, key_sent)
    rule = next(r for r in STATUS_RULES if r.applies(facts))
    code = rule.code if rule.code in USAGE_API_CODES else parsed.code or rule.code
    return ApiError(one_line(_fill(rule.message, facts), 300), hint=_fill(rule.hint, facts), status=status,
                    code=code, retry_after=retry_after)


# ---------------------------------------------------------------- exceptions

_NETWORK = "check the network connection and the API base URL"


@dataclass(frozen=True)
class ExceptionRule:
    """One row: the exception types (and an extra test), message and hint templates, code."""

    types: tuple[type[BaseException], ...]
    message: str
    hint: str
    code: str
    also: Callable[[BaseException], bool] = lambda exc: True


def _caused_by(kind: type[BaseException]) -> Callable[[BaseException], bool]:
    return lambda exc: any(isinstance(e, kind) for e in causes(exc))


EXCEPTION_RULES: tuple[ExceptionRule, ...] = (
    ExceptionRule((httpx.ConnectTimeout,), "timed out connecting to {host} after {connect_timeout} s", _NETWORK,
                  "connect_timeout"),
    ExceptionRule((httpx.ConnectError,), "the TLS certificate of {host} could not be verified",
                  "is a proxy intercepting HTTPS? point SSL_CERT_FILE at its CA bundle", "tls_verify_failed",
                  is_cert_failure),
    ExceptionRule((httpx.ConnectError,), "cannot resolve host {host}", _NETWORK, "dns_failure",
                  _caused_by(socket.gaierror)),
    ExceptionRule((httpx.ConnectError,), "connection to {host} refused",
                  "is the server running? check the API base URL", "connection_refused",
                  _caused_by(ConnectionRefusedError)),
    ExceptionRule((httpx.ConnectError,), "cannot connect to {host}: {exc}", _NETWORK, "connect_failed"),
    ExceptionRule((httpx.ReadTimeout,), "no response from {host} within {timeout} s", "try again in a moment",
                  "timeout"),
    ExceptionRule((httpx.WriteTimeout,), "timed out sending the request to {host}",
                  "check the network; a shorter recording helps", "timeout"),
    ExceptionRule((httpx.PoolTimeout,), "no free connection to {host} within {timeout} s", "try again", "timeout"),
    ExceptionRule((TimeoutError, httpx.TimeoutException), "no complete response from {host} within {timeout} s",
                  "try again; raise the timeout setting for long recordings", "timeout"),
    ExceptionRule((httpx.ProxyError,), "the proxy refused the request to {host}: {exc}",
                  "check HTTPS_PROXY / HTTP_PROXY", "proxy_error"),
    ExceptionRule((httpx.UnsupportedProtocol,), "cannot use the API base URL for {host}: {exc}",
                  "it must start with https:// or http://", "bad_url"),
    ExceptionRule((httpx.NetworkError, httpx.RemoteProtocolError), "the connection to {host} was lost: {words}",
                  "check the network and try again", "connection_lost"),
    ExceptionRule((BaseException,), "request to {host} failed: {words}", "try again", "request_failed"),
)
# A stalled stream is a read timeout with its own words: the limit is per read, not per answer.
STALLED = ExceptionRule((httpx.ReadTimeout,),
                        "the answer stalled: nothing received from {host} for {stall_timeout} s",
                        "try again; raise stall_timeout if the model is slow", "stalled")


def seconds_text(seconds: float) -> str:
    """A limit in seconds as people read it: "61", "5", "0.5" (an upload's 61.0901 s is "61")."""
    return f"{seconds:.0f}" if seconds >= 10 else f"{seconds:.1f}".removesuffix(".0")


def error_for_exception(exc: BaseException, *, host: str, streaming: bool = False, timeout: float = 60.0,
                        connect_timeout: float = 5.0, stall_timeout: float = 20.0) -> ApiError:
    """The ApiError for a network failure, naming the host and the likely fix."""
    rules = (STALLED, *EXCEPTION_RULES) if streaming else EXCEPTION_RULES
    rule = next(r for r in rules if isinstance(exc, r.types) and r.also(exc))
    names = {"host": host, "exc": exc, "words": str(exc) or type(exc).__name__, "timeout": seconds_text(timeout),
             "connect_timeout": seconds_text(connect_timeout), "stall_timeout": seconds_text(stall_timeout)}
    return ApiError(one_line(rule.message.format_map(names), 300), hint=rule.hint.format_map(names), code=rule.code)


# ---------------------------------------------------------------- one attempt's failure


def status_failure(response: httpx.Response, *, host: str, model: str | None,
                   key_name: str = DEFAULT_KEY_NAME, key_sent: bool = True) -> AttemptFailed:
    """A non-2xx response (already read) as an attempt's failure, with the server's wait for a 429."""
    status = response.status_code
    parsed = parse_error_body(status, response.headers.get("content-type"), response.content)
    retry_after = None
    if status == 429:
        retry_after = server_wait(429, response.headers) or wait_from_message(parsed.message)
        if retry_after is not None and retry_after <= 0:
            retry_after = None
    err = error_for_status(status, parsed, host=host, model=model, retry_after=retry_after, key_name=key_name,
                           key_sent=key_sent)
    return AttemptFailed(err, retryable=should_retry(status, response.headers), status=status,
                         headers=response.headers)


def in_stream_failure(error: Mapping[str, object], host: str) -> AttemptFailed:
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
    return AttemptFailed(err, retryable=False, status=status)
