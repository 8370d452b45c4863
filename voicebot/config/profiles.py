"""Profiles: settings a hotkey binding, or the focused application, uses for its turns only.

A binding's profile fields (`language`, `vocabulary`, `stt_prompt`, `model`, `system`,
`speak`, `voice`) stand for settings (`model` is `chat_model`, `system` is `system_prompt`)
and are checked exactly as those settings are, so a bad value is the same one line naming
the file and the binding's line. A `[profiles.NAME]` table takes the same fields and the
dictation settings (APP_FIELDS), with `match`: a regular expression for the focused
window's class (voicebot.desktop.focus). `overlay` turns either into {setting: value} and
`apply` lays it over the global settings; voicebot.cli.wiring builds each turn's typed
options from the result (global < the application's profile < the binding's).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Mapping
from typing import Any

from voicebot.config.schema import Settings
from voicebot.hotkeys.bindings import PROFILE_FIELDS, BadEntry, normalise_bindings
from voicebot.modes import MODES, After

# A profile field and the setting it stands for.
SETTING_OF: dict[str, str] = {"language": "language", "vocabulary": "vocabulary", "stt_prompt": "stt_prompt",
                              "model": "chat_model", "system": "system_prompt", "speak": "speak", "voice": "voice"}
ANSWERING = ("system", "voice")  # fields only a binding whose turns are answered uses
# A per-app profile's fields: a binding's, and how dictation lands in that application.
APP_FIELDS: dict[str, str] = {**SETTING_OF, **{name: name for name in (
    "dictate_output", "paste_keys", "restore_clipboard", "restore_clipboard_seconds", "dictate_cleanup",
    "dictate_commands")}}

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


class BadProfile(BadEntry):
    """A bad `[profiles.NAME]` table; `field` (when one is to blame) points at its line."""

    def __init__(self, name: str, message: str, field: str | None = None) -> None:
        super().__init__(name, message)
        self.field = field


def check_profiles(value: Any, check: Check) -> dict[str, dict[str, Any]]:
    """The `profiles` tables, each with a usable `match` and its fields checked as their settings."""
    if not isinstance(value, dict):
        raise ValueError(f"expected [profiles.NAME] tables with match = \"...\", got {value!r}")
    out: dict[str, dict[str, Any]] = {}
    for name, spec in value.items():
        if not isinstance(spec, dict):
            raise BadProfile(name, "expected a table with match = \"...\" and the settings it changes")
        unknown = sorted(set(spec) - {"match", *APP_FIELDS})
        if unknown:
            raise BadProfile(name, f"unknown field {unknown[0]!r} (fields: match, {', '.join(APP_FIELDS)})",
                             unknown[0])
        match = spec.get("match")
        if not isinstance(match, str) or not match.strip():
            raise BadProfile(name, "match must be a window class, or a regular expression such as \"foot|kitty\"",
                             "match" if "match" in spec else None)
        try:
            re.compile(match)
        except re.error as exc:
            raise BadProfile(name, f"match: {match!r} is not a regular expression ({exc})", "match") from None
        out[name] = {"match": match}
        for field in APP_FIELDS:
            if field in spec:
                try:
                    out[name][field] = check(APP_FIELDS[field], spec[field])
                except ValueError as exc:
                    raise BadProfile(name, f"{field}: {exc}", field) from None
    return out


def overlay(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A binding's profile as {setting: value} (`speak` stays with the binding's mode: Mode.speak)."""
    return {SETTING_OF[name]: spec[name] for name in PROFILE_FIELDS if name in spec}


def app_overlay(spec: Mapping[str, Any]) -> dict[str, Any]:
    """A `[profiles.NAME]` table's settings as {setting: value} (without its `match`)."""
    return {APP_FIELDS[name]: value for name, value in spec.items() if name in APP_FIELDS}


def apply(settings: Settings, values: Mapping[str, Any]) -> Settings:
    """The settings with a profile's values laid over them (the values are checked already)."""
    return dataclasses.replace(settings, **values) if values else settings


__all__ = ["APP_FIELDS", "SETTING_OF", "BadProfile", "app_overlay", "apply", "check_hotkeys", "check_profiles",
           "overlay"]
