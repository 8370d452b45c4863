"""The conversation log as a user meets it: real `voicebot` runs against the local server,
the real log file under a private HOME, and `voicebot history` reading it back."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
from pathlib import Path

import pytest

from tests.cli.test_cli import DATA, VOICEBOT, base_env, chat_requests, events, run
from tests.fakegroq import TEST_API_KEY, FakeGroq

QUESTION = "What is the capital of France?"
SPIDER = "How many legs does a spider have?"


def log_db(home: Path) -> Path:
    return home / ".local" / "share" / "voicebot" / "log.db"


def rows(home: Path) -> list[dict[str, object]]:
    conn = sqlite3.connect(log_db(home))
    conn.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in conn.execute("SELECT * FROM turns ORDER BY id")]
    finally:
        conn.close()


def history_json(fake: FakeGroq, home: Path, *args: str) -> list[dict[str, object]]:
    proc = run(["history", "--json", *args], fake, home)
    assert proc.returncode == 0, proc.stderr
    return events(proc.stdout)


def test_a_spoken_turn_is_logged_and_shown_by_history(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["ask", str(DATA / "capital.wav")], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not_timing(proc.stderr) == ""  # logging is silent when it works
    (turn,) = history_json(fake_groq, tmp_path)
    assert turn["type"] == "turn" and isinstance(turn["id"], int)
    assert (turn["mode"], turn["transcript"], turn["reply"]) == ("ask", QUESTION, "The capital of France is Paris.")
    assert turn["source"] == str(DATA / "capital.wav")
    assert turn["interrupted"] is False and turn["model"] == "openai/gpt-oss-20b"
    assert turn["stt_model"] == "whisper-large-v3-turbo"
    assert isinstance(turn["usage"], dict) and turn["usage"]["total_tokens"] > 0
    timings = turn["timings"]
    assert isinstance(timings, dict) and 0 <= timings["transcribed_ms"] <= timings["first_delta_ms"] <= timings["replied_ms"]
    assert str(turn["conversation"]) and turn["time"]
    human = run(["history"], fake_groq, tmp_path)
    assert human.returncode == 0, human.stderr
    assert f"You: {QUESTION}\nAssistant: The capital of France is Paris.\n" in human.stdout
    assert human.stdout.startswith(f"#{turn['id']}  ")


def test_the_log_is_private_wal_and_never_holds_the_key(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["ask", str(DATA / "capital.wav")], fake_groq, tmp_path, env={"XDG_DATA_HOME": str(tmp_path / "d")})
    assert proc.returncode == 0, proc.stderr
    db = tmp_path / "d" / "voicebot" / "log.db"
    assert stat.S_IMODE(db.stat().st_mode) == 0o600
    assert stat.S_IMODE(db.parent.stat().st_mode) == 0o700
    for extra in db.parent.glob("log.db-*"):  # -wal, -shm: SQLite copies the database's mode
        assert stat.S_IMODE(extra.stat().st_mode) == 0o600
    conn = sqlite3.connect(db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    for path in db.parent.iterdir():
        assert TEST_API_KEY.encode() not in path.read_bytes()


def test_typed_turns_and_history_order_count_and_search(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["chat"], fake_groq, tmp_path, stdin="first question about apples\nsecond about pears\n")
    assert proc.returncode == 0, proc.stderr
    proc = run(["ask", str(DATA / "spider.flac")], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    turns = history_json(fake_groq, tmp_path)
    assert [t["transcript"] for t in turns] == ["first question about apples", "second about pears", SPIDER]
    assert [t["source"] for t in turns[:2]] == ["text", "text"]
    assert turns[0]["conversation"] == turns[1]["conversation"] != turns[2]["conversation"]
    assert [t["transcript"] for t in history_json(fake_groq, tmp_path, "-n", "2")] == ["second about pears", SPIDER]
    assert [t["transcript"] for t in history_json(fake_groq, tmp_path, "--search", "pear")] == ["second about pears"]
    # every word must match, in the transcript or the reply ("eight" is only in the spider's answer)
    assert [t["transcript"] for t in history_json(fake_groq, tmp_path, "--search", "spider eight")] == [SPIDER]
    assert history_json(fake_groq, tmp_path, "--search", 'apples" -"(*') == history_json(
        fake_groq, tmp_path, "--search", "apples")  # search syntax from the user is only words
    none = run(["history", "--search", "zebra"], fake_groq, tmp_path)
    assert none.returncode == 0 and none.stdout == "" and "no matching turns" in none.stderr


def test_history_show_prints_one_conversation_whole(fake_groq: FakeGroq, tmp_path: Path) -> None:
    run(["chat"], fake_groq, tmp_path, stdin="one\ntwo\nthree\n")
    run(["chat"], fake_groq, tmp_path, stdin="other\n")
    first = history_json(fake_groq, tmp_path)[0]["conversation"]
    proc = run(["history", "show", str(first), "--json"], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert [e["transcript"] for e in events(proc.stdout)] == ["one", "two", "three"]
    human = run(["history", "show", str(first)], fake_groq, tmp_path)
    assert [line for line in human.stdout.splitlines() if line.startswith("You:")] == ["You: one", "You: two",
                                                                                        "You: three"]
    unknown = run(["history", "show", "20200101T000000Z-000000"], fake_groq, tmp_path)
    assert unknown.returncode == 2 and unknown.stdout == ""
    assert unknown.stderr.startswith("voicebot: error: no conversation") and len(unknown.stderr.splitlines()) == 1


def test_history_before_any_turn_creates_nothing(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["history"], fake_groq, tmp_path)
    assert proc.returncode == 0 and proc.stdout == "" and "no turns recorded yet" in proc.stderr
    assert run(["history", "--json"], fake_groq, tmp_path).stdout == ""
    assert not log_db(tmp_path).exists()


# --- resuming ---------------------------------------------------------------------------------


def test_continue_sends_the_latest_conversation_back_to_the_model(fake_groq: FakeGroq, tmp_path: Path) -> None:
    run(["chat"], fake_groq, tmp_path, stdin="my name is Ada\n")
    proc = run(["ask", "--continue", str(DATA / "capital.wav")], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "continuing conversation" in proc.stderr
    messages = chat_requests(fake_groq)[-1]["messages"]
    assert [m["content"] for m in messages if m["role"] == "user"] == ["my name is Ada", QUESTION]  # type: ignore[index]
    turns = history_json(fake_groq, tmp_path)
    assert turns[0]["conversation"] == turns[1]["conversation"]  # new turns join the resumed conversation
    # --conversation picks a given one; chat takes both flags too
    other = run(["chat"], fake_groq, tmp_path, stdin="unrelated\n")
    assert other.returncode == 0
    proc = run(["chat", "--conversation", str(turns[0]["conversation"])], fake_groq, tmp_path, stdin="and again\n")
    assert proc.returncode == 0, proc.stderr
    users = [m["content"] for m in chat_requests(fake_groq)[-1]["messages"] if m["role"] == "user"]  # type: ignore[index]
    assert users == ["my name is Ada", QUESTION, "and again"]


def test_continue_stays_within_the_history_budget(fake_groq: FakeGroq, tmp_path: Path) -> None:
    long_lines = "".join(f"question {i} " + "x" * 300 + "\n" for i in range(6))
    run(["chat"], fake_groq, tmp_path, stdin=long_lines)
    proc = run(["chat", "--continue", "--history-tokens", "400"], fake_groq, tmp_path, stdin="last one\n")
    assert proc.returncode == 0, proc.stderr
    users = [m["content"] for m in chat_requests(fake_groq)[-1]["messages"] if m["role"] == "user"]  # type: ignore[index]
    assert users[-1] == "last one" and 1 <= len(users) < 7 and users[-2].startswith("question 5")


def test_unknown_conversation_is_one_line_and_exit_2(fake_groq: FakeGroq, tmp_path: Path) -> None:
    run(["chat"], fake_groq, tmp_path, stdin="hello\n")
    for args in (["chat", "--conversation", "nope"], ["ask", "--conversation", "nope", str(DATA / "capital.wav")],
                 ["chat", "--continue", "--conversation", "x"], ["run", "--conversation", "nope"]):
        proc = run(args, fake_groq, tmp_path, stdin="hi\n")
        assert proc.returncode == 2, args
        assert proc.stderr.startswith("voicebot: error: ") and len(proc.stderr.splitlines()) == 1
    assert len(chat_requests(fake_groq)) == 1  # nothing was sent for the refused runs


def test_continue_with_an_empty_log_starts_afresh(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["chat", "--continue"], fake_groq, tmp_path, stdin="hi\n")
    assert proc.returncode == 0 and "no earlier conversation" in proc.stderr


# --- turning it off, and a log that cannot be written ---------------------------------------


@pytest.mark.parametrize("how", ["flag", "env", "config"])
def test_log_false_records_nothing(fake_groq: FakeGroq, tmp_path: Path, how: str) -> None:
    args, env = ["ask", str(DATA / "capital.wav")], {}
    if how == "flag":
        args.insert(1, "--no-log")
    elif how == "env":
        env["VOICEBOT_LOG"] = "false"
    else:
        (tmp_path / ".config" / "voicebot").mkdir(parents=True)
        (tmp_path / ".config" / "voicebot" / "config.toml").write_text("log = false\n")
    proc = run(args, fake_groq, tmp_path, env=env)
    assert proc.returncode == 0 and not_timing(proc.stderr) == ""
    assert not log_db(tmp_path).exists()


def _ask_twice(fake: FakeGroq, home: Path) -> subprocess.CompletedProcess[str]:
    return run(["ask", str(DATA / "capital.wav"), str(DATA / "spider.flac")], fake, home)


def not_timing(stderr: str) -> str:
    """stderr without the turn's timing line (`voicebot: heard in 0.31 s · first word 0.52 s`)."""
    return "".join(line for line in stderr.splitlines(keepends=True) if " heard in " not in line)


