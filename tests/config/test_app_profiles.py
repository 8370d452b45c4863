"""`[profiles.NAME]`: checked as their settings are, with their line; laid between the globals and a binding's own."""

from __future__ import annotations

from pathlib import Path

import pytest

from voicebot.cli.wiring import app_profiles, turn_profiles
from voicebot.config.loading import load_settings
from voicebot.desktop.focus import AppProfile
from voicebot.errors import UsageError

CONFIG = """\
language = "fr"
dictate_output = "print"

[hotkeys]
ask = "f10"
dictate = { keys = "f9", language = "de" }

[profiles.terminal]
match = "foot|kitty"
paste_keys = "ctrl+shift+v"
dictate_output = "type"
language = "en"
model = "openai/gpt-oss-120b"

[profiles.browser]
match = "firefox"
dictate_output = "clipboard"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_profiles_load_in_the_files_order(tmp_path: Path) -> None:
    s, _ = load_settings({}, {}, config_path=str(write(tmp_path, CONFIG)))
    assert app_profiles(s) == (AppProfile("terminal", "foot|kitty"), AppProfile("browser", "firefox"))
    assert s.profiles["terminal"]["paste_keys"] == "ctrl+shift+v"


def test_the_application_overlays_the_globals_and_the_binding_overlays_the_application(tmp_path: Path) -> None:
    s, _ = load_settings({}, {}, config_path=str(write(tmp_path, CONFIG)))
    profiles = turn_profiles(s)
    terminal, browser = profiles.apps
    ask, dictate = profiles.for_take("ask", terminal), profiles.for_take("dictate", terminal)
    assert (ask.assistant.speech.language, ask.assistant.chat.model, ask.dictation.paste_keys) == \
        ("en", "openai/gpt-oss-120b", "ctrl+shift+v")
    assert (dictate.assistant.speech.language, dictate.dictation.target, dictate.profile) == ("de", "type", "terminal")
    assert profiles.for_take("ask", browser).dictation.target == "clipboard"
    nowhere = profiles.for_take("ask", None)
    assert (nowhere.assistant.speech.language, nowhere.dictation.target, nowhere.profile) == ("fr", "print", None)
    assert profiles.for_take("dictate", None).assistant.speech.language == "de"


@pytest.mark.parametrize("table, line, needle", [
    ('[profiles.t]\nmatch = "foot"\npaste_keys = "ctrl+p"\n', 3, "t: paste_keys: expected one of ctrl\\+v, "
                                                                 "ctrl\\+shift\\+v, got 'ctrl\\+p'"),
    ('[profiles.t]\nmatch = "foot("\n', 2, "t: match: 'foot\\(' is not a regular expression"),
    ('[profiles.t]\nlanguage = "de"\n', 1, "t: match must be a window class, or a regular expression"),
    ('[profiles.t]\nmatch = "foot"\nhotkeys = "f9"\n', 3, "t: unknown field 'hotkeys' \\(fields: match, language"),
    ('[profiles.t]\nmatch = "foot"\nvoice = "alloy"\n', 3, "t: voice: expected one of autumn"),
    ('[profiles]\nt = "foot"\n', 2, "t: expected a table with match"),
    ('profiles = "foot"\n', 1, "expected a table, got 'foot'"),
])
def test_a_bad_profile_is_one_line_with_its_file_and_line(tmp_path: Path, table: str, line: int, needle: str) -> None:
    path = write(tmp_path, table)
    with pytest.raises(UsageError, match=f"config.toml:{line}: bad value for 'profiles': {needle}"):
        load_settings({}, {}, config_path=str(path))


def test_a_profile_that_speaks_has_the_output_device_checked_at_start(tmp_path: Path) -> None:
    from voicebot.cli.wiring import wants_voice

    quiet, _ = load_settings({}, {}, config_path=str(write(tmp_path, CONFIG)))
    speaking, _ = load_settings({}, {}, config_path=str(write(tmp_path, CONFIG + "speak = true\n")))
    assert not wants_voice(quiet) and wants_voice(speaking)
    assert turn_profiles(speaking).for_take("ask", turn_profiles(speaking).apps[1]).speak is True
