"""Which API keys can be sent at all: the one rule for a key's characters.

An Authorization header carries printable ASCII only, so a key with spaces or other
characters cannot be sent; the keystore refuses to store such a key and the client refuses
to send it. Light on purpose (no httpx): the keystore imports it at every start.
"""

from __future__ import annotations


def key_is_sendable(key: str) -> bool:
    """Whether a (stripped) key can go in an Authorization header: printable ASCII, no spaces.

    Its callers word the refusal, never echoing the key.
    """
    return all("\x21" <= ch <= "\x7e" for ch in key)


__all__ = ["key_is_sendable"]
