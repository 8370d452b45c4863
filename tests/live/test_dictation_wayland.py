"""Dictation on a real Wayland compositor: wtype, wl-clipboard, a paste and the clipboard put back.

Headless sway run as an unprivileged user (tests/harness/sway.py), the real wtype and
wl-copy/wl-paste, and a real client as the target: a foot terminal whose reader writes
every byte it receives to a file. The dictation code runs as the daemon runs it, in this
process (the paths one by one) and through the installed `voicebot run` (the whole way).
"""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakegroq import FakeGroq
from tests.harness import pulse as pulse_harness
from tests.harness.daemon import Daemon, Desktop, running_daemon, voicebot
from tests.harness.sway import Sway, Terminal, clipboard, clipboard_types, missing_tools, set_clipboard, sway
from voicebot.cli.wiring import dictation_options
from voicebot.config.schema import Settings
from voicebot.desktop.dictation import Dictation
from voicebot.turns.console import JsonOutput

MISSING = missing_tools() + pulse_harness.missing_tools()
pytestmark = [pytest.mark.live,
              pytest.mark.skipif(bool(MISSING), reason=f"needs {', '.join(MISSING)} (apt, see scripts/dev)")]
CAPITAL = Path(__file__).resolve().parents[1] / "data" / "capital.wav"
SAID = "What is the capital of France?"
# A 1x1 PNG: a picture the user had copied, which is not text.
PNG = bytes.fromhex("89504e470d0a1a0a0000000d4948445200000001000000010806000000"
                    "1f15c4890000000d49444154789c63f8cfc0f01f0005000201e221bc330000000049454e44ae426082")


@pytest.fixture(scope="module")
def compositor() -> Iterator[Sway]:
    with sway() as s:
        yield s


@pytest.fixture
def wayland(compositor: Sway, monkeypatch: pytest.MonkeyPatch) -> Sway:
    """This process is a client of the compositor (as the daemon is), with no X display."""
    monkeypatch.setenv("WAYLAND_DISPLAY", compositor.display)
    monkeypatch.delenv("DISPLAY", raising=False)
    return compositor


@pytest.fixture
def terminal(wayland: Sway, tmp_path: Path) -> Iterator[Terminal]:
    t = Terminal(wayland, tmp_path)
    yield t
    t.close()


def dictation(out: io.StringIO, compositor: Sway, **options: Any) -> Dictation:
    return Dictation(dictation_options(Settings(**options)), JsonOutput(out, io.StringIO()), None, compositor.env())


def notices(out: io.StringIO) -> list[dict[str, Any]]:
    return [e for e in map(json.loads, out.getvalue().splitlines()) if e["type"] == "notice"]


def test_typed_text_lands_in_a_real_wayland_window(terminal: Terminal, wayland: Sway) -> None:
    said = "Grüße aus Köln, 25 °C — ça va?"
    out = io.StringIO()
    asyncio.run(dictation(out, wayland, dictate_output="type").land(said))
    assert terminal.wait(lambda got: len(got) >= len(said)) == said
    assert notices(out) == []


def test_paste_lands_and_the_clipboard_is_exactly_restored(terminal: Terminal, wayland: Sway) -> None:
    mine = b"my precious notes\n  indented\n\n"
    set_clipboard(wayland, mine)
    out = io.StringIO()

    async def go() -> bytes | None:
        d = dictation(out, wayland, dictate_output="clipboard", restore_clipboard=True,
                      restore_clipboard_seconds=1.0, paste_keys="ctrl+shift+v")
        await d.land(SAID)
        during = await asyncio.to_thread(clipboard, wayland)
        await d.settled()
        return during

    during = asyncio.run(asyncio.wait_for(go(), 30))
    assert terminal.wait(lambda got: len(got) >= len(SAID)) == SAID
    assert during == SAID.encode()
    assert clipboard(wayland) == mine
    assert notices(out) == []


def test_an_empty_clipboard_is_left_empty(terminal: Terminal, wayland: Sway) -> None:
    subprocess.run(["wl-copy", "--clear"], check=True, timeout=10, env=wayland.env())
    assert clipboard(wayland) is None
    out = io.StringIO()

    async def go() -> None:
        d = dictation(out, wayland, dictate_output="clipboard", restore_clipboard=True,
                      restore_clipboard_seconds=1.0, paste_keys="ctrl+shift+v")
        await d.land(SAID)
        await d.settled()

    asyncio.run(asyncio.wait_for(go(), 30))
    assert terminal.wait(lambda got: len(got) >= len(SAID)) == SAID
    assert clipboard(wayland) is None and clipboard_types(wayland) == []


