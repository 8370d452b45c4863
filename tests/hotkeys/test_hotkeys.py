"""Hotkey combos and the push-to-talk state machine, with no X display anywhere.

pynput itself is only imported in a child process (to prove the no-display error) and
faked elsewhere; the real listener is exercised in tests/live/test_hotkeys_x11.py.
"""

from __future__ import annotations

import ast
import asyncio
import enum
import importlib.util
import os
import subprocess
import sys
import threading
import types
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicebot.errors import UsageError
from voicebot.hotkeys.combo import KEY_NAMES, PYNPUT_KEY_NAMES, Combo, KeyId, Modifier, parse_combo
from voicebot.hotkeys.listener import NO_DISPLAY, HotkeyListener, key_from_pynput, vk_names_for
from voicebot.hotkeys.machine import (
    Action,
    Binding,
    Cancel,
    Discard,
    HotkeyMachine,
    Start,
    Stop,
    Trigger,
    action_to_json,
    bindings_from_config,
)
from voicebot.modes import ASK, TRANSLATE, mode_named

REPO = Path(__file__).resolve().parents[2]

CTRL_L, CTRL_R, CTRL = KeyId(name="ctrl_l"), KeyId(name="ctrl_r"), KeyId(name="ctrl")
ALT_L, SHIFT_L, CMD_L = KeyId(name="alt_l"), KeyId(name="shift_l"), KeyId(name="cmd_l")
SPACE, ESC_KEY, F9 = KeyId(name="space"), KeyId(name="esc"), KeyId(name="f9")
A, C, N = KeyId(char="a"), KeyId(char="c"), KeyId(char="n")


def k(name: str) -> KeyId:
    return KeyId(char=name) if len(name) == 1 else KeyId(name=name)


def run(machine: HotkeyMachine, *events: tuple[KeyId, bool, float]) -> list[Action]:
    """Feed events in order; all actions, flattened."""
    out: list[Action] = []
    for key, pressed, t in events:
        out.extend(machine.feed(key, pressed, t))
    return out


def down(*keys: KeyId, t: float = 0.0) -> list[tuple[KeyId, bool, float]]:
    return [(key, True, t) for key in keys]


def up(*keys: KeyId, t: float) -> list[tuple[KeyId, bool, float]]:
    return [(key, False, t) for key in keys]


def machine(*specs: tuple[str, str] | tuple[str, str, str], min_hold: float = 0.3) -> HotkeyMachine:
    return HotkeyMachine([Binding(parse_combo(s[0]), mode_named(s[1]), *s[2:]) for s in specs],  # type: ignore[arg-type]
                         min_hold=min_hold)


# --- parsing --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "mods", "key"),
    [
        ("ctrl+alt+space", {Modifier("ctrl"), Modifier("alt")}, SPACE),
        ("right_ctrl", {Modifier("ctrl", "r")}, None),
        ("ctrl_r", {Modifier("ctrl", "r")}, None),
        ("left_alt+x", {Modifier("alt", "l")}, KeyId(char="x")),
        ("f9", set(), F9),
        ("F24", set(), KeyId(name="f24")),
        ("super+shift+d", {Modifier("cmd"), Modifier("shift")}, KeyId(char="d")),
        ("win+D", {Modifier("cmd")}, KeyId(char="d")),
        ("meta+a", {Modifier("cmd")}, A),
        ("cmd+a", {Modifier("cmd")}, A),
        ("option+a", {Modifier("alt")}, A),
        ("control+a", {Modifier("ctrl")}, A),
        ("alt+grave", {Modifier("alt")}, KeyId(char="`")),
        ("<ctrl>+<alt>+x", {Modifier("ctrl"), Modifier("alt")}, KeyId(char="x")),
        ("<cmd_r>+<f5>", {Modifier("cmd", "r")}, KeyId(name="f5")),
        ("  Ctrl +  ALT+SPACE ", {Modifier("ctrl"), Modifier("alt")}, SPACE),
        ("right-shift+page-up", {Modifier("shift", "r")}, KeyId(name="page_up")),
        ("ctrl+plus", {Modifier("ctrl")}, KeyId(char="+")),
        ("escape", set(), ESC_KEY),
        ("altgr", {Modifier("alt_gr")}, None),
        ("<65027>", set(), KeyId(vk=65027)),
    ],
)
def test_parse_combo_forms(text: str, mods: set[Modifier], key: KeyId | None) -> None:
    combo = parse_combo(text)
    assert combo == Combo(frozenset(mods), key)
    assert parse_combo(str(combo)) == combo  # the canonical spelling parses back


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("ctlr+space", 'unknown key "ctlr" in "ctlr+space"'),
        ("ctrl+alt+spcae", 'unknown key "spcae" in "ctrl+alt+spcae"'),
        ("f25", 'unknown key "f25" in "f25"'),
        ("a+b", '"a+b" has two keys besides modifiers ("a" and "b")'),
        ("ctrl+alt", '"ctrl+alt" has only modifiers'),
        ("ctrl+left_ctrl+x", '"ctrl+left_ctrl+x" names the ctrl modifier twice'),
        ("ctrl++", 'empty key in "ctrl++"'),
        ("   ", "empty hotkey combo"),
    ],
)
def test_parse_combo_errors_name_the_offending_part(text: str, message: str) -> None:
    with pytest.raises(UsageError) as err:
        parse_combo(text)
    assert message in str(err.value)
    assert err.value.exit_code == 2


