"""The commands that look around and set up: models, devices, key, config.

None of them records or asks anything; each prints what it finds, for people or (with
--json) as events, and `key` keeps the API key in the system keyring.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from voicebot.cli.arguments import Args, Command, positional, switch
from voicebot.cli.client import make_client
from voicebot.cli.commands import output_for
from voicebot.config.loading import config_path_for_display, describe
from voicebot.config.schema import Settings
from voicebot.errors import EXIT_OK, ApiError, UsageError

if TYPE_CHECKING:  # the parser imports this module for every command: httpx loads in the handlers
    from voicebot.api.client import GroqClient
    from voicebot.api.wire import ModelInfo
    from voicebot.turns.console import Output


@dataclass(frozen=True, kw_only=True)
class KeyArgs(Args):
    """`voicebot key set|delete|status [--stt]`."""

    action: str = positional(choices=("set", "delete", "status"),
                             help="set: prompt for the key (or read one line of stdin); delete; "
                                  "status: where the key comes from")
    stt: bool = switch("--stt", help="the speech server's own key (stt_api_key) rather than the Groq key")


@dataclass(frozen=True, kw_only=True)
class ConfigArgs(Args):
    """`voicebot config`; `config_error` is no flag: the config file's error, when it cannot be used."""

    config_error: UsageError | None = None


async def models(settings: Settings, args: Args) -> int:
    """The chat server's models, then, when speech goes elsewhere, the speech server's (if it lists any)."""
    from voicebot.api.client import NoModelList

    output = output_for(settings, args)
    speech: list[ModelInfo] | None = None
    fallback: list[ModelInfo] | None = None
    async with make_client(settings, output) as client:
        found = sorted(await client.list_models(), key=lambda m: m.id)
        if client.speech_is_elsewhere:
            try:
                speech = sorted(await client.list_models(speech=True), key=lambda m: m.id)
            except NoModelList as none:
                output.notice(f"{none.message}; voicebot sends it the model named by transcription_model "
                              f"({settings.transcription_model})", stt_server=client.speech_host(), models=0)
        if settings.stt_fallback_api_base:
            fallback = await _fallback_models(client, settings, output)
    if args.json:
        for m in found:
            output.event("model", id=m.id, owned_by=m.owned_by, context_window=m.context_window, active=m.active)
        for m in speech or []:
            output.event("model", id=m.id, owned_by=m.owned_by, context_window=m.context_window, active=m.active,
                         server="speech")
        for m in fallback or []:
            output.event("model", id=m.id, owned_by=m.owned_by, context_window=m.context_window, active=m.active,
                         server="fallback")
        return EXIT_OK
    _model_table(found)
    if speech is not None:
        print(f"\nspeech server {client.speech_host()}:")
        _model_table(speech)
    if fallback is not None:
        print(f"\nfallback speech server {client.speech_host(fallback=True)}:")
        _model_table(fallback)
    return EXIT_OK


async def _fallback_models(client: GroqClient, settings: Settings, output: Output) -> list[ModelInfo] | None:
    """The fallback speech server's models. One that lists none, or cannot be reached now, is a
    notice, not a failure of `models`: it is only the fallback."""
    from voicebot.api.client import NoModelList

    where = client.speech_host(fallback=True)
    named = (f"stt_fallback_model ({settings.stt_fallback_model})" if settings.stt_fallback_model
             else f"transcription_model ({settings.transcription_model})")
    try:
        return sorted(await client.list_models(fallback=True), key=lambda m: m.id)
    except NoModelList as none:
        output.notice(f"{none.message}; voicebot sends it the model named by {named}", stt_server=where,
                      fallback=True, models=0)
    except ApiError as err:
        output.notice(f"the fallback speech server at {where} did not list its models: {err}", stt_server=where,
                      fallback=True, models=0)
    return None


def _model_table(found: list[ModelInfo]) -> None:
    width = max((len(m.id) for m in found), default=2)
    owner_width = max((len(m.owned_by or "") for m in found), default=5)
    print(f"{'ID':<{width}}  {'OWNER':<{owner_width}}  CONTEXT")
    for m in found:
        window = f"{m.context_window:,}" if m.context_window else "-"
        print(f"{m.id:<{width}}  {(m.owned_by or '-'):<{owner_width}}  {window}", flush=True)


NO_DEVICES_HINT = ("check that a microphone is plugged in and not muted, and that the sound server runs "
                   "(`pactl info`, `arecord -l`); voicebot uses the default input or --device")


