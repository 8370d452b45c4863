"""Real capture: voicebot's Microphone records through PortAudio -> ALSA -> a private PulseAudio
while `paplay` plays a speech fixture into the sink the microphone listens to.

PortAudio reads the ALSA config when sounddevice is imported, so the recording runs in a
subprocess with the harness's environment: this file, run as a script, is that driver.
It records each scenario to a WAV file plus a JSON line of facts; the tests judge them here.
"""

from __future__ import annotations

import asyncio
import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
CAPITAL = ROOT / "tests" / "data" / "capital.wav"
RATE = 16_000
FRAME = RATE // 50  # 20 ms envelope frames
SPEECH_DBFS = -40.0  # "speech is playing" for the driver's waits: far above the null sink's zeros
DRIVER_TIMEOUT = 90.0

# --- The driver (runs in the subprocess) ------------------------------------------------------


async def _wait_until(check: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out waiting for {what}")
        await asyncio.sleep(0.01)


Scenario = Callable[[Any, Any], Awaitable[dict[str, Any]]]


async def _record(mic: Any, scenario: Scenario) -> tuple[np.ndarray, dict[str, Any]]:
    """One take: consume it in a task while `scenario(mic, take)` decides when to stop it."""
    arrivals: list[float] = []
    blocks: list[np.ndarray] = []
    async with mic.take() as take:

        async def consume() -> None:
            async for block in take:
                blocks.append(block)
                arrivals.append(time.monotonic())

        consumer = asyncio.create_task(consume())
        facts = await scenario(mic, take)
        take.stop()
        await asyncio.wait_for(consumer, 15)
    audio = np.concatenate(blocks) if blocks else np.zeros(0, np.int16)
    facts.update(rate=take.rate, frames=int(audio.size), preroll_frames=take.preroll_frames,
                 frames_at_stop=take.frames_at_stop, dtype=str(audio.dtype), ndim=audio.ndim,
                 # audio time vs wall time from the arrival of the first block to that of the last
                 live_frames=int(sum(b.size for b in blocks[1:])),
                 live_wall=(arrivals[-1] - arrivals[0]) if arrivals else 0.0)
    return audio, facts


async def _drive(plan: dict[str, Any]) -> None:
    """Run the named scenarios; write each take to <out>/<name>.wav and its facts to stdout."""
    import soundfile

    from voicebot.mic.microphone import Microphone

    out = Path(plan["out"])
    play: list[str] = plan["play"]
    players: list[subprocess.Popen[bytes]] = []

    async def live(take: Any) -> None:
        await _wait_until(lambda: take.frames > take.preroll_frames, "the first live block")

    async def speech(mic: Any, take: Any) -> dict[str, Any]:
        await live(take)
        facts = {"play_frame": take.frames}
        players.append(subprocess.Popen(play))
        await asyncio.sleep(3.8)
        return facts

    async def after_preroll(mic: Any, take: Any) -> dict[str, Any]:
        await asyncio.sleep(1.0)
        return {}

    async def tail(mic: Any, take: Any) -> dict[str, Any]:
        await live(take)
        players.append(subprocess.Popen(play))
        await _wait_until(lambda: mic.level_dbfs > SPEECH_DBFS, "speech")
        await asyncio.sleep(0.4)  # stop mid-sentence: the tail must still hold speech
        return {"tail_frames": 600 * RATE // 1000}

    async def past_release(mic: Any, take: Any) -> dict[str, Any]:
        await live(take)
        players.append(subprocess.Popen(play))
        await _wait_until(lambda: mic.level_dbfs > SPEECH_DBFS, "speech")
        await asyncio.sleep(0.4)  # let go mid-sentence: the speech runs on past the release
        return {"tail_limit": 3000 * RATE // 1000}

    async def quiet_release(mic: Any, take: Any) -> dict[str, Any]:
        await live(take)
        player = subprocess.Popen(play)
        players.append(player)
        await asyncio.to_thread(player.wait, 30)
        await asyncio.sleep(0.3)  # done speaking, then letting go
        return {"tail_limit": 3000 * RATE // 1000}

    async def silence(mic: Any, take: Any) -> dict[str, Any]:
        await live(take)
        await asyncio.sleep(1.0)
        return {"level_dbfs": mic.level_dbfs}

    for name in plan["scenarios"]:
        if name == "speech":
            audio, facts = await _record(Microphone(release_tail_ms=200), speech)
        elif name == "preroll":
            mic = Microphone(preroll_ms=1500, release_tail_ms=200)
            await mic.open()
            await asyncio.sleep(1.6)  # fill the ring with silence, then the speech starts
            players.append(subprocess.Popen(play))
            await _wait_until(lambda: mic.level_dbfs > SPEECH_DBFS, "speech in the pre-roll")
            await asyncio.sleep(0.3)
            audio, facts = await _record(mic, after_preroll)
            await mic.close()
        elif name == "tail":
            audio, facts = await _record(Microphone(release_tail_ms=600), tail)
        elif name == "silence":
            audio, facts = await _record(Microphone(release_tail_ms=0), silence)
        elif name == "past_release":
            audio, facts = await _record(Microphone(release_tail_ms=3000), past_release)
        elif name == "quiet_release":
            audio, facts = await _record(Microphone(release_tail_ms=3000), quiet_release)
        else:
            raise ValueError(f"unknown scenario {name!r}")
        for player in players:  # the next scenario starts in silence
            await asyncio.to_thread(player.wait, 30)
        players.clear()
        soundfile.write(out / f"{name}.wav", audio, facts["rate"], subtype="PCM_16")
        print(json.dumps({"scenario": name, **facts}), flush=True)


async def _drive_vanish() -> None:
    """Record until the sound server dies, report the error, then reopen when told to."""
    from voicebot.mic.input_devices import CaptureError
    from voicebot.mic.microphone import Microphone

    def say(**event: Any) -> None:
        print(json.dumps(event), flush=True)

    mic = Microphone(release_tail_ms=0)
    try:
        async with mic.take() as take:
            async for _block in take:
                if take.frames >= RATE // 2:
                    say(event="recording")
                    break
            async for _block in take:
                pass
        say(event="ended")  # the take should not end quietly
        return
    except CaptureError as exc:
        say(event="failed", error=str(exc), exit_code=exc.exit_code, is_open=mic.is_open)
    await asyncio.to_thread(sys.stdin.readline)
    async with mic.take() as take:
        await _wait_until(lambda: take.frames >= RATE // 2, "audio after reopening")
        take.stop()
        frames = sum([block.size async for block in take])
    say(event="reopened", frames=take.frames, read=frames)


# --- The tests --------------------------------------------------------------------------------

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def pulse() -> Iterator[Any]:
    from tests.harness import pulse as harness

    missing = harness.missing_tools()
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (apt packages pulseaudio, pulseaudio-utils, libasound2-plugins)")
    with harness.pulse_server() as server:
        yield server


def _driver(pulse: Any, *args: str, **popen: Any) -> subprocess.Popen[str]:
    paths = [str(ROOT), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    env = {**pulse.env(), "PYTHONPATH": os.pathsep.join(paths)}
    return subprocess.Popen([sys.executable, __file__, *args], env=env, cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **popen)


@pytest.fixture(scope="module")
def takes(pulse: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[np.ndarray, dict[str, Any]]]:
    """Every recording scenario, run once in one driver process (PortAudio starts once)."""
    import soundfile

    out = tmp_path_factory.mktemp("capture")
    plan = {"out": str(out), "play": pulse.play_command(CAPITAL),
            "scenarios": ["silence", "speech", "preroll", "tail", "past_release", "quiet_release"]}
    proc = _driver(pulse, json.dumps(plan))
    stdout, stderr = proc.communicate(timeout=DRIVER_TIMEOUT)
    assert proc.returncode == 0, f"driver failed: {stderr[-3000:]}\n{pulse.log_tail()}"
    results = {}
    for line in stdout.splitlines():
        facts = json.loads(line)
        path = out / f"{facts['scenario']}.wav"
        info = soundfile.info(str(path))
        facts.update(file_rate=info.samplerate, file_channels=info.channels, file_subtype=info.subtype)
        audio, _ = soundfile.read(str(path), dtype="int16")
        results[facts["scenario"]] = (audio, facts)
    return results


def envelope(audio: np.ndarray, frame: int) -> np.ndarray:
    """RMS per frame (the last partial frame dropped), on a 0..1 scale."""
    n = audio.size // frame
    x = audio[: n * frame].astype(np.float64).reshape(n, frame) / 32768.0
    return np.sqrt((x * x).mean(axis=1))


def best_match(captured: np.ndarray, reference: np.ndarray, min_overlap: int) -> tuple[int, float]:
    """The lag (in frames) at which `reference` best fits into `captured`, and that correlation."""
    best = (0, -1.0)
    for lag in range(captured.size - min_overlap + 1):
        n = min(reference.size, captured.size - lag)
        a, b = captured[lag: lag + n], reference[:n]
        if a.std() == 0 or b.std() == 0:
            continue
        r = float(np.corrcoef(a, b)[0, 1])
        if r > best[1]:
            best = (lag, r)
    return best


def fixture_envelope() -> np.ndarray:
    """capital.wav's envelope at 20 ms frames, trailing silence cut."""
    import soundfile

    data, rate = soundfile.read(str(CAPITAL), dtype="int16")
    env = envelope(data, rate // 50)
    voiced = np.flatnonzero(env > 0.01)
    return env[: voiced[-1] + 1]


def rms(audio: np.ndarray) -> float:
    x = audio.astype(np.float64) / 32768.0
    return float(np.sqrt((x * x).mean())) if x.size else 0.0


def test_takes_are_16k_mono_int16(takes: dict[str, tuple[np.ndarray, dict[str, Any]]]) -> None:
    for audio, facts in takes.values():
        assert (facts["rate"], facts["dtype"], facts["ndim"]) == (RATE, "int16", 1)
        assert (facts["file_rate"], facts["file_channels"], facts["file_subtype"]) == (RATE, 1, "PCM_16")
        assert audio.size == facts["frames"] > 0


def test_speech_is_captured_and_follows_the_fixture(takes: dict[str, tuple[np.ndarray, dict[str, Any]]]) -> None:
    audio, facts = takes["speech"]
    silence, _ = takes["silence"]
    reference = fixture_envelope()
    lag, corr = best_match(envelope(audio, FRAME), reference, min_overlap=reference.size)
    assert corr > 0.8, f"captured envelope does not follow the fixture (r={corr:.2f})"
    assert lag >= facts["play_frame"] // FRAME - 1  # the speech came after paplay started, not before
    spoken = audio[lag * FRAME: (lag + reference.size) * FRAME]
    assert rms(spoken) > 0.02  # about -34 dBFS: the fixture plays at its own level
    assert rms(spoken) > 100 * max(rms(silence), 1e-6)


def test_capture_runs_in_real_time(takes: dict[str, tuple[np.ndarray, dict[str, Any]]]) -> None:
    _, facts = takes["speech"]
    assert facts["frames"] / RATE > 3.5  # ~4 s were recorded
    # Audio time and wall time between the first and last block agree (generous: noisy machines).
    assert 0.8 < (facts["live_frames"] / RATE) / facts["live_wall"] < 1.25


def test_preroll_keeps_audio_from_before_the_take_started(
        takes: dict[str, tuple[np.ndarray, dict[str, Any]]]) -> None:
    audio, facts = takes["preroll"]
    assert facts["preroll_frames"] == 1500 * RATE // 1000  # the ring was full
    reference = fixture_envelope()
    lag, corr = best_match(envelope(audio, FRAME), reference, min_overlap=reference.size // 2)
    assert corr > 0.8, f"captured envelope does not follow the fixture (r={corr:.2f})"
    # The fixture starts speaking at once, and it began inside the pre-roll: before start().
    assert 0 < lag * FRAME < facts["preroll_frames"]
    assert rms(audio[: FRAME * 5]) < 0.001  # the ring's oldest audio is the silence before paplay
    assert rms(audio[lag * FRAME: facts["preroll_frames"]]) > 0.02


def test_release_tail_extends_the_take(takes: dict[str, tuple[np.ndarray, dict[str, Any]]]) -> None:
    audio, facts = takes["tail"]
    at_stop = facts["frames_at_stop"]
    assert facts["frames"] - at_stop == facts["tail_frames"]  # exactly the 600 ms after stop()
    assert rms(audio[at_stop:]) > 0.02  # and it holds the speech still playing then


def test_speech_running_past_the_release_is_kept_to_its_last_word_and_no_longer(
        takes: dict[str, tuple[np.ndarray, dict[str, Any]]]) -> None:
    audio, facts = takes["past_release"]
    at_stop, after = facts["frames_at_stop"], facts["frames"] - facts["frames_at_stop"]
    reference = fixture_envelope()
    lag, corr = best_match(envelope(audio, FRAME), reference, min_overlap=reference.size)
    assert corr > 0.8, f"the take does not hold the whole utterance (r={corr:.2f})"
    last_word_end = (lag + reference.size) * FRAME
    assert at_stop < last_word_end <= facts["frames"]  # spoken past the release, and kept to its end
    assert after < facts["tail_limit"] - RATE // 2  # ended once quiet (~1.8 s of speech were left), not at 3 s
    assert facts["frames"] - last_word_end < 0.4 * RATE  # about a quiet stretch after the last word


def test_a_release_after_the_speech_ended_ends_the_take_at_once(
        takes: dict[str, tuple[np.ndarray, dict[str, Any]]]) -> None:
    audio, facts = takes["quiet_release"]
    after = facts["frames"] - facts["frames_at_stop"]
    assert 0 < after <= 0.1 * RATE  # a block or a few after the release, not the 3 s tail
    reference = fixture_envelope()
    _, corr = best_match(envelope(audio, FRAME), reference, min_overlap=reference.size)
    assert corr > 0.8


def test_nothing_playing_is_near_silent(takes: dict[str, tuple[np.ndarray, dict[str, Any]]]) -> None:
    audio, facts = takes["silence"]
    assert audio.size >= RATE * 0.9
    assert rms(audio) < 0.001
    assert facts["level_dbfs"] < -60


def _read_event(proc: subprocess.Popen[str], timeout: float = 20.0) -> dict[str, Any]:
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    if not line:
        proc.kill()
        _, err = proc.communicate(timeout=10)
        pytest.fail(f"driver said nothing (exit {proc.returncode}): {err[-3000:]}")
    return json.loads(line)


def test_sound_server_dying_fails_the_take_and_the_microphone_reopens(pulse: Any) -> None:
    proc = _driver(pulse, "--vanish", stdin=subprocess.PIPE)
    try:
        assert _read_event(proc) == {"event": "recording"}
        pulse.stop()
        failed = _read_event(proc)
        assert failed["event"] == "failed", failed
        assert "microphone" in failed["error"] and failed["exit_code"] == 2
        assert failed["is_open"] is False
        pulse.start()
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
        reopened = _read_event(proc)
        assert reopened["event"] == "reopened" and reopened["read"] == reopened["frames"] >= RATE // 2
        assert proc.wait(20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.communicate(timeout=10)
        if not pulse.running:
            pulse.start()


if __name__ == "__main__":
    if sys.argv[1:] == ["--vanish"]:
        asyncio.run(_drive_vanish())
    else:
        asyncio.run(_drive(json.loads(sys.argv[1])))