def _assert_one_notice_and_answers(proc: subprocess.CompletedProcess[str]) -> None:
    """Both turns answered in full, and one notice for the two failed writes."""
    assert proc.returncode == 0, proc.stderr
    assert "Paris" in proc.stdout and "eight legs" in proc.stdout
    lines = [line for line in proc.stderr.splitlines() if " heard in " not in line]  # not the timing lines
    assert len(lines) == 1 and "the conversation log cannot be written" in lines[0], lines


def test_a_locked_log_costs_one_notice_and_the_turns_still_work(fake_groq: FakeGroq, tmp_path: Path) -> None:
    run(["chat"], fake_groq, tmp_path, stdin="before the lock\n")
    holder = sqlite3.connect(log_db(tmp_path), isolation_level=None)
    holder.execute("BEGIN EXCLUSIVE")
    try:
        proc = _ask_twice(fake_groq, tmp_path)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    _assert_one_notice_and_answers(proc)
    assert "database is locked" in proc.stderr
    assert [r["transcript"] for r in rows(tmp_path)] == ["before the lock"]
    run(["chat"], fake_groq, tmp_path, stdin="after the lock\n")  # the lock gone, logging resumes
    assert [r["transcript"] for r in rows(tmp_path)] == ["before the lock", "after the lock"]


