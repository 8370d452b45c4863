"""Soak: hundreds of consecutive daemon turns under random API faults, nothing lost, nothing leaked.

Runs the installed `voicebot run --json --no-hotkeys --quiet` for real (a private
PulseAudio server as the microphone, the local Groq-compatible server as the API) and
drives its turns through the real control socket (`voicebot.control.client.send_command`, what
`voicebot toggle` does). One long `paplay` of speech plays for the whole soak, so each
turn is: toggle (start), ~0.8 s, toggle (stop), wait until the daemon is listening again.

Before a turn, with probability --fault-rate, one fault is queued on the server for the
next request(s) to transcription or chat: 429 with retry-after, 500, a dropped connection
(before the answer, or mid-stream after some chunks), or a stall (a stream that stops
sending for longer than the stall timeout, or an upload answered after the request
timeout). Up to three consecutive failures, so some exceed the retry budget (2) and the
take goes to the pending dir for the daemon's automatic resend.

Takes are counted from the daemon's own events and its pending directory: every take
that was recorded must end with a transcript in its turn, or be kept (its id is in the
"kept at" error) and later delivered by a resend, or still be on disk at the end.
    lost = uploaded takes - transcribed live - kept;  kept = resent + still on disk + missing
and `missing` (a kept take gone from disk without a resend transcript) must be 0 too.

Speech-to-text is asked for `response_format=text`: with verbose_json voicebot rightly
drops the fake server's invented " Thank you." (no_speech_prob 0.87) for takes that hold
no speech, so no chat request would follow. With `text` every take with sound is a
transcript and every turn reaches the chat stream, where half the faults are aimed.

Usage: python benchmarks/soak.py [--turns N] [--seed S] [--fault-rate P]
Needs the test tools that `scripts/dev test` installs. Prints figures; asserts nothing
(exit 1 when a take was lost or the daemon died, so a script can notice).
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakegroq import TEST_API_KEY, FakeGroq  # noqa: E402
from tests.fakegroq.server import Fault  # noqa: E402
from tests.harness.daemon import Daemon, Desktop, daemon_env, short_home  # noqa: E402
from tests.harness.pulse import PulseServer, pulse_server  # noqa: E402
from voicebot.control.client import send_command, socket_path  # noqa: E402
from voicebot.errors import VoicebotError  # noqa: E402

FIXTURE = ROOT / "tests" / "data" / "capital.wav"
STT = "/audio/transcriptions"
CHAT = "/chat/completions"
STALL_TIMEOUT = 2.0  # VOICEBOT_STALL_TIMEOUT: a stalled stream ends after this
REQUEST_TIMEOUT = 3.0  # VOICEBOT_TIMEOUT: a non-streamed request (the upload) gives up after this
RETRY_PENDING = 0.5  # VOICEBOT_RETRY_PENDING_SECONDS: first wait before the automatic resend
TURN_TIMEOUT = 60.0  # anti-hang: a turn that does not end within this is reported, not waited for
DRAIN_TIMEOUT = 120.0  # after the last turn: how long kept takes get to be resent
KEPT_ID = re.compile(r"`voicebot retry (\S+)`")
RESENDING = "sending again the take kept at"


# --- pure helpers --------------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    """VmRSS of a process in KiB, from /proc/PID/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def open_fds(pid: int) -> dict[str, str]:
    """The process's open descriptors: fd number -> what it points at (socket:[...], a path)."""
    out = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            out[fd] = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue  # closed while we looked
    return out


def socket_names(pid: int) -> dict[str, str]:
    """Socket inode -> "tcp:<remote port>" or "unix", from the process's /proc/PID/net tables."""
    names: dict[str, str] = {}
    for table in ("tcp", "tcp6"):
        with open(f"/proc/{pid}/net/{table}") as rows:
            for row in list(rows)[1:]:
                cols = row.split()
                names[cols[9]] = f"tcp:{int(cols[2].rsplit(':', 1)[1], 16)}"
    with open(f"/proc/{pid}/net/unix") as rows:
        for row in list(rows)[1:]:
            cols = row.split()
            names[cols[6]] = "unix"
    return names


def fd_kinds(fds: dict[str, str], sockets: dict[str, str]) -> Counter[str]:
    """Descriptors grouped by kind: socket (tcp to a port, or unix), pipe, anon_inode, or the file path."""
    kinds: Counter[str] = Counter()
    for target in fds.values():
        if target.startswith("socket:["):
            kinds["socket " + sockets.get(target[8:-1], "other")] += 1
        else:
            kinds[target.split(":[")[0] if ":[" in target else target] += 1
    return kinds


