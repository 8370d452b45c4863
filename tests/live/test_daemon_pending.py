"""No take is lost: the daemon keeps every take on disk until its transcript is back.

Real daemon, real key, real microphone (see test_daemon.py); the local server fails
or hangs on purpose, or the daemon is killed with SIGKILL mid-upload.
"""

from __future__ import annotations

import json
import shutil
import signal
from pathlib import Path

from tests.fakegroq import FakeGroq
from tests.harness.daemon import (
    Daemon,
    Desktop,
    daemon_env,
    live_marks,
    running_daemon,
    short_home,
)
from tests.live.test_daemon import CAPITAL, QUESTION, TALK, hold

pytestmark = live_marks()

QUICK_RESEND = {"VOICEBOT_RETRY_PENDING_SECONDS": "0.5", "VOICEBOT_MAX_RETRIES": "0"}



def kept(home: Path) -> list[Path]:
    return sorted((home / "data" / "voicebot" / "pending").glob("*.ogg"))  # Opus takes


def test_failed_upload_is_kept_then_sent_again_by_itself(desk: Desktop, fake_groq: FakeGroq) -> None:
    with running_daemon(["--quiet"], fake_groq, desk, extra_env=QUICK_RESEND) as d:
        fake_groq.fail_next("/audio/transcriptions", 503, times=2)  # the take's upload and the first resend
        hold(desk, TALK, CAPITAL)
        error = d.wait_for("error")
        assert "kept at" in error["message"] and "voicebot retry" in error["message"]
        (audio,) = kept(d.home)
        sidecar = json.loads(audio.with_suffix(".json").read_text())
        assert sidecar["mode"] == "ask" and "503" in sidecar["error"] and sidecar["content_type"] == "audio/ogg"
        assert oct(audio.stat().st_mode & 0o777) == "0o600"
        # The daemon resends by itself with backoff; the second resend gets through.
        assert d.wait_for("transcript", timeout=30)["text"] == QUESTION
        assert "Paris" in d.wait_for("reply")["text"]
        assert kept(d.home) == []
    uploads = fake_groq.requests_to("/audio/transcriptions")
    assert [r.status for r in uploads] == [503, 503, 200]
    assert len({r.audio.size for r in uploads}) == 1  # the very same recording each time
    assert uploads[-1].audio.fixture == "capital.wav"


def test_take_survives_sigkill_mid_upload_and_is_sent_on_next_start(desk: Desktop, fake_groq: FakeGroq) -> None:
    home = short_home()
    try:
        env = daemon_env(home, fake_groq, desk, extra=QUICK_RESEND)
        first = Daemon(["--quiet"], env, home)
        first.wait_for("ready")
        fake_groq.inject("/audio/transcriptions", delay=30)  # the upload hangs
        hold(desk, TALK, CAPITAL)
        fake_groq.wait_for_requests(1, path="/audio/transcriptions", timeout=20)
        first.signal(signal.SIGKILL)
        first.wait()
        assert len(kept(home)) == 1  # persisted before the upload began
        fake_groq.reset()
        second = Daemon(["--quiet"], env, home)  # the killed one's socket is stale, its lock free
        try:
            second.wait_for("ready")
            assert second.wait_for("transcript", timeout=30)["text"] == QUESTION
            second.wait_for("reply")
            assert kept(home) == []
        finally:
            second.stop()
        assert "Traceback" not in first.output() + second.output()
    finally:
        shutil.rmtree(home, ignore_errors=True)
