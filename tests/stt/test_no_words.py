"""Punctuation is not speech (issue 15.7): a transcript without a word is "no speech recognised".

Pink noise through a Whisper server came back as ". . . . . . . . ." and was sent to the
chat. Here the local server answers a real recording with such texts, and the installed
command must stop before the chat, as for an empty transcript.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakegroq import TEST_API_KEY, FakeGroq
from tests.harness.daemon import short_home
from voicebot.stt.hallucination import has_words

DATA = Path(__file__).parents[1] / "data"
VOICEBOT = Path(sys.executable).with_name("voicebot")
WORDLESS = [" . . . . . . . . .", "...", "?!", " ♪ ♪", " - "]


@pytest.fixture
def home() -> Iterator[Path]:
    path = short_home()
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


def env_for(fake: FakeGroq, home: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home), "LANG": "C.UTF-8",
            "XDG_CONFIG_HOME": str(home / "config"), "XDG_DATA_HOME": str(home / "data"),
            "XDG_RUNTIME_DIR": str(home), "GROQ_API_KEY": TEST_API_KEY, "GROQ_BASE_URL": fake.host_url}


def answer_with(fake: FakeGroq, text: str) -> None:
    """The next transcription answers `text` as one confident segment (nothing Whisper's own
    no-speech rule would drop), the way the real server did."""
    segment = {"id": 0, "seek": 0, "start": 0.0, "end": 2.0, "text": text, "tokens": [50365, 50465],
               "temperature": 0.0, "avg_logprob": -0.3, "compression_ratio": 1.0, "no_speech_prob": 0.1}
    fake.inject("/audio/transcriptions", status=200,
                body={"task": "transcribe", "language": "English", "duration": 2.0, "text": text,
                      "segments": [segment], "x_groq": {"id": "req_wordless"}})


@pytest.mark.parametrize("text", WORDLESS)
def test_a_wordless_transcript_is_no_speech_and_never_asked(fake_groq: FakeGroq, home: Path, text: str) -> None:
    answer_with(fake_groq, text)
    wav = DATA / "capital.wav"
    proc = subprocess.run([str(VOICEBOT), "ask", str(wav)], capture_output=True, text=True, timeout=60,
                          env=env_for(fake_groq, home), stdin=subprocess.DEVNULL)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == f"voicebot: error: no speech recognised in {wav}\n"
    assert proc.stdout == ""
    assert len(fake_groq.requests_to("/audio/transcriptions")) == 1
    assert fake_groq.requests_to("/chat/completions") == []


@pytest.mark.parametrize("text", ["Ok.", "42", "¿Qué?", "你好", "Да!", " - yes - "])
def test_any_word_of_any_script_is_speech(text: str) -> None:
    assert has_words(text)


@pytest.mark.parametrize("text", [*WORDLESS, "", "  ", "… — …", "!!!???"])
def test_punctuation_symbols_and_spaces_are_no_words(text: str) -> None:
    assert not has_words(text)
