"""The take's own 20 ms stream joins the idle 200 ms stream on a real PulseAudio source.

A desktop's sound server hands each stream of one source its own latency and, where the
source runs at 48 kHz, its own resampler: the arrival-time estimate of where the take's
stream starts inside the idle one is then off by tens of milliseconds, growing take after
take (measured: about 30 ms a take, up to ~170 ms before the server resets the idle
stream's buffer), and the samples of the two streams may differ. The join must engage there
anyway (far skews are proven on synthetic streams in tests/mic/test_stitch.py), or every
key release waits for a 200 ms block (issue 16).

This file, run as a script, is the driver: PortAudio reads the ALSA config on import, so the
recording runs in a subprocess with the harness's environment. Each take records while the
speech fixture plays; the driver reports how the streams were joined and the audio around
the join, and the tests judge it here.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
CAPITAL = ROOT / "tests" / "data" / "capital.wav"
TAKES = 8
DRIVER_TIMEOUT = 180.0

pytestmark = pytest.mark.live


@pytest.fixture(scope="module", params=["keeper", "desktop"])
def joins(request: pytest.FixtureRequest) -> Iterator[list[dict[str, Any]]]:
    """Each take's join on a 48 kHz stereo null sink, with the harness's 20 ms keeper on the
    source ("keeper") and without it, as on a desktop where nothing else records ("desktop")."""
    from tests.harness import pulse as harness

    missing = harness.missing_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")
    with harness.pulse_server(rate=48_000, channels=2) as server:
        if request.param == "desktop":
            server.stop_keeper()
        paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
        env = {**server.env(), "PYTHONPATH": os.pathsep.join(paths)}
        plan = {"play": server.play_command(CAPITAL), "takes": TAKES}
        proc = subprocess.run([sys.executable, __file__, json.dumps(plan)], env=env, cwd=ROOT, text=True,
                              capture_output=True, timeout=DRIVER_TIMEOUT)
        assert proc.returncode == 0, f"driver failed: {proc.stderr[-3000:]}\n{server.log_tail()}"
        yield [json.loads(line) for line in proc.stdout.splitlines()]


def test_every_take_moves_onto_its_own_stream(joins: list[dict[str, Any]]) -> None:
    assert len(joins) == TAKES
    assert [j["method"] for j in joins if j["method"] is None or j["gave_up"]] == [], joins


def test_the_frames_the_take_drops_from_its_own_stream_are_those_it_has_from_the_idle_one(
        joins: list[dict[str, Any]]) -> None:
    """The take keeps the idle stream's frames up to the moment of the join, then its own stream's
    from the next frame on. The frames of its own stream it skips must be exactly the moment it
    already has (equal samples after an exact join, the same sound after a best-match one): no
    frame lost, none doubled."""
    warm_up = 320  # a new stream's first 20 ms pass through a resampler still warming up: never used
    for j in joins:
        skipped, kept = np.array(j["skipped"], dtype=np.float64), np.array(j["kept"], dtype=np.float64)
        assert skipped.size == kept.size and skipped.size >= 2 * warm_up, j["method"]
        skipped, kept = skipped[warm_up:], kept[warm_up:]
        if j["method"] == "exact":
            assert np.array_equal(skipped, kept)
        else:
            a, b = skipped - skipped.mean(), kept - kept.mean()
            assert float(a @ b) / float(np.sqrt((a @ a) * (b @ b))) >= 0.98


def test_the_join_found_its_point_rather_than_trusting_the_arrival_times(
        joins: list[dict[str, Any]]) -> None:
    """The streams' own timings put the arrival-time estimate off (20-180 ms seen here: how far
    depends on the machine's load and the server's buffers, so the far case is proven on
    synthetic streams in tests/mic/test_stitch.py); the joins here must still have met a wrong estimate
    (test_the_frames_the_take_drops... then shows they found the right point anyway)."""
    off = [abs(j["offset"] - j["estimate"]) for j in joins]
    print(f"estimate off by {max(off) / 16:.1f} ms at most over {len(off)} takes")
    assert max(off) > 16, off  # the estimate was wrong by more than 1 ms somewhere


async def _drive(plan: dict[str, Any]) -> None:
    from voicebot.mic import stitch as stitch_module
    from voicebot.mic.microphone import Microphone

    idle: list[np.ndarray] = []
    own: list[np.ndarray] = []
    Stitch = stitch_module.Stitch
    long_block, short_block = Stitch.long_block, Stitch.short_block

    def tap_long(self: Any, block: np.ndarray, arrived: float) -> list[np.ndarray]:
        if not self.joined:
            idle.append(block.copy())
        return long_block(self, block, arrived)

    def tap_short(self: Any, block: np.ndarray, arrived: float) -> list[np.ndarray]:
        if sum(b.size for b in own) < 16_000:
            own.append(block.copy())
        return short_block(self, block, arrived)

    Stitch.long_block, Stitch.short_block = tap_long, tap_short  # type: ignore[method-assign]
    mic = Microphone(preroll_ms=300)
    await mic.open()
    while mic._ring_end is None:  # a daemon has its pre-roll long before the first key press
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    for _ in range(plan["takes"]):
        player = subprocess.Popen(plan["play"])
        idle.clear()
        own.clear()
        async with mic.take() as take:
            stitch = mic._stitch
            assert stitch is not None
            got = 0
            async for block in take:
                got += block.size
                if (stitch.joined or stitch.gave_up) and got > take.preroll_frames + 16_000:
                    take.stop()
            join = stitch.join
        player.wait()
        facts: dict[str, Any] = {"method": None if join is None else join.method, "gave_up": stitch.gave_up}
        if join is not None:
            long_audio, short_audio = np.concatenate(idle), np.concatenate(own)
            overlap = long_audio.size - join.offset  # the idle stream's frames past the join point
            facts.update(offset=join.offset, estimate=join.estimate,
                         kept=long_audio[join.offset:].tolist(), skipped=short_audio[:overlap].tolist())
        print(json.dumps(facts), flush=True)
    await mic.close()


if __name__ == "__main__":
    asyncio.run(_drive(json.loads(sys.argv[1])))
