"""Any OpenAI-style speech server (issue 11): its error shapes, its own key, its models,
pieces in flight, upload deadlines, Whisper's repetition rule, and a fallback server.

The "other" server is the fake in its local style (FakeGroq(style="local")), which
speaks like faster-whisper-server: FastAPI errors, no /models, one decode at a time.
"""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from tests.audio.test_long_audio import TEXTS, write_take
from tests.cli.test_cli import events, run
from tests.fakegroq import DEFAULT_LOCAL_MODEL, TEST_API_KEY, TEST_STT_API_KEY, FakeGroq
from voicebot.api.client import Endpoint, GroqClient, Timeouts, parse_error_body, same_host
from voicebot.api.retry import UPLOAD_SECONDS_PER_AUDIO_SECOND, upload_timeout
from voicebot.audio.files import prepare_file
from voicebot.cli.wiring import make_assistant
from voicebot.config.loading import load_settings
from voicebot.config.schema import Secret, Settings
from voicebot.errors import ApiError, NoSpeechError
from voicebot.stt.hallucination import filter_segments, is_repetition
from voicebot.stt.hearing import HeardText
from voicebot.turns.console import JsonOutput

DATA = Path(__file__).parents[1] / "data"
CAPITAL = TEXTS["capital.wav"]
T = TypeVar("T")


def arun(coro: Coroutine[Any, Any, T], limit: float = 60) -> T:
    return asyncio.run(asyncio.wait_for(coro, limit))


@pytest.fixture
def local() -> Iterator[FakeGroq]:
    """A local speech server that takes no key."""
    with FakeGroq(api_key=None, style="local") as server:
        yield server


@pytest.fixture
def local_with_key() -> Iterator[FakeGroq]:
    with FakeGroq(api_key=TEST_STT_API_KEY, style="local") as server:
        yield server


def local_env(server: FakeGroq, **extra: str) -> dict[str, str]:
    return {"VOICEBOT_STT_API_BASE": server.base_url, "VOICEBOT_TRANSCRIPTION_MODEL": DEFAULT_LOCAL_MODEL, **extra}


# ---------------------------------------------------------------- 1. the server's own words


@pytest.mark.parametrize("body, words", [
    ({"detail": {"error": {"message": "Unsupported response_format: text"}}}, "Unsupported response_format: text"),
    ({"detail": {"error": {"message": "unknown model: whisper-1", "code": "model"}}}, "unknown model: whisper-1"),
    ({"detail": "Not Found"}, "Not Found"),
    ({"detail": [{"type": "missing", "loc": ["body", "file"], "msg": "Field required", "input": None}]},
     "body.file: Field required"),
    ({"detail": {"message": "model is loading"}}, "model is loading"),
    ({"error": {"message": "Invalid API Key", "type": "invalid_request_error"}}, "Invalid API Key"),
    ({"error": "plain words"}, "plain words"),
    ({"message": "top-level words"}, "top-level words"),
])
def test_every_common_error_shape_yields_the_servers_words(body: dict[str, Any], words: str) -> None:
    assert parse_error_body(400, "application/json", json.dumps(body).encode()).message == words


def test_a_nested_fastapi_error_keeps_its_code() -> None:
    body = {"detail": {"error": {"message": "no", "type": "invalid_request_error", "code": "model_not_found"}}}
    parsed = parse_error_body(404, "application/json", json.dumps(body).encode())
    assert (parsed.message, parsed.type, parsed.code) == ("no", "invalid_request_error", "model_not_found")


def test_a_local_servers_refusal_is_shown_in_its_own_words(fake_groq: FakeGroq, local: FakeGroq,
                                                           tmp_path: Path) -> None:
    proc = run(["transcribe", str(DATA / "capital.wav")], fake_groq, tmp_path,
               env=local_env(local, VOICEBOT_TRANSCRIPTION_MODEL="whisper-1"))
    assert proc.returncode == 2  # an unknown model is the user's to fix (exit 2)
    assert "unknown model: whisper-1" in proc.stderr and "Bad Request" not in proc.stderr
    assert len(local.requests) == 1  # a refusal is not retried


# ---------------------------------------------------------------- 4. each key to its own host


def test_no_key_goes_to_a_speech_server_on_another_host(fake_groq: FakeGroq, local: FakeGroq,
                                                       tmp_path: Path) -> None:
    proc = run(["ask", "--json", str(DATA / "capital.wav")], fake_groq, tmp_path, env=local_env(local))
    assert proc.returncode == 0, proc.stderr
    assert [e["text"] for e in events(proc.stdout) if e["type"] == "transcript"] == [CAPITAL]
    assert [r.auth for r in local.requests] == ["missing"]  # neither the Groq key nor any other
    assert [r.auth for r in fake_groq.requests_to("/chat/completions")] == ["ok"]
    assert fake_groq.requests_to("/audio/transcriptions") == []


