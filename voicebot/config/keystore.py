"""The API key in the system keyring (service "voicebot"), through the `keyring` library.

The keyring is the last place the key is looked for (after flags, the environment and
the config file), so a machine without a usable keyring backend (a headless box, a
locked or absent Secret Service, keyring's `fail` backend) behaves exactly as if the
keyring held nothing. Only `voicebot key set` needs a working backend, and says so in
one line when there is none. Nothing here ever puts the key into a message or a log.
"""

from __future__ import annotations

import getpass
import logging
import sys
from typing import Any, TextIO

from voicebot.api.key_text import key_is_sendable
from voicebot.errors import UsageError

SERVICE = "voicebot"
USERNAME = "api_key"  # keyring stores (service, username) -> password; one key per user
STT_USERNAME = "stt_api_key"  # the speech server's own key, when it has one

log = logging.getLogger("voicebot.config.keystore")


def _keyring() -> Any | None:
    """The keyring module, or None when it is not installed (imported late: it is slow to load)."""
    try:
        import keyring
    except Exception as exc:
        log.debug("keyring unavailable: %s", type(exc).__name__)
        return None
    return keyring


def backend_name() -> str | None:
    """The backend keyring would use, e.g. 'SecretService Keyring'; None when there is none."""
    keyring = _keyring()
    if keyring is None:
        return None
    try:
        backend = keyring.get_keyring()
    except Exception as exc:
        log.debug("keyring backend unavailable: %s", type(exc).__name__)
        return None
    if _is_fail_backend(backend):
        return None
    name = getattr(backend, "name", None)
    return name if isinstance(name, str) and name else type(backend).__name__


def _is_fail_backend(backend: object) -> bool:
    """keyring's stand-in when no real backend exists (every call raises NoKeyringError)."""
    cls = type(backend)
    return cls.__module__ == "keyring.backends.fail" or (
        cls.__name__ == "ChainerBackend" and not getattr(backend, "backends", True))


def get_stt_key() -> str | None:
    """The speech server's stored key (`stt_api_key`), or None, as `get_key`."""
    return get_key(STT_USERNAME)


def get_key(username: str = USERNAME) -> str | None:
    """The stored key, or None when there is none or no usable keyring (never raises)."""
    keyring = _keyring()
    if keyring is None:
        return None
    try:
        value = keyring.get_password(SERVICE, username)
    except Exception as exc:
        log.debug("no key from the keyring: %s", type(exc).__name__)
        return None
    if not isinstance(value, str) or not value.strip():
        return None
    return value.strip()


def check_key_text(text: str) -> str:
    """The key as it will be stored; refused (without echoing it) if it cannot be sent."""
    key = text.strip()
    if not key:
        raise UsageError("no key given", hint="paste the key from console.groq.com/keys")
    if not key_is_sendable(key):
        raise UsageError("the key contains spaces or characters that cannot be sent",
                         hint="paste the key alone, from console.groq.com/keys")
    return key


def set_key(value: str, username: str = USERNAME) -> str:
    """Store the key; returns the backend's name. UsageError when no keyring can hold it."""
    key = check_key_text(value)
    name = require_backend()
    keyring = _keyring()
    assert keyring is not None  # require_backend found a backend, so the module imports
    try:
        keyring.set_password(SERVICE, username, key)
    except Exception as exc:
        raise UsageError(f"the keyring ({name}) refused to store the key: {type(exc).__name__}",
                         hint="unlock the keyring, or set GROQ_API_KEY instead") from None
    return name


def delete_key(username: str = USERNAME) -> bool:
    """Remove the stored key; False when there was none. UsageError when no keyring exists."""
    name = require_backend()
    keyring = _keyring()
    assert keyring is not None  # require_backend found a backend, so the module imports
    try:
        if keyring.get_password(SERVICE, username) is None:
            return False
        keyring.delete_password(SERVICE, username)
    except Exception as exc:
        if type(exc).__name__ == "PasswordDeleteError":
            return False
        raise UsageError(f"the keyring ({name}) refused to delete the key: {type(exc).__name__}",
                         hint="unlock the keyring and try again") from None
    return True


def require_backend() -> str:
    """The usable backend's name, or a UsageError saying there is none (checked before prompting)."""
    name = backend_name()
    if name is None:
        raise UsageError("no system keyring is available",
                         hint="set GROQ_API_KEY, or api_key in a config file only you can read")
    return name


def read_key(stdin: TextIO | None = None, *, prompt: str = "Groq API key: ") -> str:
    """The key from the user: a prompt without echo on a terminal, else one line of stdin."""
    stream = sys.stdin if stdin is None else stdin
    if stream.isatty():
        try:
            text = getpass.getpass(prompt)
        except EOFError:
            text = ""
    else:
        text = stream.readline()
    return check_key_text(text)


__all__ = [
    "SERVICE",
    "STT_USERNAME",
    "USERNAME",
    "backend_name",
    "check_key_text",
    "delete_key",
    "get_key",
    "get_stt_key",
    "read_key",
    "require_backend",
    "set_key",
]
