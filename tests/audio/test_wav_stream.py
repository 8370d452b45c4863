"""A WAV read while it streams: any chunking, placeholder lengths, extra chunks, stereo."""

from __future__ import annotations

import io
import struct

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.fakegroq.tts import streamed_header
from voicebot.audio.wav_stream import BadWav, WavStream


def read_all(data: bytes, cuts: list[int]) -> tuple[np.ndarray, int | None]:
    reader = WavStream()
    parts, last = [], 0
    for cut in [*sorted({c for c in cuts if c <= len(data)}), len(data)]:
        parts.append(reader.feed(data[last:cut]))
        last = cut
    return np.concatenate(parts), reader.rate


@settings(max_examples=100, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=600), max_size=20))
def test_a_streamed_wav_decodes_the_same_however_it_is_cut(cuts: list[int]) -> None:
    samples = (np.sin(np.arange(240) / 5) * 20000).astype("<i2")
    data = streamed_header() + samples.tobytes()
    decoded, rate = read_all(data, cuts)
    assert rate == 24_000
    assert np.allclose(decoded, samples / 32768.0)


def test_a_file_with_extra_chunks_and_two_channels_is_mixed_to_mono() -> None:
    stereo = np.stack([np.full(100, 0.5), np.full(100, -0.25)], axis=1)
    buffer = io.BytesIO()
    sf.write(buffer, stereo, 16_000, format="WAV", subtype="FLOAT")
    raw = buffer.getvalue()
    pos = raw.index(b"data")
    extra = b"LIST" + struct.pack("<I", 5) + b"abcde\x00"  # an odd-sized chunk, padded
    decoded, rate = read_all(raw[:pos] + extra + raw[pos:], [7, 50])
    assert rate == 16_000 and np.allclose(decoded, 0.125)


@pytest.mark.parametrize("data", [b"ID3\x04" + b"\x00" * 20, b'{"error": {"message": "x"}}'])
def test_what_is_not_a_wav_is_refused(data: bytes) -> None:
    with pytest.raises(BadWav):
        WavStream().feed(data)
