"""`voicebot batch ...` and `voicebot files ...`: the installed command against the fake server
over a real socket (batches set up with the official SDK, as another program would)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import groq
import pytest

from tests.fakegroq import TEST_API_KEY, FakeGroq

VOICEBOT = Path(sys.executable).with_name("voicebot")
MODEL = "openai/gpt-oss-20b"


@pytest.fixture
def env(tmp_path: Path, fake_groq: FakeGroq) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8",
            "XDG_CONFIG_HOME": str(tmp_path / "config"), "XDG_DATA_HOME": str(tmp_path / "data"),
            "XDG_RUNTIME_DIR": str(tmp_path), "GROQ_API_KEY": TEST_API_KEY, "GROQ_BASE_URL": fake_groq.host_url}


def voicebot(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run([str(VOICEBOT), *args], capture_output=True, text=True, env=env, timeout=60,
                          stdin=subprocess.DEVNULL)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def events(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


@pytest.fixture
def sdk(fake_groq: FakeGroq) -> Iterator[groq.Groq]:
    with groq.Groq(api_key=TEST_API_KEY, base_url=fake_groq.host_url, max_retries=0) as c:
        yield c


def start_batch(sdk: groq.Groq, questions: dict[str, str], model: str = MODEL) -> str:
    lines = [{"custom_id": cid, "method": "POST", "url": "/v1/chat/completions",
              "body": {"model": model if cid != "broken" else "no-such-model",
                       "messages": [{"role": "user", "content": q}]}} for cid, q in questions.items()]
    data = "".join(json.dumps(line) + "\n" for line in lines).encode()
    upload = sdk.files.create(file=("memos.jsonl", data), purpose="batch")
    return sdk.batches.create(input_file_id=upload.id, endpoint="/v1/chat/completions", completion_window="24h").id


def test_batch_list_show_and_results_by_custom_id(env: dict[str, str], sdk: groq.Groq) -> None:
    ident = start_batch(sdk, {"paris": "What is the capital of France?", "legs": "How many legs does a spider have?",
                              "broken": "hello"})
    listed = voicebot(env, "batch", "list")
    assert listed.returncode == 0 and ident in listed.stdout and "validating" in listed.stdout
    early = voicebot(env, "batch", "results", ident)
    assert early.returncode == 2 and "no results yet" in early.stderr and len(early.stderr.splitlines()) == 1
    for _ in range(3):  # each retrieve moves the fake's batch one state on
        shown = voicebot(env, "--json", "batch", "show", ident)
    (event,) = events(shown.stdout)
    assert event["type"] == "batch" and event["status"] == "completed"
    assert event["request_counts"] == {"total": 3, "completed": 2, "failed": 1}
    human = voicebot(env, "batch", "show", ident)
    assert "status:      completed" in human.stdout and "2 done, 1 failed, 3 in all" in human.stdout

    results = voicebot(env, "batch", "results", ident)
    assert results.returncode == 1  # one request failed: named on stderr, the others printed
    assert results.stdout.splitlines() == ["legs: A spider has eight legs.", "paris: The capital of France is Paris."]
    assert results.stderr.startswith("voicebot: broken failed: HTTP 404")
    as_json = {e["custom_id"]: e for e in events(voicebot(env, "--json", "batch", "results", ident).stdout)}
    assert as_json["paris"]["ok"] and as_json["paris"]["status"] == 200
    assert as_json["paris"]["body"]["choices"][0]["message"]["content"] == "The capital of France is Paris."
    assert not as_json["broken"]["ok"] and as_json["broken"]["status"] == 404


def test_results_keeps_the_raw_files_with_out(env: dict[str, str], sdk: groq.Groq, tmp_path: Path) -> None:
    ident = start_batch(sdk, {"paris": "What is the capital of France?"})
    for _ in range(3):
        sdk.batches.retrieve(ident)
    proc = voicebot(env, "batch", "results", ident, "--out", str(tmp_path / "kept"))
    assert proc.returncode == 0, proc.stderr
    kept = tmp_path / "kept" / f"{ident}.output.jsonl"
    assert json.loads(kept.read_text())["custom_id"] == "paris"
    assert not (tmp_path / "kept" / f"{ident}.errors.jsonl").exists()


def test_cancel_and_the_errors_a_user_can_make(env: dict[str, str], sdk: groq.Groq) -> None:
    ident = start_batch(sdk, {"paris": "What is the capital of France?"})
    cancelled = voicebot(env, "batch", "cancel", ident)
    assert cancelled.returncode == 0 and "status:      cancelling" in cancelled.stdout
    sdk.batches.retrieve(ident)  # cancelling -> cancelled
    again = voicebot(env, "batch", "cancel", ident)
    assert again.returncode == 2 and again.stderr.startswith(f"voicebot: error: batch {ident} cannot be cancelled")
    unknown = voicebot(env, "batch", "show", "batch_nope")
    assert unknown.returncode == 2
    assert unknown.stderr == ("voicebot: error: no batch 'batch_nope' on the server (see `voicebot batch list`)\n")
    missing = voicebot(env, "batch", "show")
    assert missing.returncode == 2 and "needs an ID" in missing.stderr
    assert voicebot(env, "batch", "frobnicate").returncode == 2


def test_files_list_show_download_delete(env: dict[str, str], sdk: groq.Groq, tmp_path: Path) -> None:
    data = b'{"custom_id": "a"}\n'
    ident = sdk.files.create(file=("memos.jsonl", data), purpose="batch").id
    listed = voicebot(env, "files", "list")
    assert listed.returncode == 0 and ident in listed.stdout and "memos.jsonl" in listed.stdout
    (shown,) = events(voicebot(env, "--json", "files", "show", ident).stdout)
    assert shown == {"type": "file", "id": ident, "filename": "memos.jsonl", "purpose": "batch",
                     "bytes": len(data), "created_at": shown["created_at"]}
    assert voicebot(env, "files", "download", ident).stdout == data.decode()
    target = tmp_path / "copy.jsonl"
    saved = voicebot(env, "files", "download", ident, "-o", str(target))
    assert saved.returncode == 0 and target.read_bytes() == data and saved.stdout == ""
    deleted = voicebot(env, "files", "delete", ident)
    assert deleted.returncode == 0 and deleted.stdout == f"deleted {ident}\n"
    gone = voicebot(env, "files", "show", ident)
    assert gone.returncode == 2 and "no file" in gone.stderr
    assert voicebot(env, "files", "list").stdout == "no files\n"


def test_the_key_never_shows(env: dict[str, str], sdk: groq.Groq) -> None:
    ident = start_batch(sdk, {"paris": "What is the capital of France?"})
    for args in (["batch", "list"], ["batch", "show", ident], ["--debug", "batch", "show", ident],
                 ["files", "list"], ["--debug", "files", "show", "file_nope"]):
        proc = voicebot(env, *args)
        assert TEST_API_KEY not in proc.stdout + proc.stderr
