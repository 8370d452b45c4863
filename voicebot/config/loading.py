"""Effective settings: flags > environment > config file > defaults, with where each came from.

The schema is `voicebot.config.schema` (its names stay importable from here); this
module reads the four sources into it. Nothing here is a global: `load_settings` is a
pure-ish function of the flags, an environment mapping and the file it is pointed at.
"""

from __future__ import annotations

import json
import re
import stat
import sys
import tomllib
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from voicebot.config.checks import (
    check_bool,
    check_bounds,
    check_float,
    check_int,
    check_list,
    check_stops,
    check_str,
    check_url,
)
from voicebot.config.profiles import BadProfile, check_hotkeys, check_profiles
from voicebot.config.schema import FIELDS, Secret, Settings, env_name, is_optional, kind_of
from voicebot.errors import UsageError
from voicebot.hotkeys.bindings import BadEntry

GROQ_PATH = "/openai/v1"

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def parse_text(name: str, text: str) -> Any:
    """Turn a flag or environment string into the setting's type (raises ValueError)."""
    kind = kind_of(name)
    if kind is bool:
        low = text.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise ValueError(f"expected true or false, got {text!r}")
    if kind is int:
        return int(text.strip())
    if kind is float:
        return float(text.strip())
    if kind is list:
        stripped = text.strip()
        if stripped.startswith("["):
            value = json.loads(stripped)
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise ValueError("expected a JSON list of strings")
            return value
        return [text] if text else []
    if kind is Secret:
        return Secret(text.strip())
    if kind is dict:
        value = json.loads(text)
        if not isinstance(value, dict):
            raise ValueError("expected a JSON object")
        return value
    return text


Validator = Callable[[Any], Any]


def _check_secret(value: Any) -> Secret:
    if isinstance(value, str):
        value = Secret(value.strip())
    if not isinstance(value, Secret):
        raise ValueError("expected a string")
    return value


def _check_table(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"expected a table, got {value!r}")
    return value


# One validator per kind of value, then (after choices and range) one per setting that needs more.
KIND_CHECKS: dict[type, Validator] = {
    Secret: _check_secret, bool: check_bool, int: check_int, float: check_float, list: check_list,
    dict: _check_table, str: check_str,
}
SETTING_CHECKS: dict[str, Validator] = {
    "stop": check_stops, "api_base": check_url, "stt_api_base": check_url, "stt_fallback_api_base": check_url,
    "hotkeys": lambda value: check_hotkeys(value, check_value),  # a binding's profile fields as their settings
    "profiles": lambda value: check_profiles(value, check_value),  # [profiles.NAME]: per-app settings
}


def check_value(name: str, value: Any) -> Any:
    """Validate a typed value against the field's type, choices and range (raises ValueError)."""
    if value is None:
        if is_optional(name):
            return None
        raise ValueError("must be set")
    check: Validator = KIND_CHECKS.get(kind_of(name), check_str)
    value = check(value)
    value = check_bounds(FIELDS[name].metadata, value)
    extra = SETTING_CHECKS.get(name)
    return extra(value) if extra is not None else value


def default_config_path(env: Mapping[str, str]) -> Path:
    """`$XDG_CONFIG_HOME/voicebot/config.toml` (XDG default ~/.config)."""
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "voicebot" / "config.toml"


def _key_line(text: str, key: str) -> int | None:
    """Line number where a top-level key is assigned, for error messages."""
    pattern = re.compile(rf"^[ \t]*(\[[ \t]*)?[\"']?{re.escape(key)}[\"']?[ \t]*(=|\])", re.MULTILINE)
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def _entry_line(text: str, table: str, key: str) -> int | None:
    """Line of `key = ...` inside `[table]` (None when written inline or not found)."""
    start = _key_line(text, table)
    lines = text.splitlines()
    if start is None or not lines[start - 1].lstrip().startswith("["):
        return None
    entry = re.compile(rf"^[ \t]*[\"']?{re.escape(key)}[\"']?[ \t]*=")
    for number in range(start, len(lines)):  # the lines after the table's own
        if lines[number].lstrip().startswith("["):
            return None
        if entry.match(lines[number]):
            return number + 1
    return None


def _subtable_line(text: str, table: str, name: str, field: str | None) -> int | None:
    """Line of `field = ...` in `[table.name]` (or of that header without a field; None if not so written)."""
    header = re.compile(rf"^[ \t]*\[[ \t]*[\"']?{re.escape(table)}[\"']?[ \t]*\.[ \t]*[\"']?{re.escape(name)}"
                        r"[\"']?[ \t]*\]")
    lines = text.splitlines()
    start = next((n for n, line in enumerate(lines) if header.match(line)), None)
    if start is None:
        return None
    entry = re.compile(rf"^[ \t]*[\"']?{re.escape(field)}[\"']?[ \t]*=") if field else None
    for number in range(start + 1, len(lines)):
        if lines[number].lstrip().startswith("["):
            break
        if entry is not None and entry.match(lines[number]):
            return number + 1
    return start + 1


def _present(path: Path) -> bool:
    """Whether something is at `path` (one we may not be allowed to look at counts)."""
    try:
        path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:
        return True
    return True


