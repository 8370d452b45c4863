"""Audio preparation: real decoding, a real resampler, the silence guard, and bounded memory."""

from __future__ import annotations

import dataclasses
import functools
import gc
import io
import json
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from voicebot.audio.encoding import EncodedStream, PreparedAudio, TakeEncoder, encode, prepare_array
from voicebot.audio.files import MAX_UPLOAD_BYTES, check_upload_size, prepare_file, sniff_passthrough
from voicebot.audio.samples import (
    SILENCE_DBFS,
    frame_levels_dbfs,
    level_dbfs,
    resample,
    speech_present,
    to_mono,
    to_pcm16,
)
from voicebot.errors import NoSpeechError, UsageError

DATA = Path(__file__).parents[1] / "data"
FIXTURES: dict[str, dict[str, str] | None] = json.loads((DATA / "fixtures.json").read_text("utf-8"))
SPEECH = sorted(name for name, facts in FIXTURES.items() if facts is not None)
NO_SPEECH = sorted(name for name, facts in FIXTURES.items() if facts is None)


def read_fixture(name: str) -> tuple[np.ndarray, int]:
    """A fixture as float32 (frames, channels)."""
    data, rate = sf.read(DATA / name, dtype="float32", always_2d=True)
    return data, rate


def decode(prepared: PreparedAudio) -> tuple[np.ndarray, sf._SoundFileInfo]:
    """What the server would hear: the upload decoded by libsndfile."""
    info = sf.info(io.BytesIO(prepared.data))
    samples, _ = sf.read(io.BytesIO(prepared.data), dtype="float32")
    return samples, info