def test_key_names_match_pynputs_key_enum() -> None:
    """Our copy of pynput's Key names (pynput cannot be imported without X) must not drift."""
    spec = importlib.util.find_spec("pynput")  # finds without importing
    assert spec is not None and spec.submodule_search_locations
    source = Path(list(spec.submodule_search_locations)[0], "keyboard", "_base.py").read_text()
    key_class = next(n for n in ast.walk(ast.parse(source)) if isinstance(n, ast.ClassDef) and n.name == "Key")
    names = {t.id for n in key_class.body if isinstance(n, ast.Assign) for t in n.targets if isinstance(t, ast.Name)}
    assert names == PYNPUT_KEY_NAMES
    assert {f"f{n}" for n in range(1, 25)} <= KEY_NAMES
    for name in names:
        parse_combo(name)


def test_bindings_from_config_names_the_mode_and_refuses_ambiguity() -> None:
    got = bindings_from_config({"ask": "ctrl+alt+space", "translate": {"keys": "f9", "style": "toggle",
                                                                      "then_ask": True}})
    assert got == [Binding(parse_combo("ctrl+alt+space"), ASK),
                   Binding(parse_combo("f9"), TRANSLATE.with_then_ask(True), "toggle")]
    assert got[1].mode.answers and got[1].mode.translates  # then_ask rides in the binding's mode
    with pytest.raises(UsageError, match=r'hotkeys\.dictate: unknown key "ctlr"'):
        bindings_from_config({"dictate": "ctlr+d"})
    with pytest.raises(UsageError, match="can be fired by the same keys"):
        bindings_from_config({"ask": "ctrl+space", "translate": "left_ctrl+space"})
    with pytest.raises(UsageError, match="can be fired by the same keys"):
        bindings_from_config({"ask": "right_ctrl", "new": "ctrl"})
    # different sides, or different modifiers, are not ambiguous
    assert len(bindings_from_config({"ask": "right_ctrl", "new": "left_ctrl", "dictate": "ctrl+shift+space",
                                     "translate": "ctrl+space"})) == 4
    with pytest.raises(UsageError, match="style must be hold or toggle"):
        bindings_from_config({"ask": {"keys": "f9", "style": "tap"}})


# --- hold -----------------------------------------------------------------------------


def test_hold_starts_when_chord_complete_and_stops_on_first_release() -> None:
    m = machine(("ctrl+alt+space", "ask"))
    assert run(m, (CTRL_L, True, 0.0), (ALT_L, True, 0.1)) == []
    assert run(m, (SPACE, True, 0.2)) == [Start("ask")]
    assert m.is_recording and m.recording_mode == "ask"
    assert run(m, (ALT_L, False, 1.7)) == [Stop("ask", pytest.approx(1.5))]
    assert not m.is_recording
    assert run(m, (SPACE, False, 1.8), (CTRL_L, False, 1.9)) == []


def test_tap_is_discarded_never_stopped() -> None:
    m = machine(("ctrl+alt+space", "ask"))
    got = run(m, *down(CTRL_L, ALT_L, SPACE, t=1.0), *up(SPACE, t=1.29))
    assert got == [Start("ask"), Discard("ask", "too short")]
    got = run(m, (SPACE, True, 2.0), (SPACE, False, 2.31))
    assert got == [Start("ask"), Stop("ask", pytest.approx(0.31))]


