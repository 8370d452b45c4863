"""then_enter: Enter after dictated text that landed, never after text that did not.

The keys themselves are proven on real desktops (tests/live/test_dictation_wayland.py,
test_dictation_x11.py); here, with the Wayland tools faked as in test_dictation.py, the
rules: which binding may ask for it, and no Enter when nothing reached the window.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path
from typing import Any

import pytest

from tests.desktop.test_dictation import Tools, notices
from voicebot.cli.commands import build_bindings
from voicebot.cli.wiring import dictation_options
from voicebot.config.loading import load_settings
from voicebot.config.schema import Settings
from voicebot.desktop.dictation import Dictation
from voicebot.errors import UsageError
from voicebot.turns.console import JsonOutput


@pytest.fixture
def tools(tmp_path: Path) -> Tools:
    return Tools(tmp_path)


def land(tools: Tools, **options: Any) -> io.StringIO:
    out = io.StringIO()
    dictation = Dictation(dictation_options(Settings(**options)), JsonOutput(out, io.StringIO()), None, tools.env())
    asyncio.run(asyncio.wait_for(dictation.land("hello there", then_enter=True), 30))
    return out


def test_enter_is_pressed_after_the_typed_text(tools: Tools) -> None:
    tools.add("wtype")
    out = land(tools, dictate_output="type")
    assert tools.argv("wtype") == ["-k", "Return"] and notices(out) == []  # the last call: after the text


def test_a_failed_typing_is_not_followed_by_enter(tools: Tools) -> None:
    tools.add("wtype", status=1, message="Compositor does not support the virtual keyboard protocol")
    out = land(tools, dictate_output="type")
    assert tools.argv("wtype") == ["-"]  # the text was tried; Enter never was (it would send half a message)
    [notice] = notices(out)
    assert notice["delivered"] is False


def test_text_only_copied_or_printed_gets_no_enter(tools: Tools) -> None:
    tools.add("wtype")
    tools.clipboard()
    land(tools, dictate_output="clipboard")  # copied, not pasted: nothing landed in the window
    land(tools, dictate_output="print")
    assert tools.argv("wtype") is None


def test_enter_after_a_paste_uses_the_same_tool(tools: Tools) -> None:
    tools.add("ydotool")
    tools.clipboard()
    out = land(tools, dictate_output="clipboard", restore_clipboard=True)
    assert tools.argv("ydotool") == ["key", "28:1", "28:0"] and notices(out) == []


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return str(path)


def test_then_enter_belongs_to_the_dictate_binding(tmp_path: Path) -> None:
    cfg = write(tmp_path, '[hotkeys]\ndictate = { keys = "f9", then_enter = true }\nask = "f8"\n')
    settings, _ = load_settings({}, {}, config_path=cfg)
    assert settings.hotkeys["dictate"] == {"keys": "f9", "style": "hold", "then_ask": False, "then_enter": True}
    modes = {b.mode.name: b.mode for b in build_bindings(settings, None, None, False)}
    assert modes["dictate"].then_enter and not modes["ask"].then_enter
    # `voicebot run --mode dictate --toggle` keeps the binding's then_enter
    [only] = build_bindings(settings, None, "dictate", True)
    assert only.mode.then_enter and only.style == "toggle"


@pytest.mark.parametrize(("table", "needle"), [
    ('ask = { keys = "f9", then_enter = true }', "then_enter applies to the dictate binding only"),
    ('dictate = { keys = "f9", then_enter = "yes" }', "then_enter must be true or false"),
])
def test_then_enter_mistakes_name_the_line(tmp_path: Path, table: str, needle: str) -> None:
    cfg = write(tmp_path, f"[hotkeys]\n{table}\n")
    with pytest.raises(UsageError, match=needle) as info:
        load_settings({}, {}, config_path=cfg)
    assert cfg in str(info.value)
