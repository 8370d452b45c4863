"""Invented text: Whisper's no-speech segments dropped, sparse transcripts flagged.

Pure rules first, then the assistant against the local Groq server, which answers
" Thank you." with a high no_speech_prob for murmur (tests/data/murmur.wav), like Whisper.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import pytest
import soundfile as sf
import soxr

from tests.fakegroq import TEST_API_KEY, FakeGroq
from voicebot.api.client import Endpoint, GroqClient
from voicebot.audio.encoding import prepare_array
from voicebot.audio.samples import TARGET_RATE
from voicebot.cli.wiring import make_assistant
from voicebot.config.schema import Settings
from voicebot.errors import NoSpeechError
from voicebot.stt.hallucination import (
    SparseText,
    count_words,
    filter_segments,
    is_hallucinated,
    sparse_text,
)
from voicebot.stt.hearing import HeardText
from voicebot.turns.console import HumanOutput, JsonOutput, Output

DATA = Path(__file__).parents[1] / "data"
T = TypeVar("T")


# --------------------------------------------------------------------------- rules


@pytest.mark.parametrize(("no_speech", "logprob", "invented"), [
    (0.87, -1.31, True),  # what Whisper returns for silence
    (0.61, -1.01, True),
    (0.60, -2.0, False),  # thresholds are strict, as in Whisper
    (0.95, -1.0, False),  # confident text over quiet audio stays
    (0.10, -2.5, False),  # unsure words over real speech stay
])
def test_whispers_own_no_speech_rule(no_speech: float, logprob: float, invented: bool) -> None:
    assert is_hallucinated({"no_speech_prob": no_speech, "avg_logprob": logprob}) is invented


def test_segments_without_the_figures_are_never_dropped() -> None:
    assert not is_hallucinated({"text": "hi"})
    assert not is_hallucinated({"no_speech_prob": True, "avg_logprob": -3})
    assert not is_hallucinated({"no_speech_prob": "0.9", "avg_logprob": "-3"})


def test_filter_drops_only_invented_segments() -> None:
    real = {"text": " Meet me at noon.", "no_speech_prob": 0.01, "avg_logprob": -0.2}
    noise = {"text": " Thank you.", "no_speech_prob": 0.9, "avg_logprob": -1.4}
    more = {"text": " Bring the keys.", "no_speech_prob": 0.02, "avg_logprob": -0.3}
    kept = filter_segments(" Meet me at noon. Thank you. Bring the keys.", [real, noise, more])
    assert (kept.text, kept.dropped, kept.kept) == ("Meet me at noon. Bring the keys.", 1, 2)
    assert filter_segments(" Thank you.", [noise]).text == ""
    untouched = filter_segments(" Exactly  as sent. ", [real])
    assert untouched.text == "Exactly  as sent." and untouched.dropped == 0
    assert filter_segments(" No segments to judge.", []).text == "No segments to judge."


def test_word_count_handles_punctuation_and_unspaced_scripts() -> None:
    assert count_words("Hello, world — yes...") == 3
    assert count_words("") == 0
    assert count_words("日本語の文章です") == 4  # eight characters, about four words
    assert count_words("Tokyo 東京") == 2


def test_sparse_text_needs_a_long_recording_and_too_few_words() -> None:
    ten_words = "one two three four five six seven eight nine ten"
    assert sparse_text(ten_words, None) is None  # speech time unknown: no verdict
    assert sparse_text("Thank you.", 20.0) is None  # 20 s or less: too short to judge
    assert sparse_text(ten_words, 50.0) is None  # exactly 0.2 words/s is plausible
    flag = sparse_text(ten_words, 51.0)
    assert flag == SparseText(10, 51.0) and flag.words_per_second < 0.2
    assert "10 words" in flag.message() and "51 s" in flag.message()
    assert "1 word " in SparseText(1, 30.0).message()


# --------------------------------------------------------------------------- against the server


def fixture16k(name: str) -> np.ndarray:
    x, rate = sf.read(DATA / name, dtype="float32", always_2d=True)
    return soxr.resample(x.mean(axis=1), rate, TARGET_RATE).astype(np.float32)


def babble(count: int) -> np.ndarray:
    """Speech-like sound no one understands (murmur.wav, speech played backwards), for which
    the server invents " Thank you." with a high no_speech_prob, as Whisper does."""
    return np.concatenate([fixture16k("murmur.wav")] * count)


def gap(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * TARGET_RATE), dtype=np.float32)


def hear(fake: FakeGroq, samples: np.ndarray, output: Output | None = None, **settings: Any) -> HeardText:
    async def go() -> HeardText:
        async with GroqClient(Endpoint(fake.base_url, TEST_API_KEY), max_retries=0) as client:
            out = output or JsonOutput(io.StringIO(), io.StringIO())
            assistant = make_assistant(client, Settings(**settings), out)
            return await assistant.hear(prepare_array(samples, TARGET_RATE, source="test"))
    return run(go())


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(asyncio.wait_for(coro, 30))


def test_invented_text_for_unrecognised_sound_is_dropped(fake_groq: FakeGroq) -> None:
    with pytest.raises(NoSpeechError, match="no speech recognised"):
        hear(fake_groq, babble(1))
    (req,) = fake_groq.requests_to("/audio/transcriptions")
    assert req.form["response_format"] == "verbose_json" and req.reply == " Thank you."


def test_without_segments_there_is_nothing_to_check(fake_groq: FakeGroq) -> None:
    """With `stt_response_format = "text"` the user gets Whisper's raw text (their choice)."""
    heard = hear(fake_groq, babble(1), stt_response_format="text")
    assert heard.text == "Thank you." and heard.dropped_segments == 0


