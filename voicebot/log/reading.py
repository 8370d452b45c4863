"""Opening the log to read it where it cannot be written: a read-only folder, a full disk.

`voicebot history` must show an intact log wherever it lies. In WAL mode SQLite keeps an
index (`log.db-shm`) beside the file and needs to create or grow it even to read: in a
folder the user cannot write, it cannot ("unable to open database file"), and on a full
disk a `-shm` left truncated by the failure cannot grow ("disk I/O error"). So, when the
usual opening fails:

- the disk is full: the log is read in exclusive locking mode, where SQLite keeps that
  index in memory and needs no `-shm`; the caller is told the disk is full, because no
  turn can be recorded until space is freed. If even that fails, the error says "disk full";
- the folder (or the file) cannot be written: the log is opened read-only, using the
  `-wal`/`-shm` found there, or, when there are none, as immutable. That is safe: those
  files exist while any connection has the log open, so without them nobody is writing.

Nothing is migrated or written on these paths.
"""

from __future__ import annotations

import errno
import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from voicebot.log.store import BUSY_TIMEOUT, connect

FULL_BELOW = 1 << 20  # bytes: with less left, SQLite cannot be counted on to grow its files


@dataclass
class OpenedLog:
    """A log open for reading, and what the reader should be told about it (or None)."""

    conn: sqlite3.Connection
    notice: str | None = None


def free_bytes(folder: Path) -> int | None:
    """Space an unprivileged user may still use on `folder`'s file system; None if unknown."""
    try:
        info = os.statvfs(folder)
    except OSError:
        return None
    return info.f_bavail * info.f_frsize


def disk_full(folder: Path) -> bool:
    free = free_bytes(folder)
    return free is not None and free < FULL_BELOW


def _writable(path: Path) -> bool:
    return os.access(path.parent, os.W_OK) and os.access(path, os.W_OK)


def _open(target: str, *, uri: bool = False, exclusive: bool = False) -> sqlite3.Connection:
    """A connection that has read the schema (so a failure shows here, not at the first query)."""
    conn = sqlite3.connect(target, uri=uri, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
    try:
        conn.row_factory = sqlite3.Row
        if exclusive:
            conn.execute("PRAGMA locking_mode=EXCLUSIVE")  # before the first read: no -shm at all
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
    except BaseException:
        conn.close()
        raise
    return conn


def _read_only(path: Path) -> sqlite3.Connection:
    uri = path.absolute().as_uri()
    try:
        return _open(f"{uri}?mode=ro", uri=True)
    except sqlite3.OperationalError:
        if any(Path(f"{path}{end}").exists() for end in ("-wal", "-shm")):
            raise  # someone may be writing: immutable would read a stale or torn log
        return _open(f"{uri}?immutable=1", uri=True)


def full_disk_error(path: Path) -> OSError:
    free = free_bytes(path.parent) or 0
    return OSError(errno.ENOSPC, f"the disk is full ({free // 1024} KiB left on the file system of {path.parent}); "
                                 "free some space")


def open_for_reading(path: Path) -> OpenedLog:
    """The log at `path` for reading. FileNotFoundError when there is none; sqlite3.Error or
    OSError (ENOSPC for a full disk) when it cannot be read."""
    try:
        return OpenedLog(connect(path, create=False))
    except sqlite3.OperationalError as exc:
        failure = exc
    if disk_full(path.parent):
        try:
            conn = _open(str(path), exclusive=True)
        except sqlite3.Error:
            raise full_disk_error(path) from None
        return OpenedLog(conn, f"{full_disk_error(path).strerror}: no turn can be recorded in {path} until then")
    if _writable(path) and not (failure.sqlite_errorname or "").startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN")):
        raise failure
    try:
        return OpenedLog(_read_only(path))
    except sqlite3.Error as exc:
        raise sqlite3.OperationalError(f"{failure}; read-only, as {path.parent} cannot be written: {exc}") from None


__all__ = ["OpenedLog", "disk_full", "free_bytes", "open_for_reading"]