async def devices(settings: Settings, args: Args) -> int:
    """Audio inputs, the default marked; with none, what to check."""
    from voicebot.mic.input_devices import list_input_devices

    output = output_for(settings, args)
    found = list_input_devices()
    if not found:
        if not args.json:
            print("no audio input devices found")
        output.notice(NO_DEVICES_HINT)
    if args.json:
        for d in found:
            output.event("device", index=d.index, name=d.name, channels=d.channels,
                         default_samplerate=d.default_samplerate, default=d.is_default)
        return EXIT_OK
    for d in found:
        mark = "*" if d.is_default else " "
        print(f"{mark} {d.index:>3}  {d.name}  ({d.channels} ch, {d.default_samplerate:g} Hz)")
    return EXIT_OK


def key(settings: Settings, args: KeyArgs) -> int:
    """`voicebot key set|delete|status`: the key in the system keyring, shown only as set or not."""
    from voicebot.config import keystore

    output = output_for(settings, args)
    json_mode = args.json
    action = args.action
    stt = args.stt
    name, username = ("speech server key", keystore.STT_USERNAME) if stt else ("API key", keystore.USERNAME)
    held = settings.stt_api_key if stt else settings.api_key
    source = settings.sources.get("stt_api_key" if stt else "api_key") if held is not None else None

    def say(lines: list[str], **fields: Any) -> None:
        if json_mode:
            output.event("key", action=action, **({"key": "stt_api_key"} if stt else {}), **fields)
        else:
            print("\n".join(lines), flush=True)

    if action == "set":
        keystore.require_backend()  # before the prompt, not after the user pasted the key
        prompt = "speech server key: " if stt else "Groq API key: "
        stored_in = keystore.set_key(keystore.read_key(prompt=prompt), username)
        say([f"{name} stored in the system keyring ({stored_in})"], backend=stored_in)
        if source not in (None, "keyring"):
            output.notice(f"the key from {source} takes precedence over the keyring")
    elif action == "delete":
        removed = keystore.delete_key(username)
        say([f"{name} removed from the system keyring" if removed else f"the system keyring held no {name}"],
            removed=removed)
    else:
        backend = keystore.backend_name()
        stored = backend is not None and keystore.get_key(username) is not None
        say([f"{name}: set, from {source}" if source else f"{name}: not set",
             f"keyring: {backend}, {'holds a key' if stored else 'holds no key'}" if backend
             else "keyring: none available"],
            set=source is not None, source=source, keyring=backend, keyring_has_key=stored)
    return EXIT_OK


async def config(settings: Settings, args: ConfigArgs) -> int:
    """Effective settings and their sources; the key shows only as set or unset.

    With a config file that cannot be used (`config_error`, see `Command.on_bad_config`),
    the settings listed are those that apply without it, and the command then fails with
    its error.
    """
    output = output_for(settings, args)
    path = config_path_for_display(os.environ, args.config)
    problem = args.config_error
    rows = describe(settings)
    if args.json:
        extra = {"error": str(problem)} if problem else {}
        output.event("config_file", path=str(path), exists=path.is_file(), **extra)
        for name, value, source in rows:
            output.event("setting", name=name, value=value, source=source)
    else:
        state = "" if path.is_file() else " (not present)"
        print(f"config file: {path}{' (not used: see the error below)' if problem else state}")
        width = max(len(name) for name, _, _ in rows)
        for name, value, source in rows:
            print(f"{name:<{width}}  {value}  [{source}]")
    if settings.profiles:
        _which_profile(settings, output, args.json)
    if problem is not None:
        raise problem
    return EXIT_OK


def _which_profile(settings: Settings, output: Output, as_json: bool) -> None:
    """Which `[profiles.NAME]` applies now (the focused window read as a key press would), and why."""
    from voicebot.cli.wiring import app_profiles
    from voicebot.desktop.focus import NoFocus, applying, explain, focused_window

    profiles = app_profiles(settings)
    try:
        window, why = focused_window(os.environ), None
    except NoFocus as exc:
        window, why = None, str(exc)
    line = explain(profiles, window, why)
    if as_json:
        found = applying(profiles, window)
        output.event("profile", name=found[0].name if found else None, window=window.shown if window else None,
                     via=window.via if window else None, text=line)
    else:
        print(line)


def _with_config_error(args: ConfigArgs, problem: UsageError) -> ConfigArgs:
    return replace(args, config_error=problem)


COMMANDS: tuple[Command[Any], ...] = (
    Command("devices", "list audio input devices (the default is marked)", Args, devices),
    Command("models", "list the models the API offers", Args, models),
    Command("config", "show the effective settings and where each came from", ConfigArgs, config,
            on_bad_config=_with_config_error),
    Command("key", 'keep the API key in the system keyring (service "voicebot"); it is never printed', KeyArgs, key),
)
