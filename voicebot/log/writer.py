"""Writing turns to the conversation log without ever holding up a turn.

The log observer (voicebot.log.observer) hands each step of a turn (its words, then its
answer) to a `LogWriter`, which queues it for one writer thread: SQLite's waits (another
process's lock, an fsync) happen there, in order, never on the event loop. A log that
cannot be written (locked, read-only, damaged, a full disk) costs one notice for the whole
process, and the turn goes on as if nothing happened; later turns are tried again in
silence, so a lock that passes loses nothing more. `LogWriter.off()` records nothing (`log = false`).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import itertools
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voicebot.audio.encoding import PreparedAudio
from voicebot.errors import VoicebotError
from voicebot.log import store as turnlog
from voicebot.private_files import ensure_data_dir, write_atomic
from voicebot.spool.kept_take import audio_extension, format_time

log = logging.getLogger("voicebot.log.writer")

CLOSE_WAIT = 3.0  # seconds `close` waits for queued writes (longer than one busy wait)


@dataclass
class Entry:
    """A turn being recorded: the handle its later steps are written under."""

    key: int
    conversation: str
    mode: str
    started: float = field(default_factory=time.monotonic)
    timings: dict[str, float] = field(default_factory=dict)
    # Settles once the turn's first row is committed (True), or will not be (False: the log is
    # off or cannot be written). A kept take waits for it before it leaves the spool.
    written: concurrent.futures.Future[bool] = field(default_factory=concurrent.futures.Future, repr=False)

    def mark(self, name: str) -> None:
        """Milliseconds since the turn began, under `<name>_ms` (as every timing in the log)."""
        self.timings[f"{name}_ms"] = round((time.monotonic() - self.started) * 1000)


@dataclass(frozen=True)
class _Op:
    key: int
    insert: turnlog.NewTurn | None = None
    audio: PreparedAudio | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    written: concurrent.futures.Future[bool] | None = None  # the insert's Entry.written


class LogWriter:
    """One process's writer to the log at `path` (None: record nothing)."""

    def __init__(self, path: Path | None, notify: Callable[[str], None], *, audio_root: Path | None = None) -> None:
        self.path = path
        self.audio_root = audio_root  # set: keep each take's audio there (`keep_audio`)
        self._notify = notify
        self._keys = itertools.count(1)
        self._queue: queue.SimpleQueue[_Op | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._notices: list[str] = []
        self._lock = threading.Lock()
        self._warned = False
        # Only the writer thread touches these:
        self._conn: sqlite3.Connection | None = None
        self._ids: dict[int, int] = {}

    @classmethod
    def off(cls) -> LogWriter:
        return cls(None, lambda text: None)

    @property
    def enabled(self) -> bool:
        return self.path is not None

    # ---- the loop's side: never blocks ---------------------------------------------------

    def begin(self, *, conversation: str, mode: str, source: str, transcript: str, stt_model: str | None = None,
              audio: PreparedAudio | None = None, timings: dict[str, float] | None = None,
              started: float | None = None) -> Entry:
        """A turn whose words are known: written at once, so a failed answer still leaves them."""
        entry = Entry(next(self._keys), conversation, mode)
        if started is not None:
            entry.started = started
        entry.timings.update(timings or {})
        now = format_time(datetime.now(UTC))  # when it was said, not when the writer got to it
        if self.path is None:
            entry.written.set_result(False)  # `log = false`: nothing to wait for
        self._put(_Op(entry.key, insert=turnlog.NewTurn(conversation, mode, source, transcript, stt_model, time=now,
                                                          timings=dict(entry.timings)),
                      audio=audio if self.audio_root is not None else None, written=entry.written))
        return entry

    def update(self, entry: Entry, **fields: Any) -> None:
        """More of the turn (reply, usage, model, interruption, error); timings go along."""
        self._put(_Op(entry.key, fields={**fields, "timings": dict(entry.timings)}))

    def _put(self, op: _Op) -> None:
        if self.path is None:
            return
        try:
            self._loop = asyncio.get_running_loop()
        except RuntimeError:
            pass
        self._flush_notices()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="voicebot-log", daemon=True)
            self._thread.start()
        self._queue.put(op)

    def close(self, timeout: float = CLOSE_WAIT) -> None:
        """Let queued writes finish (up to `timeout`), then say any notice still owed."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)
        self._flush_notices()

    async def aclose(self, wait: float = CLOSE_WAIT) -> None:
        """`close` from the event loop: the wait happens on a worker thread, the notice here."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            await asyncio.to_thread(thread.join, wait)
        self._flush_notices()

    def _flush_notices(self) -> None:
        """Say owed notices, on the caller's (the loop's) thread: outputs are not thread-safe."""
        with self._lock:
            notices, self._notices = self._notices, []
        for text in notices:
            self._notify(text)

    # ---- the writer thread ---------------------------------------------------------------

    def _run(self) -> None:
        while True:
            op = self._queue.get()
            if op is None:
                break
            try:
                self._apply(op)
            except (sqlite3.Error, OSError, VoicebotError) as exc:
                self._failed(exc)
            finally:
                if op.written is not None and not op.written.done():
                    op.written.set_result(op.key in self._ids)  # committed (autocommit), or it never will be
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    def _apply(self, op: _Op) -> None:
        assert self.path is not None
        if op.insert is None and op.key not in self._ids:
            return  # the turn's first write failed: there is no row to add to
        if self._conn is None:
            self._conn = turnlog.connect(self.path)
        if op.insert is not None:
            self._ids[op.key] = turn_id = turnlog.insert_turn(self._conn, op.insert)
            if op.audio is not None and self.audio_root is not None:
                name = f"{turn_id}.{audio_extension(op.audio.filename)}"
                ensure_data_dir(self.audio_root, what="audio directory")
                write_atomic(self.audio_root / name, op.audio.data)
                turnlog.update_turn(self._conn, turn_id, audio=name)
        if op.fields:
            turnlog.update_turn(self._conn, self._ids[op.key], **op.fields)

    def _failed(self, exc: BaseException) -> None:
        """One notice per process; the connection is dropped so the next turn starts clean."""
        log.debug("conversation log write failed", exc_info=True)
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
            self._conn = None
        if self._warned:
            return
        self._warned = True
        reason = (exc.strerror or str(exc)) if isinstance(exc, OSError) else str(exc)
        with self._lock:
            self._notices.append(f"the conversation log cannot be written ({reason}): {self.path}; "
                                 f"turns go unrecorded while this lasts")
        loop = self._loop
        if loop is not None:
            try:
                loop.call_soon_threadsafe(self._flush_notices)
            except RuntimeError:  # the loop has closed: `close` says it
                pass
