"""How the client reaches its servers: TLS, base URLs, and which key goes to which host.

A key goes only to the server it was given for: the chat key to the chat host (and
to the speech server only when that is the same host), the speech key to the speech
server, the fallback's key to the fallback. `Keys` holds them out of every repr and
scrubs them from any text that leaves the client.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping

import httpx

from voicebot import __version__
from voicebot.api.error_body import one_line, scrub_text
from voicebot.api.key_text import key_is_sendable
from voicebot.errors import UsageError

__all__ = ["KEY_NAMES", "Keys", "check_base", "check_key", "http_client", "same_host", "tls_context"]

USER_AGENT = f"voicebot/{__version__}"
KEEPALIVE_EXPIRY = 60.0  # httpx's 5 s default would drop the connection between spoken turns
ROLES = ("chat", "stt", "fallback")
# Where the user sets each key, named by a 401's hint.
KEY_NAMES = {"chat": "GROQ_API_KEY", "stt": "stt_api_key (VOICEBOT_STT_API_KEY)",
             "fallback": "stt_fallback_api_key (VOICEBOT_STT_FALLBACK_API_KEY)"}


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

    def __init__(self, *, chat: str, chat_base: str, stt_base: str, stt: str | None = None,
                 fallback: str | None = None) -> None:
        chat_key = check_key(chat)
        own_stt = _optional_key(stt, "stt_api_key")
        shared = own_stt is None and same_host(stt_base, chat_base)
        self.__keys: dict[str, str | None] = {
            "chat": chat_key,
            "stt": own_stt or (chat_key if shared else None),
            "fallback": _optional_key(fallback, "stt_fallback_api_key"),
        }
        self.names = dict(KEY_NAMES, stt=KEY_NAMES["chat"] if shared else KEY_NAMES["stt"])

    def __repr__(self) -> str:
        return "Keys(***)"

    def auth(self, role: str) -> dict[str, str]:
        """The Authorization header for a request to the role's server (none without a key)."""
        key = self.__keys[role]
        return {"Authorization": f"Bearer {key}"} if key else {}

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




def http_client(*, timeout: float, connect_timeout: float,
                transport: httpx.AsyncBaseTransport | None) -> httpx.AsyncClient:
    """The one pooled client: verified TLS, no redirects (a key never follows one), long keep-alive."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(timeout, connect=connect_timeout),
        headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        transport=transport,
        verify=tls_context(os.environ),
        follow_redirects=False,  # never carry the key to wherever a redirect points
        limits=httpx.Limits(max_connections=10, max_keepalive_connections=4, keepalive_expiry=KEEPALIVE_EXPIRY),
    )
