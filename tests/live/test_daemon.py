"""The push-to-talk daemon for real: `voicebot run --json` under Xvfb and a private PulseAudio.

xdotool presses the real combos through XTEST, pynput's listener in the daemon sees them,
PortAudio records espeak-ng speech that `paplay` plays into the null sink in real time, and
the local Groq server decodes each upload and recognises the fixture by its sound. Every
wait is on an event the daemon prints (or a request the server records); sleeps appear only
as stimuli (a key held with nothing said), never as assertions.
"""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.fakegroq import FakeGroq
from tests.harness.daemon import (
    Daemon,
    Desktop,
    daemon_env,
    live_marks,
    running_daemon,
    status,
    voicebot,
    wait_state,
)
from tests.harness.xvfb import focused_window, keydown, keyup, xdotool

DATA = Path(__file__).resolve().parents[1] / "data"
CAPITAL = DATA / "capital.wav"
SPIDER = DATA / "spider.flac"
BONJOUR = DATA / "bonjour.ogg"
TALK = "ctrl+alt+space"
QUESTION = "What is the capital of France?"
ENGLISH = "Hello, I would like a coffee, please."
STOP_PROMISE = 2.0  # seconds: the documented SIGINT/SIGTERM promise

pytestmark = live_marks()



def hold(desk: Desktop, combo: str, speech: Path | None = None, *, seconds: float = 0.0) -> None:
    """Hold `combo` while `speech` plays in real time (or, with none, for `seconds`); then release."""
    keydown(desk.display, combo)
    try:
        if speech is not None:
            desk.pulse.play(speech)
        else:
            time.sleep(seconds)  # a stimulus (the key held in silence), not an assertion
    finally:
        keyup(desk.display, combo)


def press(desk: Desktop, combo: str) -> None:
    """Press and release `combo` in one xdotool run (a quick tap)."""
    xdotool(desk.display, "keydown", combo, "keyup", combo)


def types(d: Daemon) -> list[str]:
    return [e["type"] for e in d.events]


def deltas(d: Daemon, since: int = 0) -> list[str]:
    return [e["text"] for e in d.of_type("delta", since)]


def position(d: Daemon, event: dict[str, Any]) -> int:
    """Where this very event (not an equal one) is in the stream."""
    return next(i for i, e in enumerate(d.events) if e is event)


def transcriptions(fake: FakeGroq) -> list[Any]:
    return fake.requests_to("/audio/transcriptions")


def assert_uploaded(fake: FakeGroq, endpoint: str, fixture: str) -> None:
    """Exactly one upload to `endpoint`: 16 kHz mono Ogg/Opus that the server recognised as `fixture`."""
    (req,) = fake.requests_to(endpoint)
    audio = req.audio
    assert audio is not None
    assert (audio.filename, audio.content_type) == ("speech.ogg", "audio/ogg")
    assert (audio.container, audio.subtype, audio.samplerate, audio.channels) == ("ogg", "OPUS", 16000, 1)
    assert audio.fixture == fixture, audio


def assert_answered(d: Daemon, fake: FakeGroq, question: str) -> dict[str, Any]:
    """transcript -> >= 2 deltas -> reply, in that order; the chat request asked `question`."""
    transcript = d.wait_for("transcript")
    reply = d.wait_for("reply")
    assert transcript["text"] == question
    order = [t for t in types(d) if t in ("recording", "transcript", "delta", "reply")]
    n = len(deltas(d))
    assert n >= 2
    assert order == ["recording", "transcript"] + ["delta"] * n + ["reply"]
    assert "".join(deltas(d)) == reply["text"] and reply["text"]
    assert "interrupted" not in reply
    (chat,) = fake.requests_to("/chat/completions")
    assert chat.json["stream"] is True
    assert chat.json["messages"][-1] == {"role": "user", "content": question}
    # Then the turn's stage times, in ms from the key release.
    timing = d.wait_for("timing")
    assert types(d).index("timing") > types(d).index("reply")
    assert 0 <= timing["take_end_ms"] <= timing["upload_start_ms"] <= timing["transcript_ms"]
    assert timing["transcript_ms"] <= timing["first_word_ms"] <= timing["answer_ms"]
    return reply


