"""Live preview: a long take's text grows on screen while the key is still held.

The installed `voicebot run` under Xvfb, recording three sentences that `paplay` plays
into the private PulseAudio server, cut into pieces at the pauses and sent to the local
Groq server while the key is down. Each piece's text, once back, is shown: a `preview`
event for --json readers, and on a terminal (a pty here) the end of the text heard so far
on the status line beside the meter. Every wait is on something the daemon printed.
"""

from __future__ import annotations

import itertools
import json
import re
import shutil
import signal
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from tests.cli.test_chat_tty import Terminal
from tests.fakegroq import FakeGroq
from tests.harness.daemon import Desktop, daemon_env, live_marks, running_daemon, short_home
from tests.harness.xvfb import keydown, keyup

DATA = Path(__file__).resolve().parents[1] / "data"
NAMES = ["capital.wav", "spider.flac", "bonjour.ogg"]
TEXTS = [json.loads((DATA / "fixtures.json").read_text())[n]["text"] for n in NAMES]
TALK = "ctrl+alt+space"

pytestmark = live_marks()


def dictation(folder: Path) -> Path:
    """Three sentences with a pause after each: a long take in miniature."""
    parts = []
    for name in NAMES:
        x, rate = sf.read(DATA / name, dtype="float32", always_2d=True)
        parts += [soxr.resample(x.mean(axis=1), rate, 16000), np.zeros(12800, dtype=np.float32)]
    path = folder / "dictation.wav"
    sf.write(path, np.concatenate(parts), 16000, subtype="PCM_16")
    return path


def test_the_text_heard_so_far_arrives_while_the_key_is_held(desk: Desktop, fake_groq: FakeGroq,
                                                              tmp_path: Path) -> None:
    speech = dictation(tmp_path)
    with running_daemon(["--quiet", "--piece-seconds", "2"], fake_groq, desk) as d:
        keydown(desk.display, TALK)
        try:
            player = desk.pulse.play(speech, wait=False)
            first = d.wait_for("preview", 30)
            second = d.wait_for("preview", 30, where=lambda e: e["pieces"] >= 2)
            held = d.events  # everything so far came while the key was down
            player.wait(60)
        finally:
            keyup(desk.display, TALK)
        transcript = d.wait_for("transcript", 30)
        d.wait_for("reply", 30)
    assert first["text"] == TEXTS[0] and first["pieces"] == 1
    assert second["text"] == " ".join(TEXTS[:second["pieces"]])
    assert not [e for e in held if e["type"] == "transcript"]
    previews = [e["text"] for e in d.of_type("preview")]
    assert all(later.startswith(earlier) for earlier, later in itertools.pairwise(previews))
    assert transcript["text"] == " ".join(TEXTS) and transcript["text"].startswith(previews[-1])


def test_the_status_line_shows_the_text_heard_so_far(desk: Desktop, fake_groq: FakeGroq, tmp_path: Path) -> None:
    """On a terminal the status line grows with the transcript, beside the meter, before the key comes up."""
    speech = dictation(tmp_path)
    home = short_home()
    env = daemon_env(home, fake_groq, desk, extra={"TERM": "xterm", "COLUMNS": "200"})
    term = Terminal(["run", "--quiet", "--piece-seconds", "2"], env)
    try:
        term.expect("listening", 30)
        keydown(desk.display, TALK)
        try:
            player = desk.pulse.play(speech, wait=False)
            line = r"● recording \(ask\) [^\r\n]* sent · "  # the meter line, then the text heard so far
            term.expect(line + re.escape(TEXTS[0]), 30)
            screen = term.expect(line + re.escape(" ".join(TEXTS[:2])), 30)
            assert "You:" not in screen  # the transcript itself is not out yet: the key is still down
            player.wait(60)
        finally:
            keyup(desk.display, TALK)
        term.expect(r"You:\S* " + re.escape(" ".join(TEXTS)), 30)
    finally:
        term.proc.send_signal(signal.SIGTERM)
        term.close()
        shutil.rmtree(home, ignore_errors=True)
