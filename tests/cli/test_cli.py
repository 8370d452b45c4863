"""The installed `voicebot` command end to end, against the local Groq-compatible server.

Every run goes through `run()`, which also checks the promises that hold for every
command: no traceback, and the API key nowhere in what voicebot printed.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile

from tests.fakegroq import TEST_API_KEY, FakeGroq

DATA = Path(__file__).parents[1] / "data"
VOICEBOT = Path(sys.executable).with_name("voicebot")


def base_env(fake: FakeGroq, home: Path) -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"), "GROQ_API_KEY": TEST_API_KEY,
            "GROQ_BASE_URL": fake.host_url, "LANG": "C.UTF-8"}


def run(args: list[str], fake: FakeGroq, home: Path, *, env: dict[str, str] | None = None,
        stdin: str | None = None, module: bool = False, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    assert VOICEBOT.exists(), f"the voicebot command is not installed next to {sys.executable}"
    cmd = [sys.executable, "-m", "voicebot", *args] if module else [str(VOICEBOT), *args]
    full_env = base_env(fake, home) | (env or {})
    proc = subprocess.run(cmd, input=stdin, capture_output=True, text=True, env=full_env, timeout=timeout,
                          stdin=None if stdin is not None else subprocess.DEVNULL)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert TEST_API_KEY not in proc.stdout + proc.stderr
    return proc


def events(stdout: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def chat_requests(fake: FakeGroq) -> list[dict[str, object]]:
    return [r.json for r in fake.requests_to("/chat/completions")]


# --- speech to text ------------------------------------------------------------------------


@pytest.mark.parametrize(("flags", "name", "kind", "container"), [
    ([], "speech.ogg", "audio/ogg", "ogg"),  # Opus by default
    (["--audio-format", "flac"], "speech.flac", "audio/flac", "flac"),
])
def test_transcribe_uploads_16k_mono_audio_and_prints_text(fake_groq: FakeGroq, tmp_path: Path, flags: list[str],
                                                          name: str, kind: str, container: str) -> None:
    proc = run(["transcribe", *flags, str(DATA / "spider.flac")], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "How many legs does a spider have?\n"
    (req,) = fake_groq.requests_to("/audio/transcriptions")
    assert req.form["model"] == "whisper-large-v3-turbo"
    audio = req.audio
    assert audio is not None
    assert (audio.filename, audio.content_type) == (name, kind)
    assert (audio.container, audio.samplerate, audio.channels) == (container, 16000, 1)
    assert audio.fixture == "spider.flac"  # the server recognised the speech itself


def test_translate_goes_through_translations(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["translate", str(DATA / "bonjour.ogg")], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Hello, I would like a coffee, please.\n"
    (req,) = fake_groq.requests
    assert req.endpoint == "/audio/translations" and req.form["model"] == "whisper-large-v3"
    assert "language" not in req.form


def test_speech_options_reach_the_form(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["transcribe", "--language", "en", "--stt-prompt", "spiders", "--stt-temperature", "0.2",
                "--stt-response-format", "verbose_json", str(DATA / "capital.wav")], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "What is the capital of France?\n"
    form = fake_groq.requests[0].form
    assert (form["language"], form["prompt"], form["temperature"], form["response_format"]) == (
        "en", "spiders", "0.2", "verbose_json")


def test_mp3_and_six_channel_96k_are_prepared(fake_groq: FakeGroq, tmp_path: Path) -> None:
    speech, rate = soundfile.read(DATA / "capital.wav", dtype="float32")
    soundfile.write(tmp_path / "q.mp3", speech, rate, format="MP3")
    import soxr
    hi = soxr.resample(speech, rate, 96000)
    soundfile.write(tmp_path / "q6.wav", np.repeat(hi[:, None], 6, axis=1) * 0.5, 96000)
    proc = run(["transcribe", str(tmp_path / "q.mp3"), str(tmp_path / "q6.wav")], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["What is the capital of France?"] * 2
    assert [(r.audio.samplerate, r.audio.channels, r.audio.fixture) for r in fake_groq.requests] == [
        (16000, 1, "capital.wav")] * 2


def test_m4a_is_uploaded_unchanged(fake_groq: FakeGroq, tmp_path: Path) -> None:
    m4a = tmp_path / "voice.m4a"
    m4a.write_bytes(b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00M4A isommp42" + bytes(2000))
    run(["transcribe", str(m4a)], fake_groq, tmp_path)  # what the server makes of fake m4a does not matter
    (req,) = fake_groq.requests
    assert req.audio.filename == "speech.m4a" and req.audio.content_type == "audio/mp4"
    assert req.audio.size == m4a.stat().st_size  # sent byte for byte, not decoded


@pytest.mark.parametrize("name, needle", [("silence.wav", "no speech detected"), ("hiss.wav", "no speech detected")])
def test_silent_audio_is_never_uploaded(fake_groq: FakeGroq, tmp_path: Path, name: str, needle: str) -> None:
    proc = run(["ask", str(DATA / name)], fake_groq, tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.startswith("voicebot: error: ") and needle in proc.stderr
    assert len(proc.stderr.splitlines()) == 1
    assert fake_groq.requests == []


def test_a_bad_file_stops_everything_before_any_request(fake_groq: FakeGroq, tmp_path: Path) -> None:
    junk = tmp_path / "notes.wav"
    junk.write_text("this is not audio\n")
    for files in ([str(DATA / "capital.wav"), str(junk)], [str(tmp_path / "missing.flac")], [str(tmp_path)]):
        proc = run(["ask", *files], fake_groq, tmp_path)
        assert proc.returncode == 2, proc.stderr
        assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("voicebot: error: ")
    assert fake_groq.requests == []


# --- asking: one conversation, streamed ------------------------------------------------------


def test_ask_two_files_is_one_conversation(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["ask", str(DATA / "capital.wav"), str(DATA / "spider.flac")], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ("You: What is the capital of France?\nAssistant: The capital of France is Paris.\n"
                           "You: How many legs does a spider have?\nAssistant: A spider has eight legs.\n")
    first, second = chat_requests(fake_groq)
    assert first["stream"] is True and first["model"] == "openai/gpt-oss-20b"
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "user"]
    assert second["messages"][2]["content"] == "The capital of France is Paris."
    assert first["reasoning_effort"] == "low" and first["include_reasoning"] is False


def test_ask_translate(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["ask", "--translate", str(DATA / "bonjour.ogg")], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("You: Hello, I would like a coffee, please.\nAssistant: ")
    assert [r.endpoint for r in fake_groq.requests if r.method == "POST"] == [
        "/audio/translations", "/chat/completions"]


def test_json_events(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["ask", "--json", str(DATA / "capital.wav")], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    evs = events(proc.stdout)
    assert evs[0] == {"type": "transcript", "text": "What is the capital of France?"}
    deltas = [e for e in evs if e["type"] == "delta"]
    assert len(deltas) >= 3
    reply, timing = evs[-2:]
    assert reply["type"] == "reply" and reply["text"] == "".join(d["text"] for d in deltas)
    assert reply["text"] == "The capital of France is Paris."
    assert reply["usage"]["total_tokens"] > 0
    # After the turn, its stage times in ms from the start of the upload.
    assert timing["type"] == "timing" and timing["upload_start_ms"] == 0
    assert 0 < timing["transcript_ms"] <= timing["first_word_ms"] <= timing["answer_ms"]
    assert all(k.endswith("_ms") and isinstance(v, int) for k, v in timing.items() if k != "type")


def test_people_see_one_timing_line_after_each_turn(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["ask", str(DATA / "capital.wav")], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert re.fullmatch(r"voicebot: heard in \d+\.\d\d s · first word \d+\.\d\d s\n", proc.stderr), proc.stderr
    done = run(["transcribe", str(DATA / "capital.wav")], fake_groq, tmp_path)
    assert re.fullmatch(r"voicebot: heard in \d+\.\d\d s\n", done.stderr), done.stderr


def test_answer_streams_as_it_arrives(fake_groq: FakeGroq, tmp_path: Path) -> None:
    """The first words are on stdout while the server is still sending the rest."""
    fake_groq.set_chunk_delay(0.4)
    fake_groq.set_reply("one two three four five six seven eight")
    proc = subprocess.Popen([str(VOICEBOT), "chat", "--json"], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=base_env(fake_groq, tmp_path))
    assert proc.stdin and proc.stdout
    proc.stdin.write("count\n")
    proc.stdin.close()
    first = json.loads(proc.stdout.readline())
    assert first["type"] == "delta"
    (req,) = fake_groq.requests_to("/chat/completions")
    assert not req.completed, "the first delta was only printed after the whole stream had arrived"
    rest = events(proc.stdout.read())
    assert proc.wait(30) == 0
    assert rest[-1]["text"] == "one two three four five six seven eight"


def test_chat_from_stdin_keeps_history_and_options(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["chat", "--temperature", "0.3", "--top-p", "0.9", "--seed", "7", "--stop", "ZZZ",
                "--max-tokens", "200", "--service-tier", "flex", "--system", "Be terse."],
               fake_groq, tmp_path, stdin="hello\n\nand again\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "Assistant: You said: hello\nAssistant: You said: and again\n"
    first, second = chat_requests(fake_groq)
    assert {k: first[k] for k in ("temperature", "top_p", "seed", "stop", "max_completion_tokens",
                                   "service_tier")} == {"temperature": 0.3, "top_p": 0.9, "seed": 7,
                                                        "stop": ["ZZZ"], "max_completion_tokens": 200,
                                                        "service_tier": "flex"}
    assert second["messages"] == [{"role": "system", "content": "Be terse."},
                                  {"role": "user", "content": "hello"},
                                  {"role": "assistant", "content": "You said: hello"},
                                  {"role": "user", "content": "and again"}]


def test_history_budget_drops_oldest_turns(fake_groq: FakeGroq, tmp_path: Path) -> None:
    lines = "".join(f"question number {i} " + "padding " * 20 + "\n" for i in range(4))
    proc = run(["chat", "--history-tokens", "200"], fake_groq, tmp_path, stdin=lines)
    assert proc.returncode == 0, proc.stderr
    last = chat_requests(fake_groq)[-1]["messages"]
    assert last[0]["role"] == "system" and last[-1]["content"].startswith("question number 3")
    assert not any("question number 0" in m["content"] for m in last)
    assert len(last) < 8


def test_reasoning_hidden_by_default_and_dimmed_when_asked(fake_groq: FakeGroq, tmp_path: Path) -> None:
    plain = run(["chat"], fake_groq, tmp_path, stdin="hi\n")
    assert "The user asks" not in plain.stdout
    shown = run(["chat", "--show-reasoning", "--color", "always"], fake_groq, tmp_path, stdin="hi\n")
    assert shown.returncode == 0, shown.stderr
    assert '\x1b[2m "hi".' in shown.stdout  # the reasoning is dimmed
    plain_text = re.sub(r"\x1b\[[0-9;]*m", "", shown.stdout)
    assert plain_text == 'Assistant: (thinking) The user asks: "hi".\nYou said: hi\n'
    assert chat_requests(fake_groq)[-1]["include_reasoning"] is True


def test_json_object_response_format(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["chat", "--response-format", "json_object", "--json"], fake_groq, tmp_path,
               stdin="give me json\n")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(events(proc.stdout)[-1]["text"])  # the reply is itself JSON
    assert chat_requests(fake_groq)[0]["response_format"] == {"type": "json_object"}


def test_python_dash_m_works_the_same(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["transcribe", str(DATA / "capital.wav")], fake_groq, tmp_path, module=True)
    assert proc.returncode == 0 and proc.stdout == "What is the capital of France?\n"


def test_no_colour_off_a_terminal(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["ask", str(DATA / "capital.wav")], fake_groq, tmp_path)
    assert "\x1b[" not in proc.stdout + proc.stderr


# --- models and config -------------------------------------------------------------------------


def test_models_lists_ids_owners_and_windows(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["models"], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines()[1:]}
    assert rows["openai/gpt-oss-20b"][2] == "131,072"
    assert "whisper-large-v3-turbo" in rows
    as_json = events(run(["models", "--json"], fake_groq, tmp_path).stdout)
    assert {"type": "model", "id": "openai/gpt-oss-20b", "owned_by": "OpenAI", "context_window": 131072,
            "active": True} in as_json


def test_config_shows_sources_never_the_key(fake_groq: FakeGroq, tmp_path: Path) -> None:
    cfg = tmp_path / ".config" / "voicebot" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('chat_model = "openai/gpt-oss-120b"\nlanguage = "de"\n')
    proc = run(["config", "--language", "fr"], fake_groq, tmp_path, env={"VOICEBOT_TEMPERATURE": "0.5"})
    assert proc.returncode == 0, proc.stderr
    lines = {line.split()[0]: line for line in proc.stdout.splitlines()[1:]}
    assert "openai/gpt-oss-120b" in lines["chat_model"] and f"[config file {cfg}]" in lines["chat_model"]
    assert "fr" in lines["language"] and "[flag --language]" in lines["language"]
    assert "0.5" in lines["temperature"] and "[env VOICEBOT_TEMPERATURE]" in lines["temperature"]
    assert "set (hidden)" in lines["api_key"] and "[env GROQ_API_KEY]" in lines["api_key"]
    assert f"{fake_groq.host_url}/openai/v1" in lines["api_base"] and "[env GROQ_BASE_URL]" in lines["api_base"]
    assert fake_groq.requests == []


# --- user errors: one line, exit 2, nothing sent ---------------------------------------------------


@pytest.mark.parametrize("args, env, needle", [
    (["ask", str(DATA / "capital.wav")], {"GROQ_API_KEY": ""}, "GROQ_API_KEY"),
    (["models"], {"GROQ_API_KEY": ""}, "GROQ_API_KEY"),
    (["ask", "--temperature", "hot", str(DATA / "capital.wav")], {}, "--temperature"),
    (["frobnicate"], {}, "frobnicate"),
    (["chat"], {"VOICEBOT_MAX_RETRIES": "-1"}, "VOICEBOT_MAX_RETRIES"),
    (["chat"], {"VOICEBOT_CONFIG": "/nonexistent/voicebot.toml"}, "does not exist"),
])
def test_usage_errors(fake_groq: FakeGroq, tmp_path: Path, args: list[str], env: dict[str, str],
                      needle: str) -> None:
    proc = run(args, fake_groq, tmp_path, env=env, stdin="hi\n")
    assert proc.returncode == 2
    assert len(proc.stderr.splitlines()) == 1 and proc.stderr.startswith("voicebot: error: ")
    assert needle in proc.stderr
    assert fake_groq.requests == []


def test_config_errors_name_file_line_and_key(fake_groq: FakeGroq, tmp_path: Path) -> None:
    cfg = tmp_path / "bad.toml"
    cfg.write_text('chat_model = "x"\nvoice = "loud"\n')
    proc = run(["--config", str(cfg), "config"], fake_groq, tmp_path)
    assert proc.returncode == 2 and f"{cfg}:2" in proc.stderr and "'voice'" in proc.stderr
    cfg.write_text('chat_model = "x\n')
    proc = run(["config", "--config", str(cfg)], fake_groq, tmp_path)
    assert proc.returncode == 2 and "invalid TOML" in proc.stderr and "line 1" in proc.stderr



def test_a_mistyped_hotkey_fails_config_and_run_alike(fake_groq: FakeGroq, tmp_path: Path) -> None:
    cfg = tmp_path / "keys.toml"
    cfg.write_text('chat_model = "x"\n\n[hotkeys]\nask = "ctrl+alt+spcae"\n')
    want = f'voicebot: error: {cfg}:4: bad value for \'hotkeys\': ask: unknown key "spcae" in "ctrl+alt+spcae"'
    for args in (["config"], ["run", "--no-hotkeys"]):
        proc = run(["--config", str(cfg), *args], fake_groq, tmp_path, timeout=20)
        assert proc.returncode == 2, (args, proc.stderr)
        assert proc.stderr.splitlines()[0] == want, (args, proc.stderr)


# --- API and network failures ---------------------------------------------------------------------


def test_bad_key_is_one_line_exit_1(fake_groq: FakeGroq, tmp_path: Path) -> None:
    wrong = "gsk_wrong_" + "x" * 40
    proc = run(["ask", str(DATA / "capital.wav")], fake_groq, tmp_path, env={"GROQ_API_KEY": wrong})
    assert proc.returncode == 1
    assert len(proc.stderr.splitlines()) == 1 and "GROQ_API_KEY" in proc.stderr
    assert wrong not in proc.stdout + proc.stderr
    assert len(fake_groq.requests_to("/audio/transcriptions")) == 1  # 401 is not retried


@pytest.mark.parametrize("model, needle", [("llama-3.3-70b-versatile", "retired"),
                                           ("no-such-model", "voicebot models")])
def test_model_problems_say_what_to_do(fake_groq: FakeGroq, tmp_path: Path, model: str, needle: str) -> None:
    """A model that does not exist (or no longer does) is a usage problem: exit 2, like a bad flag."""
    proc = run(["chat", "--model", model], fake_groq, tmp_path, stdin="hi\n")
    assert proc.returncode == 2
    assert proc.stderr.startswith("voicebot: error: ") and needle in proc.stderr


def test_rate_limit_is_waited_out_and_said(fake_groq: FakeGroq, tmp_path: Path) -> None:
    fake_groq.fail_next("/chat/completions", 429, headers={"retry-after": "1"})
    proc = run(["chat"], fake_groq, tmp_path, stdin="hi\n")
    assert proc.returncode == 0, proc.stderr
    assert "rate limited" in proc.stderr and "retrying in 1 s" in proc.stderr
    assert proc.stdout == "Assistant: You said: hi\n"
    assert len(fake_groq.requests_to("/chat/completions")) == 2


def test_server_down_after_retries(fake_groq: FakeGroq, tmp_path: Path) -> None:
    fake_groq.fail_next("/audio/transcriptions", 503, times=5, headers={"retry-after": "0.1"})
    proc = run(["transcribe", str(DATA / "capital.wav")], fake_groq, tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.splitlines()[-1].startswith("voicebot: error: ") and "503" in proc.stderr
    assert len(fake_groq.requests_to("/audio/transcriptions")) == 3  # 1 + 2 retries, like the SDK


def test_proxy_html_page_is_a_clear_error(fake_groq: FakeGroq, tmp_path: Path) -> None:
    fake_groq.fail_next("/chat/completions", 502, times=3, body="<html><body>Bad Gateway</body></html>",
                        headers={"content-type": "text/html", "retry-after": "0"})
    proc = run(["chat", "--max-retries", "0"], fake_groq, tmp_path, stdin="hi\n")
    assert proc.returncode == 1 and "<html" not in proc.stderr
    assert len(fake_groq.requests_to("/chat/completions")) == 1


def test_stream_cut_after_text_keeps_the_partial_answer(fake_groq: FakeGroq, tmp_path: Path) -> None:
    fake_groq.set_reply("alpha beta gamma delta epsilon zeta")
    fake_groq.inject("/chat/completions", drop_after=3)
    proc = run(["chat"], fake_groq, tmp_path, stdin="go\n")
    assert proc.returncode == 1
    assert proc.stdout.startswith("Assistant: alpha") and "[interrupted]" in proc.stdout
    assert "zeta" not in proc.stdout
    assert proc.stderr.startswith("voicebot: error: ") and "interrupted" in proc.stderr
    assert len(fake_groq.requests_to("/chat/completions")) == 1  # never retried once text was shown


def test_connection_refused(tmp_path: Path, fake_groq: FakeGroq) -> None:
    env = {"GROQ_BASE_URL": "http://127.0.0.1:9", "VOICEBOT_MAX_RETRIES": "0"}
    start = time.monotonic()
    proc = run(["transcribe", str(DATA / "capital.wav")], fake_groq, tmp_path, env=env)
    assert proc.returncode == 1 and "127.0.0.1" in proc.stderr
    assert time.monotonic() - start < 30  # no hang


def test_separate_speech_root(fake_groq: FakeGroq, tmp_path: Path) -> None:
    """Speech and chat can go to different servers; here chat points at a dead port. The speech
    server is another host (port), so it gets its own key, never the chat key."""
    proc = run(["ask", "--stt-api-base", fake_groq.base_url, "--api-base", "http://127.0.0.1:9/openai/v1",
                "--max-retries", "0", str(DATA / "capital.wav")], fake_groq, tmp_path,
               env={"VOICEBOT_STT_API_KEY": TEST_API_KEY})
    assert proc.stdout.startswith("You: What is the capital of France?")
    assert proc.returncode == 1 and "127.0.0.1:9" in proc.stderr


def test_json_mode_reports_a_fatal_error_as_an_event_too(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["ask", "--json", str(DATA / "silence.wav")], fake_groq, tmp_path)
    assert proc.returncode == 2
    (event,) = events(proc.stdout)
    assert event["type"] == "error" and "no speech detected" in event["message"] and event["exit_code"] == 2
    assert proc.stderr.startswith("voicebot: error: no speech detected")


def test_rate_limit_wait_from_ratelimit_reset_headers(fake_groq: FakeGroq, tmp_path: Path) -> None:
    fake_groq.fail_next("/chat/completions", 429, headers={"x-ratelimit-remaining-requests": "0",
                                                           "x-ratelimit-reset-requests": "1.2s"})
    proc = run(["chat"], fake_groq, tmp_path, stdin="hi\n")
    assert proc.returncode == 0, proc.stderr
    assert "rate limited, retrying in 1.2 s" in proc.stderr
    first, second = fake_groq.requests_to("/chat/completions")
    assert second.received_at - first.received_at >= 1.2  # it waited for the bucket, not the 0.5 s backoff


# --- spoken answers --------------------------------------------------------------------------


def test_speak_without_any_output_device_prints_the_answer_with_one_notice(fake_groq: FakeGroq,
                                                                          tmp_path: Path) -> None:
    """The text answer never depends on the voice (tests/voice/test_no_sound.py covers the set-ups)."""
    import sounddevice

    if any(d["max_output_channels"] > 0 for d in sounddevice.query_devices()):
        pytest.skip("this machine has a sound output")  # the live tests cover speaking into one
    proc = run(["ask", "--speak", str(DATA / "capital.wav")], fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.endswith("Assistant: The capital of France is Paris.\n")
    assert [line for line in proc.stderr.splitlines() if " heard in " not in line] == [
        "voicebot: answers cannot be spoken: no audio output device found (check the sound server, or set "
        "speak = false)"]
    assert fake_groq.requests_to("/audio/speech") == []


def test_bad_voice_flag_is_exit_2(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["ask", "--voice", "alloy", str(DATA / "capital.wav")], fake_groq, tmp_path)
    assert proc.returncode == 2 and "invalid choice: 'alloy'" in proc.stderr
