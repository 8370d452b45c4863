"""The log's timings in one unit, old logs converted, and why a turn cannot be retranscribed (issue 15.14).

Through the installed command: the timings of a new turn, a log written by an older
voicebot (seconds under bare names beside milliseconds for the same stages) brought to
milliseconds by its numbered migration, and `history retranscribe` telling the real
reason a turn has no audio (typed; sent again from the pending folder without keep_audio).
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from tests.cli.test_cli import DATA, events, run
from tests.cli.test_history_cli import log_db
from tests.fakegroq import FakeGroq
from voicebot.audio.files import prepare_file
from voicebot.log import store as turnlog
from voicebot.spool.store import PendingStore

OLD_TIMINGS = {"transcribed": 0.412, "first_delta": 0.905, "replied": 1.25, "take_end_ms": 180,
               "transcript_ms": 380, "first_word_ms": 870, "answer_ms": 1210}


def history_turns(fake: FakeGroq, home: Path) -> list[dict[str, object]]:
    proc = run(["history", "--json"], fake, home)
    assert proc.returncode == 0, proc.stderr
    return [e for e in events(proc.stdout) if e["type"] == "turn"]


def test_a_new_turns_timings_are_all_milliseconds(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["ask", str(DATA / "capital.wav")], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    (turn,) = history_turns(fake_groq, tmp_path)
    timings = turn["timings"]
    assert isinstance(timings, dict)
    assert {"transcribed_ms", "first_delta_ms", "replied_ms", "transcript_ms", "first_word_ms"} <= set(timings)
    assert all(name.endswith("_ms") and isinstance(value, int) for name, value in timings.items()), timings
    assert 0 <= timings["transcribed_ms"] <= timings["first_delta_ms"] <= timings["replied_ms"]


def older_log(path: Path) -> None:
    """A log as a voicebot before m003 left it: steps m001 and m002 recorded, timings mixed."""
    path.parent.mkdir(parents=True, mode=0o700)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"CREATE TABLE {turnlog.MIGRATIONS_TABLE} (name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)")
    for step in turnlog.MIGRATIONS[:2]:
        assert step.__name__ < "m003" and step(conn)
        conn.execute(f"INSERT INTO {turnlog.MIGRATIONS_TABLE} VALUES (?, ?)", (step.__name__, "2026-11-01T00:00:00Z"))
    for transcript, timings in (("spoken", OLD_TIMINGS), ("typed", {"first_delta": 0.3, "replied": 0.5}),
                                ("no timings", {})):
        conn.execute("INSERT INTO turns (conversation, time, mode, source, transcript, reply, timings) "
                     "VALUES ('c1', ?, 'ask', 'microphone', ?, 'ok', ?)",
                     (datetime.now(UTC).isoformat(), transcript, json.dumps(timings)))
    conn.close()
    path.chmod(0o600)


def test_an_older_logs_seconds_become_milliseconds_by_a_numbered_migration(fake_groq: FakeGroq,
                                                                            tmp_path: Path) -> None:
    db = log_db(tmp_path)
    older_log(db)
    turns = history_turns(fake_groq, tmp_path)
    assert [t["timings"] for t in turns] == [
        {"transcribed_ms": 412, "first_delta_ms": 905, "replied_ms": 1250, "take_end_ms": 180,
         "transcript_ms": 380, "first_word_ms": 870, "answer_ms": 1210},
        {"first_delta_ms": 300, "replied_ms": 500},
        {},
    ]
    conn = sqlite3.connect(db)
    applied = [name for (name,) in conn.execute(f"SELECT name FROM {turnlog.MIGRATIONS_TABLE} ORDER BY name")]
    conn.close()
    assert applied == ["m001_turns", "m002_search", "m003_timings_in_milliseconds"]
    assert history_turns(fake_groq, tmp_path) == turns  # run once: milliseconds are not multiplied again


def test_retranscribe_says_why_a_turn_has_no_audio(fake_groq: FakeGroq, tmp_path: Path) -> None:
    env = {"XDG_DATA_HOME": str(tmp_path / "data")}
    take = PendingStore(env=env).save(prepare_file(DATA / "capital.wav", "opus"), mode="ask")
    proc = run(["retry", "--all"], fake_groq, tmp_path, env=env)  # keep_audio off, as by default
    assert proc.returncode == 0, proc.stderr
    proc = run(["chat"], fake_groq, tmp_path, env=env, stdin="a typed question\n")
    assert proc.returncode == 0, proc.stderr
    proc = run(["ask", str(DATA / "spider.flac")], fake_groq, tmp_path, env=env)
    assert proc.returncode == 0, proc.stderr
    said = []
    for turn in (1, 2, 3):
        proc = run(["history", "retranscribe", str(turn)], fake_groq, tmp_path, env=env)
        assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1, proc.stderr
        said.append(proc.stderr)
    assert said == [
        f"voicebot: error: turn 1 has no kept audio: it was logged when pending take {take.id} was sent again "
        "(`voicebot retry` or the daemon) without keep_audio, and that take was removed once transcribed\n",
        "voicebot: error: turn 2 was typed, not spoken: it has no audio to transcribe again\n",
        "voicebot: error: turn 3 has no kept audio: keep_audio was off when it was logged\n",
    ]
    assert fake_groq.requests_to("/audio/transcriptions")[3:] == []  # nothing was sent for them
