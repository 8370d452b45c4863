"""How the client reaches its servers: endpoints, timeouts, TLS, and which key goes to which host.

An `Endpoint` is one server (its OpenAI-style root and its key), `Timeouts` the limits
of every request, as httpx's own `Timeout` and `Limits` values are: the client takes one
endpoint for chat, one for speech to text, an optional fallback for speech, and one
`Timeouts`. A key goes only to the server it was given for: the chat key to the chat
host (and to the speech server only when that is the same host and it has no key of its
own), the speech key to the speech server, the fallback's key to the fallback. `Keys`
holds them out of every repr and scrubs them from any text that leaves the client.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field

import httpx

from voicebot import __version__
from voicebot.api.error_body import one_line, scrub_text
from voicebot.api.key_text import key_is_sendable
from voicebot.errors import UsageError

__all__ = ["KEY_NAMES", "Endpoint", "Keys", "Timeouts", "check_base", "check_key", "http_client", "same_host",
           "tls_context"]

USER_AGENT = f"voicebot/{__version__}"
KEEPALIVE_EXPIRY = 60.0  # httpx's 5 s default would drop the connection between spoken turns
ROLES = ("chat", "stt", "fallback")
# Where the user sets each key, named by a 401's hint.
KEY_NAMES = {"chat": "GROQ_API_KEY", "stt": "stt_api_key (VOICEBOT_STT_API_KEY)",
             "fallback": "stt_fallback_api_key (VOICEBOT_STT_FALLBACK_API_KEY)"}


@dataclass(frozen=True)
class Endpoint:
    """One server: its OpenAI-style root (https://api.groq.com/openai/v1) and the key it gets.

    No key: the server is sent no Authorization (a local speech server), except that a speech
    endpoint on the chat host shares the chat key. The key never shows in a repr.
    """

    base: str
    key: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Timeouts:
    """The limits of every request, in seconds.

    `total`: one attempt's whole request and answer (an upload gets more for its length,
    see `voicebot.api.retry.upload_timeout`); `connect`: opening the connection; `stall`:
    the longest gap between two pieces of a streamed answer (a stream has no overall limit).
    """

    total: float = 60.0
    connect: float = 5.0
    stall: float = 20.0

    def whole(self, limit: float | None = None) -> httpx.Timeout:
        """httpx's timeouts for a request read whole within `limit` (default `total`)."""
        return httpx.Timeout(self.total if limit is None else limit, connect=self.connect)

    def streamed(self) -> httpx.Timeout:
        """httpx's timeouts for an answer read as it arrives: `stall` between its pieces."""
        return httpx.Timeout(self.total, connect=self.connect, read=self.stall)


def check_key(api_key: str, name: str = "GROQ_API_KEY") -> str:
    """The key as it will be sent; bad characters are refused here, where the error can't echo it."""
    key = api_key.strip() if isinstance(api_key, str) else ""
    if not key:
        raise UsageError(f"no API key: set {name}")
    if not key_is_sendable(key):
        raise UsageError("the API key contains spaces or characters that cannot be sent", hint=f"check {name}")
    return key


def _optional_key(key: str | None, name: str) -> str | None:
    return check_key(key, name) if key and key.strip() else None


def same_host(a: str, b: str) -> bool:
    """Whether two API roots name the same scheme, host and port, so the chat key may go to both."""
    ua, ub = httpx.URL(a), httpx.URL(b)
    return (ua.scheme, ua.host.lower(), ua.port) == (ub.scheme, ub.host.lower(), ub.port)


class Keys:
    """The keys per role ("chat", "stt", "fallback"); a role without a key sends no Authorization."""

    __slots__ = ("__keys", "names")

    def __init__(self, chat: Endpoint, stt: Endpoint, fallback: Endpoint | None = None) -> None:
        chat_key = check_key(chat.key or "")
        own_stt = _optional_key(stt.key, "stt_api_key")
        shared = own_stt is None and same_host(stt.base, chat.base)
        self.__keys: dict[str, str | None] = {
            "chat": chat_key,
            "stt": own_stt or (chat_key if shared else None),
            "fallback": _optional_key(fallback.key, "stt_fallback_api_key") if fallback else None,
        }
        self.names = dict(KEY_NAMES, stt=KEY_NAMES["chat"] if shared else KEY_NAMES["stt"])

    def __repr__(self) -> str:
        return "Keys(***)"

    def auth(self, role: str) -> dict[str, str]:
        """The Authorization header for a request to the role's server (none without a key)."""
        key = self.__keys[role]
        return {"Authorization": f"Bearer {key}"} if key else {}

    def sent(self, role: str) -> bool:
        """Whether the role's server is sent a key at all (a 401 without one is no rejected key)."""
        return bool(self.__keys[role])

    def blank(self, text: str) -> str:
        """`text` with the keys themselves blanked out, and nothing else changed (answer text)."""
        for key in self.__keys.values():
            if key:
                text = text.replace(key, "***")
        return text

    def scrub(self, text: str) -> str:
        """`text` with every key (and anything shaped like one) blanked out."""
        return scrub_text(text, tuple(k for k in self.__keys.values() if k))


def tls_context(env: Mapping[str, str]) -> ssl.SSLContext:
    """A verifying TLS context: the CA bundle in SSL_CERT_FILE (or SSL_CERT_DIR) when set, else certifi's.

    httpx 0.28 reads the same variables, but a bad path there surfaces as a bare
    FileNotFoundError or SSLError; built here it is one line naming the variable.
    Verification and hostname checks are always on: there is no switch to turn them off.
    """
    cafile = env.get("SSL_CERT_FILE") or None
    capath = None if cafile else env.get("SSL_CERT_DIR") or None
    try:
        if cafile or capath:
            return ssl.create_default_context(cafile=cafile, capath=capath)
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except (OSError, ssl.SSLError) as exc:
        var, where = ("SSL_CERT_FILE", cafile) if cafile else ("SSL_CERT_DIR", capath)
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise UsageError(f"cannot load CA certificates from {var}={where}: {one_line(reason, 120)}",
                         hint=f"point {var} at a PEM bundle, or unset it") from None


def check_base(base: str, name: str) -> str:
    try:
        url = httpx.URL(base) if isinstance(base, str) else None
    except httpx.InvalidURL:
        url = None
    if url is None or url.scheme not in ("http", "https") or not url.host:
        raise UsageError(f"{name} must be an http(s) URL such as https://api.groq.com/openai/v1")
    return base.rstrip("/")


def http_client(timeouts: Timeouts, transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
    """The one pooled client: verified TLS, no redirects (a key never follows one), long keep-alive."""
    return httpx.AsyncClient(
        timeout=timeouts.whole(),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        transport=transport,
        verify=tls_context(os.environ),
        follow_redirects=False,  # never carry the key to wherever a redirect points
        limits=httpx.Limits(max_connections=10, max_keepalive_connections=4, keepalive_expiry=KEEPALIVE_EXPIRY),
    )
