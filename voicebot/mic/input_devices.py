"""Which PortAudio input to open, and in what format: device listing, matching and format choice.

Pure where it can be (the device dictionaries and `supports` come from the caller), so the
rules are tested without a sound card. `sounddevice` is imported lazily: importing it loads
PortAudio and scans the devices, which `voicebot --help` and the API-only commands should
neither pay for nor fail on.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from voicebot.audio.samples import TARGET_RATE
from voicebot.errors import SoundUnavailable, UsageError
from voicebot.mic.alsa_config import alsa_problem
from voicebot.mic.device_names import match_named

log = logging.getLogger("voicebot.mic.microphone")


class CaptureError(UsageError):
    """The microphone could not be opened or went away; the daemon reports it and carries on."""


@dataclass(frozen=True)
class InputDevice:
    """One PortAudio device that can record, as `voicebot devices` lists it."""

    index: int
    name: str
    channels: int
    default_samplerate: float
    is_default: bool


def load_sounddevice() -> Any:
    """Import sounddevice, turning a missing or broken PortAudio into an error the user can fix.

    An ALSA set-up PortAudio would abort the process on (voicebot.mic.alsa_config) is
    refused before the import, which is where it would crash."""
    if "sounddevice" not in sys.modules and (problem := alsa_problem()) is not None:
        raise SoundUnavailable(f"the sound system cannot start: {problem}",
                               hint="check ALSA_CONFIG_PATH, ~/.asoundrc and /etc/asound.conf")
    try:
        import sounddevice
    except OSError as exc:  # sounddevice raises OSError when libportaudio cannot be found
        raise SoundUnavailable("the PortAudio library is missing",
                               hint="install the libportaudio2 package") from exc
    except Exception as exc:
        raise SoundUnavailable(f"PortAudio failed to start: {exc}") from exc
    return sounddevice


def input_devices(infos: Sequence[Mapping[str, Any]], default_index: int | None) -> list[InputDevice]:
    """The devices among PortAudio's `query_devices()` dictionaries that have input channels."""
    return [
        InputDevice(index=int(info.get("index", i)), name=str(info["name"]),
                    channels=int(info["max_input_channels"]),
                    default_samplerate=float(info["default_samplerate"]),
                    is_default=int(info.get("index", i)) == default_index)
        for i, info in enumerate(infos)
        if int(info["max_input_channels"]) > 0
    ]


def default_input(sd: Any) -> int | None:
    """PortAudio's default input device, or None when there is none (it reports -1)."""
    try:
        index = sd.default.device[0]
    except Exception:
        return None
    return int(index) if index is not None and int(index) >= 0 else None


def list_inputs(sd: Any) -> list[InputDevice]:
    return input_devices(list(sd.query_devices()), default_input(sd))


def list_input_devices() -> list[InputDevice]:
    """Every device that can record, for `voicebot devices`."""
    return list_inputs(load_sounddevice())


def match_device(spec: str | int | None, devices: Sequence[InputDevice]) -> int | None:
    """The input device `spec` names (voicebot.mic.device_names); None means PortAudio's default."""
    if not devices:
        raise CaptureError("no input device found", hint="plug in a microphone or check the sound server")
    return match_named(spec, [(d.index, d.name) for d in devices], "input")


def choose_format(default_rate: float, max_channels: int,
                  supports: Callable[[int, int], bool]) -> tuple[int, int]:
    """The (rate, channels) to open: 16 kHz mono if the device allows it, else its own rate.

    `supports(rate, channels)` asks PortAudio (check_input_settings). Stereo is the last
    resort for devices that refuse mono; their blocks are mixed down on the loop thread.
    """
    native = round(default_rate) or TARGET_RATE
    candidates = [(TARGET_RATE, 1), (native, 1)]
    if max_channels >= 2:
        candidates += [(TARGET_RATE, 2), (native, 2)]
    for rate, channels in dict.fromkeys(candidates):
        if supports(rate, channels):
            return rate, channels
    raise CaptureError("the input device cannot record 16-bit audio at 16 kHz or at its own rate "
                       f"({native} Hz)", hint="choose another device with --device")


def resolve_input(sd: Any, spec: str | int | None, *, rescan: bool) -> tuple[int | None, int, int]:
    """The device `spec` names and the format to open it in: (index or None for the default, rate, channels).

    Blocking (PortAudio queries the devices): called off the loop. With `rescan` PortAudio
    re-lists the devices first, which it otherwise does only when it initialises, so a
    microphone plugged in (or back) since is found.
    """
    if rescan and hasattr(sd, "_terminate"):
        try:
            sd._terminate()
            sd._initialize()
        except Exception as exc:
            log.debug("could not re-scan audio devices: %s", exc)
    try:
        index = match_device(spec, list_inputs(sd))
        chosen = index if index is not None else default_input(sd)
        if chosen is None:
            raise CaptureError("there is no default input device",
                               hint="choose one with --device (see `voicebot devices`)")
        info = sd.query_devices(chosen)
    except UsageError:
        raise
    except Exception as exc:
        raise CaptureError(f"no usable input device: {exc}") from exc

    def supports(rate: int, channels: int) -> bool:
        try:
            sd.check_input_settings(device=index, channels=channels, dtype="int16", samplerate=rate)
        except Exception:
            return False
        return True

    rate, channels = choose_format(float(info["default_samplerate"]), int(info["max_input_channels"]), supports)
    return index, rate, channels
