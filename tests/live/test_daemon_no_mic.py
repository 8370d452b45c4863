"""A daemon started without a microphone: `voicebot toggle` fails clearly until one appears.

The daemon starts with an ALSA configuration whose only card does not exist (PortAudio
lists no input); the test then rewrites that file to route the default device to the
private PulseAudio server, as plugging in a microphone would, and the next take records
real speech and is answered.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakegroq import FakeGroq
from tests.harness import pulse as pulse_harness
from tests.harness.daemon import live_marks, running_daemon, voicebot, wait_state

CAPITAL = Path(__file__).resolve().parents[1] / "data" / "capital.wav"
NO_CAPTURE_ALSA = 'pcm.!default {\n  type hw\n  card 99\n}\nctl.!default {\n  type hw\n  card 99\n}\n'

pytestmark = live_marks()


@pytest.fixture(scope="module")
def pulse() -> Iterator[pulse_harness.PulseServer]:
    with pulse_harness.pulse_server() as server:
        yield server


def test_toggle_without_a_microphone_exits_2_and_the_next_take_finds_one(
        pulse: pulse_harness.PulseServer, fake_groq: FakeGroq, tmp_path: Path) -> None:
    alsa = tmp_path / "alsa.conf"
    alsa.write_text(NO_CAPTURE_ALSA)
    routed = pulse.env()
    with running_daemon(["--no-hotkeys", "--quiet", "--preroll-ms", "0"], fake_groq, None, display=False,
                        extra_env={"ALSA_CONFIG_PATH": str(alsa), "PULSE_SERVER": routed["PULSE_SERVER"]}) as d:
        refused = voicebot(["toggle"], d.env)
        assert refused.returncode == 2, refused.stdout
        assert refused.stderr.startswith("voicebot: error: no input device found")
        assert wait_state(d.env, "listening")["state"] == "listening"  # still up, nothing recording

        alsa.write_text(Path(routed["ALSA_CONFIG_PATH"]).read_text())  # the microphone arrives
        started = voicebot(["toggle"], d.env)
        assert started.returncode == 0, started.stderr
        assert "state: recording" in started.stdout.splitlines()
        d.wait_for("recording")
        pulse.play(CAPITAL)
        stopped = voicebot(["toggle"], d.env)
        assert stopped.returncode == 0, stopped.stderr
        assert d.wait_for("transcript")["text"] == "What is the capital of France?"
        d.wait_for("reply")
