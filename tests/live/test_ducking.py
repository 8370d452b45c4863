"""Quiet while you speak (`duck`): other playback muted or lowered during a take, put back exactly.

Everything real: the private PulseAudio server (tests/harness/pulse.py), `pactl`, a
`paplay` stream as the other program's playback (silence, so the microphone, which
records the same sink's monitor, hears only the speech), and the installed `voicebot
run` under Xvfb. The crash case SIGKILLs the daemon mid-take and starts another in the
same runtime dir: the stream must come back at that start. Waits are on the server's
own state (pactl) or the daemon's events, never on time.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from tests.fakegroq import FakeGroq
from tests.harness.daemon import Desktop, live_marks, running_daemon
from tests.harness.xvfb import keydown, keyup
from voicebot.turns.console import JsonOutput
from voicebot.voice.ducking import Ducker, DuckOptions

DATA = Path(__file__).resolve().parents[1] / "data"
TALK = "ctrl+alt+space"
QUESTION = "What is the capital of France?"
THEIRS = [50000, 40000]  # the other program's own volume, one per channel: put back to the unit

pytestmark = live_marks()


@pytest.fixture(scope="module")
def silence() -> Iterator[Path]:
    folder = Path(tempfile.mkdtemp(prefix="vb-duck-"))
    path = folder / "music.wav"
    sf.write(path, np.zeros((16000 * 120, 2), dtype=np.int16), 16000, subtype="PCM_16")  # two minutes, stereo
    yield path
    path.unlink()
    folder.rmdir()


def pactl(desk: Desktop, *args: str) -> str:
    done = subprocess.run(["pactl", *args], env=desk.pulse.env(), capture_output=True, text=True, timeout=10)
    assert done.returncode == 0, done.stderr
    return done.stdout


def entry(desk: Desktop, pid: int) -> dict[str, Any] | None:
    """The sink input of process `pid`, as the server has it now."""
    for found in json.loads(pactl(desk, "-f", "json", "list", "sink-inputs")):
        if found["properties"].get("application.process.id") == str(pid):
            return dict(found)
    return None


def sound(desk: Desktop, pid: int) -> tuple[bool, list[int]] | None:
    """Its mute flag and the raw volume of each channel (None: it is not playing)."""
    found = entry(desk, pid)
    return None if found is None else (found["mute"], [v["value"] for v in found["volume"].values()])


def index(desk: Desktop, pid: int) -> str:
    found = entry(desk, pid)
    assert found is not None
    return str(found["index"])


def wait_until(check: Callable[[], bool], what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"never: {what}"
        time.sleep(0.02)


@pytest.fixture
def music(desk: Desktop, silence: Path) -> Iterator[subprocess.Popen[bytes]]:
    """Another program playing, at a volume of its own (unequal channels)."""
    player = desk.pulse.play(silence, wait=False)
    wait_until(lambda: entry(desk, player.pid) is not None, "the other program's stream is up")
    pactl(desk, "set-sink-input-volume", index(desk, player.pid), *map(str, THEIRS))
    yield player
    player.kill()
    player.wait(5)


def is_(desk: Desktop, pid: int, *, mute: bool, volume: list[int]) -> Callable[[], bool]:
    return lambda: sound(desk, pid) == (mute, volume)


def test_other_playback_is_muted_while_recording_and_put_back_after(desk: Desktop, fake_groq: FakeGroq,
                                                                    music: subprocess.Popen[bytes]) -> None:
    with running_daemon(["--quiet"], fake_groq, desk, config="duck = true\n") as d:
        for _ in range(2):  # the second take quiets it again once the first has put it back
            since = d.mark()
            keydown(desk.display, TALK)
            try:
                d.wait_for("recording", since=since)
                wait_until(is_(desk, music.pid, mute=True, volume=THEIRS), "muted while the key is held")
                assert (Path(d.env["XDG_RUNTIME_DIR"]) / "voicebot" / "ducked.json").exists()
                desk.pulse.play(DATA / "capital.wav")  # the user speaks (a stream started meanwhile plays on)
            finally:
                keyup(desk.display, TALK)
            assert d.wait_for("transcript", since=since)["text"] == QUESTION
            wait_until(is_(desk, music.pid, mute=False, volume=THEIRS), "unmuted, at its own volume, after the take")
            d.wait_for("reply", since=since)
            state = Path(d.env["XDG_RUNTIME_DIR"]) / "voicebot" / "ducked.json"
            wait_until(lambda: not state.exists(), "the saved state goes once all is back")  # noqa: B023
        assert [e for e in d.of_type("notice") if e.get("check") == "duck"] == []


def test_stopping_mid_take_puts_it_back(desk: Desktop, fake_groq: FakeGroq, music: subprocess.Popen[bytes]) -> None:
    with running_daemon(["--quiet"], fake_groq, desk, config="duck = true\n") as d:
        keydown(desk.display, TALK)
        try:
            d.wait_for("recording")
            wait_until(is_(desk, music.pid, mute=True, volume=THEIRS), "muted while the key is held")
            d.signal(signal.SIGTERM)  # a service stop (or logout) in the middle of a take
            assert d.wait() == 0
        finally:
            keyup(desk.display, TALK)
        assert sound(desk, music.pid) == (False, THEIRS)  # back before the daemon was gone
        assert not (Path(d.env["XDG_RUNTIME_DIR"]) / "voicebot" / "ducked.json").exists()


def test_a_daemon_killed_mid_take_leaves_it_lowered_and_the_next_start_puts_it_back(
        desk: Desktop, fake_groq: FakeGroq, music: subprocess.Popen[bytes]) -> None:
    runtime = Path(tempfile.mkdtemp(prefix="vb-rt-", dir="/tmp"))
    config = "duck = true\nduck_volume = 20\n"
    lowered = [v * 20 // 100 for v in THEIRS]
    try:
        with running_daemon(["--quiet"], fake_groq, desk, config=config,
                            extra_env={"XDG_RUNTIME_DIR": str(runtime)}) as d:
            keydown(desk.display, TALK)
            try:
                d.wait_for("recording")
                wait_until(is_(desk, music.pid, mute=False, volume=lowered), "lowered to 20 % while recording")
                d.proc.kill()  # SIGKILL: no clean-up of any kind runs
                d.wait()
            finally:
                keyup(desk.display, TALK)
        assert sound(desk, music.pid) == (False, lowered)  # the crash left it lowered
        assert (runtime / "voicebot" / "ducked.json").exists()
        with running_daemon(["--quiet"], fake_groq, desk, extra_env={"XDG_RUNTIME_DIR": str(runtime)}) as d:
            # ready means recovered: the stream is back before the new daemon listens (duck is off now, too)
            assert sound(desk, music.pid) == (False, THEIRS)
            [notice] = [e for e in d.of_type("notice") if e.get("check") == "duck"]
            assert notice["streams"] == 1 and "lowered" in notice["text"]
        assert not (runtime / "voicebot" / "ducked.json").exists()
    finally:
        subprocess.run(["rm", "-rf", str(runtime)], check=False)


def test_own_streams_and_already_muted_ones_are_left_alone_and_changes_by_the_user_stand(
        desk: Desktop, silence: Path, music: subprocess.Popen[bytes], tmp_path: Path) -> None:
    own = desk.pulse.play(silence, wait=False)  # stands in for voicebot's own output (a chime, a spoken answer)
    muted = desk.pulse.play(silence, wait=False)  # a program the user had muted already
    try:
        wait_until(lambda: entry(desk, own.pid) is not None and entry(desk, muted.pid) is not None, "streams up")
        pactl(desk, "set-sink-input-mute", index(desk, muted.pid), "1")
        out = io.StringIO()
        env = {**desk.pulse.env(), "PATH": os.environ["PATH"]}
        state = tmp_path / "ducked.json"
        ducker = Ducker(DuckOptions(enabled=True, state_path=state), JsonOutput(out, io.StringIO()), env=env,
                        own_pids=frozenset({own.pid}))
        ducker.duck()
        assert sound(desk, music.pid) == (True, THEIRS)
        assert sound(desk, own.pid) == (False, [65536, 65536])  # voicebot's own output is never quieted
        assert [str(d["index"]) for d in json.loads(state.read_text())] == [index(desk, music.pid)]
        ducker.restore()
        assert sound(desk, music.pid) == (False, THEIRS)
        assert sound(desk, muted.pid) == (True, [65536, 65536])  # muted before: muted after, untouched
        ducker.tell()
        assert not state.exists() and out.getvalue() == ""

        lowering = Ducker(DuckOptions(enabled=True, volume=20, state_path=state), JsonOutput(out, io.StringIO()),
                          env=env, own_pids=frozenset({own.pid}))
        lowering.duck()
        assert sound(desk, music.pid) == (False, [10000, 8000])
        pactl(desk, "set-sink-input-volume", index(desk, music.pid), "30000", "30000")  # the user turns it up
        lowering.restore()
        assert sound(desk, music.pid) == (False, [30000, 30000])  # theirs stands
    finally:
        for player in (own, muted):
            player.kill()
            player.wait(5)


def test_without_pactl_the_take_goes_on_with_one_notice(tmp_path: Path) -> None:
    out = io.StringIO()
    ducker = Ducker(DuckOptions(enabled=True, state_path=tmp_path / "ducked.json"), JsonOutput(out, io.StringIO()),
                    env={"PATH": str(tmp_path)})
    ducker.duck()
    ducker.duck()
    ducker.restore()
    ducker.tell()
    [notice] = [json.loads(line) for line in out.getvalue().splitlines()]
    assert notice["check"] == "duck" and notice["text"].startswith("could not quiet other playback: pactl is not")