def test_exact_chord_extra_keys_do_not_fire() -> None:
    m = machine(("ctrl+alt+space", "ask"))
    assert run(m, *down(CTRL_L, ALT_L, SHIFT_L, SPACE)) == []
    m = machine(("ctrl+alt+space", "ask"))
    assert run(m, *down(A, CTRL_L, ALT_L, SPACE)) == []  # a letter still held
    m = machine(("ctrl+space", "ask"))
    assert run(m, *down(CTRL_L, CTRL_R, SPACE)) == [Start("ask")]  # both Ctrls are still "ctrl"


def test_modifier_pressed_after_main_key_does_not_fire() -> None:
    m = machine(("ctrl+alt+space", "ask"))
    assert run(m, *down(SPACE, CTRL_L, ALT_L)) == []
    # ... and chord repeats of the held Space do not fire it either
    assert run(m, (SPACE, True, 0.5), (SPACE, True, 0.6)) == []
    # releasing and re-pressing Space (now last) does
    assert run(m, (SPACE, False, 1.0), (SPACE, True, 1.1)) == [Start("ask")]


def test_extra_key_during_hold_keeps_recording_until_chord_key_released() -> None:
    m = machine(("ctrl+alt+space", "ask"))
    run(m, *down(CTRL_L, ALT_L, SPACE, t=0.0))
    assert run(m, (SHIFT_L, True, 0.5), (SHIFT_L, False, 0.6)) == []
    assert m.is_recording
    assert run(m, (CTRL_L, False, 1.0)) == [Stop("ask", 1.0)]


def test_auto_repeat_does_not_restart_or_stop() -> None:
    m = machine(("f9", "ask"))
    got = run(m, (F9, True, 0.0), *[(F9, True, 0.5 + i * 0.03) for i in range(20)], (F9, False, 2.0))
    assert got == [Start("ask"), Stop("ask", 2.0)]


def test_release_of_key_never_pressed_is_harmless() -> None:
    m = machine(("ctrl+alt+space", "ask"))
    assert run(m, (KeyId(name="enter"), False, 0.0), (CTRL_R, False, 0.0)) == []
    assert run(m, *down(CTRL_L, ALT_L, SPACE, t=1.0), *up(SPACE, t=2.0)) == [Start("ask"), Stop("ask", 1.0)]


def test_key_renamed_between_press_and_release_does_not_stick() -> None:
    """X names Shift+1 "!" on the way down and "1" on the way up if Shift went first."""
    m = machine(("ctrl+alt+space", "ask"))
    run(m, (SHIFT_L, True, 0.0), (KeyId(char="!"), True, 0.1), (SHIFT_L, False, 0.2), (KeyId(char="1"), False, 0.3))
    assert m.held == frozenset()
    assert run(m, *down(CTRL_L, ALT_L, SPACE, t=1.0)) == [Start("ask")]


def test_left_and_right_modifiers() -> None:
    m = machine(("right_ctrl", "ask"))
    assert run(m, (CTRL_L, True, 0.0), (CTRL_L, False, 1.0)) == []
    assert run(m, (CTRL, True, 2.0), (CTRL, False, 3.0)) == []  # side unknown: not "right"
    assert run(m, (CTRL_R, True, 4.0), (CTRL_R, False, 5.0)) == [Start("ask"), Stop("ask", 1.0)]
    m = machine(("left_alt+space", "ask"))
    assert run(m, *down(KeyId(name="alt_r"), SPACE)) == []
    m = machine(("ctrl+space", "ask"))
    assert run(m, *down(CTRL_R, SPACE)) == [Start("ask")]
    m = machine(("ctrl+space", "ask"))
    assert run(m, *down(CTRL, SPACE)) == [Start("ask")]


def test_lone_modifier_hold_used_as_a_modifier_is_discarded() -> None:
    m = machine(("right_ctrl", "ask"))
    got = run(m, (CTRL_R, True, 0.0), (C, True, 0.5), (C, False, 0.6), (CTRL_R, False, 1.0))
    assert got == [Start("ask"), Discard("ask", "used as a modifier")]


# --- toggle, several bindings, cancel --------------------------------------------------


def test_toggle_press_to_start_press_again_to_stop() -> None:
    m = machine(("ctrl+alt+space", "ask", "toggle"))
    assert run(m, *down(CTRL_L, ALT_L, SPACE, t=0.0)) == [Start("ask")]
    assert run(m, *up(SPACE, ALT_L, CTRL_L, t=0.2)) == []
    assert m.is_recording
    assert run(m, *down(CTRL_L, ALT_L, t=3.0)) == []
    assert run(m, (SPACE, True, 3.0)) == [Stop("ask", 3.0)]
    assert run(m, *up(SPACE, ALT_L, CTRL_L, t=3.2)) == []
    # a quick double press is a tap
    assert run(m, (SPACE, False, 4), (SPACE, True, 5.0), (SPACE, False, 5.05)) == []
    assert run(m, *down(CTRL_L, ALT_L, SPACE, t=6.0), *up(SPACE, t=6.05), (SPACE, True, 6.1)) == [
        Start("ask"), Discard("ask", "too short")]


