"""The end of the release tail: quiet after the release ends the take, speech keeps it going (pure)."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from voicebot.mic.tail import QUIET_FRAMES, LevelTrack, tail_is_over
from voicebot.mic.take import Take

SPEECH, QUIET, HISS = -20.0, -120.0, -50.0


def test_quiet_before_the_release_ends_the_tail_one_frame_after_it() -> None:
    levels = [QUIET] * 10 + [SPEECH] * 50 + [QUIET] * 20
    assert not tail_is_over(levels, 0)  # nothing heard after the release yet
    assert tail_is_over([*levels, QUIET], 1)


def test_speech_that_runs_past_the_release_keeps_the_tail_going_until_it_stops() -> None:
    levels = [QUIET] * 10 + [SPEECH] * 50  # still speaking at the release
    after = 0
    for level in [SPEECH] * 8 + [QUIET] * (QUIET_FRAMES - 1):
        levels.append(level)
        after += 1
        assert not tail_is_over(levels, after)
    levels.append(QUIET)
    assert tail_is_over(levels, after + 1)  # a whole quiet stretch after the last word


def test_a_gap_between_words_is_not_the_end() -> None:
    levels = [QUIET] * 10 + [SPEECH] * 20 + [QUIET] * (QUIET_FRAMES - 1) + [SPEECH] * 3
    assert not tail_is_over(levels, 4)


def test_steady_hiss_counts_as_quiet_and_speech_above_it_does_not() -> None:
    levels = [HISS] * 30 + [SPEECH] * 40 + [HISS] * QUIET_FRAMES
    assert tail_is_over(levels, 1)
    assert not tail_is_over([HISS] * 30 + [SPEECH] * 40, 1)


@given(st.lists(st.sampled_from([SPEECH, QUIET, HISS]), max_size=80), st.integers(0, 20))
def test_the_tail_never_ends_with_speech_in_the_last_quiet_stretch(levels: list[float], after: int) -> None:
    if tail_is_over(levels, after):
        assert after >= 1 and len(levels) >= QUIET_FRAMES
        assert SPEECH not in levels[-QUIET_FRAMES:]


def test_level_track_measures_whole_frames_whatever_the_block_sizes() -> None:
    x = (np.random.default_rng(1).standard_normal(16000) * 3000).astype(np.int16)
    whole, pieces = LevelTrack(16000), LevelTrack(16000)
    assert whole.add(x) == 50
    done = sum(pieces.add(x[a:b]) for a, b in zip([0, 7, 500, 9000], [7, 500, 9000, 16000], strict=True))
    assert done == 50 and np.allclose(whole.levels, pieces.levels)


def _take_after_release(blocks_after: list[int]) -> tuple[int, bool]:
    """Feed a take 1 s of speech-like noise, release, then 20 ms blocks at the given amplitudes."""
    async def main() -> tuple[int, bool]:
        take = Take(16000, tail_frames=16000, stall_seconds=5, on_stall=lambda e: None)  # a 1 s tail at most
        rng = np.random.default_rng(2)
        take._feed(np.zeros(3200, np.int16))
        take._feed((rng.standard_normal(16000) * 3000).astype(np.int16))
        take.stop()
        for amplitude in blocks_after:
            take._feed((rng.standard_normal(320) * amplitude).astype(np.int16))
            if take.done:
                break
        assert take.frames_at_stop is not None
        return take.frames - take.frames_at_stop, take.done

    return asyncio.run(main())


def test_a_take_ends_as_soon_as_the_audio_after_the_release_is_quiet() -> None:
    tail, done = _take_after_release([3000] * 10 + [0] * 20)
    assert done and tail == (10 + QUIET_FRAMES) * 320  # the speech after the release, then one quiet stretch


def test_a_take_keeps_the_whole_tail_while_speech_goes_on() -> None:
    tail, done = _take_after_release([3000] * 60)
    assert done and tail == 16000  # ended by the limit, not by a pause


def test_a_take_of_one_steady_sound_has_nothing_quiet_in_it() -> None:
    levels = [HISS] * 200
    assert not tail_is_over(levels, 5)  # no pause to learn the noise floor from: keep the whole tail


@pytest.mark.parametrize("amplitude", [0, 3])
def test_quiet_just_before_the_release_ends_the_take_one_block_after(amplitude: int) -> None:
    async def main() -> int:
        take = Take(16000, tail_frames=16000, stall_seconds=5, on_stall=lambda e: None)
        rng = np.random.default_rng(3)
        take._feed((rng.standard_normal(16000) * 3000).astype(np.int16))
        take._feed((rng.standard_normal(3200) * amplitude).astype(np.int16))  # 200 ms of quiet, then the release
        take.stop()
        take._feed((rng.standard_normal(320) * amplitude).astype(np.int16))
        assert take.done and take.frames_at_stop is not None
        return take.frames - take.frames_at_stop

    assert asyncio.run(main()) == 320


def test_a_word_fading_out_is_not_quiet_yet() -> None:
    """The end of "France" in the capital fixture: an "s" 20-23 dB under the take's loudest frame.
    Judged quiet, it ended a take that was still speaking (the live past-the-release test)."""
    take = [QUIET] * 5 + [-12.4, -15.0, -20.0] * 15 + [-33.0, -33.0, -33.0, -34.0, -35.0]
    assert not tail_is_over(take, 20)
    assert tail_is_over([*take, *[QUIET] * QUIET_FRAMES], 20)  # real quiet after it: over
