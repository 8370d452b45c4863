"""The one place the settings become each part's own options.

Every part below the CLI takes a small frozen dataclass of the few fields it reads
(`ChatOptions`, `SpeechToTextOptions`, `AssistantOptions`, `DictationOptions`,
`RecordOptions`, `DaemonOptions`), defined in its own package; this module builds them
from `Settings`, so nothing below `voicebot.cli` imports the settings. Adding a part is
one options class beside it and one function here.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING

from voicebot.config.profiles import app_overlay, apply, overlay
from voicebot.config.schema import Settings
from voicebot.daemon.recording import RecordOptions
from voicebot.desktop.dictation import DictationOptions
from voicebot.desktop.focus import AppProfile
from voicebot.hotkeys.bindings import normalise_bindings
from voicebot.listen.utterances import ListenOptions
from voicebot.log.observer import TurnLog
from voicebot.log.writer import LogWriter
from voicebot.redaction import Redaction
from voicebot.stt.options import SpeechToTextOptions
from voicebot.stt.piece_texts import pieces_in_flight
from voicebot.stt.vocabulary import speech_prompt
from voicebot.turns.assistant import Assistant
from voicebot.turns.options import AssistantOptions, ChatOptions
from voicebot.turns.reply_schema import ReplySchema

if TYPE_CHECKING:
    from voicebot.daemon.core import DaemonOptions
    from voicebot.daemon.profiles import TurnProfiles, TurnSetup
    from voicebot.protocols import AssistantClient
    from voicebot.turns.console import Output
    from voicebot.voice.ducking import DuckOptions


def chat_options(s: Settings) -> ChatOptions:
    """The chat model and the request's optional fields."""
    return ChatOptions(model=s.chat_model, temperature=s.temperature, top_p=s.top_p,
                       max_completion_tokens=s.max_completion_tokens, stop=tuple(s.stop), seed=s.seed,
                       response_format=s.response_format, service_tier=s.service_tier,
                       reasoning_effort=s.reasoning_effort, reasoning_format=s.reasoning_format,
                       show_reasoning=s.show_reasoning)


def speech_options(s: Settings) -> SpeechToTextOptions:
    """The speech requests' fields: models, language, the prompt with the vocabulary, the upload's shape."""
    return SpeechToTextOptions(
        transcription_model=s.transcription_model, translation_model=s.translation_model, language=s.language,
        prompt=speech_prompt(s.stt_prompt, s.vocabulary), temperature=s.stt_temperature,
        response_format=s.stt_response_format, has_fallback=s.stt_fallback_api_base is not None,
        fallback_model=s.stt_fallback_model, fallback_after=s.stt_fallback_after, codec=s.audio_format,
        max_chunk_seconds=s.max_chunk_seconds,
        pieces_in_flight=pieces_in_flight(s.stt_concurrency, s.stt_api_base))


def assistant_options(s: Settings, *, reply_schema: ReplySchema | None = None, web: bool = False) -> AssistantOptions:
    """The assistant's options; `reply_schema` (ask/chat --schema) makes every reply structured,
    `web` (--web) sends every question to the web-search model."""
    chat = dataclasses.replace(chat_options(s), reply_schema=reply_schema, web=web)
    return AssistantOptions(system_prompt=s.system_prompt, history_tokens=s.history_tokens, chat=chat,
                            speech=speech_options(s))


def make_assistant(client: AssistantClient, s: Settings, output: Output, *,
                   log: LogWriter | None = None, reply_schema: ReplySchema | None = None,
                   web: bool = False) -> Assistant:
    """The conversation holder of a command or the daemon; the log (`log`) observes its turns."""
    return Assistant(client, assistant_options(s, reply_schema=reply_schema, web=web), output,
                     observers=[TurnLog(log or LogWriter.off())], redact=redaction(s))


def redaction(s: Settings) -> Redaction:
    """The one rule that blanks every configured key (voicebot.redaction)."""
    return Redaction.of(s.api_key, s.stt_api_key, s.stt_fallback_api_key)


