"""Long dictation and long conversations end to end: the installed `voicebot` command
(and the assistant in-process where a test must steer timing) against the local Groq server.

The long recordings are synthetic: speech fixtures between stretches of silence, written
as FLAC in a moment, so a 30-minute take costs seconds, not 30 minutes.
"""

from __future__ import annotations

import asyncio
import io
import json
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from tests.cli.test_cli import chat_requests, events, run
from tests.fakegroq import TEST_API_KEY, FakeGroq
from voicebot.api.client import Endpoint, GroqClient
from voicebot.audio.files import MAX_UPLOAD_BYTES, prepare_file
from voicebot.audio.samples import TARGET_RATE
from voicebot.cli.wiring import make_assistant
from voicebot.config.schema import Settings
from voicebot.turns.assistant import smaller_budget
from voicebot.turns.console import JsonOutput

DATA = Path(__file__).parents[1] / "data"
TEXTS = {name: meta["text"] for name, meta in json.loads((DATA / "fixtures.json").read_text()).items() if meta}
CYCLE = ["capital.wav", "spider.flac", "bonjour.ogg"]


def fixture16k(name: str) -> np.ndarray:
    x, rate = sf.read(DATA / name, dtype="float32", always_2d=True)
    return (soxr.resample(x.mean(axis=1), rate, TARGET_RATE) * 32767).astype(np.int16)


def write_take(path: Path, seconds: float, every: float, first: float) -> list[str]:
    """Silence `seconds` long with a fixture starting at `first` and then every `every`
    seconds (capital, spider, bonjour, capital, ...); returns the fixtures in order."""
    take = np.zeros(round(seconds * TARGET_RATE), dtype=np.int16)
    spoken = []
    at = first
    while at + 4 < seconds:
        name = CYCLE[len(spoken) % 3]
        speech = fixture16k(name)
        start = round(at * TARGET_RATE)
        take[start : start + len(speech)] = speech
        spoken.append(name)
        at += every
    sf.write(path, take, TARGET_RATE, format="FLAC", subtype="PCM_16")
    return spoken


