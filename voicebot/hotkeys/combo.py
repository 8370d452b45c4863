"""Hotkey combos as a person types them (`ctrl+alt+space`, `right_ctrl`, `<ctrl>+<alt>+x`).

Pure on purpose: `import pynput` fails without an X display, yet combos must be
validated by `voicebot config` and the unit tests on headless machines. So keys are
our own `KeyId`s, and the names of pynput's `Key` enum are copied below (a unit test
checks the copy against pynput's source, so it cannot drift).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from voicebot.errors import UsageError

Side = Literal["l", "r"]

# The members of pynput.keyboard.Key (pynput 1.7/1.8), sided modifiers included.
PYNPUT_KEY_NAMES: frozenset[str] = frozenset(
    [
        "alt", "alt_l", "alt_r", "alt_gr", "backspace", "caps_lock", "cmd", "cmd_l", "cmd_r", "ctrl",
        "ctrl_l", "ctrl_r", "delete", "down", "end", "enter", "esc", "home", "left", "page_down", "page_up",
        "right", "shift", "shift_l", "shift_r", "space", "tab", "up", "media_play_pause", "media_volume_mute",
        "media_volume_down", "media_volume_up", "media_previous", "media_next", "insert", "menu", "num_lock",
        "pause", "print_screen", "scroll_lock",
    ]
) | {f"f{n}" for n in range(1, 21)}

# Function keys beyond pynput's f20 exist on real keyboards; the listener maps them by keysym/VK.
KEY_NAMES: frozenset[str] = PYNPUT_KEY_NAMES | {f"f{n}" for n in range(21, 25)}

FAMILIES = ("ctrl", "alt", "shift", "cmd")
_FAMILY_ALIASES = {
    "ctrl": "ctrl", "control": "ctrl", "ctl": "ctrl",
    "alt": "alt", "option": "alt", "opt": "alt",
    "shift": "shift",
    "cmd": "cmd", "super": "cmd", "win": "cmd", "meta": "cmd", "command": "cmd", "windows": "cmd",
}

# Names people type for keys pynput spells differently, or for characters awkward in a combo.
_KEY_ALIASES = {
    "escape": "esc", "return": "enter", "del": "delete", "ins": "insert", "bksp": "backspace",
    "pgup": "page_up", "pageup": "page_up", "pgdn": "page_down", "pagedown": "page_down",
    "capslock": "caps_lock", "numlock": "num_lock", "scrolllock": "scroll_lock",
    "print": "print_screen", "prtsc": "print_screen", "printscreen": "print_screen",
    "altgr": "alt_gr", "spacebar": "space",
}
_CHAR_ALIASES = {
    "grave": "`", "backtick": "`", "minus": "-", "plus": "+", "equal": "=", "equals": "=",
    "comma": ",", "period": ".", "dot": ".", "slash": "/", "backslash": "\\", "semicolon": ";",
    "apostrophe": "'", "quote": "'", "bracketleft": "[", "left_bracket": "[",
    "bracketright": "]", "right_bracket": "]", "tilde": "~",
}
_VK = re.compile(r"<(\d+)>")


@dataclass(frozen=True)
class KeyId:
    """One key as voicebot sees it: a pynput `Key` name, a character (lower-cased), or a raw VK.

    Exactly one field is set. Sided modifiers use pynput's names (`ctrl_l`, `ctrl_r`);
    a bare `ctrl` means "a Ctrl key, side unknown".
    """

    name: str | None = None
    char: str | None = None
    vk: int | None = None

    def __post_init__(self) -> None:
        if sum(x is not None for x in (self.name, self.char, self.vk)) != 1:
            raise ValueError(f"a KeyId needs exactly one of name, char, vk: {self!r}")
        if self.char is not None and self.char != self.char.lower():
            object.__setattr__(self, "char", self.char.lower())  # Shift+D is still the D key

    def __str__(self) -> str:
        if self.name is not None:
            return self.name
        if self.char is not None:
            return self.char
        return f"<{self.vk}>"


@dataclass(frozen=True)
class Modifier:
    """A modifier slot of a combo: `ctrl` (either side) or `ctrl` + side `r` (right only)."""

    family: str  # ctrl, alt, shift, cmd, or alt_gr (which has no sides)
    side: Side | None = None

    def matches(self, key: KeyId) -> bool:
        """Whether a pressed key fills this slot; a key of unknown side fills only side-less slots."""
        found = modifier_of(key)
        if found is None or found.family != self.family:
            return False
        return self.side is None or found.side == self.side

    def __str__(self) -> str:
        if self.side is None:
            return self.family
        return f"{'left' if self.side == 'l' else 'right'}_{self.family}"


def modifier_of(key: KeyId) -> Modifier | None:
    """The modifier a key is (with its side, when known), or None for ordinary keys."""
    name = key.name
    if name is None:
        return None
    if name == "alt_gr":
        return Modifier("alt_gr")
    family, _, side = name.partition("_")
    if family in FAMILIES and side in ("", "l", "r"):
        return Modifier(family, side or None)  # type: ignore[arg-type]
    return None


@dataclass(frozen=True)
class Combo:
    """A chord: some modifiers plus one key, or a single modifier on its own (`right_ctrl`)."""

    modifiers: frozenset[Modifier]
    key: KeyId | None = None

    def __post_init__(self) -> None:
        if self.key is None and len(self.modifiers) != 1:
            raise ValueError("a combo without a key must be exactly one modifier")
        if self.key is not None and modifier_of(self.key) is not None:
            raise ValueError("a combo's key cannot be a modifier")

    @property
    def solo_modifier(self) -> Modifier | None:
        """The modifier of a modifier-only combo such as `right_ctrl`, else None."""
        return next(iter(self.modifiers)) if self.key is None else None

    def is_trigger(self, key: KeyId) -> bool:
        """Whether pressing `key` can complete this chord (its key, or its lone modifier)."""
        solo = self.solo_modifier
        return solo.matches(key) if solo is not None else key == self.key

    def covers(self, key: KeyId) -> bool:
        """Whether `key` is part of this chord."""
        return key == self.key or any(m.matches(key) for m in self.modifiers)

    def held_within(self, held: frozenset[KeyId] | set[KeyId]) -> bool:
        """Every part of the chord is down (other keys may be down too)."""
        return (self.key is None or self.key in held) and all(
            any(m.matches(k) for k in held) for m in self.modifiers
        )

    def held_exactly(self, held: frozenset[KeyId] | set[KeyId]) -> bool:
        """The chord is down and nothing else is: `ctrl+alt+shift+space` is not `ctrl+alt+space`."""
        return self.held_within(held) and all(self.covers(k) for k in held)

    def overlaps(self, other: Combo) -> bool:
        """Whether one set of held keys could match both combos exactly (an ambiguous binding)."""
        if self.key != other.key:
            return False
        mine = {m.family: m.side for m in self.modifiers}
        theirs = {m.family: m.side for m in other.modifiers}
        if mine.keys() != theirs.keys():
            return False
        return all(a is None or b is None or a == b for a, b in ((mine[f], theirs[f]) for f in mine))

    def __str__(self) -> str:
        order = {f: i for i, f in enumerate((*FAMILIES, "alt_gr"))}
        mods = sorted(self.modifiers, key=lambda m: (order[m.family], m.side or ""))
        parts = [str(m) for m in mods] + ([_show_key(self.key)] if self.key is not None else [])
        return "+".join(parts)


def _show_key(key: KeyId) -> str:
    """A key as a combo would spell it, so `str(parse_combo(s))` parses back to the same combo."""
    if key.char == "+":
        return "plus"
    return str(key)


def _parse_modifier(word: str) -> Modifier | None:
    """`ctrl`, `left_ctrl`, `ctrl_r`, `right-alt`, `win` ... as a Modifier, else None."""
    if word in ("alt_gr", "altgr"):
        return Modifier("alt_gr")
    side: Side | None = None
    base = word
    for prefix, s in (("left_", "l"), ("right_", "r")):
        if word.startswith(prefix):
            base, side = word[len(prefix):], s  # type: ignore[assignment]
    for suffix, s in (("_l", "l"), ("_r", "r")):
        if side is None and word.endswith(suffix):
            base, side = word[: -len(suffix)], s  # type: ignore[assignment]
    family = _FAMILY_ALIASES.get(base)
    return Modifier(family, side) if family else None


def parse_key(part: str) -> KeyId | Modifier | None:
    """One `+`-separated part of a combo, already stripped; None when it names no key."""
    if len(part) == 1:
        return KeyId(char=part.lower())
    vk = _VK.fullmatch(part)
    if vk:
        return KeyId(vk=int(vk.group(1)))
    word = part.lower()
    if word.startswith("<") and word.endswith(">"):
        word = word[1:-1].strip()  # pynput's HotKey.parse form: <ctrl>+<alt>+x
    word = re.sub(r"[\s-]+", "_", word)
    if len(word) == 1:
        return KeyId(char=word)
    modifier = _parse_modifier(word)
    if modifier is not None:
        return modifier
    word = _KEY_ALIASES.get(word, word)
    if word in _CHAR_ALIASES:
        return KeyId(char=_CHAR_ALIASES[word])
    if word in KEY_NAMES:
        return KeyId(name=word)
    return None


def parse_combo(text: str) -> Combo:
    """Parse a combo; every mistake is a UsageError that quotes the offending part."""
    shown = text.strip()
    if not shown:
        raise UsageError("empty hotkey combo (expected something like \"ctrl+alt+space\")")
    modifiers: dict[str, Modifier] = {}
    key: KeyId | None = None
    key_part = ""
    for raw in shown.split("+"):
        part = raw.strip()
        if not part:
            raise UsageError(f'empty key in "{shown}" (write the + key as "plus")')
        parsed = parse_key(part)
        if parsed is None:
            raise UsageError(f'unknown key "{part}" in "{shown}"')
        if isinstance(parsed, Modifier):
            if parsed.family in modifiers:
                raise UsageError(f'"{shown}" names the {parsed.family} modifier twice')
            modifiers[parsed.family] = parsed
        elif key is not None:
            raise UsageError(
                f'"{shown}" has two keys besides modifiers ("{key_part}" and "{part}"); '
                "a hotkey is modifiers plus one key"
            )
        else:
            key, key_part = parsed, part
    if key is None and len(modifiers) > 1:
        raise UsageError(
            f'"{shown}" has only modifiers; add a key (e.g. "{shown}+space") '
            'or use a single modifier such as "right_ctrl"'
        )
    return Combo(frozenset(modifiers.values()), key)
