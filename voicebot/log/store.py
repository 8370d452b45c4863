"""The conversation log: every turn in SQLite at `$XDG_DATA_HOME/voicebot/log.db`.

One row per turn (spoken, typed, from a file, resent from the pending folder): its
conversation, time, mode, source, transcript, reply, models, token usage and timings.
The schema grows by numbered migrations, each run once and recorded in a table, in the
manner of simonw/llm's `migrations.py`. Full-text search uses FTS5 when the SQLite build
has it and falls back to LIKE when it does not.

The file is 0600 in a 0700 folder (the user's words), WAL-journalled so `voicebot
history` can read while the daemon writes. Nothing here runs on the event loop: the
daemon writes through voicebot.log.writer's thread, and the history commands read here
directly. Every function takes an open connection; none keeps state of its own.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voicebot.private_files import ensure_data_dir, make_private
from voicebot.spool.kept_take import format_time
from voicebot.spool.store import pending_dir

LOG_NAME = "log.db"
AUDIO_FOLDER = "audio"
MIGRATIONS_TABLE = "_voicebot_migrations"
BUSY_TIMEOUT = 2.0  # seconds a write waits for another process's lock before giving up


def data_dir(env: Mapping[str, str]) -> Path:
    """`$XDG_DATA_HOME/voicebot`, by the same rules as the pending folder inside it."""
    return pending_dir(env).parent


def log_path(env: Mapping[str, str]) -> Path:
    return data_dir(env) / LOG_NAME


def audio_dir(env: Mapping[str, str]) -> Path:
    """Where `keep_audio` keeps each take, beside the log."""
    return data_dir(env) / AUDIO_FOLDER


# --------------------------------------------------------------------------- migrations

Migration = Callable[[sqlite3.Connection], bool]
MIGRATIONS: list[Migration] = []


def migration(step: Migration) -> Migration:
    """Register a step; steps run in the order written, each once. A step returns False
    to stay unrecorded (it could not run here, and will be tried at the next open)."""
    MIGRATIONS.append(step)
    return step


def fts5_available(conn: sqlite3.Connection) -> bool:
    """Whether this SQLite build has FTS5 (Python's usually does; some distributions' not)."""
    try:
        conn.execute("CREATE VIRTUAL TABLE temp._fts5_probe USING fts5(x)")
    except sqlite3.OperationalError:
        return False
    conn.execute("DROP TABLE temp._fts5_probe")
    return True


@migration
def m001_turns(conn: sqlite3.Connection) -> bool:
    conn.execute("""
        CREATE TABLE turns (
            id INTEGER PRIMARY KEY,
            conversation TEXT NOT NULL,
            time TEXT NOT NULL,
            mode TEXT NOT NULL,
            source TEXT NOT NULL,
            transcript TEXT NOT NULL,
            reply TEXT,
            interrupted INTEGER NOT NULL DEFAULT 0,
            error TEXT,
            model TEXT,
            stt_model TEXT,
            usage TEXT,
            timings TEXT NOT NULL DEFAULT '{}',
            audio TEXT,
            first_transcript TEXT
        )""")
    conn.execute("CREATE INDEX turns_by_conversation ON turns (conversation, id)")
    return True


@migration
def m002_search(conn: sqlite3.Connection) -> bool:
    """FTS5 over transcripts and replies, kept current by triggers (external content)."""
    if not fts5_available(conn):
        return False
    conn.execute("CREATE VIRTUAL TABLE turns_fts USING fts5(transcript, reply, content='turns', "
                 "content_rowid='id')")
    old = "'delete', old.id, old.transcript, coalesce(old.reply, '')"
    new = "new.id, new.transcript, coalesce(new.reply, '')"
    conn.execute(f"CREATE TRIGGER turns_fts_insert AFTER INSERT ON turns BEGIN "
                 f"INSERT INTO turns_fts (rowid, transcript, reply) VALUES ({new}); END")
    conn.execute(f"CREATE TRIGGER turns_fts_delete AFTER DELETE ON turns BEGIN "
                 f"INSERT INTO turns_fts (turns_fts, rowid, transcript, reply) VALUES ({old}); END")
    conn.execute(f"CREATE TRIGGER turns_fts_update AFTER UPDATE OF transcript, reply ON turns BEGIN "
                 f"INSERT INTO turns_fts (turns_fts, rowid, transcript, reply) VALUES ({old}); "
                 f"INSERT INTO turns_fts (rowid, transcript, reply) VALUES ({new}); END")
    conn.execute("INSERT INTO turns_fts (turns_fts) VALUES ('rebuild')")  # rows logged before FTS5 was here
    return True


def timings_in_ms(timings: dict[str, Any]) -> dict[str, Any]:
    """A turn's timings with every figure in milliseconds: the seconds that logs written before
    m003 kept under bare names (`transcribed`: 0.412) become `transcribed_ms`: 412."""
    out: dict[str, Any] = {}
    for name, value in timings.items():
        seconds = isinstance(value, (int, float)) and not isinstance(value, bool) and not name.endswith("_ms")
        out.setdefault(f"{name}_ms" if seconds else name, round(value * 1000) if seconds else value)
    return out


@migration
def m003_timings_in_milliseconds(conn: sqlite3.Connection) -> bool:
    """Old rows mixed seconds (transcribed, first_delta, replied) with milliseconds (transcript_ms...)
    for the same stages; every figure becomes milliseconds, named `<stage>_ms`."""
    for turn_id, text in conn.execute("SELECT id, timings FROM turns").fetchall():
        old = _json_or(text, None)
        if isinstance(old, dict) and (new := timings_in_ms(old)) != old:
            conn.execute("UPDATE turns SET timings = ? WHERE id = ?", (json.dumps(new), turn_id))
    return True


def migrate(conn: sqlite3.Connection) -> list[str]:
    """Run the steps not yet recorded, in one write transaction (two processes opening
    the log at once cannot both migrate); returns the names of those that ran."""
    conn.execute(f"CREATE TABLE IF NOT EXISTS {MIGRATIONS_TABLE} (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    done = {name for (name,) in conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")}
    if all(step.__name__ in done for step in MIGRATIONS):
        return []
    ran = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        done = {name for (name,) in conn.execute(f"SELECT name FROM {MIGRATIONS_TABLE}")}
        for step in MIGRATIONS:
            if step.__name__ not in done and step(conn):
                conn.execute(f"INSERT INTO {MIGRATIONS_TABLE} (name, applied_at) VALUES (?, ?)",
                             (step.__name__, format_time(datetime.now(UTC))))
                ran.append(step.__name__)
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return ran


# --------------------------------------------------------------------------- opening


SIDE_FILES = ("-wal", "-shm", "-journal")  # SQLite's files beside the log, holding its words too


def _private_file(path: Path) -> None:
    """Create the log file 0600 (SQLite would follow the umask); tighten one of ours that is looser.

    SQLite gives the -wal and -shm files it creates the database file's own permissions,
    but keeps the mode of those it finds: one left open to others (0644, from an older
    version or another tool) is closed here too.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        make_private(path)
    else:
        os.fchmod(fd, 0o600)
        os.close(fd)
    for end in SIDE_FILES:
        try:
            make_private(Path(f"{path}{end}"))
        except FileNotFoundError:
            pass


