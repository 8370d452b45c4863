"""`voicebot memos`: the installed command against the fake server over a real socket, at once
and through the Batch API, killed mid-way and run again."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.fakegroq import TEST_API_KEY, FakeGroq

VOICEBOT = Path(sys.executable).with_name("voicebot")
DATA = Path(__file__).parents[1] / "data"
TEXTS = {"capital": "What is the capital of France?", "spider": "How many legs does a spider have?"}


@pytest.fixture
def env(tmp_path: Path, fake_groq: FakeGroq) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8",
            "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_RUNTIME_DIR": str(tmp_path), "GROQ_API_KEY": TEST_API_KEY, "GROQ_BASE_URL": fake_groq.host_url}


@pytest.fixture
def memo_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "memos"
    folder.mkdir()
    shutil.copy(DATA / "capital.wav", folder / "capital.wav")
    shutil.copy(DATA / "spider.flac", folder / "spider.flac")
    (folder / "notes.txt").write_text("not audio")
    return folder


def voicebot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(VOICEBOT), *args], capture_output=True, text=True, env=env, timeout=120,
                          stdin=subprocess.DEVNULL)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert TEST_API_KEY not in proc.stdout + proc.stderr
    return proc


def memo(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def state_file(env: dict[str, str]) -> Path:
    return Path(env["XDG_DATA_HOME"]) / "voicebot" / "memos-state.json"


def test_memos_at_once_beside_the_audio_then_skipped(env: dict[str, str], memo_dir: Path, fake_groq: FakeGroq) -> None:
    proc = voicebot(env, "--json", "memos", str(memo_dir))
    assert proc.returncode == 0, proc.stderr
    written = [e for e in map(json.loads, proc.stdout.splitlines()) if e["type"] == "memo"]
    assert sorted(Path(e["source"]).name for e in written) == ["capital.wav", "spider.flac"]
    capital = memo(memo_dir / "capital.memo.json")
    assert capital["transcript"] == TEXTS["capital"] and capital["source"] == str(memo_dir / "capital.wav")
    assert capital["summary"] == "The capital of France is Paris." and capital["batch_id"] is None
    assert capital["title"] == "The capital of France is Paris."[:31] and isinstance(capital["action_items"], list)
    md = (memo_dir / "spider.memo.md").read_text()
    assert md.startswith("# ") and "## Action items" in md and TEXTS["spider"] in md
    chats = fake_groq.requests_to("/chat/completions")
    assert len(chats) == 2 and all(r.json["response_format"]["type"] == "json_schema" for r in chats)
    assert all(r.json["response_format"]["json_schema"]["strict"] for r in chats)  # gpt-oss: strict
    again = voicebot(env, "memos", str(memo_dir))
    assert again.returncode == 0 and "2 of 2 memos already written: skipped" in again.stderr
    assert len(fake_groq.requests) == 4  # nothing more was sent


def test_memos_through_a_batch_in_out(env: dict[str, str], memo_dir: Path, tmp_path: Path,
                                      fake_groq: FakeGroq) -> None:
    out = tmp_path / "out"
    proc = voicebot(env, "memos", "--batch", "--poll-seconds", "0.05", "--out", str(out), str(memo_dir))
    assert proc.returncode == 0, proc.stderr
    assert memo(out / "spider.memo.json")["summary"] == "A spider has eight legs."
    batch_id = memo(out / "capital.memo.json")["batch_id"]
    assert batch_id and batch_id.startswith("batch_")
    (upload,) = [r for r in fake_groq.requests_to("/files") if r.method == "POST"]
    assert upload.upload is not None and upload.upload.filename.endswith(".jsonl")
    (create,) = [r for r in fake_groq.requests_to("/batches") if r.method == "POST"]
    assert create.json["endpoint"] == "/v1/chat/completions" and create.json["completion_window"] == "24h"
    assert not fake_groq.requests_to("/chat/completions")  # everything went through the batch
    assert json.loads(state_file(env).read_text()) == {"transcripts": {}, "batch": None}
    assert not list(memo_dir.glob("*.memo.*"))


def test_a_killed_batch_run_is_resumed_without_paying_twice(env: dict[str, str], memo_dir: Path,
                                                            fake_groq: FakeGroq) -> None:
    fake_groq.set_batch_pace(10_000)  # the batch stays validating until the test lets it go
    first = subprocess.Popen([str(VOICEBOT), "memos", "--batch", "--poll-seconds", "0.05", str(memo_dir)],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        fake_groq.wait_until(lambda reqs: any(r.method == "GET" and r.endpoint.startswith("/batches/batch_")
                                              for r in reqs), timeout=60)  # it polls: the id is kept by now
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(30)
    kept = json.loads(state_file(env).read_text())
    assert kept["batch"]["batch_id"] and sorted(kept["transcripts"]) == sorted(
        str(p) for p in memo_dir.glob("*.*") if p.suffix != ".txt")
    # As if the kill came before the create call's answer: the run finds its batch by its metadata.
    created = kept["batch"]["batch_id"]
    kept["batch"]["batch_id"] = None
    state_file(env).write_text(json.dumps(kept))
    transcriptions = len(fake_groq.requests_to("/audio/transcriptions"))
    fake_groq.set_batch_pace(1)
    second = voicebot(env, "memos", "--batch", "--poll-seconds", "0.05", str(memo_dir))
    assert second.returncode == 0, second.stderr
    assert memo(memo_dir / "capital.memo.json")["batch_id"] == created
    assert len([r for r in fake_groq.requests_to("/batches") if r.method == "POST"]) == 1
    assert len([r for r in fake_groq.requests_to("/files") if r.method == "POST"]) == 1
    assert len(fake_groq.requests_to("/audio/transcriptions")) == transcriptions  # transcripts were kept
    assert memo(memo_dir / "spider.memo.json")["summary"] == "A spider has eight legs."


def test_a_reply_that_is_no_memo_and_audio_without_speech_are_reported(env: dict[str, str], memo_dir: Path,
                                                                        fake_groq: FakeGroq) -> None:
    shutil.copy(DATA / "murmur.wav", memo_dir / "murmur.wav")
    fake_groq.set_reply('{"title": "Paris", "summary": 3, "action_items": []}', times=1)
    proc = voicebot(env, "memos", str(memo_dir / "murmur.wav"), str(memo_dir / "capital.wav"))
    assert proc.returncode == 1
    assert f"{memo_dir / 'murmur.wav'}: no speech recognised" in proc.stderr
    assert "does not match the memo schema" in proc.stderr and "nothing written" in proc.stderr
    assert not list(memo_dir.glob("*.memo.*"))
    retry = voicebot(env, "memos", str(memo_dir / "capital.wav"))  # the transcript was kept: only the chat again
    assert retry.returncode == 0 and (memo_dir / "capital.memo.json").exists()
    assert len(fake_groq.requests_to("/audio/transcriptions")) == 2


def test_what_a_user_can_get_wrong(env: dict[str, str], tmp_path: Path) -> None:
    missing = voicebot(env, "memos", str(tmp_path / "nope"))
    assert missing.returncode == 2 and missing.stderr.endswith("no such file or folder\n")
    (tmp_path / "empty").mkdir()
    empty = voicebot(env, "memos", str(tmp_path / "empty"))
    assert empty.returncode == 2 and "no audio files found" in empty.stderr
    window = voicebot(env, "memos", "--batch", "--window", "1h", str(DATA / "capital.wav"), "--out", str(tmp_path))
    assert window.returncode == 2 and window.stderr == (
        "voicebot: error: --window must be a duration from 24h to 7d, like 24h, 48h or 7d (not '1h')\n")


def test_audio_by_url_is_transcribed_inside_a_batch(env: dict[str, str], tmp_path: Path, fake_groq: FakeGroq) -> None:
    """Groq's batches take audio only by URL: one batch transcribes, the next writes the memos."""
    capital = fake_groq.host_media("capital.wav", (DATA / "capital.wav").read_bytes())
    murmur = fake_groq.host_media("murmur.wav", (DATA / "murmur.wav").read_bytes())
    out = tmp_path / "out"
    proc = voicebot(env, "memos", "--batch", "--poll-seconds", "0.05", "--out", str(out), capital, murmur)
    assert proc.returncode == 1  # the murmur has no speech: named, the other memo written
    assert f"{murmur}: no speech recognised" in proc.stderr
    written = memo(out / "capital.memo.json")
    assert written["source"] == capital and written["transcript"] == TEXTS["capital"]
    assert written["summary"] == "The capital of France is Paris." and not (out / "murmur.memo.json").exists()
    creates = [r.json["endpoint"] for r in fake_groq.requests_to("/batches") if r.method == "POST"]
    assert creates == ["/v1/audio/transcriptions", "/v1/chat/completions"]
    assert not fake_groq.requests_to("/audio/transcriptions")  # nothing uploaded: the server fetched it
    no_out = voicebot(env, "memos", "--batch", capital)
    assert no_out.returncode == 2 and "needs --out" in no_out.stderr
    no_batch = voicebot(env, "memos", "--out", str(out), murmur)
    assert no_batch.returncode == 2 and "add --batch" in no_batch.stderr


