"""The process's sound: its one speaker (chimes and speech) and the voice that reads answers.

Built from the settings for the commands that speak (ask, chat, run); with nothing to play
on, the answers are still printed and one notice says why they are not spoken.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voicebot.errors import SoundUnavailable

if TYPE_CHECKING:  # sounddevice and the API client load only for a command that speaks
    from voicebot.api.client import GroqClient
    from voicebot.config.schema import Settings
    from voicebot.turns.console import Output
    from voicebot.voice.output import Speaker
    from voicebot.voice.speaking import Narrator


def make_speaker(settings: Settings, output: Output) -> Speaker:
    """The process's one sound output (chimes and speech); a bad --output-device is exit 2 now.

    With nothing to play on (no sound system, no output device) the answers are still
    printed: one notice says they cannot be spoken, and the speaker stays silent."""
    from voicebot.cli.wiring import wants_voice
    from voicebot.voice.output import Speaker

    speaker = Speaker(_device_spec(settings.output_device))
    if wants_voice(settings) or settings.output_device is not None:
        try:
            speaker.check()
        except SoundUnavailable as exc:
            speaker.disable()
            output.notice(f"answers cannot be spoken: {exc}")
    speaker.on_error = output.notice
    return speaker


def make_narrator(settings: Settings, client: GroqClient, speaker: Speaker | None,
                  output: Output) -> Narrator | None:
    """The voice of the answers; None when there is no speaker to read them on."""
    from voicebot.voice.speaking import Narrator

    if speaker is None or not speaker.usable:
        return None
    return Narrator(client, speaker, output, model=settings.tts_model, voice=settings.voice)


def _device_spec(named: str | None) -> str | int | None:
    return int(named) if named is not None and named.strip().isdigit() else named