def connect(path: Path, *, create: bool = True) -> sqlite3.Connection:
    """An open, migrated log. sqlite3.Error or OSError when it cannot be used (locked,
    read-only, damaged); with `create=False` a missing log is FileNotFoundError."""
    if create:
        ensure_data_dir(path.parent, what="log directory")
        _private_file(path)
    elif not path.exists():
        raise FileNotFoundError(path)
    conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
    try:
        conn.row_factory = sqlite3.Row
        if conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")  # WAL: durable at checkpoints, never corrupt
        migrate(conn)
    except BaseException:
        conn.close()
        raise
    return conn


def has_search_index(conn: sqlite3.Connection) -> bool:
    return conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'turns_fts'").fetchone() is not None


# --------------------------------------------------------------------------- writing


@dataclass
class NewTurn:
    """What is known of a turn once its words are: the row written before any answer."""

    conversation: str
    mode: str
    source: str
    transcript: str
    stt_model: str | None = None
    time: str = ""
    timings: dict[str, float] | None = None


def insert_turn(conn: sqlite3.Connection, turn: NewTurn) -> int:
    cur = conn.execute(
        "INSERT INTO turns (conversation, time, mode, source, transcript, stt_model, timings) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (turn.conversation, turn.time or format_time(datetime.now(UTC)), turn.mode, turn.source, turn.transcript,
         turn.stt_model, json.dumps(turn.timings or {})))
    assert cur.lastrowid is not None
    return cur.lastrowid


UPDATABLE = frozenset({"conversation", "mode", "reply", "interrupted", "error", "model", "usage", "timings",
                       "audio", "transcript", "stt_model", "first_transcript"})


