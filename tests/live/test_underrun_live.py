"""A late playback thread glitches, and says nothing: no "underrun occurred" line under the status line.

The sound output plays chimes into a PulseAudio null sink (PortAudio through ALSA's pulse
plugin) while the process holds the GIL for 0.3 s at a time, as a busy event loop can: the
playback thread misses its deadline and PortAudio recovers the stream (issue 15.13).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.harness.pulse import PulseServer, missing_tools, pulse_server
from tests.harness.speaker import add_speaker

pytestmark = [pytest.mark.live,
              pytest.mark.skipif(bool(missing_tools()), reason="needs PulseAudio and the ALSA pulse plugin")]

LATE = """
import asyncio, sys, time
from voicebot.voice.chime import Chimes
from voicebot.voice.output import Speaker

async def main() -> None:
    speaker = Speaker("vb_speaker")
    chimes = Chimes(True, speaker)
    sys.setswitchinterval(1.0)  # the loop keeps the GIL until it is done
    for _ in range(3):
        chimes.play("start")
        await asyncio.sleep(0.1)
        end = time.perf_counter() + 0.3
        while time.perf_counter() < end:
            pass
        await asyncio.sleep(0.5)
    await speaker.aclose()

asyncio.run(main())
"""


@pytest.fixture(scope="module")
def pulse() -> Iterator[PulseServer]:
    with pulse_server() as server:
        yield server


def test_a_late_playback_thread_prints_no_underrun_line(pulse: PulseServer) -> None:
    env = {**pulse.env(), **add_speaker(pulse)}
    proc = subprocess.run([sys.executable, "-c", LATE], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "underrun occurred" not in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
