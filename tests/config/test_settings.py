"""Settings precedence, validation and the key's secrecy (pure: no network, no devices)."""

from __future__ import annotations

import os
import string
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from voicebot.config.loading import check_value, describe, load_settings, parse_text
from voicebot.config.schema import DEFAULT_API_BASE, FIELDS, Secret, env_name, kind_of
from voicebot.errors import UsageError

KEY = "gsk_settings_test_key_0123456789abcdef"


def write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    os.chmod(path, mode)
    return path


def test_defaults_without_any_source(tmp_path: Path) -> None:
    s, warnings = load_settings({}, {"HOME": str(tmp_path)})
    assert s.api_key is None and warnings == []
    assert s.api_base == DEFAULT_API_BASE and s.stt_base == DEFAULT_API_BASE
    assert (s.chat_model, s.transcription_model, s.translation_model) == (
        "openai/gpt-oss-20b", "whisper-large-v3-turbo", "whisper-large-v3")
    assert set(s.sources.values()) == {"default"}


def test_precedence_flags_over_env_over_file_over_default(tmp_path: Path) -> None:
    cfg = write(tmp_path, 'chat_model = "file-model"\ntemperature = 0.1\nseed = 7\nlanguage = "fr"\n')
    env = {"VOICEBOT_CONFIG": str(cfg), "VOICEBOT_TEMPERATURE": "0.2", "VOICEBOT_SEED": "8"}
    s, _ = load_settings({"seed": 9}, env)
    assert s.chat_model == "file-model" and s.sources["chat_model"] == f"config file {cfg}"
    assert s.temperature == 0.2 and s.sources["temperature"] == "env VOICEBOT_TEMPERATURE"
    assert s.seed == 9 and s.sources["seed"] == "flag --seed"
    assert s.language == "fr"
    assert s.top_p is None and s.sources["top_p"] == "default"


def test_config_path_flag_beats_env_and_xdg_default(tmp_path: Path) -> None:
    xdg = tmp_path / "xdg"
    (xdg / "voicebot").mkdir(parents=True)
    (xdg / "voicebot" / "config.toml").write_text('chat_model = "xdg"\n')
    other = tmp_path / "other.toml"
    other.write_text('chat_model = "explicit"\n')
    assert load_settings({}, {"XDG_CONFIG_HOME": str(xdg)})[0].chat_model == "xdg"
    env = {"XDG_CONFIG_HOME": str(xdg), "VOICEBOT_CONFIG": str(tmp_path / "missing.toml")}
    assert load_settings({}, env, config_path=str(other))[0].chat_model == "explicit"
    with pytest.raises(UsageError, match="does not exist"):
        load_settings({}, env)


def test_groq_base_url_is_a_host_root_and_voicebot_api_base_wins(tmp_path: Path) -> None:
    env = {"HOME": str(tmp_path), "GROQ_BASE_URL": "http://127.0.0.1:9999/"}
    s, _ = load_settings({}, env)
    assert s.api_base == "http://127.0.0.1:9999/openai/v1"
    assert s.sources["api_base"] == "env GROQ_BASE_URL"
    s, _ = load_settings({}, {**env, "VOICEBOT_API_BASE": "http://localhost:1/v1/"})
    assert s.api_base == "http://localhost:1/v1"
    s, _ = load_settings({"api_base": "https://example.test/openai/v1"}, {**env, "VOICEBOT_API_BASE": "http://x:1"})
    assert s.api_base == "https://example.test/openai/v1"


def test_separate_speech_root(tmp_path: Path) -> None:
    s, _ = load_settings({"stt_api_base": "http://127.0.0.1:8000/v1"}, {"HOME": str(tmp_path)})
    assert s.stt_base == "http://127.0.0.1:8000/v1" and s.api_base == DEFAULT_API_BASE


def test_invalid_toml_names_file_and_line(tmp_path: Path) -> None:
    cfg = write(tmp_path, 'chat_model = "a"\ntemperature = = 3\n')
    with pytest.raises(UsageError) as err:
        load_settings({}, {}, config_path=str(cfg))
    assert str(cfg) in str(err.value) and "line 2" in str(err.value)


def test_unknown_key_names_file_line_and_key(tmp_path: Path) -> None:
    cfg = write(tmp_path, '# settings\nchat_model = "a"\n\ntemprature = 0.3\n')
    with pytest.raises(UsageError) as err:
        load_settings({}, {}, config_path=str(cfg))
    assert f"{cfg}:4" in str(err.value) and "'temprature'" in str(err.value)


