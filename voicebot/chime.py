"""Short start/stop sounds, played best-effort: a missing output device never stops a take."""

from __future__ import annotations

import asyncio
import io
import logging
from functools import cache
from importlib.resources import files

log = logging.getLogger("voicebot.chime")

CHIMES = ("start", "stop")


@cache
def _load(name: str) -> tuple[object, int]:
    import soundfile

    data, rate = soundfile.read(io.BytesIO(files("voicebot.assets").joinpath(f"{name}.wav").read_bytes()),
                                dtype="float32")
    return data, rate


def _play_blocking(name: str) -> None:
    try:
        import sounddevice

        data, rate = _load(name)
        sounddevice.play(data, rate)  # returns at once; PortAudio plays it in its own thread
    except Exception as exc:
        log.debug("could not play the %s sound: %s", name, exc)


class Chimes:
    """Plays the sounds off the event loop, so opening an output device never delays capture."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled

    def play(self, name: str) -> None:
        if self.enabled and name in CHIMES:
            asyncio.get_running_loop().run_in_executor(None, _play_blocking, name)
