"""Effective settings: flags > environment > config file > defaults, with where each came from.

The `Settings` dataclass is the single schema: each field's metadata names its flag and
help, its environment variable is `VOICEBOT_<NAME>`, and its config-file key is its
name. The CLI builds its option flags from the same fields, so the four sources cannot
drift apart. Nothing here is a global: `load_settings` is a pure-ish function of the
flags, an environment mapping and the file it is pointed at.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import stat
import sys
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, get_type_hints

from voicebot.errors import UsageError

DEFAULT_API_BASE = "https://api.groq.com/openai/v1"
GROQ_PATH = "/openai/v1"


class Secret:
    """A string that never shows itself: repr, str and format all print a mask."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The real value, for the Authorization header and nothing else."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return "***"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("a Secret is not to be pickled or copied out of the process")


def _opt(default: Any, help: str, *, flag: str | None = None, choices: tuple[str, ...] | None = None,
         low: float | None = None, high: float | None = None, env: str | None = None,
         metavar: str | None = None) -> Any:
    """A settings field; its metadata is the schema the CLI and loaders read."""
    meta = {"help": help, "flag": flag, "choices": choices, "low": low, "high": high, "env": env,
            "metavar": metavar}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda: json.loads(json.dumps(default)), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Settings:
    """Every knob voicebot has. Models are configuration here, never logic elsewhere."""

    # Endpoints and credentials
    api_key: Secret | None = _opt(None, "Groq API key (prefer the GROQ_API_KEY environment variable)",
                                  env="GROQ_API_KEY")
    api_base: str = _opt(DEFAULT_API_BASE, "OpenAI-style API root for chat (and speech unless stt_api_base)",
                         flag="--api-base", metavar="URL")
    stt_api_base: str | None = _opt(None, "separate API root for speech-to-text (e.g. a local whisper server)",
                                    flag="--stt-api-base", metavar="URL")
    # Models
    chat_model: str = _opt("openai/gpt-oss-20b", "chat model id (see `voicebot models`)", flag="--model")
    transcription_model: str = _opt("whisper-large-v3-turbo", "speech-to-text model for transcription",
                                    flag="--stt-model")
    translation_model: str = _opt("whisper-large-v3", "speech-to-text model for translation into English "
                                  "(turbo cannot translate)", flag="--translation-model")
    # Chat options
    system_prompt: str = _opt("You are a helpful voice assistant. Answer briefly and clearly; the user is "
                              "listening, so avoid long lists and markup.", "system prompt",
                              flag="--system", metavar="TEXT")
    temperature: float | None = _opt(None, "chat sampling temperature", flag="--temperature", low=0, high=2)
    top_p: float | None = _opt(None, "chat nucleus sampling", flag="--top-p", low=0, high=1)
    max_completion_tokens: int | None = _opt(None, "cap on the reply's tokens", flag="--max-tokens", low=1)
    stop: list[str] = _opt([], "stop sequence (up to 4; repeat the flag)", flag="--stop", metavar="TEXT")
    seed: int | None = _opt(None, "sampling seed for repeatable replies", flag="--seed")
    response_format: str = _opt("text", "chat reply format", flag="--response-format",
                                choices=("text", "json_object"))
    service_tier: str | None = _opt(None, "Groq service tier", flag="--service-tier",
                                    choices=("on_demand", "flex", "auto", "performance"))
    reasoning_effort: str | None = _opt("low", "reasoning effort for reasoning models (low keeps the first "
                                        "word early); 'none' to send nothing", flag="--reasoning-effort",
                                        choices=("none", "low", "medium", "high", "default"))
    reasoning_format: str | None = _opt(None, "reasoning format for models that take it",
                                        flag="--reasoning-format", choices=("hidden", "raw", "parsed"))
    show_reasoning: bool = _opt(False, "show the model's reasoning, dimmed, before the answer",
                                flag="--show-reasoning")
    history_tokens: int | None = _opt(None, "token budget for the conversation sent with each question "
                                      "(default: the model's context window less room for the reply)",
                                      flag="--history-tokens", low=64)
    # Speech options
    language: str | None = _opt(None, "spoken language, ISO-639-1 (improves accuracy and latency)",
                                flag="--language", metavar="CODE")
    stt_prompt: str | None = _opt(None, "vocabulary or context for speech-to-text (in the audio's language)",
                                  flag="--stt-prompt", metavar="TEXT")
    stt_temperature: float | None = _opt(None, "speech-to-text temperature", flag="--stt-temperature",
                                         low=0, high=1)
    stt_response_format: str = _opt("json", "speech-to-text response format", flag="--stt-response-format",
                                    choices=("json", "text", "verbose_json"))
    max_chunk_seconds: float = _opt(600.0, "longer audio is split at pauses into pieces of at most this "
                                    "length, transcribed a few at a time (800 s of 16 kHz audio stays under "
                                    "the 25 MB upload limit even uncompressed)", flag="--max-chunk-seconds",
                                    low=10, high=800)
    # HTTP
    timeout: float = _opt(60.0, "overall seconds for a request", flag="--timeout", low=1)
    stall_timeout: float = _opt(20.0, "seconds without a byte that end a reply stream",
                                flag="--stall-timeout", low=1)
    max_retries: int = _opt(2, "retries for failed requests that are safe to retry", flag="--max-retries",
                            low=0, high=10)
    # The push-to-talk daemon
    hotkeys: dict[str, Any] = _opt({"ask": "ctrl+alt+space"}, "bindings: mode -> combo, or -> {keys, style, "
                                   "then_ask} (modes: ask, translate, dictate, new, cancel)")
    preroll_ms: int = _opt(300, "audio kept from before the key press (0 closes the microphone between takes)",
                           flag="--preroll-ms", low=0, high=5000)
    release_tail_ms: int = _opt(200, "recording kept after the key is released", flag="--release-tail-ms",
                                low=0, high=5000)
    max_take_seconds: float = _opt(300.0, "a take stops by itself after this long", flag="--max-take-seconds",
                                   low=1, high=7200)
    min_hold_ms: int = _opt(300, "shorter key taps are ignored", flag="--min-hold-ms", low=0, high=5000)
    device: str | None = _opt(None, "input device: index or part of its name (see `voicebot devices`)",
                              flag="--device", metavar="DEVICE")
    quiet: bool = _opt(False, "no start/stop sounds", flag="--quiet")
    retry_pending_seconds: float = _opt(10.0, "the daemon's first wait before sending kept takes again "
                                        "(doubling up to 5 min while the API keeps failing)", low=0.1, high=3600)
    dictate_output: str = _opt("print", "where dictated text goes besides the console", flag="--dictate-output",
                               choices=("print", "type", "clipboard"))
    # Output
    color: str = _opt("auto", "colour on a terminal", flag="--color", choices=("auto", "always", "never"))

    sources: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def stt_base(self) -> str:
        """Where speech goes: its own root if set, else the chat root."""
        return self.stt_api_base or self.api_base

    def chat_options(self) -> dict[str, Any]:
        """The chat request's optional fields, with unset ones left out."""
        opts: dict[str, Any] = {
            "temperature": self.temperature,
            "top_p": self.top_p,
            "max_completion_tokens": self.max_completion_tokens,
            "stop": list(self.stop) or None,
            "seed": self.seed,
            "service_tier": self.service_tier,
        }
        if self.response_format == "json_object":
            opts["response_format"] = {"type": "json_object"}
        if self.reasoning_effort not in (None, "none"):
            opts["reasoning_effort"] = self.reasoning_effort
        if self.reasoning_format is not None:
            opts["reasoning_format"] = self.reasoning_format
        elif self.reasoning_effort not in (None, "none"):
            # gpt-oss takes include_reasoning rather than reasoning_format; hidden unless asked.
            opts["include_reasoning"] = self.show_reasoning
        return {k: v for k, v in opts.items() if v is not None}

    def stt_options(self, *, translate: bool) -> dict[str, Any]:
        """The speech request's fields; translation takes no language (it is always English out)."""
        return {
            "model": self.translation_model if translate else self.transcription_model,
            "language": None if translate else self.language,
            "prompt": self.stt_prompt,
            "temperature": self.stt_temperature,
            "response_format": self.stt_response_format,
        }

    def require_key(self) -> str:
        """The key for a command that needs the network, or exit 2 naming GROQ_API_KEY."""
        if self.api_key is None or not self.api_key.reveal().strip():
            raise UsageError("no API key: set GROQ_API_KEY, or run `voicebot key set` to keep it in the "
                             "system keyring",
                             hint="get one at console.groq.com/keys")
        return self.api_key.reveal()


FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(Settings) if f.name != "sources"}
_TYPES: dict[str, Any] = {k: v for k, v in get_type_hints(Settings).items() if k in FIELDS}


def env_name(name: str) -> str:
    """The environment variable for a setting."""
    return FIELDS[name].metadata["env"] or f"VOICEBOT_{name.upper()}"


def kind_of(name: str) -> type:
    """The type a setting holds, Optional stripped: str, int, float, bool, list or Secret."""
    hint = _TYPES[name]
    if getattr(hint, "__origin__", None) in (list, dict):
        return hint.__origin__
    args = [a for a in getattr(hint, "__args__", ()) if a is not type(None)]
    return args[0] if args else hint


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


def check_value(name: str, value: Any) -> Any:
    """Validate a typed value against the field's type, choices and range (raises ValueError)."""
    kind = kind_of(name)
    meta = FIELDS[name].metadata
    if value is None:
        if type(None) in getattr(_TYPES[name], "__args__", ()):
            return None
        raise ValueError("must be set")
    if kind is Secret:
        if isinstance(value, str):
            value = Secret(value.strip())
        if not isinstance(value, Secret):
            raise ValueError("expected a string")
        return value
    if kind is bool:
        if not isinstance(value, bool):
            raise ValueError(f"expected true or false, got {value!r}")
    elif kind is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"expected a whole number, got {value!r}")
    elif kind is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"expected a number, got {value!r}")
        try:
            value = float(value)
        except OverflowError:  # an integer too large for a float
            raise ValueError(f"expected a reasonable number, got one with {len(str(value))} digits") from None
        if not math.isfinite(value):
            raise ValueError(f"expected a finite number, got {value!r}")
    elif kind is dict:
        value = normalise_bindings(value)
    elif kind is list:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ValueError(f"expected a list of strings, got {value!r}")
        if name == "stop" and len(value) > 4:
            raise ValueError(f"at most 4 stop sequences, got {len(value)}")
    elif not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    if meta["choices"] and value not in meta["choices"]:
        raise ValueError(f"expected one of {', '.join(meta['choices'])}, got {value!r}")
    if meta["low"] is not None and value < meta["low"]:
        raise ValueError(f"must be at least {meta['low']:g}, got {value!r}")
    if meta["high"] is not None and value > meta["high"]:
        raise ValueError(f"must be at most {meta['high']:g}, got {value!r}")
    if name in ("api_base", "stt_api_base") and not re.match(r"^https?://[^/\s]+", value):
        raise ValueError(f"expected an http(s) URL, got {value!r}")
    return value.rstrip("/") if name in ("api_base", "stt_api_base") else value