@pytest.mark.parametrize("text, needle", [
    ("temperature = 3.5", "at most 2"),
    ("stop = ['a', 'b', 'c', 'd', 'e']", "at most 4"),
    ("service_tier = 'gold'", "one of"),
    ("max_retries = 'two'", "whole number"),
    ("show_reasoning = 'yes'", "true or false"),
    ("api_base = 'ftp://x'", r"http\(s\) URL"),
])
def test_bad_values_in_file_are_usage_errors(tmp_path: Path, text: str, needle: str) -> None:
    cfg = write(tmp_path, text + "\n")
    with pytest.raises(UsageError, match=needle):
        load_settings({}, {}, config_path=str(cfg))


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="VOICEBOT_TOP_P"):
        load_settings({}, {"HOME": str(tmp_path), "VOICEBOT_TOP_P": "lots"})


def test_empty_environment_variable_counts_as_unset(tmp_path: Path) -> None:
    s, _ = load_settings({}, {"HOME": str(tmp_path), "VOICEBOT_LANGUAGE": "", "GROQ_API_KEY": ""})
    assert s.language is None and s.api_key is None


def test_key_never_shows(tmp_path: Path) -> None:
    cfg = write(tmp_path, f'api_key = "{KEY}"\n')
    s, warnings = load_settings({}, {}, config_path=str(cfg))
    assert s.require_key() == KEY and warnings == []
    for text in (repr(s), str(s), f"{s.api_key}", f"{s.api_key!r}", str(describe(s))):
        assert KEY not in text
    assert ("api_key", "set (hidden)", f"config file {cfg}") in describe(s)


def test_world_readable_config_with_key_warns(tmp_path: Path) -> None:
    cfg = write(tmp_path, f'api_key = "{KEY}"\n', mode=0o644)
    _, warnings = load_settings({}, {}, config_path=str(cfg))
    assert len(warnings) == 1 and "chmod 600" in warnings[0] and KEY not in warnings[0]


def test_missing_key_is_a_usage_error_naming_the_variable(tmp_path: Path) -> None:
    s, _ = load_settings({}, {"HOME": str(tmp_path)})
    with pytest.raises(UsageError, match="GROQ_API_KEY") as err:
        s.require_key()
    assert err.value.exit_code == 2


def test_secret_is_not_picklable() -> None:
    import pickle
    with pytest.raises(TypeError):
        pickle.dumps(Secret(KEY))


# --- property-based: whatever a user types, parsing either succeeds or says why -----------

SCALARS = [n for n in FIELDS if kind_of(n) in (int, float, bool, str)]


@hsettings(max_examples=300, deadline=None)
@given(name=st.sampled_from(SCALARS), text=st.text(max_size=30))
def test_any_env_text_parses_or_is_a_usage_error(name: str, text: str) -> None:
    env = {"HOME": "/nonexistent", env_name(name): text}
    try:
        s, _ = load_settings({}, env)
    except UsageError as exc:
        assert env_name(name) in str(exc)
    else:
        value = getattr(s, name)
        assert value is None or isinstance(value, (kind_of(name), int))


@hsettings(max_examples=200, deadline=None)
@given(value=st.one_of(st.integers(-10, 10), st.floats(allow_nan=True), st.booleans(), st.text(max_size=5),
                       st.lists(st.text(max_size=3), max_size=6), st.none()),
       name=st.sampled_from(sorted(FIELDS)))
def test_check_value_accepts_or_raises_value_error(value: object, name: str) -> None:
    try:
        checked = check_value(name, value)
    except ValueError:
        return
    if checked is not None and kind_of(name) is not Secret:
        assert isinstance(checked, kind_of(name))


@hsettings(max_examples=200, deadline=None)
@given(n=st.integers(0, 100), text=st.text(alphabet=string.printable, max_size=20))
def test_round_trip_through_text(n: int, text: str) -> None:
    assert parse_text("seed", str(n)) == n
    assert parse_text("max_retries", f" {n} ") == n
    assert parse_text("language", text) == text


@hsettings(max_examples=150, deadline=None)
@given(doc=st.text(max_size=80))
def test_any_config_text_loads_or_is_one_usage_error(tmp_path_factory: pytest.TempPathFactory, doc: str) -> None:
    path = tmp_path_factory.mktemp("cfg") / "config.toml"
    path.write_text(doc, encoding="utf-8", errors="surrogatepass") if "\ud800" not in doc else None
    if not path.exists():
        return
    try:
        load_settings({}, {}, config_path=str(path))
    except UsageError as exc:
        assert str(path) in str(exc)