def test_a_memo_the_model_refuses_is_named_and_the_others_are_written(env: dict[str, str], memo_dir: Path,
                                                                       fake_groq: FakeGroq) -> None:
    fake_groq.fail_next("/chat/completions", 400, times=1)
    proc = voicebot(env, "memos", str(memo_dir))
    assert proc.returncode == 1 and proc.stderr.count("the model refused this memo") == 1
    assert len(list(memo_dir.glob("*.memo.json"))) == 1
    assert voicebot(env, "memos", str(memo_dir)).returncode == 0 and len(list(memo_dir.glob("*.memo.json"))) == 2


def test_each_memo_is_a_conversation_in_the_log_to_search_show_and_ask_about(
        env: dict[str, str], memo_dir: Path, fake_groq: FakeGroq) -> None:
    proc = voicebot(env, "--json", "memos", str(memo_dir))
    assert proc.returncode == 0, proc.stderr
    progress = [e for e in map(json.loads, proc.stdout.splitlines()) if e["type"] == "progress"]
    assert [(e["stage"], e["done"], e["total"]) for e in progress] == [
        ("transcribe", 1, 2), ("transcribe", 2, 2), ("memo", 1, 2), ("memo", 2, 2)]
    assert progress[-1]["eta_s"] == 0.0 and isinstance(progress[0]["eta_s"], float)
    found = voicebot(env, "--json", "history", "--search", "spider")
    (turn,) = [e for e in map(json.loads, found.stdout.splitlines()) if e["type"] == "turn"]
    assert (turn["mode"], turn["source"], turn["transcript"]) == ("memo", str(memo_dir / "spider.flac"),
                                                                  TEXTS["spider"])
    assert turn["reply"].startswith("# ") and "## Action items" in turn["reply"] and turn["model"]
    assert "## Transcript" not in turn["reply"]  # the transcript is the turn's own words
    shown = voicebot(env, "history", "show", turn["conversation"])
    assert "memo" in shown.stdout and f"You: {TEXTS['spider']}" in shown.stdout and "Assistant: # " in shown.stdout
    asked = subprocess.run([str(VOICEBOT), "chat", "--conversation", turn["conversation"]], capture_output=True,
                           text=True, env=env, timeout=120, input="What were the action items?\n")
    assert asked.returncode == 0, asked.stderr
    messages = fake_groq.requests_to("/chat/completions")[-1].json["messages"]
    assert [m["role"] for m in messages[-3:]] == ["user", "assistant", "user"]
    assert messages[-3]["content"] == TEXTS["spider"] and messages[-2]["content"] == turn["reply"]


def test_a_terminal_sees_a_bar_with_counts_and_the_time_left(env: dict[str, str], memo_dir: Path) -> None:
    import pty

    master, slave = pty.openpty()
    proc = subprocess.Popen([str(VOICEBOT), "memos", str(memo_dir)], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=slave, text=True)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 4096)
        except OSError:  # the command ended: its side of the terminal is closed
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    assert proc.wait(timeout=120) == 0
    text = seen.decode()
    assert "transcribing [##########----------] 1/2 50% · about 0:" in text
    assert "writing memos [####################] 2/2 100%" in text
    assert "\x1b[2K" in text  # redrawn in place
