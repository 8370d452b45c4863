"""Per-app profiles on a real Wayland compositor: sway's IPC names the focused window's app_id.

Headless sway (tests/harness/sway.py) with a foot window focused; voicebot finds sway
through SWAYSOCK, as in a sway session. `voicebot config` says which profile applies and
why, and `voicebot run` applies it: a terminal profile that types dictation (the global
setting only prints it) makes the dictated text land in the foot window.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakegroq import FakeGroq
from tests.harness import pulse as pulse_harness
from tests.harness.daemon import Desktop, daemon_env, running_daemon, short_home, voicebot
from tests.harness.sway import APP_ID, Sway, Terminal, missing_tools, sway

MISSING = missing_tools() + pulse_harness.missing_tools()
pytestmark = [pytest.mark.live,
              pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)} (apt, see scripts/dev)")]
CAPITAL = Path(__file__).resolve().parents[1] / "data" / "capital.wav"
SAID = "What is the capital of France?"
CONFIG = """\
dictate_output = "print"

[hotkeys]
dictate = "f9"

[profiles.browser]
match = "firefox"
dictate_output = "clipboard"

[profiles.terminal]
match = "foot|voicebot-test-.*"
dictate_output = "type"
paste_keys = "ctrl+shift+v"
"""


@pytest.fixture(scope="module")
def compositor() -> Iterator[Sway]:
    with sway() as s:
        yield s


@pytest.fixture(scope="module")
def desk() -> Iterator[Desktop]:
    """A private PulseAudio for the daemon's microphone; no X display (this is a Wayland session)."""
    with pulse_harness.pulse_server() as pulse:
        yield Desktop("", pulse)


@pytest.fixture
def terminal(compositor: Sway, tmp_path: Path) -> Iterator[Terminal]:
    t = Terminal(compositor, tmp_path)
    yield t
    t.close()


def session(compositor: Sway) -> dict[str, str]:
    """What a program started in the sway session has: its Wayland display and its IPC socket."""
    return {"WAYLAND_DISPLAY": compositor.display, "SWAYSOCK": compositor.ipc}


def test_config_says_the_terminal_profile_applies_to_the_focused_foot(desk: Desktop, compositor: Sway,
                                                                      terminal: Terminal, fake_groq: FakeGroq) -> None:
    home = short_home()
    env = daemon_env(home, fake_groq, desk, display=False, extra=session(compositor))
    (home / "config" / "voicebot").mkdir(parents=True)
    (home / "config" / "voicebot" / "config.toml").write_text(CONFIG)
    done = voicebot(["config"], env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == \
        f"profile 'terminal' applies: focused window class '{APP_ID}' matches 'foot|voicebot-test-.*'"
    done = voicebot(["config", "--json"], env)
    said = next(e for e in map(json.loads, done.stdout.splitlines()) if e["type"] == "profile")
    assert (said["name"], said["window"], said["via"]) == ("terminal", APP_ID, "sway")


def test_dictation_lands_in_foot_as_its_profile_says(desk: Desktop, compositor: Sway, terminal: Terminal,
                                                     fake_groq: FakeGroq) -> None:
    with running_daemon(["--no-hotkeys", "--quiet"], fake_groq, desk, display=False, config=CONFIG,
                        extra_env=session(compositor)) as d:
        started = voicebot(["start"], d.env)
        assert started.returncode == 0, started.stderr
        d.wait_for("recording")
        desk.pulse.play(CAPITAL)
        stopped = voicebot(["stop"], d.env)
        assert stopped.returncode == 0, stopped.stderr
        profile = d.wait_for("profile")
        assert d.wait_for("transcript")["text"] == SAID
        assert terminal.wait(lambda got: len(got) >= len(SAID)) == SAID  # typed: the global setting only prints
        assert not d.of_type("error") and not d.of_type("notice"), d.events
    assert (profile["name"], profile["window"], profile["via"]) == ("terminal", APP_ID, "sway")
