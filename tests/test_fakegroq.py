"""The fake Groq server itself: the content recogniser, upload handling and fault injection."""

from __future__ import annotations

import io
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
import soxr

from tests.fakegroq import TEST_API_KEY, FakeGroq, decode, recognise
from tests.fakegroq.audio import UNKNOWN_SPEECH
from tests.fakegroq.chat import split_words
from tests.fakegroq.server import format_duration
from tests.fakegroq.stt import active_span, envelope

DATA = Path(__file__).parent / "data"
SPEECH = ["capital.wav", "spider.flac", "bonjour.ogg"]
AUTH = {"Authorization": f"Bearer {TEST_API_KEY}"}
CHAT = {"model": "openai/gpt-oss-20b", "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "include_reasoning": False}


def encode(samples: np.ndarray, rate: int, fmt: str = "WAV", subtype: str | None = None) -> bytes:
    buf = io.BytesIO()
    sf.write(buf, samples, rate, format=fmt, subtype=subtype)
    return buf.getvalue()


def load_mono16k(name: str) -> np.ndarray:
    x, rate = sf.read(DATA / name, dtype="float32", always_2d=True)
    return soxr.resample(x.mean(axis=1), rate, 16_000).astype(np.float32)


def fixture_of(data: bytes) -> str | None:
    return recognise(decode(data).mono16k).fixture


def simulated_capture(name: str, seed: int = 0) -> bytes:
    """Roughly what a PulseAudio null-sink round trip does: 48 kHz, int16, gain, noise floor, lag."""
    rng = np.random.default_rng(seed)
    x, rate = sf.read(DATA / name, dtype="float32", always_2d=True)
    y = soxr.resample(x.mean(axis=1), rate, 48_000) * 0.4
    y = np.concatenate([np.zeros(19_200), y, np.zeros(24_000)]) + rng.normal(0, 3e-4, y.size + 43_200)
    y = np.round(np.clip(y, -1, 1) * 32767) / 32767
    return encode(soxr.resample(y, 48_000, 16_000), 16_000, "WAV", "PCM_16")


def speech_bounds(x: np.ndarray) -> tuple[int, int]:
    """Sample range of the fixture's actual speech, so truncation is measured against it."""
    span = active_span(envelope(x))
    assert span is not None
    return span[0] * 160, span[1] * 160


# ---- recogniser: robust to what real capture paths do -------------------------------------------


@pytest.mark.parametrize("name", SPEECH)
def test_fixture_recognised_in_other_containers_rates_gains_and_offsets(name: str) -> None:
    x = load_mono16k(name)
    variants = {
        "original": (DATA / name).read_bytes(),
        "wav16k": encode(x, 16_000, "WAV", "PCM_16"),
        "flac48k-stereo": encode(np.stack([soxr.resample(x, 16_000, 48_000)] * 2, axis=1), 48_000, "FLAC"),
        "ogg16k": encode(x, 16_000, "OGG", "VORBIS"),
        "quiet": encode(x * 0.03, 16_000, "WAV", "FLOAT"),
        "loud-clipped": encode(np.clip(x * 6, -1, 1), 16_000),
        "offset": encode(np.concatenate([np.zeros(23_456), x, np.zeros(8_000)]), 16_000),
        "capture": simulated_capture(name),
    }
    assert {k: fixture_of(v) for k, v in variants.items()} == dict.fromkeys(variants, name)


@pytest.mark.parametrize("name", SPEECH)
def test_mostly_complete_speech_still_recognised(name: str) -> None:
    x = load_mono16k(name)
    start, end = speech_bounds(x)
    keep = start + int(0.9 * (end - start))
    assert fixture_of(encode(x[:keep], 16_000)) == name


@pytest.mark.parametrize("name", SPEECH)
def test_truncated_speech_rejected(name: str) -> None:
    x = load_mono16k(name)
    start, end = speech_bounds(x)
    half = start + (end - start) // 2
    assert fixture_of(encode(x[:half], 16_000)) is None
    assert fixture_of(encode(x[half:], 16_000)) is None


@pytest.mark.parametrize("name", SPEECH)
@pytest.mark.parametrize("declared", [8_000, 32_000, 11_025])
def test_mislabelled_sample_rate_rejected(name: str, declared: int) -> None:
    assert fixture_of(encode(load_mono16k(name), declared)) is None


@pytest.mark.parametrize(
    "audio",
    [
        (DATA / "silence.wav").read_bytes(),
        (DATA / "hiss.wav").read_bytes(),
        encode(np.random.default_rng(1).normal(0, 0.3, 48_000), 16_000),
        encode(np.random.default_rng(2).integers(-32768, 32767, 40_000, dtype=np.int16), 16_000, "WAV", "PCM_16"),
        encode(0.5 * np.sin(2 * np.pi * 440 * np.arange(32_000) / 16_000), 16_000),
        encode(np.zeros(100), 16_000),
    ],
    ids=["silence", "hiss", "white-noise", "random-samples", "tone", "tiny"],
)
def test_non_speech_rejected(audio: bytes) -> None:
    assert fixture_of(audio) is None


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
@pytest.mark.parametrize("text", ["The weather is nice today.", "What is the capital of Germany?",
                                  "Why is the capital of France?", "How many legs does a spider need?"])
def test_other_speech_rejected(tmp_path: Path, text: str) -> None:
    out = tmp_path / "other.wav"
    subprocess.run(["espeak-ng", "-v", "en", "-s", "150", "-w", str(out), text], check=True)
    assert fixture_of(out.read_bytes()) is None


def test_each_fixture_is_only_itself() -> None:
    assert [fixture_of((DATA / n).read_bytes()) for n in SPEECH] == SPEECH


def test_murmur_is_known_but_real_words_in_the_same_upload_win() -> None:
    murmur = load_mono16k("murmur.wav")
    assert recognise(murmur).fixture == "murmur.wav" and recognise(murmur).invented
    both = np.concatenate([load_mono16k("spider.flac"), np.zeros(16_000, np.float32), murmur, murmur])
    assert recognise(both).fixture == "spider.flac" and not recognise(both).invented


# ---- upload handling through HTTP ----------------------------------------------------------------------


def transcribe(fake: FakeGroq, filename: str | None, data: bytes, **fields: str) -> httpx.Response:
    files = {"file": (filename, data, "audio/x-test")}
    return httpx.post(fake.base_url + "/audio/transcriptions", headers=AUTH, files=files,
                      data={"model": "whisper-large-v3-turbo", **fields}, timeout=30)


def test_upload_is_recorded_in_detail(fake_groq: FakeGroq) -> None:
    r = transcribe(fake_groq, "speech.flac", (DATA / "spider.flac").read_bytes(), language="en", prompt="legs")
    assert r.json()["text"] == " How many legs does a spider have?"
    rec = fake_groq.wait_for_requests(1, completed=True)[0]
    assert rec.form == {"model": "whisper-large-v3-turbo", "language": "en", "prompt": "legs"}
    a = rec.audio
    assert a is not None
    assert (a.filename, a.content_type, a.container, a.samplerate, a.channels) == (
        "speech.flac", "audio/x-test", "flac", 44_100, 2)
    assert a.size == len((DATA / "spider.flac").read_bytes()) and a.duration == pytest.approx(2.457, abs=0.01)
    assert a.fixture == "spider.flac" and "authorization" not in rec.headers
    assert r.headers["x-ratelimit-remaining-requests"] and r.headers["x-ratelimit-reset-tokens"].endswith("s")


@pytest.mark.parametrize("filename", ["speech.aiff", "speech", None])
def test_bad_file_extension_rejected_like_groq(fake_groq: FakeGroq, filename: str | None) -> None:
    r = transcribe(fake_groq, filename, (DATA / "capital.wav").read_bytes())
    assert r.status_code == 400
    assert r.json()["error"]["message"] == (
        "file must be one of the following types: [flac mp3 mp4 mpeg mpga m4a ogg opus wav webm]")


def test_undecodable_audio_and_missing_model(fake_groq: FakeGroq) -> None:
    r = transcribe(fake_groq, "speech.wav", b"this is not audio at all" * 10)
    assert r.status_code == 400 and "valid media file" in r.json()["error"]["message"]
    r = httpx.post(fake_groq.base_url + "/audio/transcriptions", headers=AUTH, timeout=30,
                   files={"file": ("a.wav", (DATA / "capital.wav").read_bytes())})
    assert r.status_code == 400 and r.json()["error"]["param"] == "model"


def test_container_the_fake_cannot_decode_gets_plausible_answer(fake_groq: FakeGroq) -> None:
    m4a = b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00M4A mp42isom" + bytes(2000)
    r = transcribe(fake_groq, "speech.m4a", m4a)
    assert r.status_code == 200 and r.json()["text"] == " Thank you."
    audio = fake_groq.requests[0].audio
    assert audio is not None and audio.container == "mp4" and audio.samplerate is None


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_unknown_speech_says_so_while_murmur_and_silence_get_whispers_invention(
        fake_groq: FakeGroq, tmp_path: Path) -> None:
    """A newcomer's own sentence is not silence: it comes back as a transcript naming the fixtures."""
    own = tmp_path / "own.wav"
    subprocess.run(["espeak-ng", "-v", "en", "-s", "150", "-w", str(own), "Remind me to water the plants."],
                   check=True)
    answers = {name: transcribe(fake_groq, name, data, response_format="verbose_json").json()
               for name, data in [("own.wav", own.read_bytes()), ("murmur.wav", (DATA / "murmur.wav").read_bytes()),
                                  ("silence.wav", (DATA / "silence.wav").read_bytes())]}
    own_answer = answers["own.wav"]
    assert own_answer["text"] == UNKNOWN_SPEECH and "fixtures.json" in own_answer["text"]
    assert own_answer["segments"][0]["no_speech_prob"] < 0.1  # a client keeps it: the user sees it
    for name in ("murmur.wav", "silence.wav"):
        assert answers[name]["text"] == " Thank you.", name
        assert answers[name]["segments"][0]["no_speech_prob"] > 0.6, name


def test_file_over_25_mb_is_413(fake_groq: FakeGroq) -> None:
    r = transcribe(fake_groq, "big.wav", bytes(25 * 1024 * 1024 + 1))
    assert r.status_code == 413 and r.json()["error"]["code"] == "request_too_large"


# ---- fault injection --------------------------------------------------------------------------------------


def chat_post(fake: FakeGroq, **extra: object) -> httpx.Response:
    return httpx.post(fake.base_url + "/chat/completions", headers=AUTH, json={**CHAT, **extra}, timeout=30)


def test_status_fault_for_next_n_requests_only(fake_groq: FakeGroq) -> None:
    fake_groq.fail_next("/chat/completions", 503, times=2, headers={"retry-after": "3", "x-should-retry": "true"})
    statuses = [chat_post(fake_groq) for _ in range(3)]
    assert [r.status_code for r in statuses] == [503, 503, 200]
    assert statuses[0].headers["retry-after"] == "3" and statuses[0].headers["x-should-retry"] == "true"
    assert statuses[0].json()["error"]["type"] == "internal_server_error"
    assert httpx.get(fake_groq.base_url + "/models", headers=AUTH).status_code == 200  # other paths untouched


def test_html_proxy_page_empty_and_invalid_json(fake_groq: FakeGroq) -> None:
    from tests.fakegroq import BAD_GATEWAY_HTML

    fake_groq.fail_next("/chat/completions", 502, body=BAD_GATEWAY_HTML)
    r = chat_post(fake_groq)
    assert r.status_code == 502 and r.headers["content-type"].startswith("text/html") and "<h1>" in r.text
    fake_groq.inject("/chat/completions", empty=True)
    r = chat_post(fake_groq)
    assert r.status_code == 200 and r.content == b""
    fake_groq.inject("/chat/completions", invalid_json=True)
    r = chat_post(fake_groq)
    with pytest.raises(json.JSONDecodeError):
        r.json()


def test_delay_before_answering(fake_groq: FakeGroq) -> None:
    fake_groq.inject("/chat/completions", delay=5.0)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(fake_groq.base_url + "/chat/completions", headers=AUTH, json=CHAT, timeout=0.3)
    fake_groq.reset()  # ends the pending delay instead of letting it run on


def test_drop_connection_before_answer(fake_groq: FakeGroq) -> None:
    fake_groq.inject("/chat/completions", drop_after=0)
    with pytest.raises(httpx.RemoteProtocolError):
        chat_post(fake_groq)


def stream_lines(fake: FakeGroq, timeout: float = 30) -> tuple[list[str], BaseException | None]:
    """Data/event lines received before the stream ended or failed."""
    lines: list[str] = []
    try:
        with httpx.stream("POST", fake.base_url + "/chat/completions", headers=AUTH,
                          json={**CHAT, "stream": True}, timeout=timeout) as r:
            for line in r.iter_lines():
                if line:
                    lines.append(line)
    except httpx.HTTPError as exc:
        return lines, exc
    return lines, None


def test_drop_mid_stream_after_k_chunks(fake_groq: FakeGroq) -> None:
    fake_groq.inject("/chat/completions", drop_after=3)
    lines, error = stream_lines(fake_groq)
    assert isinstance(error, httpx.RemoteProtocolError)
    assert len(lines) == 3 and all(line.startswith("data: {") for line in lines)


def test_stall_mid_stream(fake_groq: FakeGroq) -> None:
    fake_groq.inject("/chat/completions", stall_after=2, stall_seconds=30)
    lines, error = stream_lines(fake_groq, timeout=0.5)
    assert isinstance(error, httpx.ReadTimeout) and len(lines) == 2
    fake_groq.reset()


def test_stall_then_resume_completes_stream(fake_groq: FakeGroq) -> None:
    fake_groq.inject("/chat/completions", stall_after=1, stall_seconds=0.2)
    lines, error = stream_lines(fake_groq)
    assert error is None and lines[-1] == "data: [DONE]"


@pytest.mark.parametrize("style", ["event", "data", "invalid_json"])
def test_error_frames_mid_stream(fake_groq: FakeGroq, style: str) -> None:
    fake_groq.inject("/chat/completions", error_after=2, error_style=style)
    lines, error = stream_lines(fake_groq)
    assert error is None and len(lines) >= 3 and "data: [DONE]" not in lines
    if style == "event":
        assert lines[2] == "event: error" and json.loads(lines[3][6:])["error"]["message"]
    elif style == "data":
        assert json.loads(lines[2][6:])["error"]["code"] == "service_unavailable"
    else:
        with pytest.raises(json.JSONDecodeError):
            json.loads(lines[2][6:])


def test_full_stream_shape(fake_groq: FakeGroq) -> None:
    lines, error = stream_lines(fake_groq)
    assert error is None and lines[-1] == "data: [DONE]"
    chunks = [json.loads(line[6:]) for line in lines[:-1]]
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""} and chunks[0]["x_groq"]["id"]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks) == "The capital of France is Paris."
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop" and chunks[-1]["x_groq"]["usage"]["total_tokens"] > 0