def dictation_options(s: Settings) -> DictationOptions:
    return DictationOptions(target=s.dictate_output, restore_clipboard=s.restore_clipboard,
                            restore_seconds=s.restore_clipboard_seconds, paste_keys=s.paste_keys,
                            cleanup=chat_options(s) if s.dictate_cleanup else None, commands=s.dictate_commands)


def record_options(s: Settings) -> RecordOptions:
    return RecordOptions(codec=s.audio_format, max_take_seconds=s.max_take_seconds, piece_seconds=s.piece_seconds)


def daemon_options(s: Settings) -> DaemonOptions:
    from voicebot.daemon.core import DaemonOptions  # the daemon's parts load only for `voicebot run`

    return DaemonOptions(min_hold_seconds=s.min_hold_ms / 1000, retry_pending_seconds=s.retry_pending_seconds,
                         open_microphone=s.preroll_ms > 0,
                         pieces_in_flight=pieces_in_flight(s.stt_concurrency, s.stt_api_base), speak=s.speak,
                         context_max_chars=s.context_max_chars,
                         record=record_options(s), dictation=dictation_options(s), listen=listen_options(s),
                         profiles=turn_profiles(s), duck=duck_options(s))


def duck_options(s: Settings) -> DuckOptions:
    """Ducking's state lives beside the control socket, in the runtime dir (gone at logout, like the streams)."""
    from voicebot.control.client import socket_path
    from voicebot.voice.ducking import DuckOptions, state_file

    return DuckOptions(enabled=s.duck, volume=s.duck_volume, state_path=state_file(socket_path().parent))


def turn_setup(s: Settings, profile: str | None = None) -> TurnSetup:
    """What one daemon turn runs with under settings `s` (the global ones, or profiles' over them)."""
    from voicebot.daemon.profiles import TurnSetup

    return TurnSetup(assistant=assistant_options(s), dictation=dictation_options(s), speak=s.speak, voice=s.voice,
                     profile=profile)


def app_profiles(s: Settings) -> tuple[AppProfile, ...]:
    """The `[profiles.NAME]` tables' names and matches, in the file's order (the first match applies)."""
    return tuple(AppProfile(name, spec["match"]) for name, spec in s.profiles.items())


def turn_profiles(s: Settings) -> TurnProfiles:
    """Every turn's setup, built now: global < the focused application's profile < the binding's profile."""
    from voicebot.daemon.profiles import TurnProfiles

    table = normalise_bindings(s.hotkeys)
    own = {mode: values for mode, spec in table.items() if (values := overlay(spec))}
    per_app = {name: apply(s, app_overlay(spec)) for name, spec in s.profiles.items()}
    return TurnProfiles(turn_setup(s), {mode: turn_setup(apply(s, values)) for mode, values in own.items()},
                        app_profiles(s), {name: turn_setup(under, name) for name, under in per_app.items()},
                        {(mode, name): turn_setup(apply(under, values), name)
                         for name, under in per_app.items() for mode, values in own.items()})


def listen_options(s: Settings) -> ListenOptions:
    """Hands-free listening: at least 100 ms of pre-roll even when takes keep none."""
    return ListenOptions(endpoint_ms=s.endpoint_ms, preroll_ms=max(s.preroll_ms, 100),
                         max_seconds=s.max_take_seconds, timeout_seconds=s.hands_free_timeout)


def wants_voice(s: Settings) -> bool:
    """Whether any answer may be spoken (so the output device is checked at start): the `speak`
    setting, a binding other than dictation's that speaks, or an application's profile that does."""
    bindings = normalise_bindings(s.hotkeys)
    return s.speak or any(spec.get("speak") is True for name, spec in bindings.items() if name != "dictate") or \
        any(spec.get("speak") is True for spec in s.profiles.values())


__all__ = [
    "app_profiles",
    "assistant_options",
    "chat_options",
    "daemon_options",
    "dictation_options",
    "duck_options",
    "listen_options",
    "make_assistant",
    "record_options",
    "speech_options",
    "turn_profiles",
    "turn_setup",
    "wants_voice",
]