def update_turn(conn: sqlite3.Connection, turn_id: int, **fields: Any) -> None:
    """Set some columns of a turn; dicts (usage, timings) are stored as JSON."""
    unknown = set(fields) - UPDATABLE
    if unknown:
        raise ValueError(f"not a turn column: {sorted(unknown)[0]}")
    values = [json.dumps(v) if isinstance(v, dict) else v for v in fields.values()]
    assignments = ", ".join(f"{name} = ?" for name in fields)
    conn.execute(f"UPDATE turns SET {assignments} WHERE id = ?", (*values, turn_id))


def retranscribed(conn: sqlite3.Connection, turn_id: int, text: str, stt_model: str) -> None:
    """The turn's new transcript; the first one is kept in first_transcript."""
    conn.execute("UPDATE turns SET first_transcript = coalesce(first_transcript, transcript), transcript = ?, "
                 "stt_model = ? WHERE id = ?", (text, stt_model, turn_id))


# --------------------------------------------------------------------------- reading


@dataclass(frozen=True)
class LoggedTurn:
    """One row as read back."""

    id: int
    conversation: str
    time: str
    mode: str
    source: str
    transcript: str
    reply: str | None
    interrupted: bool
    error: str | None
    model: str | None
    stt_model: str | None
    usage: dict[str, Any] | None
    timings: dict[str, Any]
    audio: str | None
    first_transcript: str | None

    def as_event(self) -> dict[str, Any]:
        """The `--json` shape: {"type": "turn", ...} without the type."""
        return {"id": self.id, "conversation": self.conversation, "time": self.time, "mode": self.mode,
                "source": self.source, "transcript": self.transcript, "reply": self.reply,
                "interrupted": self.interrupted, "error": self.error, "model": self.model,
                "stt_model": self.stt_model, "usage": self.usage, "timings": self.timings,
                "audio": self.audio, "first_transcript": self.first_transcript}


def _json_or(text: str | None, default: Any) -> Any:
    if not text:
        return default
    try:
        return json.loads(text)
    except ValueError:
        return default


def _row(row: sqlite3.Row) -> LoggedTurn:
    return LoggedTurn(id=row["id"], conversation=row["conversation"], time=row["time"], mode=row["mode"],
                      source=row["source"], transcript=row["transcript"], reply=row["reply"],
                      interrupted=bool(row["interrupted"]), error=row["error"], model=row["model"],
                      stt_model=row["stt_model"], usage=_json_or(row["usage"], None),
                      timings=_json_or(row["timings"], {}), audio=row["audio"],
                      first_transcript=row["first_transcript"])


def words_of(text: str) -> list[str]:
    return re.findall(r"\w+", text)


def latest(conn: sqlite3.Connection, limit: int, search: str | None = None) -> list[LoggedTurn]:
    """The newest `limit` turns (matching `search`, every word, in transcript or reply), oldest first.

    With FTS5 each word matches as a prefix of a word; without it, as part of the text.
    """
    where, params = "", []
    words = words_of(search) if search else []
    if search and not words:
        return []
    if words and has_search_index(conn):
        query = " ".join('"' + w.replace('"', '""') + '"*' for w in words)
        where, params = "WHERE id IN (SELECT rowid FROM turns_fts WHERE turns_fts MATCH ?)", [query]
    elif words:
        like = " AND ".join("(transcript LIKE ? ESCAPE '\\' OR coalesce(reply, '') LIKE ? ESCAPE '\\')"
                            for _ in words)
        where = f"WHERE {like}"
        for w in words:
            pattern = "%" + w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            params += [pattern, pattern]
    rows = conn.execute(f"SELECT * FROM turns {where} ORDER BY id DESC LIMIT ?", (*params, limit)).fetchall()
    return [_row(r) for r in reversed(rows)]


def conversation_turns(conn: sqlite3.Connection, conversation: str, limit: int | None = None) -> list[LoggedTurn]:
    """A conversation's turns, oldest first (its newest `limit` when given)."""
    rows = conn.execute("SELECT * FROM turns WHERE conversation = ? ORDER BY id DESC LIMIT ?",
                        (conversation, -1 if limit is None else limit)).fetchall()
    return [_row(r) for r in reversed(rows)]


def latest_conversation(conn: sqlite3.Connection) -> str | None:
    """The conversation of the newest turn that was answered (dictation alone is no conversation,
    nor is a memo: `voicebot memos` would otherwise take over --continue; --conversation picks one)."""
    row = conn.execute("SELECT conversation FROM turns WHERE reply IS NOT NULL AND mode != 'memo' "
                       "ORDER BY id DESC LIMIT 1").fetchone()
    return None if row is None else str(row[0])


def get_turn(conn: sqlite3.Connection, turn_id: int) -> LoggedTurn | None:
    row = conn.execute("SELECT * FROM turns WHERE id = ?", (turn_id,)).fetchone()
    return None if row is None else _row(row)