@pytest.mark.slow
def test_a_30_minute_take_is_split_at_pauses_and_joined_in_order(fake_groq: FakeGroq, tmp_path: Path) -> None:
    long = tmp_path / "long.flac"
    spoken = write_take(long, 30 * 60, every=120, first=50)
    assert len(spoken) == 15
    # The timeout only guards against a hang: ~60 s alone, it took over 120 s on a loaded 2-core machine.
    proc = run(["transcribe", "--max-chunk-seconds", "120", "--json", str(long)], fake_groq, tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = events(proc.stdout)
    assert out[0] == {"type": "notice", "text": "long recording (30.0 min): sending it in 15 pieces cut at pauses"}
    assert out[1:-1] == [{"type": "transcript", "text": " ".join(TEXTS[name] for name in spoken)}]
    assert out[-1]["type"] == "timing" and out[-1]["transcript_ms"] > 0  # all pieces: the file's own figure

    uploads = fake_groq.requests_to("/audio/transcriptions")
    assert len(uploads) == 15
    for req in uploads:
        a = req.audio
        assert (a.container, a.samplerate, a.channels) == ("ogg", 16000, 1)  # Opus pieces, each encoded once
        assert a.size <= MAX_UPLOAD_BYTES and a.duration <= 120
        assert req.form["response_format"] == "verbose_json"
    assert sum(r.audio.duration for r in uploads) == pytest.approx(1800, abs=0.05)  # nothing lost or doubled
    assert sorted(r.audio.fixture for r in uploads) == sorted(spoken)  # one whole fixture in each: no word cut
    # Continuity: a piece's prompt, when it has one, is the text of the piece before it.
    before = {TEXTS[name]: TEXTS[CYCLE[(CYCLE.index(name) - 1) % 3]] for name in CYCLE}
    for req in uploads:
        if "prompt" in req.form:
            assert req.form["prompt"] == before[TEXTS[req.audio.fixture]]
    assert uploads[0].form.get("prompt") is None  # the first piece has no predecessor


def test_one_piece_at_a_time_each_prompt_carries_the_previous_text(fake_groq: FakeGroq, tmp_path: Path) -> None:
    path = tmp_path / "take.flac"
    spoken = write_take(path, 60, every=15, first=5)

    async def go() -> str:
        async with GroqClient(Endpoint(fake_groq.base_url, TEST_API_KEY)) as client:
            settings = Settings(max_chunk_seconds=15, stt_prompt="Paris", stt_concurrency=1)
            return await make_assistant(client, settings, JsonOutput(io.StringIO(), io.StringIO())).transcribe(
                prepare_file(path))

    assert asyncio.run(asyncio.wait_for(go(), 30)) == " ".join(TEXTS[n] for n in spoken)
    prompts = [r.form.get("prompt") for r in fake_groq.requests]
    assert prompts == ["Paris"] + [f"Paris {TEXTS[n]}" for n in spoken[:-1]]


def test_a_failed_piece_fails_the_command_in_one_line(fake_groq: FakeGroq, tmp_path: Path) -> None:
    path = tmp_path / "take.flac"
    write_take(path, 45, every=15, first=5)
    fake_groq.fail_next("/audio/transcriptions", 500, times=10)
    proc = run(["transcribe", "--max-chunk-seconds", "15", "--max-retries", "0", str(path)], fake_groq, tmp_path)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.splitlines()[-1].startswith("voicebot: error: ")
    assert len(proc.stderr.splitlines()) == 2  # the notice about the pieces, then the error


def test_a_silent_stretch_of_a_long_file_is_not_uploaded(fake_groq: FakeGroq, tmp_path: Path) -> None:
    path = tmp_path / "take.flac"
    take = np.zeros(60 * TARGET_RATE, dtype=np.int16)
    speech = fixture16k("spider.flac")
    take[5 * TARGET_RATE : 5 * TARGET_RATE + len(speech)] = speech
    take[50 * TARGET_RATE : 50 * TARGET_RATE + len(speech)] = speech
    sf.write(path, take, TARGET_RATE, format="FLAC")
    proc = run(["transcribe", "--max-chunk-seconds", "15", str(path)], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"{TEXTS['spider.flac']} {TEXTS['spider.flac']}\n"
    assert len(fake_groq.requests) == 2  # four pieces, two of them silence


# --------------------------------------------------------------------------- context length


def test_context_length_exceeded_trims_harder_and_asks_once_more(fake_groq: FakeGroq, tmp_path: Path) -> None:
    """Three 50k-token questions against a 131k-token window, with a budget set far too high:
    the third request is refused, the oldest turns go, and the question is asked again."""
    fake_groq.set_reply("Noted.")  # short answers: the questions alone fill the window
    fake_groq.set_rate_limits(tokens_per_minute=10**9)  # not what this test is about
    lines = [f"question {i} " + "word " * 40_000 for i in range(3)]
    proc = run(["chat", "--history-tokens", "1000000", "--json"], fake_groq, tmp_path,
                stdin="\n".join(lines) + "\n")
    assert proc.returncode == 0, proc.stderr
    out = events(proc.stdout)
    notices = [e for e in out if e["type"] == "notice"]
    assert len(notices) == 1 and "too long for openai/gpt-oss-20b" in str(notices[0]["text"])
    assert len([e for e in out if e["type"] == "reply"]) == 3
    sent = chat_requests(fake_groq)
    statuses = [r.status for r in fake_groq.requests_to("/chat/completions")]
    assert statuses == [200, 200, 400, 200]
    assert fake_groq.requests_to("/chat/completions")[2].error["code"] == "context_length_exceeded"
    assert [len(r["messages"]) for r in sent] == [2, 4, 6, 2]  # system + question, after the retry
    assert sent[3]["messages"][-1]["content"] == lines[2].strip()


def test_no_old_turns_to_drop_means_no_pointless_retry(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["chat", "--history-tokens", "1000000"], fake_groq, tmp_path, stdin="word " * 120_000 + "\n")
    assert proc.returncode == 1
    assert proc.stderr.startswith("voicebot: error: ") and len(proc.stderr.splitlines()) == 1
    assert "context window" in proc.stderr
    assert len(fake_groq.requests_to("/chat/completions")) == 1


def test_the_budget_after_a_refusal_is_half_of_what_was_tried() -> None:
    refused = [{"role": "user", "content": "x" * 3000}]  # about 1004 tokens by our estimate
    assert smaller_budget(1_000_000, refused) == 502  # the budget was far too high: halve the request
    assert smaller_budget(800, refused) == 400  # the budget was the smaller: halve that
    assert smaller_budget(100, refused) == 64  # never below what a short question needs