def run_without_root_powers(args: list[str], fake: FakeGroq, home: Path) -> subprocess.CompletedProcess[str]:
    """`run`, but as root without the capability to ignore file modes (root writes to 0400 files)."""
    if os.geteuid() != 0:
        return run(args, fake, home)
    cmd = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", str(VOICEBOT), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=base_env(fake, home), timeout=60,
                          stdin=subprocess.DEVNULL)
    assert "Traceback" not in proc.stderr and TEST_API_KEY not in proc.stdout + proc.stderr, proc.stderr
    return proc


@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("setpriv") is None, reason="root writes to 0400 files")
def test_a_read_only_log_costs_one_notice_and_can_still_be_read(fake_groq: FakeGroq, tmp_path: Path) -> None:
    run(["chat"], fake_groq, tmp_path, stdin="before\n")
    log_db(tmp_path).chmod(0o400)
    proc = run_without_root_powers(["ask", str(DATA / "capital.wav"), str(DATA / "spider.flac")], fake_groq,
                                   tmp_path)
    _assert_one_notice_and_answers(proc)
    shown = run_without_root_powers(["history", "--json"], fake_groq, tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert [e["transcript"] for e in events(shown.stdout)] == ["before"]


def test_a_damaged_log_costs_one_notice_and_history_says_so(fake_groq: FakeGroq, tmp_path: Path) -> None:
    db = log_db(tmp_path)
    db.parent.mkdir(parents=True)
    db.write_bytes(b"this is not a database, just garbage " * 200)
    db.chmod(0o600)
    proc = _ask_twice(fake_groq, tmp_path)
    _assert_one_notice_and_answers(proc)
    assert "file is not a database" in proc.stderr
    assert db.read_bytes().startswith(b"this is not a database")  # never overwritten
    shown = run(["history"], fake_groq, tmp_path)
    assert shown.returncode == 1 and shown.stderr.startswith("voicebot: error: cannot read the conversation log")
    assert len(shown.stderr.splitlines()) == 1


# --- keeping audio and transcribing again -----------------------------------------------------


def test_keep_audio_and_retranscribe(fake_groq: FakeGroq, tmp_path: Path) -> None:
    run(["ask", str(DATA / "capital.wav")], fake_groq, tmp_path)  # keep_audio off: nothing kept
    proc = run(["ask", "--keep-audio", str(DATA / "spider.flac")], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    plain, kept = history_json(fake_groq, tmp_path)
    assert plain["audio"] is None and kept["audio"] == f"{kept['id']}.ogg"  # as it was sent (Opus)
    folder = tmp_path / ".local" / "share" / "voicebot" / "audio"
    audio = folder / str(kept["audio"])
    assert stat.S_IMODE(audio.stat().st_mode) == 0o600 and stat.S_IMODE(folder.stat().st_mode) == 0o700
    sent = fake_groq.requests_to("/audio/transcriptions")[-1].audio
    assert sent is not None and audio.read_bytes()[:4] == b"OggS" and audio.stat().st_size == sent.size

    fake_groq.reset()
    again = run(["history", "retranscribe", str(kept["id"]), "--stt-model", "whisper-large-v3"], fake_groq, tmp_path)
    assert again.returncode == 0, again.stderr
    assert again.stdout == f"{SPIDER}\n"
    assert "retranscribed with whisper-large-v3" in again.stderr
    (req,) = fake_groq.requests_to("/audio/transcriptions")
    assert req.form["model"] == "whisper-large-v3" and req.audio.fixture == "spider.flac"  # type: ignore[union-attr]
    assert fake_groq.requests_to("/chat/completions") == []  # transcribed only, not asked again
    turns = history_json(fake_groq, tmp_path)
    assert len(turns) == 2 and turns[1]["stt_model"] == "whisper-large-v3" and turns[1]["first_transcript"] == SPIDER

    missing = run(["history", "retranscribe", str(plain["id"])], fake_groq, tmp_path)
    assert missing.returncode == 2 and "no kept audio" in missing.stderr and len(missing.stderr.splitlines()) == 1
    for bad in ("999", "abc"):
        proc = run(["history", "retranscribe", bad], fake_groq, tmp_path)
        assert proc.returncode == 2 and len(proc.stderr.splitlines()) == 1


def test_retranscribe_json(fake_groq: FakeGroq, tmp_path: Path) -> None:
    env = {"VOICEBOT_KEEP_AUDIO": "true"}
    run(["transcribe", str(DATA / "capital.wav")], fake_groq, tmp_path, env=env)
    (turn,) = history_json(fake_groq, tmp_path)
    assert (turn["mode"], turn["reply"]) == ("transcribe", None)
    proc = run(["history", "retranscribe", str(turn["id"]), "--json"], fake_groq, tmp_path)
    (event,) = events(proc.stdout)
    assert event == {"type": "retranscribed", "id": turn["id"], "transcript": QUESTION, "previous": QUESTION,
                     "stt_model": "whisper-large-v3-turbo"}
    assert json.loads(json.dumps(event))


def test_resent_takes_and_translations_are_logged_in_their_modes(fake_groq: FakeGroq, tmp_path: Path) -> None:
    from voicebot.audio.files import prepare_file
    from voicebot.spool.store import PendingStore

    store = PendingStore(tmp_path / ".local" / "share" / "voicebot" / "pending")
    dictated = store.save(prepare_file(DATA / "spider.flac"), mode="dictate")
    asked = store.save(prepare_file(DATA / "capital.wav"), mode="ask")
    proc = run(["retry", "--all"], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = run(["translate", str(DATA / "bonjour.ogg")], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    turns = history_json(fake_groq, tmp_path)
    assert [(t["mode"], t["source"], t["reply"] is not None) for t in turns] == [
        ("dictate", f"pending take {dictated.id}", False), ("ask", f"pending take {asked.id}", True),
        ("translate", str(DATA / "bonjour.ogg"), False)]
    assert turns[2]["stt_model"] == "whisper-large-v3" and turns[2]["transcript"].startswith("Hello")
