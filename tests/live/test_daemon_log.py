"""The conversation log for real: spoken turns of a running daemon land in the log file,
and `voicebot history` / `chat --continue` (other processes) read them back while it runs."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.fakegroq import TEST_API_KEY, FakeGroq
from tests.harness.daemon import (
    VOICEBOT,
    Desktop,
    live_marks,
    running_daemon,
    voicebot,
    wait_state,
)
from tests.live.test_daemon import CAPITAL, QUESTION, SPIDER, TALK, hold

pytestmark = live_marks()

SPIDER_TEXT = "How many legs does a spider have?"
CONFIG = '[hotkeys]\nask = "ctrl+alt+space"\ndictate = "f9"\n'



def logged(env: dict[str, str], count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
    """`voicebot history --json` once it shows `count` turns with their answers written."""
    deadline = time.monotonic() + timeout
    while True:
        done = voicebot(["history", "--json"], env)
        assert done.returncode == 0, done.stderr
        turns = [json.loads(line) for line in done.stdout.splitlines()]
        if (len(turns) >= count and all(t["reply"] or t["mode"] == "dictate" for t in turns)) \
                or time.monotonic() > deadline:
            return turns
        time.sleep(0.1)


def test_spoken_turns_land_in_the_log_and_can_be_continued(desk: Desktop, fake_groq: FakeGroq) -> None:
    with running_daemon(["--quiet"], fake_groq, desk, config=CONFIG,
                        extra_env={"VOICEBOT_KEEP_AUDIO": "true"}) as d:
        hold(desk, TALK, CAPITAL)
        d.wait_for("reply")
        hold(desk, "F9", SPIDER)
        d.wait_for("transcript", where=lambda e: e["text"] == SPIDER_TEXT)
        assert wait_state(d.env, "listening")["state"] == "listening"
        asked, dictated = logged(d.env, 2)  # read by another process while the daemon runs
        assert not d.of_type("notice"), d.events

        assert (asked["mode"], asked["source"], asked["transcript"]) == ("ask", "microphone", QUESTION)
        assert asked["reply"] == d.of_type("reply")[0]["text"] and "Paris" in asked["reply"]
        assert asked["usage"] and asked["timings"]["first_delta_ms"] <= asked["timings"]["replied_ms"]
        assert (dictated["mode"], dictated["transcript"], dictated["reply"]) == ("dictate", SPIDER_TEXT, None)
        assert asked["conversation"] == dictated["conversation"]
        data = Path(d.env["XDG_DATA_HOME"]) / "voicebot"
        for turn in (asked, dictated):
            audio = data / "audio" / turn["audio"]
            assert audio.read_bytes()[:4] == b"OggS" and stat.S_IMODE(audio.stat().st_mode) == 0o600
        assert stat.S_IMODE((data / "log.db").stat().st_mode) == 0o600

        for path in data.rglob("*"):
            if path.is_file():
                assert TEST_API_KEY.encode() not in path.read_bytes()

        carried = subprocess.run([str(VOICEBOT), "chat", "--continue"], input="and its population?\n", env=d.env,
                                 capture_output=True, text=True, timeout=30)
        assert carried.returncode == 0, carried.stderr
        assert f"continuing conversation {asked['conversation']}" in carried.stderr
        users = [m["content"] for m in fake_groq.requests_to("/chat/completions")[-1].json["messages"]
                 if m["role"] == "user"]
        assert users == [QUESTION, "and its population?"]  # dictation is not part of the chat


def test_run_continue_carries_on_the_latest_conversation(desk: Desktop, fake_groq: FakeGroq, tmp_path: Path) -> None:
    data = tmp_path / "data"
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "LANG": "C.UTF-8", "HOME": str(tmp_path),
           "XDG_DATA_HOME": str(data), "GROQ_API_KEY": TEST_API_KEY, "GROQ_BASE_URL": fake_groq.host_url}
    seeded = subprocess.run([str(VOICEBOT), "chat"], input="remember the number 42\n", capture_output=True, text=True,
                            env=env, timeout=30)
    assert seeded.returncode == 0, seeded.stderr
    with running_daemon(["--quiet", "--continue"], fake_groq, desk, extra_env={"XDG_DATA_HOME": str(data)}) as d:
        notice = d.wait_for("notice")
        assert notice["text"].startswith("continuing conversation ")
        hold(desk, TALK, CAPITAL)
        d.wait_for("reply")
        users = [m["content"] for m in fake_groq.requests_to("/chat/completions")[-1].json["messages"]
                 if m["role"] == "user"]
        assert users == ["remember the number 42", QUESTION]
        turns = logged(d.env, 2)
        assert [t["transcript"] for t in turns] == ["remember the number 42", QUESTION]
        assert turns[0]["conversation"] == turns[1]["conversation"]
