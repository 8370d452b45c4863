"""A binding's profile: its fields are checked as their settings are, and become that binding's options only."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from voicebot.cli.wiring import turn_profiles
from voicebot.config.loading import load_settings
from voicebot.errors import UsageError

VOICEBOT = Path(sys.executable).with_name("voicebot")

GERMAN_BESIDE_ENGLISH = """\
language = "fr"
vocabulary = ["Paris"]

[hotkeys]
ask = { keys = "f10", language = "en", model = "openai/gpt-oss-120b", system = "Be brief.", voice = "daniel" }
dictate = { keys = "f9", language = "de", stt_prompt = "Ein Diktat.", vocabulary = ["Groq"] }
translate = "f8"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_profile_fields_are_kept_with_their_binding(tmp_path: Path) -> None:
    s, _ = load_settings({}, {}, config_path=str(write(tmp_path, GERMAN_BESIDE_ENGLISH)))
    assert s.hotkeys["dictate"] == {"keys": "f9", "style": "hold", "then_ask": False, "language": "de",
                                    "stt_prompt": "Ein Diktat.", "vocabulary": ["Groq"]}
    assert s.hotkeys["ask"]["model"] == "openai/gpt-oss-120b" and s.hotkeys["ask"]["voice"] == "daniel"


def test_each_binding_gets_its_own_options_and_the_others_the_global_ones(tmp_path: Path) -> None:
    s, _ = load_settings({}, {}, config_path=str(write(tmp_path, GERMAN_BESIDE_ENGLISH)))
    profiles = turn_profiles(s)
    ask, dictate, translate = (profiles.for_mode(m) for m in ("ask", "dictate", "translate"))
    assert (ask.assistant.speech.language, ask.assistant.speech.prompt.text) == ("en", "Paris")
    assert (ask.assistant.chat.model, ask.assistant.system_prompt, ask.voice) == ("openai/gpt-oss-120b", "Be brief.",
                                                                                  "daniel")
    assert (dictate.assistant.speech.language, dictate.assistant.speech.prompt.text) == ("de", "Ein Diktat. Groq")
    assert dictate.assistant.chat.model == s.chat_model and dictate.assistant.system_prompt == s.system_prompt
    assert translate is profiles.default  # no profile: the global settings
    assert (translate.assistant.speech.language, translate.voice, translate.speak) == ("fr", "autumn", False)


@pytest.mark.parametrize("binding, needle", [
    ('ask = { keys = "f9", voice = "alloy" }', "ask: voice: expected one of autumn, diana"),
    ('ask = { keys = "f9", language = 3 }', "ask: language: expected a string, got 3"),
    ('dictate = { keys = "f9", vocabulary = "Groq" }', "dictate: vocabulary: expected a list of strings"),
    ('ask = { keys = "f9", model = ["a"] }', "ask: model: expected a string"),
    ('dictate = { keys = "f9", system = "Be brief." }', "dictate: system applies to a binding whose turns are "
                                                        "answered"),
    ('translate = { keys = "f9", voice = "troy" }', "translate: voice applies to a binding whose turns are answered"),
    ('new = { keys = "f9", language = "de" }', "new: language applies to a binding that records"),
    ('ask = { keys = "f9", languag = "de" }', "ask: unknown field 'languag' .*language, vocabulary, stt_prompt"),
])
def test_a_bad_profile_field_is_one_line_naming_the_file_line_and_binding(tmp_path: Path, binding: str,
                                                                          needle: str) -> None:
    path = write(tmp_path, f'speak = false\n\n[hotkeys]\n{binding}\n')
    with pytest.raises(UsageError, match=f"config.toml:4: bad value for 'hotkeys': {needle}"):
        load_settings({}, {}, config_path=str(path))


def test_translate_with_then_ask_may_have_a_system_prompt(tmp_path: Path) -> None:
    path = write(tmp_path, '[hotkeys]\ntranslate = { keys = "f9", then_ask = true, system = "Reply in German." }\n')
    s, _ = load_settings({}, {}, config_path=str(path))
    assert turn_profiles(s).for_mode("translate").assistant.system_prompt == "Reply in German."


def test_the_environment_is_checked_alike(tmp_path: Path) -> None:
    env = {"VOICEBOT_HOTKEYS": '{"ask": {"keys": "f9", "voice": "alloy"}}', "HOME": str(tmp_path)}
    with pytest.raises(UsageError, match="VOICEBOT_HOTKEYS: ask: voice: expected one of"):
        load_settings({}, env)


def test_voicebot_config_with_a_bad_profile_is_exit_2_and_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    (home / ".config" / "voicebot").mkdir(parents=True)
    (home / ".config" / "voicebot" / "config.toml").write_text('[hotkeys]\ndictate = { keys = "f9", language = 7 }\n')
    done = subprocess.run([str(VOICEBOT), "config"], env={"HOME": str(home), "PATH": "/usr/bin:/bin"},
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert lines[0].endswith("config.toml:2: bad value for 'hotkeys': dictate: language: expected a string, got 7")
    assert "Traceback" not in done.stderr


def test_a_dictate_or_edit_bindings_model_is_the_one_its_clean_up_and_rewrite_use(tmp_path: Path) -> None:
    path = write(tmp_path, 'dictate_cleanup = true\n[hotkeys]\n'
                           'dictate = { keys = "f9", model = "openai/gpt-oss-120b" }\n'
                           'edit = { keys = "f8", model = "openai/gpt-oss-120b" }\nask = "f10"\n')
    s, _ = load_settings({}, {}, config_path=str(path))
    profiles = turn_profiles(s)
    cleanup = profiles.for_mode("dictate").dictation.cleanup
    assert cleanup is not None and cleanup.model == "openai/gpt-oss-120b"
    assert profiles.for_mode("edit").assistant.chat.model == "openai/gpt-oss-120b"  # what the rewrite asks
    default_cleanup = profiles.for_mode("ask").dictation.cleanup
    assert default_cleanup is not None and default_cleanup.model == s.chat_model
