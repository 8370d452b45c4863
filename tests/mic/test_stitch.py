"""Joining the idle (long-block) stream and the take's (short-block) stream: no frame lost or doubled."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from voicebot.mic.stitch import Join, Stitch, locate

RATE = 16_000


def _noise(n: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).integers(-3000, 3000, n).astype(np.int16)


def _run(source: np.ndarray, ring_end: int, long_block: int, short_start: int, short_block: int,
         time_error: float, short_source: np.ndarray | None = None) -> tuple[np.ndarray, Stitch]:
    """Blocks of both streams in arrival order (a block arrives when its last frame is recorded)."""
    stitch = Stitch(RATE, source[:ring_end], ring_end / RATE)
    short_audio = source if short_source is None else short_source
    events = [(end / RATE, 0, source[end - long_block: end])
              for end in range(ring_end + long_block, source.size + 1, long_block)]
    events += [(end / RATE + time_error, 1, short_audio[end - short_block: end])
               for end in range(short_start + short_block, source.size + 1, short_block)]
    out: list[np.ndarray] = []
    for arrived, which, block in sorted(events, key=lambda e: (e[0], e[1])):
        out += stitch.short_block(block, arrived) if which else stitch.long_block(block, arrived)
    return (np.concatenate(out) if out else np.zeros(0, np.int16)), stitch


def test_the_take_gets_every_frame_once_from_the_key_press_on() -> None:
    source = _noise(RATE * 2)
    out, stitch = _run(source, ring_end=4800, long_block=1600, short_start=5000, short_block=320,
                       time_error=0.003)
    assert stitch.join is not None and stitch.join.method == "exact"
    assert stitch.join.offset == 5000 - 4800 and stitch.join.estimate != stitch.join.offset
    assert np.array_equal(out, source[4800: 4800 + out.size])
    assert out.size > source.size - 4800 - 320  # only the last partial block is missing


@settings(max_examples=60, deadline=None)
@given(long_block=st.sampled_from([800, 1600, 3200, 4800]), short_block=st.sampled_from([160, 320, 441]),
       delay=st.integers(0, 6000), error_ms=st.floats(-15, 15))
def test_any_blocks_and_a_time_error_within_the_search_join_exactly(
        long_block: int, short_block: int, delay: int, error_ms: float) -> None:
    source = _noise(RATE * 3, seed=delay)
    ring_end = 3 * long_block
    out, stitch = _run(source, ring_end, long_block, ring_end + delay, short_block, error_ms / 1000)
    assert stitch.join is not None and stitch.join.method == "exact"
    assert np.array_equal(out, source[ring_end: ring_end + out.size])
    assert out.size >= source.size - ring_end - max(long_block, short_block)


def test_independently_resampled_streams_join_at_their_best_match() -> None:
    source = _noise(RATE * 2)
    smooth = np.convolve(source, np.ones(8) / 8, mode="same").astype(np.int16)  # speech-like, not white
    wobbly = (smooth + _noise(smooth.size, seed=7) // 40).astype(np.int16)  # same sound, other samples
    out, stitch = _run(smooth, 4800, 1600, 5000, 320, 0.004, short_source=wobbly)
    assert stitch.join is not None and stitch.join.method == "correlated"
    assert stitch.join.offset == 200
    assert abs(out.size - (smooth.size - 4800)) < 320  # nothing lost or doubled at the join
    assert np.array_equal(out[:1600], smooth[4800:6400])  # the long stream's audio up to the join


def test_a_burst_that_skews_the_arrival_times_still_joins_exactly() -> None:
    source = _noise(RATE * 2)
    out, stitch = _run(source, 4800, 3200, 5000, 320, 0.12)  # the short stream seems 120 ms late
    assert stitch.join is not None and stitch.join.method == "exact" and stitch.join.offset == 200
    assert np.array_equal(out, source[4800: 4800 + out.size])


def test_flat_audio_is_joined_by_the_arrival_times() -> None:
    source = np.zeros(RATE * 2, np.int16)
    out, stitch = _run(source, 4800, 1600, 5000, 320, 0.0)
    assert stitch.join == Join(200, 200, "timed")
    assert out.size >= source.size - 4800 - 320


def test_without_a_short_stream_the_long_one_goes_on() -> None:
    source = _noise(RATE * 6)
    stitch = Stitch(RATE, source[:1600], 0.1)
    out = [b for end in range(3200, source.size + 1, 1600)
           for b in stitch.long_block(source[end - 1600: end], end / RATE)]
    assert np.array_equal(np.concatenate(out), source[1600:])
    assert not stitch.joined


def test_without_a_safe_join_the_take_stays_on_the_long_stream() -> None:
    source = _noise(RATE * 2)
    other = _noise(RATE * 2, seed=9)  # the short stream carries something else: no match anywhere
    out, stitch = _run(source, 4800, 1600, 5000, 320, 0.0, short_source=other)
    assert stitch.gave_up and not stitch.joined
    assert np.array_equal(out, source[4800:])
    stitch = Stitch(RATE, source[:1600], 0.1)  # and a long stream that never catches up
    out = [b for end in range(2000, source.size + 1, 320) for b in stitch.short_block(source[end - 320: end], end / RATE)]
    assert stitch.gave_up and out == []


def test_locate_prefers_the_exact_match_nearest_the_estimate() -> None:
    pattern = _noise(320)
    long_audio = np.concatenate([pattern, _noise(100, 3), pattern, _noise(400, 4)])
    assert locate(long_audio, pattern, estimate=400, search=420) == Join(420, 400, "exact")
    assert locate(long_audio, pattern, estimate=30, search=420) == Join(0, 30, "exact")
    assert locate(long_audio, np.zeros(320, np.int16), 100, 50).method == "timed"


def _resampled_like(source: np.ndarray, seed: int) -> np.ndarray:
    """The same sound with other samples, as a sound server's second resampler makes it."""
    return (source + _noise(source.size, seed=seed) // 40).astype(np.int16)


def _speechlike(n: int) -> np.ndarray:
    return np.convolve(_noise(n), np.ones(8) / 8, mode="same").astype(np.int16)


@pytest.mark.parametrize("time_error", [-0.2, -0.12, 0.12, 0.2, 0.4])
def test_a_stream_whose_own_latency_skews_the_estimate_far_still_joins(time_error: float) -> None:
    """PulseAudio gives each stream of a source its own latency: measured 30 ms more a take, up to
    ~240 ms off. A clear best match anywhere in the wide window joins, once the long stream covers it."""
    smooth = _speechlike(RATE * 3)
    out, stitch = _run(smooth, 4800, 3200, 6000, 320, time_error, short_source=_resampled_like(smooth, 5))
    assert stitch.join is not None and stitch.join.method == "correlated" and stitch.join.offset == 1200
    assert abs(out.size - (smooth.size - 4800)) < 3200
    _, exact = _run(_noise(RATE * 3), 4800, 3200, 6000, 320, time_error)
    assert exact.join is not None and exact.join.method == "exact" and exact.join.offset == 1200


def test_a_new_streams_warm_up_frames_do_not_spoil_the_join() -> None:
    """A fresh resampler starts from silence: the short stream's first frames differ from the sound."""
    smooth = _speechlike(RATE * 2)
    short = smooth.copy()
    short[5000: 5000 + 300] = short[5000: 5000 + 300] // 3  # its first block, as a warming filter leaves it
    out, stitch = _run(smooth, 4800, 1600, 5000, 320, 0.004, short_source=short)
    assert stitch.join is not None and stitch.join.method == "exact" and stitch.join.offset == 200
    assert np.array_equal(out, smooth[4800: 4800 + out.size])  # the spoiled frames were the long stream's


def test_a_repeating_sound_far_from_the_estimate_is_not_joined() -> None:
    """A sound that repeats (a held vowel, a looped clip) fits in more than one place: far from the
    estimate no single place is clear, so the take stays on the long stream rather than guess."""
    period = _speechlike(1600)
    looped = np.tile(period, 40)
    _, stitch = _run(looped, 4800, 3200, 6000, 320, 0.2, short_source=_resampled_like(looped, 3))
    assert not stitch.joined or abs(stitch.join.offset - stitch.join.estimate) <= RATE * 0.05
    assert stitch.gave_up or stitch.join is not None


def _sound_of(take: np.ndarray) -> np.ndarray:
    return take[int(np.flatnonzero(take)[0]):]


@pytest.mark.parametrize("time_error", [-0.15, -0.06, 0.06, 0.15])
@pytest.mark.parametrize("speech_after", [0.03, 0.1, 0.3, 1.5])
def test_speech_that_begins_after_a_silent_key_press_is_whole(time_error: float, speech_after: float) -> None:
    """Seen on PulseAudio: the key goes down in digital silence (a null source, a muted app), the
    words start a moment later, and the arrival times are off by up to ~180 ms. A join by the
    arrival times near the words cut or doubled 56-180 ms of them; the join is either where the
    short stream's first sound really is, or in silence wide enough for any error of the estimate
    (then only the silence before the words may be longer or shorter)."""
    source = np.zeros(RATE * 4, np.int16)
    onset = 6000 + round(speech_after * RATE)
    source[onset:] = _speechlike(source.size - onset)
    out, stitch = _run(source, 4800, 3200, 6000, 320, time_error)
    assert stitch.joined
    sound = _sound_of(out)
    assert np.array_equal(sound, source[onset: onset + sound.size])
    assert sound.size >= source.size - onset - 3200
    if stitch.join is not None and stitch.join.method == "exact":
        assert stitch.join.offset == 1200