# --- 1-2: ask, hold and toggle ----------------------------------------------------------------


def test_hold_to_talk_asks_and_streams_the_answer(desk: Desktop, fake_groq: FakeGroq) -> None:
    with running_daemon([], fake_groq, desk) as d:  # chimes on: a failing sound device must not matter
        hold(desk, TALK, CAPITAL)
        assert d.wait_for("recording")["mode"] == "ask"
        reply = assert_answered(d, fake_groq, QUESTION)
    assert "Paris" in reply["text"]
    assert_uploaded(fake_groq, "/audio/transcriptions", "capital.wav")


def test_toggle_style_starts_and_stops_on_presses(desk: Desktop, fake_groq: FakeGroq) -> None:
    with running_daemon(["--toggle", "--quiet"], fake_groq, desk) as d:
        press(desk, TALK)
        d.wait_for("recording")
        desk.pulse.play(CAPITAL)  # the key is up: only the second press ends the take
        assert not d.of_type("transcript")
        press(desk, TALK)
        assert_answered(d, fake_groq, QUESTION)
    assert_uploaded(fake_groq, "/audio/transcriptions", "capital.wav")


# --- 3: translate --------------------------------------------------------------------------------


def test_translate_mode_prints_english_and_asks_nothing(desk: Desktop, fake_groq: FakeGroq) -> None:
    with running_daemon(["--mode", "translate", "--hotkey", "f9", "--quiet"], fake_groq, desk) as d:
        hold(desk, "F9", BONJOUR)
        assert d.wait_for("recording")["mode"] == "translate"
        assert d.wait_for("transcript")["text"] == ENGLISH
        wait_state(d.env, "listening")  # the turn is over: had it asked, the request would be made
    assert_uploaded(fake_groq, "/audio/translations", "bonjour.ogg")
    assert not transcriptions(fake_groq)
    assert not fake_groq.requests_to("/chat/completions")
    assert not d.of_type("reply") and not d.of_type("error")


def test_translate_binding_with_then_ask_from_the_config_file(desk: Desktop, fake_groq: FakeGroq) -> None:
    config = '[hotkeys]\ntranslate = { keys = "f9", then_ask = true }\n'
    with running_daemon(["--quiet"], fake_groq, desk, config=config) as d:
        hold(desk, "F9", BONJOUR)
        assert d.wait_for("recording")["mode"] == "translate"
        assert_answered(d, fake_groq, ENGLISH)
    assert_uploaded(fake_groq, "/audio/translations", "bonjour.ogg")


# --- 4: dictate ----------------------------------------------------------------------------------


def test_dictate_to_the_clipboard(desk: Desktop, fake_groq: FakeGroq) -> None:
    args = ["--mode", "dictate", "--hotkey", "f9", "--dictate-output", "clipboard", "--quiet"]
    with running_daemon(args, fake_groq, desk) as d:
        hold(desk, "F9", CAPITAL)
        assert d.wait_for("transcript")["text"] == QUESTION
        assert wait_state(d.env, "listening")["state"] == "listening"  # delivery done
        pasted = subprocess.run(["xclip", "-selection", "clipboard", "-o"], env={"DISPLAY": desk.display},
                                capture_output=True, text=True, timeout=10)
        assert not d.of_type("error"), d.events
    assert pasted.stdout == QUESTION
    assert_uploaded(fake_groq, "/audio/transcriptions", "capital.wav")
    assert not fake_groq.requests_to("/chat/completions")