def test_the_speech_key_goes_only_to_the_speech_server(fake_groq: FakeGroq, local_with_key: FakeGroq,
                                                      tmp_path: Path) -> None:
    proc = run(["ask", str(DATA / "capital.wav")], fake_groq, tmp_path,
               env=local_env(local_with_key, VOICEBOT_STT_API_KEY=TEST_STT_API_KEY))
    assert proc.returncode == 0, proc.stderr
    assert [r.auth for r in local_with_key.requests] == ["ok"]  # its own key: the Groq key would be "invalid"
    assert {r.auth for r in fake_groq.requests} == {"ok"}  # and the speech key never reached Groq


def test_a_speech_server_that_wants_a_key_names_the_setting(fake_groq: FakeGroq, local_with_key: FakeGroq,
                                                           tmp_path: Path) -> None:
    proc = run(["transcribe", str(DATA / "capital.wav")], fake_groq, tmp_path, env=local_env(local_with_key))
    assert proc.returncode == 1 and "stt_api_key" in proc.stderr and "Invalid API key" in proc.stderr
    assert [r.auth for r in local_with_key.requests] == ["missing"]


def test_the_chat_key_serves_speech_on_the_chat_host_only() -> None:
    assert same_host("https://api.groq.com/openai/v1", "https://api.groq.com/other/v1")
    assert not same_host("http://127.0.0.1:8000/v1", "http://127.0.0.1:9000/v1")
    assert not same_host("https://api.groq.com/openai/v1", "http://api.groq.com/openai/v1")


