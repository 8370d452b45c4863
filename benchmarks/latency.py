"""Key release -> upload -> first word: how fast the real daemon turns speech around.

Runs `voicebot run --json` for real (Xvfb + xdotool for the key, a private PulseAudio
server as the microphone, the local Groq-compatible server) and times several takes:

- release -> upload: from the key coming up to the server receiving the transcription
  request. It includes the designed release tail (release_tail_ms, which keeps the
  last word), so the tail is also subtracted to show voicebot's own overhead;
- release -> first word: to the first answer delta on the daemon's stdout;
- baseline: a bare httpx POST of the same FLAC to the same server, measured the same
  way in the same run; the overhead is reported as a ratio against it.

Usage: python benchmarks/latency.py [--takes N] [--preroll-ms MS]
Needs the test tools that `scripts/dev test` installs. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import httpx  # noqa: E402

from tests.fakegroq import TEST_API_KEY, FakeGroq  # noqa: E402
from tests.harness.pulse import pulse_server  # noqa: E402
from tests.harness.xvfb import keydown, keyup, xvfb  # noqa: E402
from voicebot.audio import prepare_file  # noqa: E402

FIXTURE = ROOT / "tests" / "data" / "capital.wav"
COMBO = "ctrl+alt+space"


class Events:
    """The daemon's JSON lines, each stamped with the wall-clock time it arrived."""

    def __init__(self, stream: object) -> None:
        self.lines: list[tuple[float, dict[str, object]]] = []
        self._cond = threading.Condition()
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            with self._cond:
                self.lines.append((time.time(), json.loads(line)))
                self._cond.notify_all()

    def wait(self, kind: str, after: int = 0, timeout: float = 30.0) -> tuple[int, float, dict[str, object]]:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, (t, ev) in enumerate(self.lines[after:], start=after):
                    if ev.get("type") == kind:
                        return i, t, ev
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no {kind!r} event; got {[e for _, e in self.lines[after:]]}")
                self._cond.wait(left)


def baseline(fake: FakeGroq, runs: int) -> list[float]:
    """Seconds from starting a bare multipart POST to the server receiving it."""
    upload = prepare_file(FIXTURE)
    out = []
    with httpx.Client(headers={"Authorization": f"Bearer {TEST_API_KEY}"}) as client:
        for _ in range(runs):
            before = len(fake.requests)
            start = time.time()
            client.post(f"{fake.base_url}/audio/transcriptions", data={"model": "whisper-large-v3-turbo"},
                        files={"file": upload.as_upload()})
            out.append(fake.requests[before].received_at - start)
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--takes", type=int, default=5)
    ap.add_argument("--preroll-ms", type=int, default=300)
    ap.add_argument("--release-tail-ms", type=int, default=200)
    args = ap.parse_args()

    fake = FakeGroq().start()
    home = Path(tempfile.mkdtemp(prefix="vb-bench-"))
    upload_lat: list[float] = []
    first_word: list[float] = []
    try:
        with xvfb() as display, pulse_server() as pulse:
            env = {**os.environ, **pulse.env(), "DISPLAY": display, "GROQ_API_KEY": TEST_API_KEY,
                   "GROQ_BASE_URL": fake.host_url, "HOME": str(home), "XDG_RUNTIME_DIR": str(home),
                   "XDG_CONFIG_HOME": str(home / "cfg"), "XDG_DATA_HOME": str(home / "data")}
            cmd = ["voicebot", "run", "--json", "--quiet", "--preroll-ms", str(args.preroll_ms),
                   "--release-tail-ms", str(args.release_tail_ms)]
            proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            events = Events(proc.stdout)
            events.wait("ready")
            for _ in range(args.takes):
                mark = len(events.lines)
                before = len(fake.requests_to("/audio/transcriptions"))
                keydown(display, COMBO)
                pulse.play(FIXTURE)
                released = time.time()
                keyup(display, COMBO)
                reqs = fake.wait_for_requests(before + 1, path="/audio/transcriptions", timeout=30)
                upload_lat.append(reqs[before].received_at - released)
                _, t_delta, _ = events.wait("delta", after=mark)
                first_word.append(t_delta - released)
                events.wait("reply", after=mark)
            proc.terminate()
            proc.wait(10)
        base = baseline(fake, max(5, args.takes))
    finally:
        fake.stop()

    tail = args.release_tail_ms / 1000
    med = statistics.median
    overhead = [u - tail for u in upload_lat]
    print(f"takes: {args.takes}  preroll_ms: {args.preroll_ms}  release_tail_ms: {args.release_tail_ms}")
    print(f"release -> upload received      median {med(upload_lat) * 1000:7.1f} ms   "
          f"(min {min(upload_lat) * 1000:.1f}, max {max(upload_lat) * 1000:.1f})")
    print(f"  of which voicebot's own work  median {med(overhead) * 1000:7.1f} ms   (upload minus the tail)")
    print(f"release -> first answer word    median {med(first_word) * 1000:7.1f} ms")
    print(f"baseline bare POST -> received  median {med(base) * 1000:7.1f} ms")
    print(f"ratio: voicebot overhead / bare POST = {med(overhead) / med(base):.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
