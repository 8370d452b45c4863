"""Talking to a server that is not Groq (issue 15, item 15): its words for an unknown model, a
401 when no key was sent, timeouts in round seconds, and `models` naming the fallback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cli.test_cli import events, run
from tests.fakegroq import DEFAULT_LOCAL_MODEL, TEST_STT_API_KEY, FakeGroq
from voicebot.api.client import ParsedError, error_for_exception, error_for_status

DATA = Path(__file__).parents[1] / "data"


@pytest.fixture
def local() -> Iterator[FakeGroq]:
    with FakeGroq(api_key=None, style="local") as server:
        yield server


@pytest.fixture
def local_with_key() -> Iterator[FakeGroq]:
    with FakeGroq(api_key=TEST_STT_API_KEY, style="local") as server:
        yield server


# What OpenAI-style servers answer for a model they do not have, each with its own code.
UNKNOWN_MODEL_BODIES: list[tuple[int, dict[str, Any]]] = [
    (404, {"object": "error", "message": "The model `nope` does not exist.", "type": "NotFoundError",
           "param": None, "code": 404}),  # vLLM
    (404, {"error": "model 'nope' not found, try pulling it first"}),  # Ollama
    (404, {"detail": {"error": {"message": "unknown model: nope", "code": "model"}}}),  # a whisper server
    (400, {"error": {"message": "Invalid model name passed in model=nope", "type": "invalid_request_error",
                     "code": "400"}}),  # LiteLLM
    (400, {"error": {"message": "nope is not a valid model ID", "code": 400}}),  # OpenRouter
]


@pytest.mark.parametrize(("status", "body"), UNKNOWN_MODEL_BODIES)
def test_an_unknown_model_in_any_servers_words_is_a_usage_error(fake_groq: FakeGroq, tmp_path: Path,
                                                                status: int, body: dict[str, Any]) -> None:
    fake_groq.fail_next("/chat/completions", status, times=5, body=body)
    proc = run(["chat", "--model", "nope"], fake_groq, tmp_path, stdin="hello\n")
    assert proc.returncode == 2, proc.stderr
    assert "model 'nope' is unknown to" in proc.stderr and "voicebot models" in proc.stderr


def test_words_that_only_mention_a_model_are_not_an_unknown_model() -> None:
    for status, message in [(400, "model is loading"), (503, "The model is overloaded"),
                            (400, "this model does not support translations")]:
        err = error_for_status(status, ParsedError(message, code="x"), host="h", model="m")
        assert (err.code, err.exit_code) == ("x", 1), message


def test_a_401_when_no_key_was_sent_says_so_and_names_where_to_set_one(fake_groq: FakeGroq,
                                                                       local_with_key: FakeGroq,
                                                                       tmp_path: Path) -> None:
    proc = run(["transcribe", "--stt-api-base", local_with_key.base_url, "--stt-model", DEFAULT_LOCAL_MODEL,
                str(DATA / "capital.wav")], fake_groq, tmp_path)
    assert proc.returncode == 1
    assert "wants an API key, and none was sent to it" in proc.stderr and "rejected" not in proc.stderr
    assert "VOICEBOT_STT_API_KEY" in proc.stderr
    assert [r.auth for r in local_with_key.requests] == ["missing"]


def test_a_rejected_key_is_still_called_rejected(fake_groq: FakeGroq, local_with_key: FakeGroq,
                                                 tmp_path: Path) -> None:
    proc = run(["transcribe", "--stt-api-base", local_with_key.base_url, "--stt-model", DEFAULT_LOCAL_MODEL,
                str(DATA / "capital.wav")], fake_groq, tmp_path, env={"VOICEBOT_STT_API_KEY": "stt_wrong_key_0123"})
    assert proc.returncode == 1 and "the API key was rejected by" in proc.stderr


@pytest.mark.parametrize(("seconds", "shown"), [(61.0901, "61 s"), (60, "60 s"), (5.0, "5 s"), (0.5, "0.5 s"),
                                                (2.25, "2.2 s"), (10.6, "11 s")])
def test_timeouts_are_said_in_round_seconds(seconds: float, shown: str) -> None:
    err = error_for_exception(httpx.ReadTimeout("x"), host="h", timeout=seconds)
    assert err.message == f"no response from h within {shown}"


def test_models_names_the_fallback_speech_server(fake_groq: FakeGroq, local: FakeGroq, tmp_path: Path) -> None:
    where = f"127.0.0.1:{local.port}"
    flags = ["--stt-fallback-api-base", local.base_url, "--stt-fallback-model", DEFAULT_LOCAL_MODEL]
    human = run(["models", *flags], fake_groq, tmp_path)
    assert human.returncode == 0, human.stderr
    assert f"the fallback speech server at {where} has no model list; voicebot sends it the model named by " \
           f"stt_fallback_model ({DEFAULT_LOCAL_MODEL})" in human.stderr
    as_json = run(["models", "--json", *flags], fake_groq, tmp_path)
    notice = next(e for e in events(as_json.stdout) if e["type"] == "notice")
    assert {"stt_server": where, "fallback": True, "models": 0}.items() <= notice.items()