def pick_fault(rng: random.Random) -> tuple[str, str, dict[str, Any]]:
    """(kind, path, Fault fields) for one random fault episode."""
    kind = rng.choice(["429", "500", "drop", "stall"])
    path = rng.choice([STT, CHAT])
    times = rng.randint(1, 3)  # 3 consecutive failures exceed the default retry budget of 2
    if kind == "429":
        return kind, path, {"status": 429, "headers": {"retry-after": "1"}, "times": times}
    if kind == "500":
        return kind, path, {"status": 500, "times": times}
    if kind == "drop":
        after = 0 if path == STT else rng.randint(0, 4)  # 0: before any answer; >0: mid-stream
        return kind, path, {"drop_after": after, "times": 1 if after else times}
    if path == STT:  # answered only after the request timeout: the client gives up and retries
        return kind, path, {"delay": REQUEST_TIMEOUT + 1.0, "times": 1}
    return kind, path, {"stall_after": rng.randint(0, 4), "stall_seconds": STALL_TIMEOUT + 1.0, "times": 1}


@dataclass
class Segment:
    """The events of one live turn (from its `recording`) or one automatic resend."""

    kind: str  # "live" or "resend"
    events: list[dict[str, Any]] = field(default_factory=list)

    def has(self, kind: str) -> bool:
        return any(e.get("type") == kind for e in self.events)

    def kept_ids(self) -> list[str]:
        return [m.group(1) for e in self.events if e.get("type") == "error"
                for m in [KEPT_ID.search(str(e.get("message", "")))] if m]

    def outcome(self) -> str:
        """transcribed | kept | not sent (silence guard) | no speech (Whisper's verdict) | failed | open."""
        if self.has("transcript"):
            return "transcribed"
        if self.kept_ids():
            return "kept"
        notices = [str(e.get("text", "")) for e in self.events if e.get("type") == "notice"]
        if any(n.startswith("no speech detected") for n in notices):
            return "not sent"
        if any("no speech" in n for n in notices):
            return "no speech"
        if self.has("error"):
            return "failed"
        return "open"

    def answer(self) -> str:
        """complete | interrupted | error | none: how the answer to a transcript ended."""
        replies = [e for e in self.events if e.get("type") == "reply"]
        if replies and not replies[-1].get("interrupted"):
            return "complete"
        if replies:
            return "interrupted"
        return "error" if self.has("error") else "none"


def segments(events: list[dict[str, Any]]) -> list[Segment]:
    """Split the daemon's event stream into live turns and resends (events before the first: dropped)."""
    out: list[Segment] = []
    for event in events:
        if event.get("type") == "recording":
            out.append(Segment("live"))
        elif event.get("type") == "notice" and str(event.get("text", "")).startswith(RESENDING):
            out.append(Segment("resend"))
        if out:
            out[-1].events.append(event)
    return out


def segment_done(seg: Segment) -> bool:
    """Whether a live turn's events are complete (its error, if any, follows an interrupted reply)."""
    if seg.has("error") or any("no speech" in str(e.get("text", "")) for e in seg.events):
        return True
    replies = [e for e in seg.events if e.get("type") == "reply"]
    return bool(replies) and not replies[-1].get("interrupted")


# --- the speech that plays throughout ------------------------------------------------------------


def speech_loop_file(directory: Path, seconds: float = 60.0, gap: float = 0.15) -> Path:
    """capital.wav repeated with short gaps: any 1 s window of it holds speech."""
    data, rate = sf.read(FIXTURE, dtype="float32", always_2d=False)
    one = np.concatenate([data, np.zeros(int(gap * rate), dtype=np.float32)])
    out = directory / "speech-loop.wav"
    sf.write(out, np.tile(one, int(seconds / (len(one) / rate)) + 1), rate)
    return out


class Speaker:
    """Plays the loop file into the test sink again and again until stopped."""

    def __init__(self, pulse: PulseServer, path: Path) -> None:
        self._pulse, self._path = pulse, path
        self._stop = threading.Event()
        self._proc: Any = None
        self._thread = threading.Thread(target=self._run, name="speaker", daemon=True)

    def start(self) -> Speaker:
        self._thread.start()
        return self

    def _run(self) -> None:
        while not self._stop.is_set():
            self._proc = self._pulse.play(self._path, wait=False)
            self._proc.wait()

    def stop(self) -> None:
        self._stop.set()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
        self._thread.join(10)


# --- driving the daemon --------------------------------------------------------------------------