def test_invented_pieces_of_a_long_recording_are_dropped(fake_groq: FakeGroq) -> None:
    samples = np.concatenate([fixture16k("capital.wav"), gap(6), babble(2), gap(6), fixture16k("spider.flac")])
    heard = hear(fake_groq, samples, max_chunk_seconds=10)
    assert heard.text == "What is the capital of France? How many legs does a spider have?"
    assert heard.pieces == 3 and heard.dropped_segments == 1
    assert sorted(r.reply or "" for r in fake_groq.requests) == [  # sent concurrently: any order
        " How many legs does a spider have?", " Thank you.", " What is the capital of France?"]


def test_a_long_take_with_far_too_few_words_is_flagged_in_json(fake_groq: FakeGroq) -> None:
    out = io.StringIO()
    samples = np.concatenate([fixture16k("spider.flac"), gap(1), babble(25)])  # 7 words for ~50 s of speech
    heard = hear(fake_groq, samples, JsonOutput(out, io.StringIO()))
    assert heard.pieces == 1 and heard.text == "How many legs does a spider have?"
    assert heard.sparse is not None and heard.sparse.seconds > 20
    (notice,) = [json.loads(line) for line in out.getvalue().splitlines()]
    assert notice["type"] == "notice" and notice["check"] == "sparse_transcript"
    assert notice["words"] == 7 and notice["words_per_second"] < 0.2 and "may be incomplete" in notice["text"]


def test_the_flag_is_a_notice_for_people(fake_groq: FakeGroq) -> None:
    out, err = io.StringIO(), io.StringIO()
    hear(fake_groq, np.concatenate([fixture16k("spider.flac"), gap(1), babble(25)]),
         HumanOutput(out, err, color=False))
    assert out.getvalue() == ""
    assert err.getvalue().startswith("voicebot: only 7 words recognised in ")


def test_a_normal_take_is_not_flagged(fake_groq: FakeGroq) -> None:
    out = io.StringIO()
    heard = hear(fake_groq, np.concatenate([gap(20), fixture16k("capital.wav"), gap(5)]),
                 JsonOutput(out, io.StringIO()))
    assert heard.sparse is None and out.getvalue() == ""  # long, but the speech in it is all transcribed