class KeyWindow:
    """A focused X window that records the text typed into it (what a text field would show)."""

    def __init__(self, display: str) -> None:
        from Xlib import X

        self._x = X
        self.conn, self.window = focused_window(display)
        self.text = ""
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _char(self, keycode: int, state: int) -> str:
        from Xlib import XK

        keysym = self.conn.keycode_to_keysym(keycode, 1 if state & self._x.ShiftMask else 0)
        return XK.keysym_to_string(keysym) or ""

    def _pump(self) -> None:
        while True:
            try:
                event = self.conn.next_event()
            except Exception:
                return
            if event.type == self._x.KeyPress:
                with self._changed:
                    self.text += self._char(event.detail, event.state)
                    self._changed.notify_all()

    def wait_text(self, expected: str, timeout: float = 20.0) -> str:
        with self._changed:
            self._changed.wait_for(lambda: len(self.text) >= len(expected), timeout)
            return self.text

    def close(self) -> None:
        self.conn.close()


def test_dictate_types_into_the_focused_window(desk: Desktop, fake_groq: FakeGroq) -> None:
    window = KeyWindow(desk.display)
    try:
        args = ["--mode", "dictate", "--hotkey", "f9", "--dictate-output", "type", "--quiet"]
        with running_daemon(args, fake_groq, desk) as d:
            hold(desk, "F9", CAPITAL)
            assert d.wait_for("transcript")["text"] == QUESTION
            typed = window.wait_text(QUESTION)
            assert not d.of_type("error"), d.events
    finally:
        window.close()
    assert typed == QUESTION


# --- 5: barge-in --------------------------------------------------------------------------------


def test_barge_in_stops_the_answer_and_starts_a_new_take(desk: Desktop, fake_groq: FakeGroq) -> None:
    long_reply = " ".join(f"word{i}" for i in range(60))
    fake_groq.set_reply(long_reply, times=1)
    fake_groq.set_chunk_delay(0.5)  # 60 chunks: half a minute unless barge-in cuts it
    with running_daemon(["--quiet"], fake_groq, desk) as d:
        hold(desk, TALK, CAPITAL)
        d.wait_for("delta")
        mark = d.mark()
        d.wait_for("delta", since=mark)  # the answer is streaming
        keydown(desk.display, TALK)
        try:
            interrupted = d.wait_for("reply", timeout=10)  # far sooner than the rest of the stream
            second = d.wait_for("recording", since=mark)
            fake_groq.set_chunk_delay(0)
            desk.pulse.play(SPIDER)
        finally:
            keyup(desk.display, TALK)
        assert interrupted.get("interrupted") is True
        cut, restart = position(d, interrupted), position(d, second)
        assert cut < restart  # the cut answer is closed before the new take is announced
        shown = "".join(e["text"] for e in d.events[:cut] if e["type"] == "delta")
        d.wait_for("transcript", since=restart)
        d.wait_for("reply", since=restart)
    partial = interrupted["text"]
    assert partial and long_reply.startswith(partial) and partial != long_reply
    assert shown == partial  # the history keeps exactly what was shown
    first_chat, second_chat = fake_groq.requests_to("/chat/completions")
    assert first_chat.client_disconnected
    history = second_chat.json["messages"]
    assert history[-3:] == [{"role": "user", "content": QUESTION},
                            {"role": "assistant", "content": partial + " [interrupted]"},
                            {"role": "user", "content": "How many legs does a spider have?"}]


# --- 6: the control socket, no display ---------------------------------------------------------


def test_control_socket_drives_takes_without_a_display(desk: Desktop, fake_groq: FakeGroq) -> None:
    with running_daemon(["--no-hotkeys", "--quiet"], fake_groq, desk, display=False) as d:
        assert "DISPLAY" not in d.env
        idle = status(d.env)
        assert (idle["state"], idle["mode"], idle["pid"]) == ("listening", None, d.proc.pid)
        started = voicebot(["toggle"], d.env)
        assert started.returncode == 0, started.stderr
        assert "state: recording" in started.stdout.splitlines()
        d.wait_for("recording")
        desk.pulse.play(CAPITAL)
        during = status(d.env)
        assert (during["state"], during["mode"]) == ("recording", "ask")
        stopped = voicebot(["toggle"], d.env)
        assert stopped.returncode == 0, stopped.stderr
        assert_answered(d, fake_groq, QUESTION)
        after = wait_state(d.env, "listening")
        assert (after["state"], after["turns"]) == ("listening", 1)

        second = voicebot(["run", "--no-hotkeys", "--json"], d.env)
        assert second.returncode == 2
        assert second.stderr.startswith("voicebot: error: ") and "already running" in second.stderr
        assert len(second.stderr.splitlines()) == 1, second.stderr
        assert status(d.env)["pid"] == d.proc.pid  # the first daemon is untouched
    assert_uploaded(fake_groq, "/audio/transcriptions", "capital.wav")