def test_the_speech_key_comes_from_config_environment_or_keyring(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('stt_api_key = "from-config"\n')
    config.chmod(0o600)
    settings, _ = load_settings({}, {"VOICEBOT_CONFIG": str(config)}, keyring_stt_key=lambda: "from-keyring")
    assert settings.stt_api_key == Secret("from-config") and settings.sources["stt_api_key"].startswith("config")
    settings, _ = load_settings({}, {"VOICEBOT_STT_API_KEY": "from-env", "HOME": str(tmp_path)})
    assert settings.stt_api_key == Secret("from-env")
    settings, _ = load_settings({}, {"HOME": str(tmp_path)}, keyring_stt_key=lambda: "from-keyring")
    assert settings.stt_api_key == Secret("from-keyring") and settings.sources["stt_api_key"] == "keyring"
    assert "from-keyring" not in repr(settings)


# ---------------------------------------------------------------- 5. the speech server's models


def test_models_says_plainly_that_a_speech_server_lists_none(fake_groq: FakeGroq, local: FakeGroq,
                                                            tmp_path: Path) -> None:
    proc = run(["models"], fake_groq, tmp_path, env=local_env(local))
    assert proc.returncode == 0, proc.stderr
    assert "openai/gpt-oss-20b" in proc.stdout
    assert f"the speech server at 127.0.0.1:{local.port} has no model list" in proc.stderr
    assert "openai/v1" not in proc.stderr


def test_models_lists_the_speech_servers_models_when_it_has_some(fake_groq: FakeGroq, tmp_path: Path) -> None:
    with FakeGroq(api_key=TEST_STT_API_KEY) as speech:
        proc = run(["models", "--json"], fake_groq, tmp_path,
                   env={"VOICEBOT_STT_API_BASE": speech.base_url, "VOICEBOT_STT_API_KEY": TEST_STT_API_KEY})
        assert proc.returncode == 0, proc.stderr
        listed = events(proc.stdout)
        assert "whisper-large-v3" in [e["id"] for e in listed if e.get("server") == "speech"]
        assert [r.auth for r in speech.requests] == ["ok"]


# ---------------------------------------------------------------- 3. pieces in flight, deadlines


def test_pieces_in_flight_follow_stt_concurrency(local: FakeGroq, tmp_path: Path) -> None:
    path = tmp_path / "take.flac"
    spoken = write_take(path, 60, every=15, first=5)

    async def go(concurrency: int) -> str:
        async with GroqClient(Endpoint("http://127.0.0.1:9/openai/v1", TEST_API_KEY),
                              stt=Endpoint(local.base_url)) as client:
            settings = Settings(max_chunk_seconds=15, stt_concurrency=concurrency,
                                transcription_model=DEFAULT_LOCAL_MODEL)
            return await make_assistant(client, settings, JsonOutput(io.StringIO(), io.StringIO())).transcribe(
                prepare_file(path))

    local.set_decode_delay(0.2)
    assert arun(go(1)) == " ".join(TEXTS[n] for n in spoken)
    assert local.peak_in_flight == 1 and len(local.requests) == len(spoken)
    local.reset()
    local.set_decode_delay(0.2)
    assert arun(go(3)) == " ".join(TEXTS[n] for n in spoken)
    assert local.peak_in_flight == 3  # they queue at the server, which still decodes one at a time


def test_the_upload_deadline_grows_with_the_audio() -> None:
    assert upload_timeout(60, None) == 60
    assert upload_timeout(60, 600) == 60 + 600 * UPLOAD_SECONDS_PER_AUDIO_SECOND


def test_an_upload_that_timed_out_is_not_sent_again(local: FakeGroq) -> None:
    """The server may still be decoding the first copy: a second would queue behind it."""
    local.set_decode_delay(3)
    data = (DATA / "capital.wav").read_bytes()

    async def go() -> None:
        async with GroqClient(Endpoint("http://127.0.0.1:9/openai/v1", TEST_API_KEY),
                              stt=Endpoint(local.base_url), timeouts=Timeouts(total=1), max_retries=2) as client:
            await client.transcribe(filename="a.wav", data=data, content_type="audio/wav",
                                    model=DEFAULT_LOCAL_MODEL)

    with pytest.raises(ApiError) as info:
        arun(go())
    assert info.value.code == "timeout" and "not sent again" in info.value.message
    assert "stt_concurrency" in str(info.value.hint)
    assert len(local.requests) == 1


def test_a_connection_refused_upload_is_still_retried() -> None:
    calls: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        if len(calls) == 1:
            raise httpx.ConnectError("refused")
        return httpx.Response(200, json={"text": "hello"})

    async def nap(_: float) -> None:
        return None

    async def go() -> str:
        async with GroqClient(Endpoint("https://api.groq.test/openai/v1", TEST_API_KEY), sleep=nap,
                              transport=httpx.MockTransport(handler)) as client:
            return (await client.transcribe(filename="a.wav", data=b"x", content_type="audio/wav", model="m")).text

    assert arun(go()) == "hello" and len(calls) == 2


# ---------------------------------------------------------------- 2. Whisper's third rule


LOOP = " see you in the next video" * 30


def test_a_segment_that_compresses_too_well_is_a_failed_decode() -> None:
    good = {"text": " Hello there.", "compression_ratio": 1.2, "no_speech_prob": 0.01, "avg_logprob": -0.2}
    looped = {"text": LOOP, "compression_ratio": 17.9, "no_speech_prob": 0.01, "avg_logprob": -0.1}
    assert is_repetition(looped) and not is_repetition(good) and not is_repetition({"text": "x"})
    kept = filter_segments(" Hello there." + LOOP, [good, looped])
    assert (kept.text, kept.dropped, kept.repeated, kept.kept) == ("Hello there.", 1, 1, 1)


def _speech_client(body: dict[str, Any]) -> GroqClient:
    return GroqClient(Endpoint("https://api.groq.test/openai/v1", TEST_API_KEY),
                      transport=httpx.MockTransport(lambda request: httpx.Response(200, json=body)))


def test_a_looping_transcript_is_dropped_and_the_user_told() -> None:
    segment = {"id": 0, "text": LOOP, "compression_ratio": 17.9, "no_speech_prob": 0.02, "avg_logprob": -0.15}
    out = io.StringIO()

    async def go() -> str:
        async with _speech_client({"text": LOOP, "segments": [segment]}) as client:
            return await make_assistant(client, Settings(), JsonOutput(out, io.StringIO())).transcribe(
                prepare_file(DATA / "capital.wav"))

    with pytest.raises(NoSpeechError):
        arun(go())
    [notice] = [e for e in events(out.getvalue()) if e["type"] == "notice"]
    assert notice["check"] == "repetition" and notice["segments"] == 1 and "failed decode" in notice["text"]
    assert "see you" not in out.getvalue()


# ---------------------------------------------------------------- 6. the fallback server


def test_the_fallback_transcribes_once_the_primary_is_down(local: FakeGroq) -> None:
    """A session: the first take goes to the primary; the primary stops; the next take is
    transcribed by the fallback, and the output says so (a notice with the server's name)."""
    primary = FakeGroq(api_key=TEST_API_KEY).start()
    out = io.StringIO()
    try:
        async def session() -> tuple[HeardText, HeardText]:
            async with GroqClient(Endpoint(primary.base_url, TEST_API_KEY), max_retries=1,
                                  fallback=Endpoint(local.base_url)) as client:
                settings = Settings(stt_fallback_api_base=local.base_url, stt_fallback_model=DEFAULT_LOCAL_MODEL)
                assistant = make_assistant(client, settings, JsonOutput(out, io.StringIO()))
                take = prepare_file(DATA / "capital.wav")
                first = await assistant.hear(take)
                await asyncio.to_thread(primary.stop)
                return first, await assistant.hear(take)

        first, second = arun(session())
    finally:
        primary.stop()
    assert (first.text, first.fallback, first.server) == (CAPITAL, False, f"127.0.0.1:{primary.port}")
    assert (second.text, second.fallback, second.server) == (CAPITAL, True, f"127.0.0.1:{local.port}")
    [request] = local.requests
    assert request.form["model"] == DEFAULT_LOCAL_MODEL and request.auth == "missing"
    notices = [e for e in events(out.getvalue()) if e["type"] == "notice"]
    where = f"127.0.0.1:{local.port}"
    assert notices[-1] == {"type": "notice", "text": f"transcribed by the fallback speech server {where}",
                           "stt_server": where, "fallback": True}
    assert "refused" in notices[0]["text"]


def test_the_fallback_answers_in_the_cli_and_json_names_it(fake_groq: FakeGroq, local: FakeGroq,
                                                          tmp_path: Path) -> None:
    fake_groq.fail_next("/audio/transcriptions", 503, times=10)
    proc = run(["transcribe", "--json", "--max-retries", "1", "--stt-fallback-api-base", local.base_url,
                "--stt-fallback-model", DEFAULT_LOCAL_MODEL, str(DATA / "capital.wav")], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = events(proc.stdout)
    assert [e for e in out if e["type"] == "transcript"][-1] == {"type": "transcript", "text": CAPITAL}
    switched = next(e for e in out if e["type"] == "notice" and e.get("fallback"))
    assert {"stt_server": f"127.0.0.1:{local.port}", "fallback": True}.items() <= switched.items()
    assert len(fake_groq.requests_to("/audio/transcriptions")) == 2  # the safe retries came first
    assert [r.auth for r in local.requests] == ["missing"]


def test_a_request_the_primary_refuses_does_not_go_to_the_fallback(fake_groq: FakeGroq, local: FakeGroq,
                                                                   tmp_path: Path) -> None:
    proc = run(["transcribe", "--stt-model", "no-such-model", "--stt-fallback-api-base", local.base_url,
                str(DATA / "capital.wav")], fake_groq, tmp_path)
    assert proc.returncode == 2 and "no-such-model" in proc.stderr  # the primary's refusal, as is
    assert local.requests == []


# ---------------------------------------------------------------- settings and the README's example


def test_the_new_settings_are_checked_like_the_others(tmp_path: Path) -> None:
    from voicebot.errors import UsageError

    env = {"HOME": str(tmp_path)}
    for bad in ({"VOICEBOT_STT_CONCURRENCY": "0"}, {"VOICEBOT_STT_FALLBACK_API_BASE": "localhost:8000"}):
        with pytest.raises(UsageError, match="bad value in environment variable"):
            load_settings({}, env | bad)
    settings, _ = load_settings({"stt_fallback_api_base": "http://127.0.0.1:8000/v1/"}, env)
    assert settings.stt_fallback_api_base == "http://127.0.0.1:8000/v1"


def readme_example() -> str:
    """The config block of the README's "Local speech server" section."""
    text = (Path(__file__).parents[2] / "README.md").read_text()
    section = text[text.index("### Local speech server"):]
    return section[section.index("```toml") + len("```toml"):section.index("```", section.index("```toml") + 3)]


def test_the_readme_example_config_works(fake_groq: FakeGroq, local: FakeGroq, tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text(readme_example().replace("http://127.0.0.1:8000/v1", local.base_url))
    proc = run(["ask", "--json", str(DATA / "capital.wav")], fake_groq, tmp_path,
               env={"VOICEBOT_CONFIG": str(config)})
    assert proc.returncode == 0, proc.stderr
    assert [e["text"] for e in events(proc.stdout) if e["type"] == "transcript"] == [CAPITAL]
    assert [(r.form["model"], r.auth) for r in local.requests] == [("Systran/faster-whisper-small", "missing")]
    assert fake_groq.requests_to("/audio/transcriptions") == []


def test_a_404_names_groqs_root_only_for_groq() -> None:
    from voicebot.api.client import ParsedError, error_for_status

    assert "/openai/v1" in str(error_for_status(404, ParsedError("Not Found"), host="api.groq.com").hint)
    local_hint = str(error_for_status(404, ParsedError("Not Found"), host="127.0.0.1:8000").hint)
    assert "openai" not in local_hint and "/v1" in local_hint
