"""Global push-to-talk hotkeys: the pure state machine that turns key events into actions.

`HotkeyMachine` sees only `(KeyId, pressed, t)` and answers with actions, so every rule
(exact chords, taps, auto-repeat, Esc) is unit-tested without a display. The pynput
adapter that feeds it from the keyboard is `voicebot.hotkeys.listener`.

Rules, chosen so a hotkey never fires by accident:

- Chords are exact: `ctrl+alt+space` does not fire while Shift is also down, and
  `right_ctrl` is not fired by the left Ctrl. A bare `ctrl` matches either side.
- A chord starts only when its key (or, for `right_ctrl`-style combos, its modifier) is
  pressed last: pressing Space and then Ctrl+Alt does nothing.
- Auto-repeat (presses without a release) and releases of keys never seen pressed are
  ignored; a release that matches no held key means pynput named the key differently on
  the way up (X reports Shift+1 as "!" but its release as "1"), so held ordinary keys (or
  that modifier family) are forgotten rather than left stuck forever.
- `hold`: starts when the chord is down, stops when any of its keys goes up. `toggle`:
  the chord starts a take, the chord again stops it. A take shorter than `min_hold` ends
  in `Discard`, never `Stop`. Only one take at a time: other chords wait.
- A lone-modifier combo (`right_ctrl`) is also a modifier for shortcuts like Right Ctrl+C:
  as `hold` its take is discarded when another key is pressed during it; as `toggle` (and
  for `new`/`cancel`) it fires on release, and only if no other key was pressed meanwhile.
- Esc (with any keys held) cancels a running take; a `cancel` binding does the same and,
  with no take running, still sends `Cancel()` so the daemon can cut a streaming reply.
  `new` bindings send `Trigger("new")`, also during a take.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from voicebot.errors import UsageError
from voicebot.hotkeys.bindings import STYLES, Style
from voicebot.hotkeys.combo import Combo, KeyId, modifier_of, parse_combo
from voicebot.modes import CANCEL, Mode, mode_named

ESC = parse_combo("esc")
MIN_HOLD = 0.3


@dataclass(frozen=True)
class Start:
    """Recording for `mode` begins now."""

    mode: str


@dataclass(frozen=True)
class Stop:
    """The take for `mode` is complete: send it."""

    mode: str
    held_seconds: float


@dataclass(frozen=True)
class Discard:
    """The take for `mode` ended without being meant (a tap, a shortcut): drop it silently."""

    mode: str
    reason: str


@dataclass(frozen=True)
class Cancel:
    """The user asked to abandon the running take (or, from a `cancel` binding, the reply)."""


@dataclass(frozen=True)
class Trigger:
    """An instant binding such as `new` fired."""

    mode: str


Action = Start | Stop | Discard | Cancel | Trigger


def action_to_json(action: Action) -> dict[str, Any]:
    """A JSON-ready dict, e.g. {"type": "stop", "mode": "ask", "held_seconds": 1.2}."""
    out: dict[str, Any] = {"type": type(action).__name__.lower()}
    out.update(vars(action))
    return out


@dataclass(frozen=True)
class Binding:
    """One hotkey: a chord, the mode it drives (then_ask included), and whether it is held or toggled."""

    combo: Combo
    mode: Mode
    style: Style = "hold"

    def __post_init__(self) -> None:
        if self.style not in STYLES:
            raise UsageError(f"{self.mode.name}: style must be hold or toggle, got {self.style!r}")

    @property
    def records(self) -> bool:
        """Whether this binding starts takes (rather than firing once)."""
        return self.mode.records

    @property
    def fires_on_tap(self) -> bool:
        """Lone-modifier combos other than `hold` fire on a clean tap (see module docstring)."""
        return self.combo.key is None and not (self.records and self.style == "hold")


def bindings_from_config(hotkeys: Mapping[str, str | Mapping[str, Any]]) -> list[Binding]:
    """Bindings from the `hotkeys` setting ({mode: combo} or {mode: {keys, style, then_ask}})."""
    out: list[Binding] = []
    for name, spec in hotkeys.items():
        keys, style, then_ask, speak = ((spec, "hold", False, None) if isinstance(spec, str) else
                                        (spec["keys"], spec.get("style", "hold"), spec.get("then_ask", False),
                                         spec.get("speak")))
        then_enter = not isinstance(spec, str) and spec.get("then_enter") is True
        context = None if isinstance(spec, str) else spec.get("context")
        try:
            if style not in STYLES:
                raise UsageError(f"style must be hold or toggle, got {style!r}")
            try:
                mode = mode_named(name, then_ask=then_ask is True,
                                  speak=speak if isinstance(speak, bool) else None, then_enter=then_enter,
                                  context=context, web=not isinstance(spec, str) and spec.get("web") is True)
            except ValueError as exc:
                raise UsageError(str(exc)) from None
            out.append(Binding(parse_combo(keys), mode, "toggle" if style == "toggle" else "hold"))
        except UsageError as exc:
            raise UsageError(f"hotkeys.{name}: {exc.message}", hint=exc.hint) from None
    check_bindings(out)
    return out


def check_bindings(bindings: Iterable[Binding]) -> None:
    """Refuse two bindings that one chord would fire together: which one was meant is a guess."""
    seen: list[Binding] = []
    for b in bindings:
        for other in seen:
            if b.combo.overlaps(other.combo):
                raise UsageError(
                    f'hotkeys: "{b.combo}" ({b.mode.name}) and "{other.combo}" ({other.mode.name}) '
                    "can be fired by the same keys"
                )
        seen.append(b)


@dataclass
class _Take:
    mode: str
    started: float
    binding: Binding | None  # None when started by `toggle()` rather than a key


class HotkeyMachine:
    """Key events in, actions out; knows nothing of threads, pynput or the clock."""

    def __init__(self, bindings: Iterable[Binding], *, min_hold: float = MIN_HOLD) -> None:
        self.bindings = tuple(bindings)
        check_bindings(self.bindings)
        self.min_hold = min_hold
        self._cancel_combos = (ESC, *(b.combo for b in self.bindings if b.mode == CANCEL))
        self._held: dict[KeyId, float] = {}
        self._take: _Take | None = None
        self._tap: KeyId | None = None  # a lone modifier down with nothing pressed since
        self.hands_free = False  # a hands-free session listens: Esc ends it, as it ends a take

    @property
    def is_recording(self) -> bool:
        return self._take is not None

    @property
    def recording_mode(self) -> str | None:
        return self._take.mode if self._take else None

    @property
    def held(self) -> frozenset[KeyId]:
        return frozenset(self._held)

    def feed(self, key: KeyId, pressed: bool, t: float) -> list[Action]:
        """Apply one key event at time `t` (seconds, any monotonic origin)."""
        return self._press(key, t) if pressed else self._release(key, t)

    def toggle(self, mode: str, t: float) -> list[Action]:
        """Start `mode`, or end the running take: for `voicebot toggle` where hotkeys cannot work."""
        if self._take is not None:
            return [self._end(t)]
        self._take = _Take(mode, t, None)
        return [Start(mode)]

    def end_take(self) -> str | None:
        """Forget the running take without an action (the daemon ended it, e.g. too long)."""
        mode, self._take = self.recording_mode, None
        return mode

    def _end(self, t: float) -> Stop | Discard:
        assert self._take is not None
        mode, held = self._take.mode, max(0.0, t - self._take.started)
        self._take = None
        return Discard(mode, "too short") if held < self.min_hold else Stop(mode, held)

    def _press(self, key: KeyId, t: float) -> list[Action]:
        if key in self._held:
            return []  # auto-repeat
        self._held[key] = t
        held = self.held
        solo = held == {key} and modifier_of(key) is not None
        self._tap = key if solo else None
        take = self._take
        if (take is not None or self.hands_free) and any(
                c.is_trigger(key) and c.held_within(held) for c in self._cancel_combos):
            self._take = None
            return [Cancel()]
        if take is not None:
            b = take.binding
            if b is not None and b.combo.key is None and b.style == "hold" and not b.combo.covers(key):
                self._take = None
                return [Discard(b.mode.name, "used as a modifier")]
        for b in self.bindings:
            if b.fires_on_tap or not (b.combo.is_trigger(key) and b.combo.held_exactly(held)):
                continue
            return self._fire(b, t)
        return []

    def _fire(self, b: Binding, t: float) -> list[Action]:
        """A binding's chord was completed; what it does depends on its mode and the take."""
        if b.mode == CANCEL:
            self._take = None
            return [Cancel()]
        if not b.records:
            return [Trigger(b.mode.name)]
        if self._take is None:
            self._take = _Take(b.mode.name, t, b)
            return [Start(b.mode.name)]
        if self._take.binding == b and b.style == "toggle":
            return [self._end(t)]
        return []  # another take is running: one at a time

    def _release(self, key: KeyId, t: float) -> list[Action]:
        tap, self._tap = self._tap, None
        if key in self._held:
            del self._held[key]
        else:
            self._forget_like(key)
        actions: list[Action] = []
        take = self._take
        b = take.binding if take is not None else None
        if b is not None and b.style == "hold" and not b.combo.held_within(self.held):
            actions.append(self._end(t))
        if tap == key and not self._held:
            for b in self.bindings:
                if b.fires_on_tap and b.combo.is_trigger(key):
                    actions.extend(self._fire(b, t))
                    break
        return actions

    def _forget_like(self, key: KeyId) -> None:
        """A release for a key never seen down: drop the held keys it may have been named as."""
        mod = modifier_of(key)
        if mod is not None:
            stale = [k for k in self._held if (m := modifier_of(k)) is not None and m.family == mod.family]
        else:
            stale = [k for k in self._held if modifier_of(k) is None]
        for k in stale:
            del self._held[k]