# --- 7-8 and Esc: takes that are never sent ------------------------------------------------------


def test_a_tap_is_ignored(desk: Desktop, fake_groq: FakeGroq) -> None:
    with running_daemon(["--quiet"], fake_groq, desk) as d:
        player = desk.pulse.play(CAPITAL, wait=False)  # speech around the tap: only the tap rule drops it
        try:
            time.sleep(0.6)  # a stimulus: tap while the words are being spoken
            press(desk, TALK)
            notice = d.wait_for("notice")
        finally:
            player.wait(30)  # a take wrongly kept would be sent well before the speech ends
        assert "ignored" in notice["text"]
        assert wait_state(d.env, "listening")["state"] == "listening"
    assert not transcriptions(fake_groq)
    assert not d.of_type("transcript") and not d.of_type("error")


def test_a_silent_take_is_not_uploaded(desk: Desktop, fake_groq: FakeGroq) -> None:
    with running_daemon(["--quiet"], fake_groq, desk) as d:
        hold(desk, TALK, seconds=1.5)
        d.wait_for("recording")
        notice = d.wait_for("notice")
        assert "no speech" in notice["text"]
        assert wait_state(d.env, "listening")["state"] == "listening"
    assert not transcriptions(fake_groq)
    assert not d.of_type("transcript") and not d.of_type("error")


def test_esc_while_recording_discards_the_take(desk: Desktop, fake_groq: FakeGroq) -> None:
    with running_daemon(["--quiet"], fake_groq, desk) as d:
        keydown(desk.display, TALK)
        try:
            d.wait_for("recording")
            desk.pulse.play(CAPITAL)  # real speech: only the Esc keeps it from being sent
            xdotool(desk.display, "key", "Escape")
            notice = d.wait_for("notice")
        finally:
            keyup(desk.display, TALK)
        assert "cancelled" in notice["text"]
        assert wait_state(d.env, "listening")["state"] == "listening"
    assert not transcriptions(fake_groq)
    assert not d.of_type("transcript")


# --- 9-10: stopping, and no display ---------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("while_", ["idle", "recording"])
def test_signals_stop_cleanly(desk: Desktop, fake_groq: FakeGroq, sig: signal.Signals, while_: str) -> None:
    with running_daemon(["--quiet"], fake_groq, desk) as d:
        sock = Path(d.env["XDG_RUNTIME_DIR"]) / "voicebot" / "control.sock"
        assert sock.exists()
        player = None
        if while_ == "recording":
            keydown(desk.display, TALK)
        try:
            if while_ == "recording":
                d.wait_for("recording")
                player = desk.pulse.play(CAPITAL, wait=False)
            sent = time.monotonic()
            d.signal(sig)
            code = d.proc.wait(timeout=STOP_PROMISE * 5)  # anti-hang; the promise is checked below
            took = time.monotonic() - sent
        finally:
            if while_ == "recording":
                keyup(desk.display, TALK)
            if player is not None:
                player.kill()
                player.wait(5)
        assert code == (130 if sig == signal.SIGINT else 0), d.stderr()  # Ctrl+C as anywhere; a service stop
        assert took < STOP_PROMISE, f"stopping took {took:.2f} s"
        assert not sock.exists()
        assert not d.of_type("error")
    assert not transcriptions(fake_groq)