def test_lone_modifier_toggle_fires_on_clean_tap_only() -> None:
    m = machine(("right_ctrl", "ask", "toggle"))
    assert run(m, (CTRL_R, True, 0.0), (C, True, 0.1), (C, False, 0.2), (CTRL_R, False, 0.3)) == []  # Ctrl+C
    assert run(m, (CTRL_R, True, 1.0), (CTRL_R, True, 1.2)) == []
    assert run(m, (CTRL_R, False, 1.3)) == [Start("ask")]
    assert run(m, (CTRL_R, True, 4.0), (CTRL_R, False, 4.1)) == [Stop("ask", pytest.approx(2.8))]


def test_several_bindings_one_take_at_a_time() -> None:
    m = machine(("ctrl+alt+space", "ask"), ("f9", "translate", "toggle"), ("ctrl+alt+n", "new"),
                ("super+shift+d", "dictate"))
    assert run(m, (F9, True, 0.0), (F9, False, 0.1)) == [Start("translate")]
    assert run(m, *down(CTRL_L, ALT_L, SPACE, t=1.0), *up(SPACE, ALT_L, CTRL_L, t=2.0)) == []  # busy
    assert run(m, *down(CTRL_L, ALT_L, N, t=2.5), *up(N, ALT_L, CTRL_L, t=2.6)) == [Trigger("new")]
    assert m.recording_mode == "translate"
    assert run(m, (F9, True, 3.0)) == [Stop("translate", 3.0)]
    assert run(m, (F9, False, 3.1), *down(CMD_L, SHIFT_L, KeyId(char="D"), t=4.0)) == [Start("dictate")]
    assert run(m, (KeyId(char="d"), False, 5.0)) == [Stop("dictate", 1.0)]  # Shift+D is the D key


def test_esc_ends_a_hands_free_session_and_nothing_else() -> None:
    m = machine(("ctrl+alt+space", "ask"), ("ctrl+alt+c", "converse"))
    assert run(m, *down(CTRL_L, ALT_L, KeyId(char="c"), t=0.0), *up(KeyId(char="c"), ALT_L, CTRL_L, t=0.1)) == [
        Trigger("converse")]
    m.hands_free = True  # the daemon says a session listens
    assert run(m, (ESC_KEY, True, 1.0), (ESC_KEY, False, 1.1)) == [Cancel()]
    m.hands_free = False
    assert run(m, (ESC_KEY, True, 2.0), (ESC_KEY, False, 2.1)) == []


def test_esc_cancels_a_take_and_nothing_else() -> None:
    m = machine(("ctrl+alt+space", "ask"))
    assert run(m, (ESC_KEY, True, 0.0), (ESC_KEY, False, 0.1)) == []  # idle: Esc is the user's
    run(m, *down(CTRL_L, ALT_L, SPACE, t=1.0))
    assert run(m, (ESC_KEY, True, 2.0)) == [Cancel()]  # chord still held: Esc works anyway
    assert not m.is_recording
    assert run(m, (ESC_KEY, False, 2.1), *up(SPACE, ALT_L, CTRL_L, t=2.2)) == []
    m = machine(("f9", "ask", "toggle"))
    assert run(m, (F9, True, 0), (F9, False, 0.1), (ESC_KEY, True, 1.0), (ESC_KEY, False, 1.1)) == [
        Start("ask"), Cancel()]


def test_cancel_binding_cancels_a_take_or_a_reply() -> None:
    m = machine(("f9", "ask"), ("ctrl+alt+c", "cancel"))
    assert run(m, *down(CTRL_L, ALT_L, C), *up(C, ALT_L, CTRL_L, t=0.1)) == [Cancel()]
    assert run(m, (F9, True, 1.0), *down(CTRL_L, ALT_L, C, t=2.0), (F9, False, 3.0)) == [Start("ask"), Cancel()]


