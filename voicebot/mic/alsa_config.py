"""Whether ALSA's configuration can carry PortAudio, asked before PortAudio is loaded.

PortAudio's ALSA host (Debian's libportaudio2) aborts the whole process (SIGABRT, nothing
printed) while `import sounddevice` initialises it, when ALSA's configuration defines no
default PCM: `ALSA_CONFIG_PATH=/dev/null`, an empty or partial replacement of alsa.conf.
Checked here through alsa-lib itself (ctypes, a few milliseconds, no sound server touched),
such a set-up becomes one line saying what is wrong; a configuration alsa-lib cannot parse
is reported the same way. On a system without alsa-lib there is nothing to check.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Mapping

__all__ = ["alsa_problem"]

LIBRARY = "libasound.so.2"


def _where(env: Mapping[str, str]) -> str:
    path = env.get("ALSA_CONFIG_PATH")
    return f"ALSA_CONFIG_PATH={path}" if path else "the ALSA configuration"


def alsa_problem(env: Mapping[str, str] = os.environ) -> str | None:
    """What in ALSA's set-up would crash PortAudio, for the user; None when nothing would."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        lib = ctypes.CDLL(LIBRARY)
    except OSError:
        return None  # no alsa-lib: PortAudio has no ALSA host to crash in
    lib.snd_config_update.restype = ctypes.c_int
    lib.snd_strerror.restype = ctypes.c_char_p
    lib.snd_strerror.argtypes = [ctypes.c_int]
    lib.snd_config_search.restype = ctypes.c_int
    lib.snd_config_search.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_void_p)]
    failed = lib.snd_config_update()
    if failed < 0:
        reason = (lib.snd_strerror(failed) or b"error").decode(errors="replace")
        return f"{_where(env)} cannot be read ({reason})"
    top = ctypes.c_void_p.in_dll(lib, "snd_config")
    node = ctypes.c_void_p()
    if not top.value or lib.snd_config_search(top, b"pcm.default", ctypes.byref(node)) < 0:
        return f"{_where(env)} defines no default sound device (pcm.default), and PortAudio cannot start without one"
    return None