def test_hotkey_bindings_table(tmp_path: Path) -> None:
    cfg = write(tmp_path, '[hotkeys]\nask = "ctrl+alt+space"\n'
                          'translate = { keys = "f9", style = "toggle", then_ask = true }\n')
    s, _ = load_settings({}, {}, config_path=str(cfg))
    assert s.hotkeys == {"ask": {"keys": "ctrl+alt+space", "style": "hold", "then_ask": False},
                         "translate": {"keys": "f9", "style": "toggle", "then_ask": True}}
    s, _ = load_settings({}, {"VOICEBOT_HOTKEYS": '{"dictate": "right_ctrl"}', "HOME": str(tmp_path)})
    assert s.hotkeys == {"dictate": {"keys": "right_ctrl", "style": "hold", "then_ask": False}}


@pytest.mark.parametrize("table, needle", [
    ('shout = "f9"', "unknown mode 'shout'"),
    ('ask = { keys = "f9", style = "sticky" }', "hold or toggle"),
    ('ask = { combo = "f9" }', "expected a combo"),
    ('ask = { keys = "f9", colour = 1 }', "unknown field 'colour'"),
])
def test_bad_bindings_name_the_entry_line(tmp_path: Path, table: str, needle: str) -> None:
    cfg = write(tmp_path, f'chat_model = "m"\n\n[hotkeys]\nnew = "f8"\n{table}\n')
    with pytest.raises(UsageError, match=needle) as err:
        load_settings({}, {}, config_path=str(cfg))
    assert f"{cfg}:5: bad value for 'hotkeys'" in str(err.value)


@pytest.mark.parametrize("doc, line", [
    ('chat_model = "m"\n[hotkeys]\nnew = "f8"\nask = "ctrl+alt+spcae"\n', 4),
    ('chat_model = "m"\nhotkeys = { ask = "ctrl+alt+spcae" }\n', 2),
    ('[hotkeys]\nask = { keys = "ctrl+alt+spcae", style = "toggle" }\n[other]\n', 2),
])
def test_a_mistyped_combo_fails_at_load_naming_file_line_and_key(tmp_path: Path, doc: str, line: int) -> None:
    cfg = write(tmp_path, doc)
    with pytest.raises(UsageError) as err:
        load_settings({}, {}, config_path=str(cfg))
    assert str(err.value) == (f"{cfg}:{line}: bad value for 'hotkeys': ask: unknown key \"spcae\" "
                              f"in \"ctrl+alt+spcae\"")


def test_a_mistyped_combo_in_the_environment_is_a_usage_error(tmp_path: Path) -> None:
    env = {"VOICEBOT_HOTKEYS": '{"dictate": "right_ctlr"}', "HOME": str(tmp_path)}
    with pytest.raises(UsageError, match="environment variable VOICEBOT_HOTKEYS: dictate: unknown key"):
        load_settings({}, env)


def test_a_huge_number_is_a_usage_error_not_a_crash(tmp_path: Path) -> None:
    cfg = write(tmp_path, "timeout = 1" + "0" * 400 + "\n")
    with pytest.raises(UsageError, match="config.toml:1: bad value for 'timeout'"):
        load_settings({}, {}, config_path=str(cfg))


def test_spoken_answer_settings_from_file_env_and_flags(tmp_path: Path) -> None:
    cfg = write(tmp_path, 'voice = "troy"\n\n[hotkeys]\nask = { keys = "f9", speak = true }\ndictate = "f10"\n')
    s, _ = load_settings({}, {"VOICEBOT_SPEAK": "yes"}, config_path=str(cfg))
    assert (s.speak, s.voice, s.tts_model, s.output_device) == (True, "troy", "canopylabs/orpheus-v1-english", None)
    assert s.hotkeys["ask"] == {"keys": "f9", "style": "hold", "then_ask": False, "speak": True}
    assert "speak" not in s.hotkeys["dictate"]  # absent: the binding follows the speak setting
    s, _ = load_settings({"output_device": "pulse", "voice": "diana"}, {}, config_path=str(cfg))
    assert (s.output_device, s.voice, s.sources["output_device"]) == ("pulse", "diana", "flag --output-device")


@pytest.mark.parametrize("text, needle", [
    ('voice = "alloy"', "expected one of autumn, diana, hannah, austin, daniel, troy"),
    ('[hotkeys]\nask = { keys = "f9", speak = "yes" }', "speak must be true or false"),
])
def test_bad_spoken_answer_settings_are_usage_errors(tmp_path: Path, text: str, needle: str) -> None:
    cfg = write(tmp_path, text + "\n")
    with pytest.raises(UsageError, match=needle):
        load_settings({}, {}, config_path=str(cfg))