def test_toggle_and_end_take_from_the_daemon() -> None:
    m = machine(("f9", "ask"))
    assert m.toggle("dictate", 0.0) == [Start("dictate")]
    assert run(m, (F9, True, 0.5)) == []  # busy
    assert m.toggle("dictate", 2.0) == [Stop("dictate", 2.0)]
    assert run(m, (F9, False, 2.5), (F9, True, 3.0)) == [Start("ask")]
    assert m.end_take() == "ask" and not m.is_recording
    assert run(m, (F9, False, 4.0)) == []
    assert m.end_take() is None


def test_action_to_json() -> None:
    assert action_to_json(Stop("ask", 1.5)) == {"type": "stop", "mode": "ask", "held_seconds": 1.5}
    assert action_to_json(Cancel()) == {"type": "cancel"}
    assert action_to_json(Discard("ask", "too short")) == {"type": "discard", "mode": "ask", "reason": "too short"}


# --- random event sequences ------------------------------------------------------------

KEYS = [CTRL_L, CTRL_R, ALT_L, SHIFT_L, SPACE, ESC_KEY, F9, A, N, KeyId(char="!"), KeyId(vk=0xFE03)]
events = st.lists(st.tuples(st.sampled_from(KEYS), st.booleans(), st.floats(0, 0.5)), max_size=60)


@settings(max_examples=300, deadline=None)
@given(events, st.booleans(), st.booleans())
def test_random_sequences_keep_takes_paired(seq: list[tuple[KeyId, bool, float]], toggle: bool,
                                            lone: bool) -> None:
    style = "toggle" if toggle else "hold"
    m = machine(("ctrl+alt+space", "ask", style), ("right_ctrl" if lone else "f9", "translate", style),
                ("ctrl+n", "new"), ("shift+!", "cancel"))
    recording: str | None = None
    t = 0.0
    for key, pressed, dt in seq:
        t += dt
        for action in m.feed(key, pressed, t):
            if isinstance(action, Start):
                assert recording is None, "two Starts without an end between them"
                recording = action.mode
            elif isinstance(action, (Stop, Discard)):
                assert recording == action.mode
                recording = None
                if isinstance(action, Stop):
                    assert action.held_seconds >= m.min_hold
            elif isinstance(action, Cancel):
                recording = None
            else:
                assert action == Trigger("new")
        assert m.recording_mode == recording
    # after every key is up, no key is believed held and no hold take survives
    for key in KEYS:
        m.feed(key, False, t + 1)
    assert m.held == frozenset()
    assert style == "toggle" or not m.is_recording


# --- the pynput adapter, without pynput's X backend ------------------------------------


class FakeKey(enum.Enum):
    """Like pynput's X Key enum: left modifiers are aliases of the generic ones."""

    alt = 1
    alt_l = 1
    alt_r = 2
    ctrl = 3
    ctrl_l = 3
    ctrl_r = 4
    shift = 5
    shift_l = 5
    shift_r = 6
    cmd = 7
    cmd_l = 7
    cmd_r = 8
    space = 9
    esc = 10


class FakeKeyCode:
    def __init__(self, vk: int | None = None, char: str | None = None) -> None:
        self.vk, self.char = vk, char


X_NAMES = vk_names_for("pynput.keyboard._xorg")


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        (FakeKey.ctrl, CTRL_L),  # X: Key.ctrl is Control_L
        (FakeKey.ctrl_r, CTRL_R),
        (FakeKey.alt_r, KeyId(name="alt_r")),
        (FakeKey.cmd, CMD_L),
        (FakeKey.space, SPACE),
        (FakeKeyCode(vk=0x61, char="a"), A),
        (FakeKeyCode(vk=0x41, char="A"), A),
        (FakeKeyCode(vk=0x41, char="\x01"), A),  # Windows Ctrl+A
        (FakeKeyCode(vk=0x31, char="\x00"), KeyId(char="1")),
        (FakeKeyCode(vk=None, char="\x04"), KeyId(char="d")),
        (FakeKeyCode(vk=0xDB, char="\x1b"), KeyId(vk=0xDB)),  # Ctrl+[ on Windows: not a letter
        (FakeKeyCode(vk=0xFFE7), KeyId(name="alt_l")),  # X Meta_L: Alt with Shift down
        (FakeKeyCode(vk=0xFE03), KeyId(name="alt_gr")),
        (FakeKeyCode(vk=0xFFD5), KeyId(name="f24")),
        (FakeKeyCode(vk=0x1008FF11), KeyId(vk=0x1008FF11)),  # unmapped: vk only
        (FakeKeyCode(), None),
        (None, None),
    ],
)
def test_key_from_pynput(key: Any, expected: KeyId | None) -> None:
    assert key_from_pynput(key, FakeKey, X_NAMES) == expected


