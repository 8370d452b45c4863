"""Profiles: settings a hotkey binding (or, later, the focused application) uses for its turns only.

A binding's profile fields (`language`, `vocabulary`, `stt_prompt`, `model`, `system`,
`speak`, `voice`) stand for settings (`model` is `chat_model`, `system` is `system_prompt`)
and are checked exactly as those settings are, so a bad value is the same one line naming
the file and the binding's line. `overlay` turns a binding's table into {setting: value}
and `apply` lays it over the global settings; voicebot.cli.wiring builds each binding's
typed options from the result.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping
from typing import Any

from voicebot.config.schema import Settings
from voicebot.hotkeys.bindings import PROFILE_FIELDS, BadEntry, normalise_bindings
from voicebot.modes import MODES, After

# A profile field and the setting it stands for.
SETTING_OF: dict[str, str] = {"language": "language", "vocabulary": "vocabulary", "stt_prompt": "stt_prompt",
                              "model": "chat_model", "system": "system_prompt", "speak": "speak", "voice": "voice"}
ANSWERING = ("system", "voice")  # fields only a binding whose turns are answered uses

Check = Callable[[str, Any], Any]


def check_hotkeys(value: Any, check: Check) -> dict[str, dict[str, Any]]:
    """The `hotkeys` table normalised (voicebot.hotkeys.bindings), each profile field checked by
    `check(setting, value)` (the settings' own validator); BadEntry names the binding."""
    table = normalise_bindings(value)
    for mode, spec in table.items():
        for name in PROFILE_FIELDS:
            if name not in spec:
                continue
            if not MODES[mode].records:
                raise BadEntry(mode, f"{name} applies to a binding that records (ask, translate, dictate, edit)")
            answers = MODES[mode].after is After.ANSWER or spec.get("then_ask") is True
            if name in ANSWERING and not answers:
                raise BadEntry(mode, f"{name} applies to a binding whose turns are answered (ask, or translate "
                                     "with then_ask)")
            try:
                spec[name] = check(SETTING_OF[name], spec[name])
            except ValueError as exc:
                raise BadEntry(mode, f"{name}: {exc}") from None
    return table


def overlay(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A binding's profile as {setting: value} (`speak` stays with the binding's mode: Mode.speak)."""
    return {SETTING_OF[name]: spec[name] for name in PROFILE_FIELDS if name in spec}


def apply(settings: Settings, values: Mapping[str, Any]) -> Settings:
    """The settings with a profile's values laid over them (the values are checked already)."""
    return dataclasses.replace(settings, **values) if values else settings


__all__ = ["SETTING_OF", "apply", "check_hotkeys", "overlay"]
