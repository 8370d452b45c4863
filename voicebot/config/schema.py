"""The settings schema: every knob voicebot has, in one frozen dataclass.

Each field's metadata names its flag and help, its environment variable is
`VOICEBOT_<NAME>` (or the field's own `env`), and its config-file key is its name. The
CLI builds its option flags from the same fields and `voicebot.config.loading` loads them from
flags, environment and config file, so the four sources cannot drift apart. Only the CLI
reads it: voicebot.cli.wiring turns it into each part's own typed options.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from typing import Any, get_args, get_origin, get_type_hints

from voicebot.errors import UsageError
from voicebot.modes import NAMES as MODE_NAMES

DEFAULT_API_BASE = "https://api.groq.com/openai/v1"
VOICES = ("autumn", "diana", "hannah", "austin", "daniel", "troy")  # canopylabs/orpheus-v1-english

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
    audio_format: str = _opt("opus", "how audio is uploaded: opus (Ogg/Opus, ~3 KB per second of speech) or "
                             "flac (lossless, ~20 KB/s)", flag="--audio-format", choices=("opus", "flac"))
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
    # Speech server: its own key, pieces in flight, a fallback server (issue 11)
    stt_api_key: Secret | None = _opt(None, "key for the speech server at stt_api_base (else none is sent to a "
                                      "host other than the chat host)")
    stt_concurrency: int | None = _opt(None, "pieces of a long recording sent at once (default: 3 to Groq or the "
                                       "chat server, 1 to another speech server, which may decode one at a time)",
                                       flag="--stt-concurrency", low=1, high=16)
    stt_fallback_api_base: str | None = _opt(None, "speech server used when the primary one cannot be reached or "
                                             "keeps failing (e.g. a local whisper server)",
                                             flag="--stt-fallback-api-base", metavar="URL")
    stt_fallback_model: str | None = _opt(None, "model at the fallback speech server (default: the primary's)",
                                          flag="--stt-fallback-model")
    stt_fallback_api_key: Secret | None = _opt(None, "key for the fallback speech server (none if unset)")
    stt_fallback_after: float = _opt(4.0, "seconds an upload waits for the primary speech server before the "
                                     "fallback is asked too, the first answer winning (0: only once the primary "
                                     "fails)", flag="--stt-fallback-after", low=0, high=600)
    # The push-to-talk daemon
    hotkeys: dict[str, Any] = _opt({"ask": "ctrl+alt+space"}, "bindings: mode -> combo, or -> {keys, style, "
                                   "then_ask, speak, then_enter, context, web} and a profile for its turns (language, "
                                   f"vocabulary, stt_prompt, model, system, voice) (modes: {', '.join(MODE_NAMES)})")
    profiles: dict[str, Any] = _opt({}, "per-application settings: [profiles.NAME] with match = the focused "
                                    "window's class (a regular expression, e.g. \"foot|kitty\") and the settings "
                                    "its turns use (read when the key is pressed)")
    preroll_ms: int = _opt(300, "audio kept from before the key press (0 closes the microphone between takes)",
                           flag="--preroll-ms", low=0, high=5000)
    release_tail_ms: int = _opt(200, "recording kept after the key is released", flag="--release-tail-ms",
                                low=0, high=5000)
    piece_seconds: float = _opt(10.0, "a longer take is sent in pieces cut at pauses while it is still recorded, "
                                "each at least this long, so its text is back soon after the release (Groq bills "
                                "10 s per request at least); 0 sends every take whole", flag="--piece-seconds",
                                low=0, high=600)
    max_take_seconds: float = _opt(300.0, "a take stops by itself after this long", flag="--max-take-seconds",
                                   low=1, high=7200)
    min_hold_ms: int = _opt(300, "shorter key taps are ignored", flag="--min-hold-ms", low=0, high=5000)
    device: str | None = _opt(None, "input device: index or part of its name (see `voicebot devices`)",
                              flag="--device", metavar="DEVICE")
    quiet: bool = _opt(False, "no start/stop sounds", flag="--quiet")
    duck: bool = _opt(False, "other programs' playback is muted (or lowered: duck_volume) while a take records, "
                      "and put back as it was after (pactl)", flag="--duck")
    duck_volume: int = _opt(0, "with duck: the percent of its own volume other playback keeps while you speak "
                            "(0 mutes it)", flag="--duck-volume", low=0, high=100)
    # Hands-free conversation (voicebot.daemon.hands_free): a `converse` key, `run --hands-free`, `voicebot converse`
    endpoint_ms: int = _opt(600, "hands-free: this much quiet after speech ends the utterance, which is then sent",
                            flag="--endpoint-ms", low=200, high=5000)
    hands_free_timeout: float = _opt(60.0, "hands-free: the session ends after this many seconds without speech "
                                     "(0: never)", flag="--hands-free-timeout", low=0, high=86400)
    retry_pending_seconds: float = _opt(10.0, "the daemon's first wait before sending kept takes again "
                                        "(doubling up to 5 min while the API keeps failing)", low=0.1, high=3600)
    dictate_output: str = _opt("print", "where dictated text goes besides the console", flag="--dictate-output",
                               choices=("print", "type", "clipboard"))
    # Dictation that lands (voicebot.desktop.dictation): clipboard restore, clean-up, vocabulary
    restore_clipboard: bool = _opt(False, "with dictate_output = clipboard: paste (paste_keys) into the focused "
                                   "window, then put the previous clipboard back", flag="--restore-clipboard")
    restore_clipboard_seconds: float = _opt(1.5, "the paste window: seconds before the previous clipboard is put "
                                            "back (not if something else was copied meanwhile)",
                                            flag="--restore-clipboard-seconds", low=0.1, high=60)
    paste_keys: str = _opt("ctrl+v", "the keys that paste (terminals such as foot, GNOME Terminal or Konsole "
                           "paste with ctrl+shift+v: Ctrl+V there pastes nothing)", flag="--paste-keys",
                           choices=("ctrl+v", "ctrl+shift+v"))
    context_max_chars: int = _opt(8000, "a binding's context (selected or clipboard text) is cut to this many "
                                  "characters, with a notice", flag="--context-max-chars", low=100, high=200_000)
    dictate_cleanup: bool = _opt(False, "pass dictation through the chat model for punctuation, casing, filler "
                                 "words and spoken corrections (never answered; the raw text if it drifts)",
                                 flag="--dictate-cleanup")
    dictate_commands: bool = _opt(False, "spoken commands in dictation: \"new line\", \"new paragraph\", "
                                  "\"scratch that\" (takes back the last dictated piece)", flag="--dictate-commands")
    vocabulary: list[str] = _opt([], "words to spell right, added to the speech-to-text prompt (repeat the flag; "
                                 "trimmed to 896 characters with stt_prompt)", flag="--vocabulary", metavar="WORD")
    # The conversation log (voicebot.log.store): every turn in $XDG_DATA_HOME/voicebot/log.db
    log: bool = _opt(True, "record each turn in the conversation log (`voicebot history`); --no-log: nothing",
                     flag="--no-log")
    keep_audio: bool = _opt(False, "keep each take's audio beside the log, for `voicebot history retranscribe`",
                            flag="--keep-audio")
    # Spoken answers (voicebot.voice.speaking): read aloud with Groq's text to speech, sentence by sentence
    speak: bool = _opt(False, "read answers aloud while they stream (never dictation)", flag="--speak")
    tts_model: str = _opt("canopylabs/orpheus-v1-english", "text-to-speech model for spoken answers",
                          flag="--tts-model")
    voice: str = _opt("autumn", "text-to-speech voice", flag="--voice", choices=VOICES)
    output_device: str | None = _opt(None, "output device for speech and chimes: index or part of its name",
                                     flag="--output-device", metavar="DEVICE")
    # Output
    color: str = _opt("auto", "colour on a terminal", flag="--color", choices=("auto", "always", "never"))

    sources: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def stt_base(self) -> str:
        """Where speech goes: its own root if set, else the chat root."""
        return self.stt_api_base or self.api_base

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
    origin = get_origin(hint)
    if origin is list or origin is dict:
        return list if origin is list else dict
    args = [a for a in get_args(hint) if a is not type(None)]
    kind = args[0] if args else hint
    assert isinstance(kind, type), f"setting {name} has no plain type"
    return kind


def is_optional(name: str) -> bool:
    """Whether a setting may be unset (None)."""
    return type(None) in getattr(_TYPES[name], "__args__", ())


__all__ = [
    "DEFAULT_API_BASE",
    "FIELDS",
    "VOICES",
    "Secret",
    "Settings",
    "env_name",
    "is_optional",
    "kind_of",
]
