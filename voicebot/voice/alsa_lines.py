"""alsa-lib's "underrun occurred" line, kept off the terminal; every other ALSA message kept as it is.

When the sound output's audio thread is late (the machine is busy, the event loop holds the
GIL a moment), PortAudio recovers the stream with `snd_pcm_recover`, and alsa-lib then
prints `ALSA lib pcm.c:NNNN:(snd_pcm_recover) underrun occurred` on stderr, under the
daemon's status line, once per chime that ran late. The glitch is already recovered and
nothing can be done about it, so the line is noise. alsa-lib has a per-thread error handler
(`snd_lib_error_set_local`): installed in PortAudio's playback thread, it drops exactly that
message and prints everything else in alsa-lib's own format, so real errors still show.
Where there is no alsa-lib (another platform) or no such function, nothing changes.
"""

from __future__ import annotations

import ctypes
import os
from functools import cache
from typing import Any

# void (*)(const char *file, int line, const char *function, int err, const char *fmt, va_list arg);
# a va_list argument is passed as a pointer on x86-64 and aarch64 alike.
_LOCAL_HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
                                  ctypes.c_char_p, ctypes.c_void_p)
_DROPPED = (b"snd_pcm_recover", b"underrun occurred")
_MESSAGE_BYTES = 1024


def is_recovered_underrun(function: bytes, message: bytes) -> bool:
    """The one message dropped: PortAudio's recovery from an output underrun."""
    return (function, message) == _DROPPED


def alsa_line(file: bytes, line: int, function: bytes, message: bytes, error: bytes | None) -> bytes:
    """A message as alsa-lib's default handler prints it."""
    text = b"ALSA lib %s:%d:(%s) %s" % (file, line, function, message)
    return text + (b": " + error if error else b"") + b"\n"


@cache
def _libraries() -> tuple[Any, Any, Any] | None:
    """(snd_lib_error_set_local, vsnprintf, snd_strerror), or None without alsa-lib.

    By soname, never `ctypes.util.find_library` (it runs ldconfig): PortAudio has loaded
    libasound.so.2 already. Called before a stream opens (`prepare`), not in its callback.
    """
    try:
        asound = ctypes.CDLL("libasound.so.2")
        libc = ctypes.CDLL(None)
        set_local = asound.snd_lib_error_set_local
        vsnprintf = libc.vsnprintf
        strerror = asound.snd_strerror
    except (OSError, AttributeError):
        return None
    set_local.argtypes, set_local.restype = [_LOCAL_HANDLER], ctypes.c_void_p
    vsnprintf.argtypes, vsnprintf.restype = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_void_p], \
        ctypes.c_int
    strerror.argtypes, strerror.restype = [ctypes.c_int], ctypes.c_char_p
    return set_local, vsnprintf, strerror


def _handle(file: bytes | None, line: int, function: bytes | None, err: int, fmt: bytes | None, args: int | None,
            ) -> None:
    libraries = _libraries()
    if libraries is None or fmt is None:
        return
    _, vsnprintf, strerror = libraries
    buffer = ctypes.create_string_buffer(_MESSAGE_BYTES)
    vsnprintf(buffer, _MESSAGE_BYTES, fmt, args)
    if is_recovered_underrun(function or b"", buffer.value):
        return
    try:
        os.write(2, alsa_line(file or b"?", line, function or b"?", buffer.value, strerror(err) if err else None))
    except OSError:
        pass


_HANDLER = _LOCAL_HANDLER(_handle)  # kept alive for as long as alsa-lib may call it


def prepare() -> None:
    """Load what the handler needs now (off the audio thread), so installing it there costs one call."""
    _libraries()


def quiet_underruns_in_this_thread() -> None:
    """Install the handler for the calling thread (PortAudio's playback thread, from its first callback)."""
    libraries = _libraries()
    if libraries is not None:
        libraries[0](_HANDLER)