def tone(freq: float, rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def spectrum_peak(x: np.ndarray, rate: int) -> tuple[float, float]:
    """(frequency of the strongest bin, its amplitude) with a Hann window."""
    window = np.hanning(len(x))
    mags = np.abs(np.fft.rfft(x * window)) * 2 / window.sum()
    k = int(np.argmax(mags))
    return k * rate / len(x), float(mags[k])


def band_amplitude(x: np.ndarray, rate: int, freq: float, width: float = 50.0) -> float:
    window = np.hanning(len(x))
    mags = np.abs(np.fft.rfft(x * window)) * 2 / window.sum()
    freqs = np.fft.rfftfreq(len(x), 1 / rate)
    return float(mags[np.abs(freqs - freq) <= width].max())


def write_wav(path: Path, x: np.ndarray, rate: int, subtype: str = "PCM_16") -> Path:
    sf.write(path, x, rate, subtype=subtype)
    return path


# --------------------------------------------------------------------------- fixtures


@pytest.mark.parametrize("name", SPEECH)
def test_every_speech_fixture_becomes_16k_mono_flac(name: str) -> None:
    source, rate = read_fixture(name)
    prepared = prepare_file(DATA / name, "flac")
    samples, info = decode(prepared)
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("FLAC", "PCM_16", 16000, 1)
    assert abs(info.duration - len(source) / rate) < 0.005
    assert prepared.duration == pytest.approx(info.duration)
    assert (prepared.filename, prepared.content_type) == ("speech.flac", "audio/flac")
    assert (prepared.sample_rate, prepared.channels) == (16000, 1)
    assert prepared.source == str(DATA / name)
    assert prepared.as_upload() == ("speech.flac", prepared.data, "audio/flac")
    # It is the recording itself, mixed and resampled, not merely something of the right shape.
    expected = resample(to_mono(source), rate, 16000)
    assert len(samples) == len(expected)
    assert np.max(np.abs(samples - np.clip(expected, -1, 1))) <= 1.5 / 32768


@pytest.mark.parametrize("name", SPEECH)
def test_every_speech_fixture_becomes_16k_mono_opus_under_8_kb_a_second_and_sounds_the_same(name: str) -> None:
    from tests.fakegroq.stt import decode as server_decode
    from tests.fakegroq.stt import recognise

    source, rate = read_fixture(name)
    prepared = prepare_file(DATA / name)  # Opus is the default
    samples, info = decode(prepared)
    assert (info.format, info.subtype, info.samplerate, info.channels) == ("OGG", "OPUS", 16000, 1)
    assert prepared.as_upload() == ("speech.ogg", prepared.data, "audio/ogg")
    assert (prepared.sample_rate, prepared.channels) == (16000, 1)
    expected = resample(to_mono(source), rate, 16000)
    assert len(samples) == len(expected)  # not a sample gained or lost to the codec's padding
    assert prepared.duration == pytest.approx(len(expected) / 16000)
    assert len(prepared.data) / prepared.duration <= 8000
    assert len(prepared.data) < len(prepare_file(DATA / name, "flac").data) / 3
    heard = server_decode(prepared.data)
    assert heard.container == "ogg" and recognise(heard.mono16k).fixture == name  # the same words, by their sound


@pytest.mark.parametrize("name", SPEECH)
def test_speech_attenuated_by_20_db_still_counts(name: str, tmp_path: Path) -> None:
    source, rate = read_fixture(name)
    quiet = write_wav(tmp_path / "quiet.wav", source * 0.1, rate)
    prepared = prepare_file(quiet)
    samples, _ = decode(prepared)
    assert 20 * np.log10(np.max(np.abs(samples))) < -6  # the gain was not normalised back up
    assert prepare_array(source * 0.1, rate).duration == pytest.approx(prepared.duration)


@pytest.mark.parametrize("name", NO_SPEECH)
def test_fixtures_without_speech_are_refused(name: str) -> None:
    with pytest.raises(NoSpeechError) as caught:
        prepare_file(DATA / name)
    assert str(caught.value) == f"no speech detected in {DATA / name}"


def test_mp3_written_at_test_time_is_decoded(tmp_path: Path) -> None:
    source, rate = read_fixture("capital.wav")
    mp3 = tmp_path / "capital.mp3"
    sf.write(mp3, source, rate, format="MP3")
    prepared = prepare_file(mp3)
    _, info = decode(prepared)
    assert (info.samplerate, info.channels, info.subtype) == (16000, 1, "OPUS")
    # MP3 frames pad the end a little; the length must still be the recording's.
    assert abs(info.duration - len(source) / rate) < 0.1


@pytest.mark.parametrize(("rate", "channels"), [(96000, 6), (8000, 1), (44100, 2)])
def test_unusual_rates_and_channel_counts(tmp_path: Path, rate: int, channels: int) -> None:
    speech, src_rate = read_fixture("capital.wav")
    mono = resample(speech[:, 0], src_rate, rate)
    gains = np.linspace(1.0, 0.4, channels, dtype=np.float32)
    multi = mono[:, None] * gains[None, :]
    path = write_wav(tmp_path / f"multi_{rate}_{channels}.wav", multi, rate)
    samples, info = decode(prepare_file(path, "flac"))
    assert (info.samplerate, info.channels) == (16000, 1)
    assert abs(info.duration - len(mono) / rate) < 0.005
    expected = resample(mono * gains.mean(), rate, 16000)
    assert np.max(np.abs(samples - expected)) < 3 / 32768


# --------------------------------------------------------------------------- resampler


def test_resampler_keeps_a_1khz_tone() -> None:
    out = resample(tone(1000, 44100, 1.0, amplitude=0.5), 44100, 16000)
    assert len(out) == 16000
    freq, amp = spectrum_peak(out[2000:-2000], 16000)
    assert freq == pytest.approx(1000, abs=2)
    assert amp == pytest.approx(0.5, rel=0.01)


def test_resampler_removes_a_10khz_tone_instead_of_aliasing_it() -> None:
    src = tone(10000, 44100, 1.0, amplitude=0.5)
    out = resample(src, 44100, 16000)
    # Naive decimation would fold 10 kHz onto 16 - 10 = 6 kHz at nearly full amplitude.
    naive = np.interp(np.arange(16000) * 44100 / 16000, np.arange(len(src)), src)
    assert band_amplitude(naive[2000:-2000], 16000, 6000) > 0.1
    assert band_amplitude(out[2000:-2000], 16000, 6000) < 0.5 * 10 ** (-60 / 20)
    assert np.sqrt(np.mean(out[2000:-2000] ** 2)) < 1e-3


def test_resample_same_rate_and_empty_are_untouched() -> None:
    x = tone(440, 16000, 0.1)
    assert resample(x, 16000, 16000) is x
    assert len(resample(np.zeros(0, np.float32), 44100, 16000)) == 0
    with pytest.raises(ValueError):
        resample(x, 0, 16000)


def test_streaming_encoder_resamples_like_the_one_shot_resampler() -> None:
    x = tone(1000, 48000, 1.0) * np.hanning(48000).astype(np.float32)
    encoder = TakeEncoder(48000, codec="flac")
    for start in range(0, len(x), 480):
        encoder.write(x[start : start + 480])
    samples, _ = decode(encoder.finish())
    assert np.max(np.abs(samples - resample(x, 48000, 16000))) <= 1 / 32768


# --------------------------------------------------------------------------- pure helpers


def test_to_mono() -> None:
    stereo = np.array([[1.0, 0.0], [0.5, -0.5], [0.2, 0.4]], dtype=np.float32)
    assert np.allclose(to_mono(stereo), [0.5, 0.0, 0.3])
    assert to_mono(stereo).dtype == np.float32
    one = np.array([1.0, 2.0], dtype=np.float32)
    assert to_mono(one) is one
    assert np.array_equal(to_mono(one[:, None]), one)
    assert np.allclose(to_mono(np.array([[100, 300]], dtype=np.int16)), [200])
    with pytest.raises(ValueError):
        to_mono(np.zeros((2, 2, 2)))


def test_to_pcm16_clips_and_rounds() -> None:
    x = np.array([0.0, 1.0, -1.0, 2.0, -3.0, 0.5, 1 / 32768, np.nan])
    assert to_pcm16(x).tolist() == [0, 32767, -32768, 32767, -32768, 16384, 1, 0]


def test_encode_flac_roundtrips_int16_exactly_and_float_within_a_step() -> None:
    pcm = (np.random.default_rng(3).standard_normal(20000) * 4000).astype(np.int16)
    data = encode(pcm, 16000, "flac")
    back, rate = sf.read(io.BytesIO(data), dtype="int16")
    assert rate == 16000 and np.array_equal(back, pcm)
    info = sf.info(io.BytesIO(data))
    assert (info.format, info.subtype, info.channels) == ("FLAC", "PCM_16", 1)
    x = tone(300, 8000, 0.5)
    back_f, rate_f = sf.read(io.BytesIO(encode(x, 8000, "flac")), dtype="float32")
    assert rate_f == 8000 and np.max(np.abs(back_f - x)) <= 0.5 / 32768 + 1e-9


def test_level_dbfs() -> None:
    assert level_dbfs(np.full(160, 32767, dtype=np.int16)) == pytest.approx(0.0, abs=0.01)
    assert level_dbfs(np.full(160, 0.5, dtype=np.float32)) == pytest.approx(-6.02, abs=0.01)
    assert level_dbfs(tone(1000, 16000, 0.1, amplitude=1.0)) == pytest.approx(-3.01, abs=0.01)
    assert level_dbfs(np.zeros(160, dtype=np.int16)) == SILENCE_DBFS
    assert level_dbfs(np.zeros(0, dtype=np.float32)) == SILENCE_DBFS
    assert level_dbfs(np.array([np.nan, np.inf], dtype=np.float32)) == pytest.approx(-3.01, abs=0.01)


def test_frame_levels_dbfs() -> None:
    x = np.concatenate([tone(1000, 16000, 0.1, amplitude=1.0), np.zeros(1600 + 100, np.float32)])
    levels = frame_levels_dbfs(x, 16000)
    assert len(levels) == 10  # 20 ms frames; the trailing 100 samples are not a frame
    assert np.allclose(levels[:5], -3.01, atol=0.05)
    assert np.all(levels[5:] == SILENCE_DBFS)
    assert len(frame_levels_dbfs(np.zeros(100), 16000)) == 0
    assert len(frame_levels_dbfs(np.zeros(4410), 44100)) == 5  # frame length follows the rate


def test_speech_present_needs_enough_frames_clearly_above_the_floors() -> None:
    quiet = np.full(100, -90.0)
    assert speech_present(np.concatenate([quiet, np.full(13, -30.0)]))  # 0.26 s voiced
    assert not speech_present(np.concatenate([quiet, np.full(12, -30.0)]))  # 0.24 s: a blip
    assert not speech_present(np.concatenate([quiet, np.full(50, -60.0)]))  # under the absolute floor
    assert not speech_present(np.full(200, -20.0))  # loud but steady: a noise floor, not speech
    assert not speech_present(np.concatenate([np.full(100, -40.0), np.full(30, -35.0)]))  # 5 dB bumps
    assert speech_present(np.concatenate([np.full(100, -40.0), np.full(30, -25.0)]))  # speech over noise
    assert not speech_present(np.zeros(0))


def test_sniff_passthrough() -> None:
    assert sniff_passthrough(b"\x00\x00\x00\x20ftypM4A \x00\x00\x00\x00") == "m4a"
    assert sniff_passthrough(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00") == "mp4"
    assert sniff_passthrough(b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01") == "webm"
    assert sniff_passthrough(b"RIFF\x24\x00\x00\x00WAVEfmt ") is None
    assert sniff_passthrough(b"ftyp") is None


def test_prepared_audio_is_frozen_and_its_repr_hides_the_bytes() -> None:
    p = PreparedAudio("speech.flac", b"\x01" * 1000, "audio/flac", 1.0, 16000, 1, "microphone")
    assert "\\x01" not in repr(p) and "speech.flac" in repr(p)
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.filename = "other"  # type: ignore[misc]


# --------------------------------------------------------------------------- silence guard


def test_short_blip_in_silence_is_not_speech() -> None:
    blip = np.zeros(32000, np.float32)
    blip[16000:17600] = np.random.default_rng(1).uniform(-0.8, 0.8, 1600)  # 0.1 s click
    with pytest.raises(NoSpeechError, match="no speech detected in microphone"):
        prepare_array(blip, 16000)


def test_speech_embedded_in_hiss_is_still_speech() -> None:
    hiss, _ = sf.read(DATA / "hiss.wav", dtype="float32")
    speech, rate = read_fixture("capital.wav")
    mixed = np.tile(hiss, 2)[: 3 * 16000].copy()
    voice = resample(speech[:, 0], rate, 16000) * 0.1
    mixed[8000 : 8000 + len(voice)] += voice
    assert prepare_array(mixed, 16000).duration == pytest.approx(3.0)


def test_loud_steady_noise_is_not_speech() -> None:
    noise = (np.random.default_rng(2).standard_normal(32000) * 0.1).astype(np.float32)
    with pytest.raises(NoSpeechError):
        prepare_array(noise, 16000)


@pytest.mark.parametrize("frames", [0, 1])
def test_empty_and_one_sample_files_are_no_speech_not_crashes(tmp_path: Path, frames: int) -> None:
    path = write_wav(tmp_path / "tiny.wav", np.full(frames, 0.5, np.float32), 44100)
    with pytest.raises(NoSpeechError, match="tiny.wav"):
        prepare_file(path)


def test_nan_inf_and_clipping_are_sanitised(tmp_path: Path) -> None:
    speech, rate = read_fixture("spider.flac")
    hot = speech * 30.0  # heavily clipped
    hot[1000:1010, 0] = np.nan
    hot[2000, 1] = np.inf
    hot[3000, 0] = -np.inf
    path = write_wav(tmp_path / "hot.wav", hot, rate, subtype="FLOAT")
    samples, _ = decode(prepare_file(path, "flac"))
    assert np.all(np.isfinite(samples)) and np.max(np.abs(samples)) <= 1.0
    assert np.mean(np.abs(samples) > 0.99) > 0.05  # still clipped loud speech, not silence


# --------------------------------------------------------------------------- unusable input


def test_m4a_and_webm_pass_through_unchanged(tmp_path: Path) -> None:
    m4a = b"\x00\x00\x00\x20ftypM4A \x00\x00\x02\x00M4A mp42isom" + bytes(range(256)) * 4
    webm = b"\x1a\x45\xdf\xa3\x9f\x42\x86\x81\x01\x42\xf7\x81\x01webm" + bytes(200)
    mp4 = b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + bytes(300)
    cases = [
        ("voice.m4a", m4a, "speech.m4a", "audio/mp4"),
        ("voice-no-extension", m4a, "speech.m4a", "audio/mp4"),  # magic bytes decide
        ("voice.wav", m4a, "speech.m4a", "audio/mp4"),  # a misleading extension does not
        ("clip.mp4", mp4, "speech.mp4", "audio/mp4"),
        ("clip.M4A", mp4, "speech.m4a", "audio/mp4"),  # its own (compatible) extension is kept
        ("take.webm", webm, "speech.webm", "audio/webm"),
        ("take.bin", webm, "speech.webm", "audio/webm"),
    ]
    for name, content, filename, content_type in cases:
        path = tmp_path / name
        path.write_bytes(content)
        prepared = prepare_file(path)
        assert prepared.as_upload() == (filename, content, content_type), name
        assert (prepared.duration, prepared.sample_rate, prepared.channels) == (None, None, None)
        assert prepared.source == str(path)


def test_a_wav_named_m4a_is_decoded_not_passed_through(tmp_path: Path) -> None:
    speech, rate = read_fixture("capital.wav")
    path = write_wav(tmp_path / "liar.wav", speech, rate).rename(tmp_path / "liar.m4a")
    assert prepare_file(path).filename == "speech.ogg"


def _garbage(tmp_path: Path) -> Path:
    path = tmp_path / "garbage.wav"
    path.write_bytes(np.random.default_rng(0).bytes(5000))
    return path


def _text(tmp_path: Path) -> Path:
    path = tmp_path / "notes.mp3"
    path.write_text("this is not audio at all\n" * 20)
    return path


def _empty(tmp_path: Path) -> Path:
    path = tmp_path / "empty.flac"
    path.write_bytes(b"")
    return path


def _directory(tmp_path: Path) -> Path:
    path = tmp_path / "folder.wav"
    path.mkdir()
    return path


def _missing(tmp_path: Path) -> Path:
    return tmp_path / "missing.ogg"


def _truncated_header(tmp_path: Path) -> Path:
    path = tmp_path / "cut.wav"
    path.write_bytes(b"RIFF\x24\x00\x00\x00WAVEfm")
    return path


@pytest.mark.parametrize("make", [_garbage, _text, _empty, _directory, _missing, _truncated_header])
def test_unusable_files_are_one_line_usage_errors(tmp_path: Path, make: Callable[[Path], Path]) -> None:
    path = make(tmp_path)
    with pytest.raises(UsageError) as caught:
        prepare_file(path)
    assert type(caught.value) is UsageError  # not "no speech": the file itself is the problem
    message = str(caught.value)
    assert str(path) in message and "\n" not in message


# --------------------------------------------------------------------------- size limit


def test_size_check_says_size_and_limit() -> None:
    check_upload_size(MAX_UPLOAD_BYTES, "x.wav")
    with pytest.raises(UsageError) as caught:
        check_upload_size(MAX_UPLOAD_BYTES + 3 * 1024 * 1024, "x.wav")
    assert "28.0 MB" in str(caught.value) and "25.0 MB" in str(caught.value) and "x.wav" in str(caught.value)


def test_oversized_passthrough_uploads_are_refused(tmp_path: Path) -> None:
    """m4a/mp4/webm cannot be decoded, so cannot be split: over the limit they are refused.
    Decoded audio over the limit is split instead (tests/audio/test_chunking.py)."""
    big = tmp_path / "big.webm"
    big.write_bytes(b"\x1a\x45\xdf\xa3" + bytes(20_000))
    with pytest.raises(UsageError, match="upload limit"):
        prepare_file(big, max_bytes=10_000)


# --------------------------------------------------------------------------- incremental


def test_take_encoder_accepts_int16_and_float32_device_blocks() -> None:
    speech, rate = read_fixture("bonjour.ogg")
    at_48k = resample(speech[:, 0], rate, 48000)
    as_int16 = to_pcm16(at_48k)
    encoder = TakeEncoder(48000, codec="flac")
    assert encoder.voiced_seconds == 0.0
    for start in range(0, len(as_int16), 1024):
        encoder.write(as_int16[start : start + 1024])
    assert encoder.voiced_seconds > 1.0
    assert encoder.duration == pytest.approx(len(as_int16) / 48000, abs=0.1)  # resampler delay
    prepared = encoder.finish()
    assert prepared.source == "microphone" and prepared.duration == pytest.approx(len(as_int16) / 48000, abs=1e-4)
    float_take = prepare_array(as_int16.astype(np.float32) / 32768, 48000, codec="flac")
    assert float_take.data == prepared.data
    with pytest.raises(ValueError):
        encoder.write(as_int16[:10])
    with pytest.raises(ValueError):
        encoder.finish()


def test_voiced_seconds_grows_as_speech_arrives() -> None:
    silence = np.zeros(16000, np.int16)
    speech, rate = read_fixture("capital.wav")
    voice = to_pcm16(resample(speech[:, 0], rate, 16000))
    encoder = TakeEncoder(16000)
    encoder.write(silence)
    assert encoder.voiced_seconds == 0.0
    encoder.write(voice)
    assert encoder.voiced_seconds > 0.5
    encoder.finish()


_PCM16_INPUTS = ["capital.wav", "spider.flac", "hiss.wav", "silence.wav"]  # int16 reads are exact
_ALL_INPUTS = [*_PCM16_INPUTS, "bonjour.ogg"]  # Vorbis decodes to float: float blocks only


@functools.cache
def one_shot(name: str) -> PreparedAudio | None:
    try:
        return prepare_file(DATA / name, "flac")
    except NoSpeechError:
        return None


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    name=st.sampled_from(_ALL_INPUTS),
    sizes=st.lists(st.integers(min_value=1, max_value=6000), min_size=1, max_size=8),
    as_int16=st.booleans(),
)
def test_incremental_equals_one_shot_whatever_the_block_sizes(name: str, sizes: list[int], as_int16: bool) -> None:
    assume(name in _PCM16_INPUTS or not as_int16)
    data, rate = sf.read(DATA / name, dtype="int16" if as_int16 else "float32", always_2d=True)
    encoder = TakeEncoder(rate, source=str(DATA / name), codec="flac")
    # The drawn sizes cycle with one device-sized block, so tiny blocks land at every
    # alignment without a run of 1-sample writes making the test slow.
    cycle = [*sizes, 4096]
    start, turn = 0, 0
    while start < len(data):
        size = cycle[turn % len(cycle)]
        encoder.write(data[start : start + size])
        start, turn = start + size, turn + 1
    whole = TakeEncoder(rate, source=str(DATA / name), codec="flac")
    whole.write(data)
    assert encoder.voiced_seconds == whole.voiced_seconds  # same frames, same statistics
    whole.abort()
    expected = one_shot(name)
    if expected is None:
        with pytest.raises(NoSpeechError):
            encoder.finish()
    else:
        incremental = encoder.finish()
        assert incremental.data == expected.data
        assert incremental == expected


# --------------------------------------------------------------------------- memory


@pytest.mark.slow
def test_long_file_is_prepared_in_bounded_memory(tmp_path: Path) -> None:
    """10 minutes of 48 kHz stereo (230 MB as float32) must never be held in memory."""
    speech, rate = read_fixture("capital.wav")
    phrase = resample(speech[:, 0], rate, 48000)
    block = np.concatenate([phrase, np.zeros(48000, np.float32)])  # speech, then a pause
    stereo = np.stack([block, block * 0.5], axis=1)
    path = tmp_path / "long.wav"
    frames = 10 * 60 * 48000
    with sf.SoundFile(path, "w", samplerate=48000, channels=2, subtype="PCM_16") as f:
        written = 0
        while written < frames:
            chunk = stereo[: frames - written]
            f.write(chunk)
            written += len(chunk)
    decoded_bytes = frames * 2 * 4
    gc.collect()
    tracemalloc.start()
    try:
        prepared = prepare_file(path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert prepared.duration == pytest.approx(600.0, abs=0.01)
    assert peak < decoded_bytes / 8, f"peak {peak / 1e6:.1f} MB of {decoded_bytes / 1e6:.0f} MB decoded"
    assert peak < 3 * len(prepared.data) + 8 * 1024 * 1024  # bounded by the output, not the input


@pytest.mark.parametrize("codec", ["flac", "opus"])
def test_encoded_stream_reports_its_growing_size(codec: str) -> None:
    stream = EncodedStream(16000, codec)
    noise = (np.random.default_rng(5).standard_normal(16000) * 3000).astype(np.int16)
    sizes = []
    for _ in range(3):
        stream.write(noise)
        sizes.append(stream.nbytes)
    assert sizes[0] > 0 and sizes[0] < sizes[1] < sizes[2]
    data = stream.close()
    assert sf.info(io.BytesIO(data)).frames == 48000
    with pytest.raises(ValueError):
        stream.write(noise)
