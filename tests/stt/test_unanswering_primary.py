"""A primary speech server that accepts and never answers (issue 15, item 6): the first turn
shows what it waits on, the next turns go straight to the fallback, and the primary is probed
in the background until it answers again."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_cli import events, run
from tests.fakegroq import DEFAULT_LOCAL_MODEL, TEST_API_KEY, FakeGroq
from voicebot.api import speech_route
from voicebot.api.client import Endpoint, GroqClient, Timeouts
from voicebot.errors import ApiError

DATA = Path(__file__).parents[1] / "data"
NEVER = 3600.0  # the fault's delay: the request is read and never answered


@pytest.fixture
def local() -> Iterator[FakeGroq]:
    with FakeGroq(api_key=None, style="local") as server:
        yield server


def test_after_the_primary_hung_once_the_next_file_goes_straight_to_the_fallback(
        fake_groq: FakeGroq, local: FakeGroq, tmp_path: Path) -> None:
    fake_groq.inject("*", delay=NEVER, times=1000)
    capital = str(DATA / "capital.wav")
    flags = ["--timeout", "5", "--stt-fallback-api-base", local.base_url, "--stt-fallback-model", DEFAULT_LOCAL_MODEL]
    proc = run(["transcribe", "--json", *flags, capital, capital], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = events(proc.stdout)
    assert [e["text"] for e in out if e["type"] == "transcript"] == ["What is the capital of France?"] * 2
    primary = f"127.0.0.1:{fake_groq.port}"
    waits = [e for e in out if e["type"] == "waiting"]
    assert waits and waits[0] == {"type": "waiting", "server": primary, "role": "stt", "seconds": 3}
    # One upload waited out its deadline at the primary; the second file never went there.
    assert len(fake_groq.requests_to("/audio/transcriptions")) == 1
    assert len(local.requests_to("/audio/transcriptions")) == 2
    straight = [e for e in out if e["type"] == "notice" and "until it answers" in str(e.get("text"))]
    assert straight and straight[0]["stt_server"] == f"127.0.0.1:{local.port}"
    # For people, the wait is a line naming the server (a status line redrawn in place on a terminal).
    human = run(["transcribe", *flags, capital], fake_groq, tmp_path)
    assert human.returncode == 0 and f"waiting for the speech server at {primary}… (3 s)" in human.stderr


def test_the_primary_is_preferred_again_once_a_probe_gets_an_answer(
        fake_groq: FakeGroq, local: FakeGroq, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(speech_route, "PROBE_EVERY", 0.2)
    fake_groq.inject("*", delay=NEVER, times=1000)
    data = (DATA / "capital.wav").read_bytes()

    async def go() -> tuple[bool, bool, str]:
        async with GroqClient(Endpoint(fake_groq.base_url, TEST_API_KEY), fallback=Endpoint(local.base_url),
                              timeouts=Timeouts(total=1)) as client:
            assert not client.prefers_fallback()
            with pytest.raises(ApiError):
                await client.transcribe(filename="a.wav", data=data, content_type="audio/wav",
                                        model="whisper-large-v3-turbo")
            resting = client.prefers_fallback()
            still = await asyncio.sleep(0.5, client.prefers_fallback())  # probes go unanswered
            await asyncio.to_thread(fake_groq.reset)  # the primary answers again
            for _ in range(400):  # a probe every 0.2 s: the first after the reset gets an answer
                if not client.prefers_fallback():
                    break
                await asyncio.sleep(0.05)
            heard = await client.transcribe(filename="a.wav", data=data, content_type="audio/wav",
                                            model="whisper-large-v3-turbo")
            return resting, still, heard.text

    resting, still, text = asyncio.run(go())
    assert resting and still and text == "What is the capital of France?"
    probes = [r for r in fake_groq.requests if r.method == "HEAD"]
    assert probes, "the primary was probed"


def test_a_primary_that_does_not_answer_races_the_fallback_and_the_first_turn_does_not_wait_it_out(
        fake_groq: FakeGroq, local: FakeGroq, tmp_path: Path) -> None:
    """With a 10-minute deadline the first file would wait 600 s for a hung primary (the command's
    own timeout here is 60 s): after --stt-fallback-after the fallback is asked too and answers."""
    fake_groq.inject("/audio/transcriptions", delay=NEVER, times=1000)
    capital = str(DATA / "capital.wav")
    flags = ["--timeout", "600", "--stt-fallback-api-base", local.base_url, "--stt-fallback-model",
             DEFAULT_LOCAL_MODEL, "--stt-fallback-after", "1"]
    proc = run(["transcribe", "--json", *flags, capital, capital], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = events(proc.stdout)
    assert [e["text"] for e in out if e["type"] == "transcript"] == ["What is the capital of France?"] * 2
    (race,) = [e for e in out if e.get("race")]
    assert race["stt_server"] == f"127.0.0.1:{local.port}" and "has not answered in 1 s" in str(race["text"])
    # The race's winner takes the next file straight away: the primary saw one upload.
    assert len(fake_groq.requests_to("/audio/transcriptions")) == 1
    assert len(local.requests_to("/audio/transcriptions")) == 2
    assert any("transcribed by the fallback" in str(e.get("text")) for e in out)


def test_a_primary_that_answers_in_time_is_never_raced(fake_groq: FakeGroq, local: FakeGroq, tmp_path: Path) -> None:
    capital = str(DATA / "capital.wav")
    proc = run(["transcribe", "--json", "--stt-fallback-api-base", local.base_url, "--stt-fallback-after", "30",
                capital], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert not local.requests and len(fake_groq.requests_to("/audio/transcriptions")) == 1
    assert not [e for e in events(proc.stdout) if e.get("fallback")]


def test_without_the_race_a_hung_primary_is_waited_out(fake_groq: FakeGroq, local: FakeGroq, tmp_path: Path) -> None:
    """--stt-fallback-after 0: the fallback only once the primary has failed (its deadline passed)."""
    fake_groq.inject("/audio/transcriptions", delay=NEVER, times=1000)
    proc = run(["transcribe", "--json", "--timeout", "2", "--stt-fallback-api-base", local.base_url,
                "--stt-fallback-model", DEFAULT_LOCAL_MODEL, "--stt-fallback-after", "0", str(DATA / "capital.wav")],
               fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = events(proc.stdout)
    assert not [e for e in out if e.get("race")]
    assert any("failed" in str(e.get("text")) and e.get("fallback") for e in out)