def test_client_hang_up_is_recorded(fake_groq: FakeGroq) -> None:
    fake_groq.set_chunk_delay(0.05)
    with httpx.stream("POST", fake_groq.base_url + "/chat/completions", headers=AUTH,
                      json={**CHAT, "stream": True}, timeout=30) as r:
        next(r.iter_lines())
    rec = fake_groq.wait_until(lambda reqs: bool(reqs) and reqs[0].completed)[0]
    assert rec.client_disconnected and rec.chunks_sent < 8


def test_rate_limit_headers_everywhere_and_automatic_429(fake_groq: FakeGroq) -> None:
    r = httpx.get(fake_groq.base_url + "/models")
    assert r.status_code == 401 and r.json()["error"]["code"] == "invalid_api_key"
    assert "x-ratelimit-limit-requests" in r.headers
    fake_groq.set_rate_limits(requests_per_day=2)
    codes = [httpx.get(fake_groq.base_url + "/models", headers=AUTH) for _ in range(3)]
    assert [c.status_code for c in codes] == [200, 200, 429]
    assert codes[1].headers["x-ratelimit-remaining-requests"] == "0"
    assert int(codes[2].headers["retry-after"]) > 0 and codes[2].json()["error"]["code"] == "rate_limit_exceeded"


def test_admin_endpoints_steer_from_another_process(fake_groq: FakeGroq) -> None:
    admin = fake_groq.host_url + "/_fake"
    assert httpx.post(admin + "/faults", json={"path": "/models", "status": 500, "times": 1}).status_code == 201
    assert httpx.post(admin + "/reply", json={"text": "Steered."}).status_code == 200
    assert httpx.get(fake_groq.base_url + "/models", headers=AUTH).status_code == 500
    assert chat_post(fake_groq).json()["choices"][0]["message"]["content"] == "Steered."
    seen = httpx.get(admin + "/requests").json()
    assert [(s["endpoint"], s["status"]) for s in seen] == [("/models", 500), ("/chat/completions", 200)]
    assert TEST_API_KEY not in json.dumps(seen)
    httpx.post(admin + "/reset")
    assert fake_groq.requests == []