MODES = ("ask", "translate", "dictate", "new", "cancel")
STYLES = ("hold", "toggle")


def normalise_bindings(value: Any) -> dict[str, dict[str, Any]]:
    """Normalise hotkey bindings to {mode: {keys, style, then_ask}} (combos are parsed later)."""
    if not isinstance(value, dict):
        raise ValueError(f"expected a table of mode = combo, got {value!r}")
    out: dict[str, dict[str, Any]] = {}
    for mode, spec in value.items():
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r} (modes: {', '.join(MODES)})")
        if isinstance(spec, str):
            spec = {"keys": spec}
        if not isinstance(spec, dict) or not isinstance(spec.get("keys"), str) or not spec["keys"].strip():
            raise ValueError(f"{mode}: expected a combo such as \"ctrl+alt+space\" or {{keys = ...}}")
        unknown = set(spec) - {"keys", "style", "then_ask"}
        if unknown:
            raise ValueError(f"{mode}: unknown field {sorted(unknown)[0]!r} (fields: keys, style, then_ask)")
        style = spec.get("style", "hold")
        if style not in STYLES:
            raise ValueError(f"{mode}: style must be hold or toggle, got {style!r}")
        then_ask = spec.get("then_ask", False)
        if not isinstance(then_ask, bool):
            raise ValueError(f"{mode}: then_ask must be true or false")
        out[mode] = {"keys": spec["keys"].strip(), "style": style, "then_ask": then_ask}
    return out


