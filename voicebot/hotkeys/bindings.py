"""Hotkey bindings as the `hotkeys` setting holds them: checked and normalised when settings load.

Parsing each combo here, rather than when the daemon starts, makes a mistyped key fail
`voicebot config` and `voicebot run` alike, naming the file and line like any other bad
value. `voicebot.hotkeys.machine` turns the normalised table into live `Binding`s.
"""

from __future__ import annotations

from typing import Any, Literal

from voicebot.errors import UsageError
from voicebot.hotkeys.combo import Combo, parse_combo
from voicebot.modes import NAMES as MODE_NAMES

Style = Literal["hold", "toggle"]
STYLES: tuple[Style, ...] = ("hold", "toggle")
# A binding's own profile: settings its turns use instead of the global ones (a German dictation
# key beside an English question key). Kept as given here; their values are checked where the
# settings are (voicebot.config.profiles), as the same setting's value would be.
PROFILE_FIELDS = ("language", "vocabulary", "stt_prompt", "model", "system", "voice")
FIELDS = ("keys", "style", "then_ask", "speak", "then_enter", "context", "web", *PROFILE_FIELDS)


class BadEntry(ValueError):
    """A bad value inside a table setting, naming the entry (`ask` in `hotkeys`) for its line."""

    def __init__(self, key: str, message: str, *, prefix: bool = True) -> None:
        super().__init__(f"{key}: {message}" if prefix else message)
        self.key = key


def normalise_bindings(value: Any) -> dict[str, dict[str, Any]]:
    """Normalise hotkey bindings to {mode: {keys, style, then_ask[, speak][, then_enter][, context][, web]
    [, profile fields]}},
    each combo parsed now.

    `speak` is kept only when given: a binding without it follows the `speak` setting. Two
    bindings one chord would fire together are refused here too (BadEntry on the later one),
    as the daemon would refuse them.
    `then_enter` (dictate only: Enter after the text lands) is kept likewise, only when true.
    """
    if not isinstance(value, dict):
        raise ValueError(f"expected a table of mode = combo, got {value!r}")
    out: dict[str, dict[str, Any]] = {}
    combos: dict[str, Combo] = {}
    for mode, spec in value.items():
        if mode not in MODE_NAMES:
            raise BadEntry(str(mode), f"unknown mode {mode!r} (modes: {', '.join(MODE_NAMES)})", prefix=False)
        if isinstance(spec, str):
            spec = {"keys": spec}
        if not isinstance(spec, dict) or not isinstance(spec.get("keys"), str) or not spec["keys"].strip():
            raise BadEntry(mode, "expected a combo such as \"ctrl+alt+space\" or {keys = ...}")
        unknown = set(spec) - set(FIELDS)
        if unknown:
            raise BadEntry(mode, f"unknown field {sorted(unknown)[0]!r} (fields: {', '.join(FIELDS)})")
        style = spec.get("style", "hold")
        if style not in STYLES:
            raise BadEntry(mode, f"style must be hold or toggle, got {style!r}")
        then_ask = spec.get("then_ask", False)
        if not isinstance(then_ask, bool):
            raise BadEntry(mode, "then_ask must be true or false")
        try:
            combo = parse_combo(spec["keys"])
        except UsageError as exc:
            raise BadEntry(mode, exc.message) from None
        for other, other_combo in combos.items():
            if combo.overlaps(other_combo):
                raise BadEntry(mode, f'"{combo}" and "{other_combo}" ({other}) can be fired by the same keys')
        combos[mode] = combo
        out[mode] = {"keys": spec["keys"].strip(), "style": style, "then_ask": then_ask}
        if "speak" in spec:
            if not isinstance(spec["speak"], bool):
                raise BadEntry(mode, "speak must be true or false")
            out[mode]["speak"] = spec["speak"]
        if "then_enter" in spec:
            if not isinstance(spec["then_enter"], bool):
                raise BadEntry(mode, "then_enter must be true or false")
            if spec["then_enter"] and mode != "dictate":
                raise BadEntry(mode, "then_enter applies to the dictate binding only (Enter after the text lands)")
            if spec["then_enter"]:
                out[mode]["then_enter"] = True
        if "context" in spec:
            if spec["context"] not in ("selection", "clipboard"):
                raise BadEntry(mode, f"context must be \"selection\" or \"clipboard\", got {spec['context']!r}")
            if mode not in ("ask", "translate"):
                raise BadEntry(mode, "context applies to a binding that asks (ask, or translate with then_ask)")
            out[mode]["context"] = spec["context"]
        if "web" in spec:  # its questions go to the web-search model (groq/compound-mini)
            if not isinstance(spec["web"], bool):
                raise BadEntry(mode, "web must be true or false")
            out[mode]["web"] = spec["web"]
        out[mode].update({name: spec[name] for name in PROFILE_FIELDS if name in spec})
    return out


__all__ = ["FIELDS", "PROFILE_FIELDS", "STYLES", "BadEntry", "Style", "normalise_bindings"]