def test_an_image_on_the_clipboard_comes_back_as_an_image(terminal: Terminal, wayland: Sway) -> None:
    set_clipboard(wayland, PNG, "image/png")
    out = io.StringIO()

    async def go() -> None:
        d = dictation(out, wayland, dictate_output="clipboard", restore_clipboard=True,
                      restore_clipboard_seconds=1.0, paste_keys="ctrl+shift+v")
        await d.land(SAID)
        await d.settled()

    asyncio.run(asyncio.wait_for(go(), 30))
    assert terminal.wait(lambda got: len(got) >= len(SAID)) == SAID
    assert clipboard_types(wayland) == ["image/png"]
    assert clipboard(wayland, "image/png") == PNG


# --- the whole way: the installed `voicebot run` on Wayland, driven as a desktop shortcut would ---


@pytest.fixture(scope="module")
def desk() -> Iterator[Desktop]:
    """A private PulseAudio for the daemons' microphone; no X display (this is a Wayland session)."""
    with pulse_harness.pulse_server() as pulse:
        yield Desktop("", pulse)


def wayland_daemon(args: list[str], fake: FakeGroq, desk: Desktop, compositor: Sway, config: str | None = None) -> Any:
    """`voicebot run` in the Wayland session, no hotkeys (a shortcut runs `voicebot start`/`stop`)."""
    return running_daemon(["--no-hotkeys", "--quiet", *args], fake, desk, display=False,
                          config=config, extra_env={"WAYLAND_DISPLAY": compositor.display})


def dictate(d: Daemon, desk: Desktop, speech: Path) -> None:
    """What a desktop shortcut bound to `voicebot toggle` does: start, speak, stop."""
    started = voicebot(["start"], d.env)
    assert started.returncode == 0, started.stderr
    d.wait_for("recording")
    desk.pulse.play(speech)
    stopped = voicebot(["stop"], d.env)
    assert stopped.returncode == 0, stopped.stderr


def heard(d: Daemon, fake: FakeGroq) -> str:
    """The transcript; failing, with what the server made of each upload (duration, score, coverage)."""
    try:
        return str(d.wait_for("transcript")["text"])
    except AssertionError as exc:
        uploads = [r.audio for r in fake.requests_to("/audio/transcriptions")]
        raise AssertionError(f"{exc}\nuploads: {uploads}") from None


def test_the_daemon_types_dictation_into_a_wayland_window(desk: Desktop, terminal: Terminal, compositor: Sway,
                                                          fake_groq: FakeGroq) -> None:
    with wayland_daemon(["--mode", "dictate", "--dictate-output", "type"], fake_groq, desk, compositor) as d:
        assert "DISPLAY" not in d.env
        dictate(d, desk, CAPITAL)
        assert heard(d, fake_groq) == SAID
        assert terminal.wait(lambda got: len(got) >= len(SAID)) == SAID
        assert not d.of_type("error") and not d.of_type("notice"), d.events


def test_the_daemon_pastes_and_puts_the_clipboard_back(desk: Desktop, terminal: Terminal, compositor: Sway,
                                                       fake_groq: FakeGroq) -> None:
    mine = b"what I had copied\n"
    set_clipboard(compositor, mine)
    args = ["--mode", "dictate", "--dictate-output", "clipboard", "--restore-clipboard",
            "--restore-clipboard-seconds", "1", "--paste-keys", "ctrl+shift+v"]
    with wayland_daemon(args, fake_groq, desk, compositor) as d:
        dictate(d, desk, CAPITAL)
        assert heard(d, fake_groq) == SAID
        assert terminal.wait(lambda got: len(got) >= len(SAID)) == SAID
        back = terminal.wait(lambda _: clipboard(compositor) == mine)  # polled: the restore prints nothing
        assert back == SAID and not d.of_type("error") and not d.of_type("notice"), d.events


# --- then_enter: dictate and send -------------------------------------------------------------


@pytest.mark.parametrize("options", [{"dictate_output": "type"},
                                     {"dictate_output": "clipboard", "restore_clipboard": True,
                                      "restore_clipboard_seconds": 1.0, "paste_keys": "ctrl+shift+v"}],
                         ids=["typed", "pasted"])
def test_enter_follows_the_text_that_landed(terminal: Terminal, wayland: Sway, options: dict[str, Any]) -> None:
    out = io.StringIO()

    async def go() -> None:
        d = dictation(out, wayland, **options)
        await d.land(SAID, then_enter=True)
        await d.settled()

    asyncio.run(asyncio.wait_for(go(), 30))
    assert terminal.wait(lambda got: "\n" in got) == SAID + "\n"  # the text first, then Enter
    assert notices(out) == []


def test_the_daemon_sends_what_was_dictated_with_enter(desk: Desktop, terminal: Terminal, compositor: Sway,
                                                       fake_groq: FakeGroq, tmp_path: Path) -> None:
    config = '[hotkeys]\ndictate = { keys = "f9", then_enter = true }\n'
    with wayland_daemon(["--dictate-output", "type"], fake_groq, desk, compositor, config) as d:
        dictate(d, desk, CAPITAL)
        assert heard(d, fake_groq) == SAID
        assert terminal.wait(lambda got: "\n" in got) == SAID + "\n"
        assert not d.of_type("error") and not d.of_type("notice"), d.events
