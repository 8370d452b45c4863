"""The wiring: the settings become each part's typed options (only the CLI reads them: tests/test_architecture.py)."""

from __future__ import annotations

from voicebot.cli.wiring import chat_options, daemon_options, dictation_options, speech_options
from voicebot.config.schema import Settings


def test_chat_options_leave_out_unset_and_keep_reasoning_hidden() -> None:
    assert chat_options(Settings()).body() == {"reasoning_effort": "low", "include_reasoning": False}
    s = Settings(temperature=0.3, stop=["END"], seed=1, response_format="json_object", service_tier="flex",
                 reasoning_effort="none", max_completion_tokens=50, top_p=0.9)
    assert chat_options(s).body() == {"temperature": 0.3, "top_p": 0.9, "max_completion_tokens": 50,
                                      "stop": ["END"], "seed": 1, "service_tier": "flex",
                                      "response_format": {"type": "json_object"}}
    assert chat_options(Settings(reasoning_format="parsed")).body()["reasoning_format"] == "parsed"
    assert "include_reasoning" not in chat_options(Settings(reasoning_format="parsed")).body()
    assert chat_options(Settings(show_reasoning=True)).body()["include_reasoning"] is True


def test_stt_options_translation_drops_language() -> None:
    s = speech_options(Settings(language="fr", stt_prompt="Groq, Whisper"))
    assert s.model(translate=False) == "whisper-large-v3-turbo"
    assert s.language_for(translate=False) == "fr"
    assert (s.model(translate=True), s.language_for(translate=True)) == ("whisper-large-v3", None)
    assert (s.prompt.text, s.temperature, s.response_format) == ("Groq, Whisper", None, "json")


def test_pieces_in_flight_default_to_one_for_a_server_other_than_groq() -> None:
    def in_flight(**settings: object) -> int:
        count = speech_options(Settings(**settings)).pieces_in_flight  # type: ignore[arg-type]
        assert daemon_options(Settings(**settings)).pieces_in_flight == count  # type: ignore[arg-type]
        return count

    assert in_flight() == 3
    assert in_flight(stt_api_base="https://api.groq.com/openai/v1") == 3
    assert in_flight(stt_api_base="http://127.0.0.1:8000/v1") == 1
    assert in_flight(stt_api_base="http://127.0.0.1:8000/v1", stt_concurrency=2) == 2


def test_dictation_cleans_up_only_when_asked_with_the_chat_options() -> None:
    assert dictation_options(Settings()).cleanup is None
    cleanup = dictation_options(Settings(dictate_cleanup=True, chat_model="m", temperature=0.5)).cleanup
    assert cleanup is not None and (cleanup.model, cleanup.temperature) == ("m", 0.5)


def test_daemon_options_carry_the_key_timing_and_the_take_shape() -> None:
    options = daemon_options(Settings(min_hold_ms=250, preroll_ms=0, max_take_seconds=60, audio_format="flac"))
    assert (options.min_hold_seconds, options.open_microphone) == (0.25, False)
    assert (options.record.max_take_seconds, options.record.codec) == (60, "flac")