def read_config(path: Path) -> tuple[dict[str, Any], list[str]]:
    """Parse and validate a config file: (values, warnings). Errors name file, line and key.

    A UTF-8 byte order mark (some Windows editors write one) is accepted and ignored.
    """
    if path.is_dir():
        raise UsageError(f"the config file {path} is a directory, not a file",
                         hint="move it away, or point --config or VOICEBOT_CONFIG at a file")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8-sig")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        raise UsageError(f"config file {path} is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"invalid TOML in {path}: {exc}") from None
    values: dict[str, Any] = {}
    for key, value in data.items():
        line = _key_line(text, key)
        where = f"{path}:{line}" if line else str(path)
        if key not in FIELDS:
            import difflib
            close = difflib.get_close_matches(key, FIELDS, n=1)
            raise UsageError(f"{where}: unknown setting {key!r}",
                             hint=(f"did you mean {close[0]!r}? " if close else "")
                             + "`voicebot config` lists the settings")
        try:
            values[key] = check_value(key, value)
        except ValueError as exc:
            if isinstance(exc, BadEntry):  # point at the entry's own line when it has one
                line = _entry_line(text, key, exc.key) or _subtable_line(
                    text, key, exc.key, exc.field if isinstance(exc, BadProfile) else None) or line
                where = f"{path}:{line}" if line else str(path)
            raise UsageError(f"{where}: bad value for {key!r}: {exc}") from None
    warnings = []
    if "api_key" in values or "stt_api_key" in values or "stt_fallback_api_key" in values:
        try:
            mode = path.stat().st_mode
        except OSError:
            mode = 0
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            warnings.append(f"{path} holds an API key and is readable by others; run: chmod 600 {path}")
    return values, warnings


def load_settings(flags: Mapping[str, Any], env: Mapping[str, str], *,
                  config_path: str | None = None,
                  keyring_key: Callable[[], str | None] | None = None,
                  keyring_stt_key: Callable[[], str | None] | None = None) -> tuple[Settings, list[str]]:
    """Resolve every setting by precedence: flags > environment > config file > defaults.

    `flags` holds only the flags the user gave (already typed). `keyring_key`, when
    given, is asked for the API key only if no other source set one (the keyring is
    the key's last resort, below the config file); `keyring_stt_key` likewise for
    the speech server's key. Returns the settings and warnings
    to show (such as a world-readable config file holding a key).
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = dict.fromkeys(FIELDS, "default")

    explicit = config_path or env.get("VOICEBOT_CONFIG")
    path = Path(explicit).expanduser() if explicit else default_config_path(env)
    warnings: list[str] = []
    if explicit or _present(path):  # a directory (or an unreadable file) in its place is an error, not ignored
        if explicit and not _present(path):
            raise UsageError(f"config file {path} does not exist")
        file_values, warnings = read_config(path)
        values.update(file_values)
        sources.update(dict.fromkeys(file_values, f"config file {path}"))

    groq_base = env.get("GROQ_BASE_URL")
    if groq_base:
        # The official SDK takes the host root and appends /openai/v1 itself; a URL that
        # already ends in it (an OpenAI-style root, pasted from elsewhere) is taken as is.
        root = groq_base.rstrip("/")
        root = root if root.endswith(GROQ_PATH) else root + GROQ_PATH
        values["api_base"] = _checked("api_base", root, "GROQ_BASE_URL")
        sources["api_base"] = "env GROQ_BASE_URL"
    for name in FIELDS:
        var = env_name(name)
        if env.get(var, "").strip():  # an empty variable counts as unset
            try:
                values[name] = check_value(name, parse_text(name, env[var]))
            except ValueError as exc:
                raise UsageError(f"bad value in environment variable {var}: {exc}") from None
            sources[name] = f"env {var}"

    for name, value in flags.items():
        values[name] = _checked(name, value, FIELDS[name].metadata["flag"] or name)
        sources[name] = f"flag {FIELDS[name].metadata['flag']}"

    for name, lookup in (("api_key", keyring_key), ("stt_api_key", keyring_stt_key)):
        current = values.get(name)
        if lookup is not None and not (isinstance(current, Secret) and current.reveal()):
            stored = lookup()
            if stored:
                values[name] = Secret(stored.strip())
                sources[name] = "keyring"

    return Settings(**values, sources=sources), warnings


def _checked(name: str, value: Any, where: str) -> Any:
    try:
        return check_value(name, value)
    except ValueError as exc:
        raise UsageError(f"bad value for {where}: {exc}") from None


def describe(settings: Settings) -> list[tuple[str, str, str]]:
    """(name, shown value, source) rows for `voicebot config`; the key is only ever 'set'."""
    rows = []
    for name in FIELDS:
        value = getattr(settings, name)
        if isinstance(value, Secret):
            shown = "set (hidden)"
        elif value is None:
            shown = "(unset)"
        elif isinstance(value, (list, dict)):
            shown = json.dumps(value)
        elif isinstance(value, bool):
            shown = "true" if value else "false"
        else:
            shown = str(value)
        rows.append((name, shown, settings.sources.get(name, "default")))
    return rows


def config_path_for_display(env: Mapping[str, str], config_path: str | None) -> Path:
    """Which config file is in force (for `voicebot config`)."""
    explicit = config_path or env.get("VOICEBOT_CONFIG")
    return Path(explicit).expanduser() if explicit else default_config_path(env)


def warn(lines: list[str]) -> None:
    """Print settings warnings on stderr, one line each."""
    for line in lines:
        print(f"voicebot: warning: {line}", file=sys.stderr)


# The schema's names that callers long imported from here stay importable from here.
__all__ = [
    "check_value",
    "config_path_for_display",
    "default_config_path",
    "describe",
    "load_settings",
    "parse_text",
    "read_config",
    "warn",
]
