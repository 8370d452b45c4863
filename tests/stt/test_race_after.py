"""When the fallback is asked too: a pure rule of the speech options."""

from __future__ import annotations

from voicebot.stt.options import SpeechToTextOptions


def options(**kw: object) -> SpeechToTextOptions:
    return SpeechToTextOptions(transcription_model="t", translation_model="w", **kw)  # type: ignore[arg-type]


def test_the_race_needs_a_fallback_and_a_positive_wait() -> None:
    assert options().race_after(5.0) is None  # no fallback server
    assert options(has_fallback=True, fallback_after=0).race_after(5.0) is None
    assert options(has_fallback=True).race_after(None) == 4.0  # the default


def test_longer_audio_gives_the_primary_a_little_longer() -> None:
    racing = options(has_fallback=True, fallback_after=4.0)
    assert racing.race_after(0) == 4.0
    assert racing.race_after(600) == 16.0  # a 10-minute piece: 2 % more