def test_wait_for_requests_times_out_with_what_it_saw(fake_groq: FakeGroq) -> None:
    chat_post(fake_groq)
    with pytest.raises(TimeoutError, match="chat/completions"):
        fake_groq.wait_for_requests(2, timeout=0.2)


def test_unknown_url_is_404(fake_groq: FakeGroq) -> None:
    r = httpx.get(fake_groq.base_url + "/nope", headers=AUTH)
    assert r.status_code == 404 and r.json()["error"]["code"] == "unknown_url"


def test_standalone_entry_point_prints_what_to_paste(tmp_path: Path) -> None:
    """The first two lines are shell lines for the terminal that runs voicebot (or the SDK)."""
    with subprocess.Popen([sys.executable, "-m", "tests.fakegroq", "--key", "gsk_other"],
                          cwd=Path(__file__).parent.parent, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                          text=True) as proc:
        try:
            assert proc.stdout is not None
            base_line, key_line = proc.stdout.readline().strip(), proc.stdout.readline().strip()
            assert re.fullmatch(r"export GROQ_BASE_URL=http://127\.0\.0\.1:\d+", base_line), base_line
            assert key_line == "export GROQ_API_KEY=gsk_other"
            host_root = base_line.partition("=")[2]  # a host root, as the SDK takes it: it appends /openai/v1
            r = httpx.get(host_root + "/openai/v1/models", headers={"Authorization": "Bearer gsk_other"}, timeout=10)
            assert r.status_code == 200
        finally:
            proc.terminate()
            proc.wait(10)