class Driver:
    """Turns through the control socket, and what the daemon's process looks like meanwhile."""

    def __init__(self, daemon: Daemon, sock: Path, pending: Path) -> None:
        self.d, self.sock, self.pending = daemon, sock, pending

    def command(self, name: str) -> dict[str, Any]:
        return send_command(name, path=self.sock, timeout=5.0)

    def wait_listening(self, timeout: float = TURN_TIMEOUT) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.d.proc.poll() is not None:
                return False
            try:
                if self.command("status").get("state") == "listening":
                    return True
            except VoicebotError:
                pass
            time.sleep(0.02)
        return False

    def kept_on_disk(self) -> set[str]:
        return {p.stem for p in self.pending.glob("*.flac")} if self.pending.is_dir() else set()

    def turn(self, hold: float) -> Segment | None:
        """One take: start, speak for `hold` s, stop, and the turn's events once it has ended."""
        self.wait_listening()
        mark = self.d.mark()
        self.command("toggle")
        time.sleep(hold)
        self.command("toggle")
        started = time.monotonic()
        self.wait_listening()
        while time.monotonic() - started < TURN_TIMEOUT:  # the reader thread may lag the state by a line
            live = [s for s in segments(self.d.events[mark:]) if s.kind == "live"]
            if live and segment_done(live[0]):
                return live[0]
            time.sleep(0.02)
        live = [s for s in segments(self.d.events[mark:]) if s.kind == "live"]
        return live[0] if live else None