def test_key_from_pynput_keeps_generic_side_when_platform_has_one() -> None:
    class WinKey(enum.Enum):  # win32: ctrl, ctrl_l and ctrl_r are three different VKs
        ctrl = 1
        ctrl_l = 2
        ctrl_r = 3

    assert key_from_pynput(WinKey.ctrl, WinKey, {}) == CTRL
    assert key_from_pynput(WinKey.ctrl_l, WinKey, {}) == CTRL_L
    assert key_from_pynput(FakeKeyCode(vk=0x87), WinKey, vk_names_for("pynput.keyboard._win32")) == KeyId(name="f24")


def test_listener_without_display_is_a_usage_error() -> None:
    """Run in a clean child: pynput's import fails for good only with no display at all."""
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "PYNPUT_BACKEND")}
    code = (
        "import asyncio\n"
        "from voicebot.hotkeys.listener import HotkeyListener\n"
        "from voicebot.hotkeys.machine import HotkeyMachine\n"
        "from voicebot.errors import UsageError\n"
        "async def main():\n"
        "    try:\n"
        "        await HotkeyListener(HotkeyMachine([]), asyncio.Queue()).start()\n"
        "    except UsageError as e:\n"
        "        print(e.exit_code, str(e))\n"
        "asyncio.run(main())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=REPO, capture_output=True, text=True,
                         timeout=60)
    assert out.stdout.strip() == f"2 {NO_DISPLAY}", out.stderr


class FakeListener:
    """Stands in for pynput.keyboard.Listener: replays events from its own thread."""

    script: list[tuple[Any, bool]] = []

    def __init__(self, on_press: Any, on_release: Any) -> None:
        self.on_press, self.on_release = on_press, on_release
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self.stopped = False

    def _run(self) -> None:
        self._ready.set()
        for key, pressed in self.script:
            (self.on_press if pressed else self.on_release)(key, False)
        self.on_press(FakeKey.esc, True)  # injected (voicebot typing): must be ignored

    def start(self) -> None:
        self._thread.start()

    def wait(self) -> None:
        self._ready.wait()

    def is_alive(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        self.stopped = True

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)


@pytest.fixture
def fake_pynput(monkeypatch: pytest.MonkeyPatch) -> type[FakeListener]:
    keyboard = types.ModuleType("pynput.keyboard")
    listener_cls = type("Listener", (FakeListener,), {"__module__": "pynput.keyboard._xorg"})
    keyboard.Listener = listener_cls  # type: ignore[attr-defined]
    keyboard.Key = FakeKey  # type: ignore[attr-defined]
    package = types.ModuleType("pynput")
    package.keyboard = keyboard  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "pynput", package)
    monkeypatch.setitem(sys.modules, "pynput.keyboard", keyboard)
    return listener_cls


def test_listener_feeds_machine_on_the_loop_and_delivers_in_order(fake_pynput: type[FakeListener]) -> None:
    fake_pynput.script = [(FakeKey.ctrl_r, True), (FakeKey.ctrl_r, False), (FakeKey.ctrl_r, True),
                          (FakeKeyCode(vk=0x61, char="a"), True), (FakeKeyCode(vk=0x61, char="a"), False),
                          (FakeKey.ctrl_r, False)]
    clock = iter(float(i) for i in range(100))
    machine_threads: set[str] = set()

    class Spy(HotkeyMachine):
        def feed(self, key: KeyId, pressed: bool, t: float) -> list[Action]:
            machine_threads.add(threading.current_thread().name)
            return super().feed(key, pressed, t)

    async def main() -> list[Action]:
        got: list[Action] = []
        done = asyncio.Event()

        async def on_action(action: Action) -> None:
            await asyncio.sleep(0)  # an async handler: later actions must still wait their turn
            got.append(action)
            if len(got) == 4:
                done.set()

        listener = HotkeyListener(Spy([Binding(parse_combo("right_ctrl"), ASK)], min_hold=0.5), on_action,
                                  clock=lambda: next(clock))
        async with listener:
            await asyncio.wait_for(done.wait(), 10)
            fake = listener._listener
        assert fake.stopped
        return got

    got = asyncio.run(main())
    assert got == [Start("ask"), Stop("ask", 1.0), Start("ask"), Discard("ask", "used as a modifier")]
    assert machine_threads == {threading.main_thread().name}
