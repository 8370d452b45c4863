"""Choosing a sound device by what the user typed: an index, or a part of its name.

One rule for `--device` (inputs) and `--output-device` (outputs): an index names a device
exactly; a name part must match one device, unless exactly one matches it whole. Pure:
the (index, name) pairs come from the caller.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from voicebot.errors import SoundUnavailable, UsageError


def describe(devices: Sequence[tuple[int, str]]) -> str:
    """Devices as a hint lists them: `0 'HDA Intel PCH', 3 'pulse'`."""
    return ", ".join(f"{index} {name!r}" for index, name in devices) or "none"


def match_named(spec: str | int | None, devices: Sequence[tuple[int, str]], kind: str) -> int | None:
    """The index `spec` names among `devices` (`kind` is "input" or "output", for messages).

    None (or an empty string) means PortAudio's default device.
    """
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return None
    if isinstance(spec, int) or spec.strip().isdigit():
        index = int(spec)
        if any(i == index for i, _ in devices):
            return index
        raise UsageError(f"no {kind} device has index {index}", hint=f"{kind}s: {describe(devices)}")
    wanted = spec.strip().casefold()
    exact = [i for i, name in devices if name.casefold() == wanted]
    if len(exact) == 1:
        return exact[0]
    found = [(i, name) for i, name in devices if wanted in name.casefold()]
    if len(found) == 1:
        return found[0][0]
    if not found:
        raise UsageError(f"no {kind} device matches {spec!r}", hint=f"{kind}s: {describe(devices)}")
    raise UsageError(f"{spec!r} matches several {kind} devices: {describe(found)}",
                     hint="give more of the name, or the index")


def list_output_devices(sd: Any) -> list[tuple[int, str]]:
    """(index, name) of every PortAudio device that can play."""
    return [(i, str(d["name"])) for i, d in enumerate(sd.query_devices()) if d.get("max_output_channels", 0) > 0]


def match_output_device(spec: str | int | None, devices: Sequence[tuple[int, str]]) -> int | None:
    """The output device `--output-device` names (None: the default one)."""
    if not devices:
        raise SoundUnavailable("no audio output device found", hint="check the sound server, or set speak = false")
    return match_named(spec, devices, "output")