@dataclass
class Episode:
    kind: str
    path: str
    fault: Fault
    turn: int
    responsive_after: bool = False


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--turns", type=int, default=500)
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--fault-rate", type=float, default=0.3, help="chance of a fault episode before a turn")
    ap.add_argument("--hold", type=float, default=0.8, help="seconds between the start and stop toggles")
    ap.add_argument("--pause", type=float, default=0.3, help="idle seconds between turns (resends run then)")
    args = ap.parse_args()
    rng = random.Random(args.seed)

    fake = FakeGroq().start()
    api_port = fake.port
    fake.set_rate_limits(requests_per_day=10_000_000, tokens_per_minute=1_000_000_000)  # only injected 429s
    home = short_home()
    work = Path(tempfile.mkdtemp(prefix="vb-soak-"))
    episodes: list[Episode] = []
    results: list[Segment | None] = []
    clean_exit = None
    try:
        with pulse_server() as pulse:
            env = daemon_env(home, fake, Desktop("", pulse), display=False, extra={
                "VOICEBOT_RETRY_PENDING_SECONDS": str(RETRY_PENDING), "VOICEBOT_STALL_TIMEOUT": str(STALL_TIMEOUT),
                "VOICEBOT_TIMEOUT": str(REQUEST_TIMEOUT), "VOICEBOT_STT_RESPONSE_FORMAT": "text"})
            speaker = Speaker(pulse, speech_loop_file(work)).start()
            daemon = Daemon(["--no-hotkeys", "--quiet"], env, home)
            try:
                daemon.wait_for("ready", 30)
                pid = daemon.proc.pid
                drv = Driver(daemon, socket_path(env=env), home / "data" / "voicebot" / "pending")
                assert drv.command("status")["pid"] == pid, "the control socket is served by another process"
                drv.wait_listening()
                rss0, fds0 = rss_kib(pid), open_fds(pid)
                kinds0 = fd_kinds(fds0, socket_names(pid))
                rss_warm = fds_warm = None
                warm_at = min(20, args.turns)
                most_pending = 0
                wall0 = time.monotonic()
                for i in range(args.turns):
                    if rng.random() < args.fault_rate and all(e.fault.hits >= e.fault.times for e in episodes):
                        kind, path, fields = pick_fault(rng)
                        episodes.append(Episode(kind, path, fake.inject(path, **fields), i))
                    results.append(drv.turn(args.hold))
                    alive = drv.wait_listening(TURN_TIMEOUT)
                    for ep in episodes:
                        if ep.fault.hits and not ep.responsive_after:
                            ep.responsive_after = alive
                    most_pending = max(most_pending, len(drv.kept_on_disk()))
                    if i + 1 == warm_at:
                        rss_warm, fds_warm = rss_kib(pid), open_fds(pid)
                    if (i + 1) % 50 == 0:
                        print(f"  ... {i + 1} turns, {time.monotonic() - wall0:.0f} s, rss {rss_kib(pid)} KiB, "
                              f"fds {len(open_fds(pid))}, kept now {len(drv.kept_on_disk())}", flush=True)
                    if not alive:
                        print(f"daemon not responsive after turn {i + 1}; stopping", flush=True)
                        break
                    time.sleep(args.pause)
                soak_wall = time.monotonic() - wall0
                drain0 = time.monotonic()
                while drv.kept_on_disk() and time.monotonic() - drain0 < DRAIN_TIMEOUT:
                    time.sleep(0.2)
                drv.wait_listening()
                drain_wall = time.monotonic() - drain0
                time.sleep(0.5)  # let the reader thread take in the last lines
                rss1, fds1 = rss_kib(pid), open_fds(pid)
                kinds1 = fd_kinds(fds1, socket_names(pid))
                on_disk = drv.kept_on_disk()
            finally:
                clean_exit = daemon.stop()
                speaker.stop()
    finally:
        fake.stop()

    # --- figures --------------------------------------------------------------------------------
    events = daemon.events
    segs = segments(events)
    live = [s for s in segs if s.kind == "live"]
    resends = [s for s in segs if s.kind == "resend"]
    live_out = Counter(s.outcome() for s in live)
    kept_ids = [k for s in live for k in s.kept_ids()]
    resent = sum(1 for s in resends if s.has("transcript"))
    still = len(set(kept_ids) & on_disk)
    missing = len(kept_ids) - resent - still
    uploaded = len(live) - live_out["not sent"]  # the silence guard found nothing worth sending
    answered = live_out["transcribed"] + live_out["no speech"]  # a server verdict: text, or no speech in it
    lost = uploaded - answered - live_out["kept"] + max(0, missing)
    strays = on_disk - set(kept_ids)
    answers = Counter(s.answer() for s in live + resends if s.has("transcript"))
    # An upload stalled past the request timeout is still answered 200 by the server, to a client that
    # has already given up and retried: not a transcript anyone saw, so left out of the cross-check.
    stt_ok = sum(1 for r in fake.requests_to(STT) if r.status == 200 and not r.client_disconnected
                 and not (r.fault is not None and r.fault.delay > REQUEST_TIMEOUT))
    unplanned_429 = sum(1 for r in fake.requests if r.status == 429 and r.fault is None)
    served = [e for e in episodes if e.fault.hits]
    survived = [e for e in served if e.responsive_after and e.fault.hits >= e.fault.times]
    printed = daemon.output()
    tracebacks = printed.count("Traceback")
    key_leaks = printed.count(TEST_API_KEY)
    shutil.rmtree(home, ignore_errors=True)
    shutil.rmtree(work, ignore_errors=True)

    print(f"turns: {args.turns} asked, {len(results)} driven, {sum(1 for r in results if r and r.outcome() != 'open')}"
          f" completed   seed: {args.seed}  fault rate: {args.fault_rate}")
    print(f"turn outcomes (live)            {dict(live_out)}")
    print(f"answers to transcripts          {dict(answers)}")
    by_kind = Counter(f"{e.kind}@{e.path.rsplit('/', 1)[-1]}" for e in served)
    print(f"faults injected                 {len(served)} episodes, {sum(e.fault.hits for e in served)} failed "
          f"requests   {dict(sorted(by_kind.items()))}")
    print(f"faults survived                 {len(survived)} / {len(served)}   (daemon answered status after each; "
          f"unserved at end: {len(episodes) - len(served)})")
    print(f"takes uploaded                  {uploaded}   answered in their turn {answered} "
          f"({live_out['no speech']} of them 'no speech'), kept for resend {len(kept_ids)}")
    print(f"kept takes                      resent by the daemon {resent}, still pending at end {still}, "
          f"gone without a transcript {max(0, missing)}   (most pending at once: {most_pending})")
    print(f"takes lost                      {lost}")
    print(f"server cross-check              {stt_ok} transcriptions answered 200 for "
          f"{live_out['transcribed'] + resent} transcripts shown; unplanned 429s: {unplanned_429}")
    if strays:
        print(f"pending dir: {len(strays)} take(s) not announced as kept: {sorted(strays)}")
    print(f"daemon RSS                      start {rss0 / 1024:7.1f} MiB   after {warm_at} turns "
          f"{(rss_warm or rss1) / 1024:7.1f} MiB   end {rss1 / 1024:7.1f} MiB")
    print(f"open fds                        start {len(fds0)}   after {warm_at} turns {len(fds_warm or fds1)}   "
          f"end {len(fds1)}")
    if kinds0 != kinds1:
        print(f"  fd kinds start {dict(sorted(kinds0.items()))}\n  fd kinds end   {dict(sorted(kinds1.items()))}"
              f"\n  (the API server is tcp:{api_port}; its keep-alive connections come and go with the pool)")
    print(f"ratio: RSS end/start = {rss1 / rss0:.2f}   RSS end/after-warm-up = {rss1 / (rss_warm or rss1):.2f}   "
          f"fds end/start = {len(fds1) / len(fds0):.2f}")
    print(f"wall time                       {soak_wall:.1f} s for the turns ({soak_wall / max(1, len(results)):.2f}"
          f" s/turn), {drain_wall:.1f} s draining kept takes")
    print(f"daemon exit {clean_exit}; tracebacks in its output: {tracebacks}; API key in its output: {key_leaks}")
    ok = lost == 0 and not strays and len(results) == args.turns and clean_exit == 0 and not tracebacks
    return 0 if ok and not key_leaks else 1


if __name__ == "__main__":
    raise SystemExit(main())
