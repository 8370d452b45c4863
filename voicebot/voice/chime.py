"""Short start/stop sounds, played best-effort: a missing output device never stops a take.

They go through the one sound output (voicebot.voice.output), mixed over any speech
playing, so a chime never cuts off an answer being read out, nor an answer a chime.
"""

from __future__ import annotations

import io
import logging
from functools import cache
from importlib.resources import files
from typing import Any

from voicebot.voice.output import SoundOutput

log = logging.getLogger("voicebot.voice.chime")

CHIMES = ("start", "stop")


@cache
def _load(name: str) -> tuple[Any, int]:
    import soundfile

    data, rate = soundfile.read(io.BytesIO(files("voicebot.assets").joinpath(f"{name}.wav").read_bytes()),
                                dtype="float32")
    return data, rate


class Chimes:
    """Plays the sounds through the output; `enabled` is false under --quiet (the voice stays)."""

    def __init__(self, enabled: bool, output: SoundOutput | None = None) -> None:
        self.enabled = enabled
        self.output = output

    def play(self, name: str) -> None:
        if not (self.enabled and name in CHIMES and self.output is not None):
            return
        try:
            data, rate = _load(name)
            self.output.play(data, rate)  # returns at once; the stream opens off the loop
        except Exception as exc:
            log.debug("could not play the %s sound: %s", name, exc)