def default_config_path(env: Mapping[str, str]) -> Path:
    """`$XDG_CONFIG_HOME/voicebot/config.toml` (XDG default ~/.config)."""
    base = env.get("XDG_CONFIG_HOME") or str(Path(env.get("HOME") or Path.home()) / ".config")
    return Path(base) / "voicebot" / "config.toml"


def _key_line(text: str, key: str) -> int | None:
    """Line number where a top-level key is assigned, for error messages."""
    pattern = re.compile(rf"^[ \t]*(\[[ \t]*)?[\"']?{re.escape(key)}[\"']?[ \t]*(=|\])", re.MULTILINE)
    match = pattern.search(text)
    return text.count("\n", 0, match.start()) + 1 if match else None


def read_config(path: Path) -> tuple[dict[str, Any], list[str]]:
    """Parse and validate a config file: (values, warnings). Errors name file, line and key."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read config file {path}: {exc.strerror or exc}") from None
    try:
        text = raw.decode("utf-8")
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
            raise UsageError(f"{where}: bad value for {key!r}: {exc}") from None
    warnings = []
    if "api_key" in values:
        try:
            mode = path.stat().st_mode
        except OSError:
            mode = 0
        if mode & (stat.S_IRGRP | stat.S_IROTH):
            warnings.append(f"{path} holds an API key and is readable by others; run: chmod 600 {path}")
    return values, warnings


def load_settings(flags: Mapping[str, Any], env: Mapping[str, str], *,
                  config_path: str | None = None,
                  keyring_key: Callable[[], str | None] | None = None) -> tuple[Settings, list[str]]:
    """Resolve every setting by precedence: flags > environment > config file > defaults.

    `flags` holds only the flags the user gave (already typed). `keyring_key`, when
    given, is asked for the API key only if no other source set one (the keyring is
    the key's last resort, below the config file). Returns the settings and warnings
    to show (such as a world-readable config file holding a key).
    """
    values: dict[str, Any] = {}
    sources: dict[str, str] = dict.fromkeys(FIELDS, "default")

    explicit = config_path or env.get("VOICEBOT_CONFIG")
    path = Path(explicit).expanduser() if explicit else default_config_path(env)
    warnings: list[str] = []
    if explicit or path.is_file():
        if explicit and not path.exists():
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

    current = values.get("api_key")
    if keyring_key is not None and not (isinstance(current, Secret) and current.reveal()):
        stored = keyring_key()
        if stored:
            values["api_key"] = Secret(stored.strip())
            sources["api_key"] = "keyring"

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


__all__ = [
    "FIELDS",
    "Secret",
    "Settings",
    "check_value",
    "config_path_for_display",
    "default_config_path",
    "describe",
    "env_name",
    "kind_of",
    "load_settings",
    "parse_text",
    "warn",
]
