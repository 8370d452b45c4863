"""The conversation log's database and writer, on real files: migrations, search with and
without FTS5, privacy of the files, and a writer that never holds up the event loop."""

from __future__ import annotations

import asyncio
import io
import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakegroq import TEST_API_KEY, FakeGroq
from voicebot.api.client import Endpoint, GroqClient
from voicebot.cli.wiring import make_assistant
from voicebot.config.schema import Settings
from voicebot.errors import ApiError
from voicebot.log import store as turnlog
from voicebot.log.writer import LogWriter
from voicebot.turns.console import JsonOutput


@pytest.fixture
def no_fts5(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """This process's SQLite, as a build without FTS5 would behave for the log."""
    monkeypatch.setattr(turnlog, "fts5_available", lambda conn: False)
    yield


def add(conn: sqlite3.Connection, transcript: str, reply: str | None = None, conversation: str = "c1") -> int:
    turn_id = turnlog.insert_turn(conn, turnlog.NewTurn(conversation, "ask", "text", transcript))
    if reply is not None:
        turnlog.update_turn(conn, turn_id, reply=reply)
    return turn_id


def texts(turns: list[turnlog.LoggedTurn]) -> list[str]:
    return [t.transcript for t in turns]


def test_a_new_log_is_private_wal_and_fully_migrated(tmp_path: Path) -> None:
    old = os.umask(0o022)
    try:
        conn = turnlog.connect(tmp_path / "data" / "voicebot" / "log.db")
    finally:
        os.umask(old)
    db = tmp_path / "data" / "voicebot" / "log.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600 and stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    applied = [r[0] for r in conn.execute("SELECT name FROM _voicebot_migrations ORDER BY name")]
    assert applied == [m.__name__ for m in turnlog.MIGRATIONS] == ["m001_turns", "m002_search",
                                                                       "m003_timings_in_milliseconds"]
    assert turnlog.migrate(conn) == []  # each step runs once
    conn.close()
    assert turnlog.migrate(sqlite3.connect(db, isolation_level=None)) == []


def test_a_looser_log_file_of_ours_is_tightened(tmp_path: Path) -> None:
    db = tmp_path / "voicebot" / "log.db"
    turnlog.connect(db).close()
    db.chmod(0o644)
    turnlog.connect(db).close()
    assert stat.S_IMODE(db.stat().st_mode) == 0o600


def test_search_with_fts5_matches_word_prefixes_in_transcript_and_reply(tmp_path: Path) -> None:
    conn = turnlog.connect(tmp_path / "log.db")
    assert turnlog.has_search_index(conn)
    add(conn, "what is the capital of France", "Paris")
    add(conn, "how many legs has a spider", "eight")
    add(conn, "dictated note about the budget")
    assert texts(turnlog.latest(conn, 10, "capit")) == ["what is the capital of France"]
    assert texts(turnlog.latest(conn, 10, "PARIS")) == ["what is the capital of France"]
    assert texts(turnlog.latest(conn, 10, "spider eight")) == ["how many legs has a spider"]
    assert texts(turnlog.latest(conn, 10, "spider paris")) == []
    assert texts(turnlog.latest(conn, 10, 'NEAR( "OR" *')) == []  # never FTS syntax errors
    assert texts(turnlog.latest(conn, 10, "!!!")) == []
    assert texts(turnlog.latest(conn, 2)) == ["how many legs has a spider", "dictated note about the budget"]


def test_the_index_follows_updates_and_retranscriptions(tmp_path: Path) -> None:
    conn = turnlog.connect(tmp_path / "log.db")
    turn = add(conn, "the cat sat")
    turnlog.update_turn(conn, turn, reply="on the mat")
    assert texts(turnlog.latest(conn, 5, "mat")) == ["the cat sat"]
    turnlog.retranscribed(conn, turn, "the hat sat", "whisper-large-v3")
    turnlog.retranscribed(conn, turn, "the bat sat", "whisper-large-v3")
    assert turnlog.latest(conn, 5, "cat") == [] and turnlog.latest(conn, 5, "hat") == []
    (found,) = turnlog.latest(conn, 5, "bat")
    assert (found.first_transcript, found.stt_model) == ("the cat sat", "whisper-large-v3")


def test_search_without_fts5_falls_back_to_like(tmp_path: Path, no_fts5: None) -> None:
    conn = turnlog.connect(tmp_path / "log.db")
    assert not turnlog.has_search_index(conn)
    assert [r[0] for r in conn.execute("SELECT name FROM _voicebot_migrations")] == [
        "m001_turns", "m003_timings_in_milliseconds"]
    add(conn, "what is the capital of France", "Paris")
    add(conn, "100% sure_thing", "yes")
    add(conn, "how many legs has a spider", "eight")
    assert texts(turnlog.latest(conn, 10, "capit")) == ["what is the capital of France"]
    assert texts(turnlog.latest(conn, 10, "spider EIGHT")) == ["how many legs has a spider"]
    assert texts(turnlog.latest(conn, 10, "sure_thing")) == ["100% sure_thing"]
    assert texts(turnlog.latest(conn, 10, "e_g")) == []  # _ and % are literal, not wildcards
    conn.close()


def test_fts5_arriving_later_indexes_the_turns_logged_before(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(turnlog, "fts5_available", lambda conn: False)
    conn = turnlog.connect(tmp_path / "log.db")
    add(conn, "logged without an index", "still found")
    conn.close()
    monkeypatch.undo()
    conn = turnlog.connect(tmp_path / "log.db")
    assert turnlog.has_search_index(conn)
    assert texts(turnlog.latest(conn, 5, "found")) == ["logged without an index"]


def test_conversations_read_back_in_order(tmp_path: Path) -> None:
    conn = turnlog.connect(tmp_path / "log.db")
    for i in range(5):
        add(conn, f"a{i}", f"r{i}", conversation="A")
        add(conn, f"b{i}", None, conversation="B")  # never answered: dictation
    assert texts(turnlog.conversation_turns(conn, "A")) == [f"a{i}" for i in range(5)]
    assert texts(turnlog.conversation_turns(conn, "A", 2)) == ["a3", "a4"]
    assert turnlog.latest_conversation(conn) == "A"  # dictation alone is no conversation to continue
    memo = turnlog.insert_turn(conn, turnlog.NewTurn("M", "memo", "/memos/a.wav", "the memo's words"))
    turnlog.update_turn(conn, memo, reply="# A memo")
    assert turnlog.latest_conversation(conn) == "A"  # nor is a memo (`voicebot memos`)
    assert turnlog.get_turn(conn, 999) is None


# --- the writer ---------------------------------------------------------------------------


def test_writes_happen_in_order_off_the_loop_and_a_lock_costs_one_notice(tmp_path: Path) -> None:
    db = tmp_path / "log.db"
    turnlog.connect(db).close()
    notices: list[str] = []

    async def go() -> int:
        recorder = LogWriter(db, notices.append)
        holder = sqlite3.connect(db, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        ticks = 0
        entry = recorder.begin(conversation="c", mode="ask", source="text", transcript="locked out")
        recorder.update(entry, reply="lost")  # the turn's row was never written: nothing to add to
        while not notices:  # the writer waits out the lock; the loop goes on meanwhile
            await asyncio.sleep(0.01)
            ticks += 1
        holder.execute("ROLLBACK")
        holder.close()
        later = recorder.begin(conversation="c", mode="ask", source="text", transcript="after")
        recorder.update(later, reply="kept", usage={"total_tokens": 3})
        await recorder.aclose()
        return ticks

    ticks = asyncio.run(go())
    assert ticks > 20  # the loop ran freely through the whole busy wait
    assert len(notices) == 1 and "database is locked" in notices[0] and str(db) in notices[0]
    conn = turnlog.connect(db)
    (turn,) = turnlog.latest(conn, 10)
    assert (turn.transcript, turn.reply, turn.usage) == ("after", "kept", {"total_tokens": 3})


def test_an_off_recorder_writes_nothing(tmp_path: Path) -> None:
    recorder = LogWriter.off()
    entry = recorder.begin(conversation="c", mode="ask", source="text", transcript="x")
    recorder.update(entry, reply="y")
    recorder.close()
    assert not recorder.enabled and list(tmp_path.iterdir()) == []


def test_an_interrupted_answer_is_logged_as_interrupted(fake_groq: FakeGroq, tmp_path: Path) -> None:
    fake_groq.set_chunk_delay(0.2)
    fake_groq.set_reply("one two three four five six seven eight", times=1)
    db = tmp_path / "log.db"
    out = io.StringIO()

    async def go() -> None:
        recorder = LogWriter(db, lambda text: None)
        async with GroqClient(Endpoint(fake_groq.base_url, TEST_API_KEY)) as client:
            assistant = make_assistant(client, Settings(), JsonOutput(out, io.StringIO()), log=recorder)
            turn = asyncio.create_task(assistant.ask("tell me a long story"))
            while '"delta"' not in out.getvalue():
                await asyncio.sleep(0.02)
            turn.cancel()  # barge-in
            with pytest.raises(asyncio.CancelledError):
                await turn
            fake_groq.set_chunk_delay(0)
            await assistant.ask("and now?")
        await recorder.aclose()

    asyncio.run(asyncio.wait_for(go(), 20))
    conn = turnlog.connect(db)
    cut, whole = turnlog.latest(conn, 10)
    shown = next(json.loads(line) for line in out.getvalue().splitlines() if '"reply"' in line)
    assert cut.interrupted and cut.reply == shown["text"] and cut.reply.startswith("one")
    assert not whole.interrupted and whole.reply == "You said: and now?"
    assert cut.conversation == whole.conversation and "first_delta_ms" in cut.timings
    assert TEST_API_KEY.encode() not in db.read_bytes()


def test_a_failed_answer_keeps_the_words_and_the_error(fake_groq: FakeGroq, tmp_path: Path) -> None:
    fake_groq.fail_next("/chat/completions", 400)
    db = tmp_path / "log.db"

    async def go() -> None:
        recorder = LogWriter(db, lambda text: None)
        async with GroqClient(Endpoint(fake_groq.base_url, TEST_API_KEY), max_retries=0) as client:
            assistant = make_assistant(client, Settings(), JsonOutput(io.StringIO(), io.StringIO()), log=recorder)
            with pytest.raises(ApiError):
                await assistant.ask("doomed question")
        await recorder.aclose()

    asyncio.run(asyncio.wait_for(go(), 20))
    (turn,) = turnlog.latest(turnlog.connect(db), 5)
    assert turn.transcript == "doomed question" and turn.reply is None and turn.error
