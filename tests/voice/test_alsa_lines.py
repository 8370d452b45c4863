"""alsa-lib's "underrun occurred" line is dropped in the thread that asked; every other ALSA message stays.

alsa-lib itself is driven (a `null` PCM, `snd_pcm_recover` with -EPIPE as PortAudio calls it
after an underrun, and a PCM name that does not exist), in a child process with its own ALSA
configuration, and what it printed on stderr is compared with and without the handler.
"""

from __future__ import annotations

import ctypes.util
import subprocess
import sys
from pathlib import Path

import pytest

from voicebot.voice.alsa_lines import alsa_line, is_recovered_underrun

pytestmark = pytest.mark.skipif(ctypes.util.find_library("asound") is None, reason="needs alsa-lib (libasound2)")

PROBE = """
import ctypes, ctypes.util, sys, threading
from voicebot.voice.alsa_lines import quiet_underruns_in_this_thread
asound = ctypes.CDLL(ctypes.util.find_library("asound"))

def work():
    if sys.argv[1] == "quiet":
        quiet_underruns_in_this_thread()
    pcm = ctypes.c_void_p()
    assert asound.snd_pcm_open(ctypes.byref(pcm), b"default", 0, 0) == 0
    asound.snd_pcm_recover(pcm, -32, 0)  # -EPIPE: what PortAudio does after an output underrun
    missing = ctypes.c_void_p()
    asound.snd_pcm_open(ctypes.byref(missing), b"nosuchdevice", 0, 0)

thread = threading.Thread(target=work)
thread.start()
thread.join()
if sys.argv[1] == "quiet":  # another thread keeps alsa-lib's own handler
    sys.argv[1] = "loud"
    thread = threading.Thread(target=work)
    thread.start()
    thread.join()
"""


def _alsa_says(tmp_path: Path, mode: str) -> list[str]:
    conf = tmp_path / "null.conf"
    conf.write_text("pcm.!default {\n  type null\n}\n")
    proc = subprocess.run([sys.executable, "-c", PROBE, mode], env={"ALSA_CONFIG_PATH": str(conf)},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stderr.splitlines()


def test_only_the_recovered_underrun_line_goes_and_only_in_that_thread(tmp_path: Path) -> None:
    loud = _alsa_says(tmp_path, "loud")
    underrun = [line for line in loud if line.endswith("(snd_pcm_recover) underrun occurred")]
    assert len(underrun) == 1 and len(loud) >= 3, loud  # alsa-lib said it, and more besides
    quiet = _alsa_says(tmp_path, "quiet")
    assert quiet[:len(loud) - 1] == [line for line in loud if line not in underrun]  # the rest, word for word
    assert quiet[len(loud) - 1:] == loud  # the thread without the handler: all of it, as before


def test_the_dropped_message_and_the_line_format() -> None:
    assert is_recovered_underrun(b"snd_pcm_recover", b"underrun occurred")
    assert not is_recovered_underrun(b"snd_pcm_recover", b"overrun occurred")
    assert not is_recovered_underrun(b"snd_pcm_open_noupdate", b"underrun occurred")
    assert alsa_line(b"pcm.c", 8573, b"snd_pcm_recover", b"prepare failed", b"Input/output error") == \
        b"ALSA lib pcm.c:8573:(snd_pcm_recover) prepare failed: Input/output error\n"
