"""A kept take leaves the spool only once its words are in the conversation log.

`voicebot retry` killed with SIGKILL the moment its `You:` line appears must leave the
take's words somewhere: in log.db, or still in the pending folder. Another process holding
log.db's write lock (BEGIN IMMEDIATE) while the retry runs makes the old order (take removed
as soon as its transcript was shown, its row still queued for the writer) lose them every time.
"""

from __future__ import annotations

import os
import selectors
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from tests.cli.test_cli import DATA, VOICEBOT, base_env
from tests.fakegroq import FakeGroq
from voicebot.audio.files import prepare_file
from voicebot.log import store as turnlog
from voicebot.spool.store import PendingStore

QUESTION = "What is the capital of France?"
# How long the other process keeps the lock: well under the log's 2 s busy wait (BUSY_TIMEOUT),
# so the retry's write waits and then lands; the repro held it 1.8 s.
HOLD = 1.5


def read_line(stream: object, deadline: float) -> bytes | None:
    """The next line of a child's stdout, or None if none is whole by `deadline` (monotonic)."""
    fd = stream.fileno()  # type: ignore[attr-defined]
    got = b""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while b"\n" not in got:
            left = deadline - time.monotonic()
            if left <= 0 or not sel.select(left):
                return None
            chunk = os.read(fd, 1)  # byte by byte: nothing past the line is taken from the pipe
            if not chunk:
                return got or None
            got += chunk
    return got


def test_a_retry_killed_as_its_words_appear_keeps_them_in_the_log_or_the_spool(
        fake_groq: FakeGroq, tmp_path: Path) -> None:
    data = tmp_path / "data"
    store = PendingStore(data / "voicebot" / "pending")
    take = store.save(prepare_file(DATA / "capital.wav", "flac"), mode="ask")
    db = data / "voicebot" / "log.db"
    turnlog.connect(db).close()  # an existing, migrated log, as after any earlier turn
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another voicebot (or a sqlite3 shell) writing meanwhile
    held = True
    proc = subprocess.Popen([str(VOICEBOT), "retry", "--all"], env=base_env(fake_groq, tmp_path) | {
        "XDG_DATA_HOME": str(data)}, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        fake_groq.wait_for_requests(1, path="/audio/transcriptions", timeout=30)
        line = read_line(proc.stdout, time.monotonic() + HOLD)  # shown while the lock is held?
        holder.execute("ROLLBACK")
        held = False
        if line is None:
            line = read_line(proc.stdout, time.monotonic() + 60)
        assert line is not None and line.decode().startswith(f"You: {QUESTION}"), line
        proc.send_signal(signal.SIGKILL)  # as soon as the words are on screen
        proc.wait(timeout=10)
    finally:
        if held:
            holder.execute("ROLLBACK")
        holder.close()
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate()
    assert proc.returncode == -signal.SIGKILL, err
    conn = sqlite3.connect(db)
    try:
        logged = [text for (text,) in conn.execute("SELECT transcript FROM turns")]
    finally:
        conn.close()
    kept = [t.id for t in store.list()]
    assert logged == [QUESTION], (logged, kept, err)  # written before the words were shown
    assert kept in ([], [take.id])  # removed after that, unless the kill came first
