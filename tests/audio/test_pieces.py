"""The pause cutter and the pieces it makes of a take (voicebot.audio.pieces): pure, no devices."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr
from hypothesis import given, settings
from hypothesis import strategies as st

from voicebot.audio.pieces import FRAME, GUARD_FRAMES, PauseCutter, TakePieces
from voicebot.audio.samples import FRAME_SECONDS, TARGET_RATE, frame_levels_dbfs

DATA = Path(__file__).parents[1] / "data"
FIXTURES = ["capital.wav", "spider.flac", "bonjour.ogg"]


def fixture16k(name: str) -> np.ndarray:
    x, rate = sf.read(DATA / name, dtype="float32", always_2d=True)
    return (soxr.resample(x.mean(axis=1), rate, TARGET_RATE) * 32767).astype(np.int16)


def spoken(names: list[str], gaps: list[float], floor: float = 0.0, seed: int = 0) -> tuple[np.ndarray, list[range]]:
    """Fixtures in a row with `gaps` seconds of (faint noise) between; the sample spans of their words."""
    rng = np.random.default_rng(seed)
    parts, spans, at = [], [], 0
    for name, gap in zip(names, gaps, strict=True):
        speech = fixture16k(name)
        sounding = np.flatnonzero(frame_levels_dbfs(speech, TARGET_RATE) > -60)  # the words, not the file's silence
        spans.append(range(at + sounding[0] * FRAME, at + (sounding[-1] + 1) * FRAME))
        silence = (rng.standard_normal(round(gap * TARGET_RATE)) * floor * 32767).astype(np.int16)
        parts += [speech, silence]
        at += len(speech) + len(silence)
    return np.concatenate(parts), spans


def decode(data: bytes) -> np.ndarray:
    x, rate = sf.read(io.BytesIO(data), dtype="int16")
    assert rate == TARGET_RATE
    return x


def test_a_take_shorter_than_a_piece_is_never_cut() -> None:
    take, _ = spoken(FIXTURES, [0.8, 0.8, 0.8])
    cutter = PauseCutter(piece_seconds=len(take) / TARGET_RATE + 1)
    assert cutter.feed(frame_levels_dbfs(take, TARGET_RATE)) == []


def test_cuts_fall_in_the_pauses_between_sentences_not_inside_them() -> None:
    names = FIXTURES * 3
    take, spans = spoken(names, [0.7] * len(names), floor=0.001)
    cutter = PauseCutter(piece_seconds=4.0)
    cuts = cutter.feed(frame_levels_dbfs(take, TARGET_RATE))
    assert len(cuts) >= 4
    for cut in cuts:
        sample = cut.frame * FRAME
        assert not any(sample in span for span in spans)  # never inside an utterance (no word cut)
    lengths = np.diff([0, *(c.frame for c in cuts)]) * FRAME_SECONDS
    assert all(seconds >= 4.0 for seconds in lengths)  # no piece shorter than asked


def test_a_pause_inside_the_minimum_length_does_not_cut_but_the_next_one_does() -> None:
    take, spans = spoken(["capital.wav", "spider.flac"], [0.7, 2.0])
    cutter = PauseCutter(piece_seconds=3.0)
    (cut,) = cutter.feed(frame_levels_dbfs(take, TARGET_RATE))
    assert spans[1].stop <= cut.frame * FRAME  # after the second sentence, not in the first gap


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), piece=st.floats(1.0, 6.0),
       order=st.lists(st.sampled_from(FIXTURES), min_size=2, max_size=6),
       gaps=st.lists(st.floats(0.05, 1.5), min_size=6, max_size=6),
       floor=st.sampled_from([0.0, 0.0005, 0.003]),
       block=st.sampled_from([160, 320, 1000, 1600, 4410]))
def test_pieces_cover_the_take_in_order_and_are_cut_only_in_quiet(
        seed: int, piece: float, order: list[str], gaps: list[float], floor: float, block: int) -> None:
    take, spans = spoken(order, gaps[: len(order)], floor=floor, seed=seed)
    pieces = TakePieces(piece, codec="flac")
    closed = []
    for start in range(0, len(take), block):  # whatever the block size the device delivers
        closed += pieces.write(take[start : start + block])
    closed.append(pieces.finish())
    decoded = [decode(audio.data) for audio, _ in closed]
    assert np.array_equal(np.concatenate(decoded), take)  # contiguous, in order, nothing lost or doubled
    levels = frame_levels_dbfs(take, TARGET_RATE)
    bounds = np.cumsum([len(d) for d in decoded])[:-1]
    cutter = PauseCutter(piece)
    cuts = cutter.feed(levels)
    assert [c.frame * FRAME for c in cuts] == list(bounds)  # the pieces are the cutter's
    for cut in cuts:
        around = levels[cut.frame - GUARD_FRAMES : cut.frame + GUARD_FRAMES]
        assert around.size == 2 * GUARD_FRAMES and (around < cut.threshold).all()  # only in quiet
        assert not any(cut.frame * FRAME in span for span in spans)  # espeak's words hold no such pause
    for audio, _ in closed[:-1]:
        assert audio.duration is not None and audio.duration >= piece - FRAME_SECONDS  # never shorter


def test_the_last_piece_holds_what_followed_the_last_cut_and_silence_is_not_speech() -> None:
    take, _ = spoken(["capital.wav", "spider.flac"], [0.8, 1.5])
    pieces = TakePieces(2.0)
    closed = pieces.write(take)
    last, has_speech = pieces.finish()
    assert [s for _, s in closed] == [True, True] and not has_speech  # the trailing silence alone
    assert sum(a.duration or 0 for a, _ in [*closed, (last, has_speech)]) * TARGET_RATE == len(take)