def test_standalone_without_the_test_dependencies_says_how_to_run_it() -> None:
    """`python -m tests.fakegroq` from a Python without aiohttp & co. (here: -S, no site-packages)."""
    done = subprocess.run([sys.executable, "-S", "-m", "tests.fakegroq"], cwd=Path(__file__).parent.parent,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and done.stdout == ""
    assert "Traceback" not in done.stderr and len(done.stderr.splitlines()) == 1
    assert "lacks aiohttp" in done.stderr and "scripts/dev fakegroq" in done.stderr


def test_standalone_help_shows_the_default_key() -> None:
    done = subprocess.run([sys.executable, "-m", "tests.fakegroq", "--help"], cwd=Path(__file__).parent.parent,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 and TEST_API_KEY in " ".join(done.stdout.split())


# ---- small pure helpers ----------------------------------------------------------------------------------


def test_format_duration_like_groq() -> None:
    assert [format_duration(s) for s in (7.66, 179.56, 3723.5, 0)] == ["7.66s", "2m59.56s", "1h2m3.5s", "0s"]


@pytest.mark.parametrize("text", ["The capital of France is Paris.", "  two  spaces ", "", "one"])
def test_split_words_round_trips(text: str) -> None:
    pieces = split_words(text)
    assert "".join(pieces) == text and all(p.strip() for p in pieces[:-1])


def test_a_simulated_link_charges_connect_upload_round_trip_and_service_times() -> None:
    import time

    import httpx

    from tests.fakegroq import Link

    link = Link(connect_ms=150, first_byte_ms=50, uplink_bytes_per_s=100_000, stt_ms=100, stt_ms_per_audio_s=20,
                ttft_ms=200)
    data = (DATA / "capital.wav").read_bytes()  # 96 KB: about 0.96 s up at 100 KB/s
    with FakeGroq(link=link) as fake, httpx.Client(headers={"Authorization": f"Bearer {TEST_API_KEY}"}) as client:
        times = []
        for _ in range(2):
            start = time.monotonic()
            r = client.post(f"{fake.base_url}/audio/transcriptions", data={"model": "whisper-large-v3-turbo"},
                            files={"file": ("a.wav", data, "audio/wav")})
            times.append(time.monotonic() - start)
            assert r.status_code == 200 and "capital of France" in r.json()["text"]
        start = time.monotonic()
        with client.stream("POST", f"{fake.base_url}/chat/completions",
                           json={"model": "openai/gpt-oss-20b", "stream": True,
                                 "messages": [{"role": "user", "content": "hi"}]}) as stream:
            next(stream.iter_lines())
            first_chunk = time.monotonic() - start
        reqs = fake.requests_to("/audio/transcriptions")
    upload = len(data) / 100_000
    service = 0.100 + 0.020 * reqs[0].audio.duration
    assert times[0] >= 0.150 + upload + 0.050 + service  # a new connection pays for opening it
    assert upload + 0.050 + service <= times[1] < times[0] - 0.1  # the kept-alive one does not
    assert reqs[0].body_at is not None and reqs[0].body_at - reqs[0].received_at >= 0.150 + upload - 0.01
    assert 0.250 <= first_chunk < 1.0  # round trip + time to first token
    assert link.floor_ms(3.7) == pytest.approx(100 + 74 + 200 + 100)