def test_no_display_without_no_hotkeys_exits_2_suggesting_it(desk: Desktop, fake_groq: FakeGroq) -> None:
    with running_daemon(["--quiet"], fake_groq, desk, display=False, wait_ready=False) as d:
        code = d.wait()
        err = d.stderr()
        sock = Path(d.env["XDG_RUNTIME_DIR"]) / "voicebot" / "control.sock"
        assert not sock.exists()
    assert code == 2
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("voicebot: error: "), err
    assert "--no-hotkeys" in lines[0]
    assert not d.of_type("ready")


# --- the microphone: listing, choosing, and the take length limit -------------------------------


def test_devices_lists_inputs_with_the_default_marked(desk: Desktop, fake_groq: FakeGroq) -> None:
    home = Path(tempfile.mkdtemp(prefix="vb-dev-"))
    env = daemon_env(home, fake_groq, desk)
    listed = voicebot(["devices", "--json"], env)
    assert listed.returncode == 0, listed.stderr
    devices = [json.loads(line) for line in listed.stdout.splitlines()]
    assert [d["name"] for d in devices if d["default"]] == ["default"]  # the ALSA default: the pulse monitor
    wrong = voicebot(["run", "--no-hotkeys", "--device", "no-such-mic"], env)
    assert wrong.returncode == 2
    assert wrong.stderr.startswith("voicebot: error: no input device matches 'no-such-mic'")
    assert "default" in wrong.stderr and len(wrong.stderr.splitlines()) == 1


def test_a_take_stops_by_itself_at_the_length_limit(desk: Desktop, fake_groq: FakeGroq) -> None:
    with running_daemon(["--quiet", "--max-take-seconds", "2"], fake_groq, desk) as d:
        keydown(desk.display, TALK)
        try:
            desk.pulse.play(CAPITAL)  # 2.2 s of speech, the key down all along...
            d.wait_for("notice", where=lambda e: "maximum take length reached (2 s)" in e["text"])
            d.wait_for("transcript")  # ...yet the take was sent without the key coming up
        finally:
            keyup(desk.display, TALK)
        d.wait_for("reply")
        wait_state(d.env, "listening")
    (req,) = transcriptions(fake_groq)  # one take: the key coming up later started nothing
    assert req.audio.duration <= 2 + 0.2 + 0.1  # the limit (pre-roll included) + release tail + a block
    assert req.audio.fixture == "capital.wav"  # cut near its end, still the same words


def test_a_long_take_goes_up_in_pieces_while_the_key_is_held(desk: Desktop, fake_groq: FakeGroq,
                                                             tmp_path: Path) -> None:
    import numpy as np
    import soundfile as sf
    import soxr

    names = [CAPITAL, SPIDER, BONJOUR]
    parts = []
    for name in names:  # three sentences with a pause after each, played for real
        x, rate = sf.read(name, dtype="float32", always_2d=True)
        parts += [soxr.resample(x.mean(axis=1), rate, 16000), np.zeros(12800, dtype=np.float32)]
    dictation = tmp_path / "dictation.wav"
    sf.write(dictation, np.concatenate(parts), 16000, subtype="PCM_16")
    texts = [json.loads((DATA / "fixtures.json").read_text())[n.name]["text"] for n in names]

    with running_daemon(["--quiet", "--piece-seconds", "2"], fake_groq, desk) as d:
        keydown(desk.display, TALK)
        try:
            desk.pulse.play(dictation)
            released = time.time()
        finally:
            keyup(desk.display, TALK)
        assert d.wait_for("transcript")["text"] == " ".join(texts)  # in the order spoken
        d.wait_for("reply")
        wait_state(d.env, "listening")
        pending = Path(d.env["XDG_DATA_HOME"]) / "voicebot" / "pending"
        assert not list(pending.glob("*.json"))  # every piece's file went once the text was back
    uploads = transcriptions(fake_groq)
    assert [r.audio.fixture if r.audio else None for r in uploads] == [n.name for n in names]
    assert sum(r.received_at < released for r in uploads) >= 2  # sent while the key was still held
