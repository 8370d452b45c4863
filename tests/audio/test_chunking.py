"""Splitting long audio at pauses, and putting the pieces' texts back together (pure parts)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr
from hypothesis import given, settings
from hypothesis import strategies as st

from voicebot.audio import chunking
from voicebot.audio import files as audio
from voicebot.audio.chunking import (
    PAUSE_RADIUS,
    Chunk,
    Cut,
    choose_cut,
    max_chunk_frames,
    plan_chunks,
    plan_cuts,
    search_frames,
    sliding_max,
    split_upload,
)
from voicebot.audio.encoding import PreparedAudio, TakeEncoder, encode
from voicebot.audio.files import prepare_file
from voicebot.audio.samples import FRAME_SECONDS, TARGET_RATE, frame_levels_dbfs, speech_present
from voicebot.stt.piece_texts import continuation_prompt, join_texts, prompt_tail, transcribe_in_order

DATA = Path(__file__).parents[1] / "data"
SPEECH, PAUSE = -20.0, -80.0  # dBFS of a voiced frame and of a quiet one
THRESHOLD = -55.0


def fixture16k(name: str) -> np.ndarray:
    x, rate = sf.read(DATA / name, dtype="float32", always_2d=True)
    return soxr.resample(x.mean(axis=1), rate, TARGET_RATE).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * TARGET_RATE), dtype=np.float32)


# --------------------------------------------------------------------------- cut points


def test_sliding_max_sees_each_frames_neighbours() -> None:
    levels = np.array([0.0, 5.0, 1.0, 1.0, 1.0, 1.0, 9.0])
    assert sliding_max(levels, 1).tolist() == [5.0, 5.0, 5.0, 1.0, 1.0, 9.0, 9.0]
    assert sliding_max(levels, 0).tolist() == levels.tolist()


def test_cut_lands_inside_the_pause_not_in_the_speech_around_it() -> None:
    levels = np.full(200, SPEECH)
    levels[120:140] = PAUSE  # a 400 ms pause inside the search window
    cut = choose_cut(levels, 100, 199, THRESHOLD)
    assert not cut.hard
    assert 120 + PAUSE_RADIUS <= cut.frame < 140 - PAUSE_RADIUS
    assert np.all(levels[cut.frame - PAUSE_RADIUS : cut.frame + PAUSE_RADIUS + 1] == PAUSE)


def test_the_quietest_pause_wins_and_ties_go_to_the_latest() -> None:
    levels = np.full(300, SPEECH)
    levels[110:140] = -60.0  # a pause over a noisy background
    levels[200:230] = -90.0  # a quieter one
    levels[250:280] = -90.0  # as quiet, later: fewer, longer chunks
    cut = choose_cut(levels, 100, 299, THRESHOLD)
    assert not cut.hard and 250 <= cut.frame < 280
    assert choose_cut(levels, 100, 240, THRESHOLD).frame in range(200, 230)


def test_a_gap_shorter_than_a_pause_between_words_is_not_a_pause() -> None:
    levels = np.full(200, SPEECH)
    levels[150:154] = PAUSE  # 80 ms: the gap inside "ca-pi-tal", not a pause
    levels[60] = -30.0  # the quietest moment of otherwise continuous speech
    cut = choose_cut(levels, 50, 199, THRESHOLD)
    assert cut.hard  # no pause in the window: the cut has to fall inside speech...
    assert cut.frame in range(150, 154)  # ...at its quietest frame


def test_hard_cut_only_when_the_window_has_no_pause() -> None:
    rng = np.random.default_rng(1)
    levels = SPEECH + rng.uniform(-5, 5, 1000)
    cut = choose_cut(levels, 500, 999, THRESHOLD)
    assert cut.hard and cut.frame == 500 + int(np.argmin(levels[500:]))
    levels[700:720] = PAUSE
    cut = choose_cut(levels, 500, 999, THRESHOLD)
    assert not cut.hard and 700 + PAUSE_RADIUS <= cut.frame < 720 - PAUSE_RADIUS
    assert cut == Cut(cut.frame)


def test_the_window_bounds_are_checked() -> None:
    with pytest.raises(ValueError):
        choose_cut(np.zeros(10), 5, 10, THRESHOLD)


@st.composite
def speech_and_pauses(draw: st.DrawFn) -> np.ndarray:
    """Levels made of runs: voiced (-35..-5 dBFS) or quiet (-120..-60), 1..400 frames each."""
    runs = draw(st.lists(st.tuples(st.booleans(), st.integers(1, 400)), min_size=1, max_size=40))
    rng = np.random.default_rng(draw(st.integers(0, 2**16)))
    parts = [rng.uniform(-35, -5, n) if voiced else rng.uniform(-120, -60, n) for voiced, n in runs]
    return np.concatenate(parts)


@settings(max_examples=150, deadline=None)
@given(levels=speech_and_pauses(), max_frames=st.integers(20, 600))
def test_plan_never_cuts_speech_when_a_pause_is_in_reach(levels: np.ndarray, max_frames: int) -> None:
    cuts = plan_cuts(levels, max_frames, THRESHOLD)
    bounds = [0, *(c.frame for c in cuts), len(levels)]
    assert all(0 < b - a <= max_frames for a, b in zip(bounds, bounds[1:]))  # ordered, each within the limit
    quiet = sliding_max(levels, PAUSE_RADIUS) < THRESHOLD
    start = 0
    for cut in cuts:
        hi = start + max_frames
        lo = max(start + 1, hi - search_frames(max_frames))
        assert lo <= cut.frame <= hi
        if cut.hard:
            assert not quiet[lo : hi + 1].any()  # hard only when no pause was there to take
        else:
            assert quiet[cut.frame]  # the whole neighbourhood of the cut is below the threshold
        start = cut.frame


def test_chunks_cover_everything_and_count_their_voiced_time() -> None:
    levels = np.full(1000, PAUSE)
    levels[100:200] = SPEECH
    levels[900:920] = SPEECH
    chunks = plan_chunks(levels, 400, THRESHOLD)
    assert chunks[0].start == 0 and chunks[-1].end == 1000
    assert all(a.end == b.start for a, b in zip(chunks, chunks[1:]))
    assert sum(c.voiced_frames for c in chunks) == 120
    assert [c.has_speech for c in chunks] == [True, False, True]


def test_chunk_length_never_exceeds_what_one_upload_holds() -> None:
    assert max_chunk_frames(600) == round(600 / FRAME_SECONDS)
    safe = chunking.UPLOAD_SAFE_SECONDS
    assert max_chunk_frames(10_000) * FRAME_SECONDS <= safe
    assert safe * TARGET_RATE * 2 < audio.MAX_UPLOAD_BYTES  # even as raw 16-bit PCM


def test_search_window_is_near_the_target() -> None:
    assert search_frames(30_000) == round(60 / FRAME_SECONDS)  # 600 s chunks: the last minute
    assert search_frames(1_000) == 250  # 20 s chunks: the last 5 s


# --------------------------------------------------------------------------- real audio


def long_recording(pattern: list[str], gap: float = 6.0) -> np.ndarray:
    """Fixtures separated by `gap` seconds of silence ("-" is a gap with no speech)."""
    parts: list[np.ndarray] = []
    for name in pattern:
        parts.append(silence(gap))
        if name != "-":
            parts.append(fixture16k(name))
    parts.append(silence(1.0))
    return np.concatenate(parts)


def decode(data: bytes) -> tuple[np.ndarray, int, int]:
    samples, rate = sf.read(io.BytesIO(data), dtype="int16", always_2d=True)
    return samples[:, 0], rate, samples.shape[1]


def test_split_pieces_are_16k_mono_flac_whose_audio_is_the_original() -> None:
    x = long_recording(["capital.wav", "spider.flac", "bonjour.ogg", "capital.wav"])
    prepared = prepare_file_from(x, codec="flac")
    split = split_upload(prepared.as_upload(), max_seconds=10)
    assert split.split and len(split.uploads) == len(split.chunks) == 4
    pieces = [decode(data) for _, data, _ in split.uploads]
    assert all(rate == TARGET_RATE and channels == 1 for _, rate, channels in pieces)
    assert all(name == "speech.flac" and kind == "audio/flac" for name, _, kind in split.uploads)
    original, _, _ = decode(prepared.data)
    assert np.array_equal(np.concatenate([p for p, _, _ in pieces]), original)  # nothing lost, nothing doubled
    assert all(c.end_seconds - c.start_seconds <= 10 for c in split.chunks)
    assert not any(c.hard_cut for c in split.chunks)
    assert split.duration == pytest.approx(len(original) / TARGET_RATE)
    assert split.speech_seconds == pytest.approx(sum(c.voiced_seconds for c in split.chunks))


def test_an_opus_recording_is_split_into_opus_pieces_that_still_hold_each_utterance() -> None:
    from tests.fakegroq.stt import recognise, to_mono16k

    names = ["capital.wav", "spider.flac", "bonjour.ogg"]
    prepared = prepare_file_from(long_recording(names))
    assert prepared.filename == "speech.ogg"
    split = split_upload(prepared.as_upload(), max_seconds=10)
    assert split.split and len(split.uploads) == 3
    assert all(name == "speech.ogg" and kind == "audio/ogg" for name, _, kind in split.uploads)
    pieces = [decode(data) for _, data, _ in split.uploads]
    assert all(rate == TARGET_RATE and channels == 1 for _, rate, channels in pieces)
    heard = [recognise(to_mono16k(p.astype(np.float32)[:, None] / 32768, TARGET_RATE)).fixture for p, _, _ in pieces]
    assert heard == names  # in order, none cut: the cuts fall in the pauses of the decoded audio
    assert sum(len(p) for p, _, _ in pieces) == len(decode(prepared.data)[0])  # nothing lost, nothing doubled
    assert split.duration == pytest.approx(len(decode(prepared.data)[0]) / TARGET_RATE)


def test_silent_stretches_are_not_uploaded() -> None:
    x = long_recording(["capital.wav", "-", "-", "-", "spider.flac"])
    split = split_upload(prepare_file_from(x).as_upload(), max_seconds=10)
    assert len(split.chunks) > len(split.uploads) == 2
    fixtures = [decode(data)[0] for _, data, _ in split.uploads]
    assert all(speech_present(frame_levels_dbfs(f, TARGET_RATE)) for f in fixtures)


def test_audio_that_fits_goes_up_unchanged() -> None:
    prepared = prepare_file(DATA / "capital.wav")
    split = split_upload(prepared.as_upload(), max_seconds=600)
    assert split.uploads == (prepared.as_upload(),) and not split.split and split.speech_seconds is None
    long_one = prepare_file_from(long_recording(["capital.wav"] * 4))
    assert split_upload(long_one.as_upload(), max_seconds=600).uploads == (long_one.as_upload(),)
    voiced = chunking.speech_seconds_of(long_one.data)
    assert voiced is not None and 4 < voiced < 15  # four times ~1.7 s of voiced frames
    webm = ("speech.webm", b"\x1a\x45\xdf\xa3" + bytes(100), "audio/webm")
    assert split_upload(webm, max_seconds=10).uploads == (webm,)  # cannot be decoded, so not split
    assert chunking.speech_seconds_of(webm[1]) is None


def test_over_the_byte_limit_is_split_even_when_short() -> None:
    x = long_recording(["capital.wav", "spider.flac"], gap=2.0)
    prepared = prepare_file_from(x, codec="flac")
    limit = len(prepared.data) - 1
    split = split_upload(prepared.as_upload(), max_seconds=600, max_bytes=limit)
    assert len(split.uploads) >= 2 and all(len(data) <= limit for _, data, _ in split.uploads)


def test_a_take_longer_than_one_upload_is_no_longer_refused() -> None:
    encoder = TakeEncoder(TARGET_RATE, codec="flac")
    for _ in range(3):
        encoder.write(fixture16k("spider.flac"))
    prepared = encoder.finish()
    assert len(prepared.data) > 10_000
    split = split_upload(prepared.as_upload(), max_seconds=600, max_bytes=10_000)  # split, not refused
    assert len(split.uploads) > 1 and all(len(data) <= 10_000 for _, data, _ in split.uploads)


def prepare_file_from(x: np.ndarray, codec: str = "opus") -> PreparedAudio:
    data = encode(x, TARGET_RATE, "flac")
    encoder = TakeEncoder(TARGET_RATE, source="long.flac", codec=codec)
    encoder.write(sf.read(io.BytesIO(data), dtype="int16")[0])
    return encoder.finish()


# --------------------------------------------------------------------------- texts


def test_prompt_tail_keeps_whole_words_within_the_byte_budget() -> None:
    text = "the quick brown fox jumps over the lazy dog"
    assert prompt_tail(text, 100) == text
    assert prompt_tail(text, 12) == "the lazy dog"  # exactly a word boundary
    assert prompt_tail(text, 10) == "lazy dog"  # "e lazy dog" would start mid-word
    assert prompt_tail("  spaced\n out ", 50) == "spaced out"
    assert prompt_tail(text, 0) == ""
    tail = prompt_tail("日本語の文章です" * 40, 31)
    assert len(tail.encode()) <= 31 and tail  # no spaces: cut at a character, never mid-character


def test_continuation_prompt_puts_the_users_prompt_first() -> None:
    assert continuation_prompt(None, None) is None
    assert continuation_prompt("Groq, Whisper", None) == "Groq, Whisper"
    assert continuation_prompt(None, "and then we went home.") == "and then we went home."
    joined = continuation_prompt("Groq", "word " * 200, max_bytes=40)
    assert joined is not None and joined.startswith("Groq word") and len(joined.encode()) <= 40
    assert continuation_prompt("x" * 300, "more", max_bytes=220) == "x" * 300  # the user's own, untouched


def test_join_texts_in_order_skipping_empty_pieces() -> None:
    assert join_texts([" One.", "", "  ", "Two. ", "Three."]) == "One. Two. Three."
    assert join_texts([]) == ""


def run(coro):  # type: ignore[no-untyped-def]
    return asyncio.run(asyncio.wait_for(coro, 10))


def test_texts_come_back_in_order_whatever_order_they_finish_in() -> None:
    delays = [0.05, 0.0, 0.03, 0.0, 0.01, 0.02]

    async def slow(i: int, prompt: str | None) -> str:
        await asyncio.sleep(delays[i])
        return f"t{i}"

    assert run(transcribe_in_order(range(6), slow)) == [f"t{i}" for i in range(6)]


def test_at_most_three_in_flight() -> None:
    busy, peak = 0, 0

    async def one(i: int, prompt: str | None) -> str:
        nonlocal busy, peak
        busy += 1
        peak = max(peak, busy)
        await asyncio.sleep(0.01)
        busy -= 1
        return str(i)

    run(transcribe_in_order(range(10), one))
    assert peak == 3


def test_one_at_a_time_every_piece_carries_the_end_of_the_previous_text() -> None:
    prompts: list[str | None] = []

    async def one(i: int, prompt: str | None) -> str:
        prompts.append(prompt)
        return f"part {i} ends here."

    run(transcribe_in_order(range(4), one, base_prompt="Names: Ada", concurrency=1))
    assert prompts == ["Names: Ada", "Names: Ada part 0 ends here.", "Names: Ada part 1 ends here.",
                       "Names: Ada part 2 ends here."]


def test_concurrent_pieces_use_the_previous_text_only_when_it_is_already_known() -> None:
    prompts: dict[int, str | None] = {}

    async def scenario() -> list[str]:
        zero_may_end, one_may_end = asyncio.Event(), asyncio.Event()

        async def one(i: int, prompt: str | None) -> str:
            prompts[i] = prompt
            if i == 0:
                await zero_may_end.wait()
            elif i == 1:
                zero_may_end.set()
                await one_may_end.wait()  # still running when piece 2 starts...
            elif i == 2:
                one_may_end.set()  # ...and piece 2 ends first, so piece 3 knows its text
            return f"text {i}."

        return await transcribe_in_order(range(4), one, base_prompt="Ada", concurrency=2)

    assert run(scenario()) == ["text 0.", "text 1.", "text 2.", "text 3."]
    assert prompts == {0: "Ada", 1: "Ada", 2: "Ada", 3: "Ada text 2."}


def test_first_failure_cancels_the_rest_and_is_raised_as_is() -> None:
    started: list[int] = []
    cancelled: list[int] = []

    async def one(i: int, prompt: str | None) -> str:
        started.append(i)
        if i == 1:
            raise RuntimeError("piece 1 failed")
        try:
            await asyncio.sleep(5)
        except asyncio.CancelledError:
            cancelled.append(i)
            raise
        return ""

    with pytest.raises(RuntimeError, match="piece 1 failed"):
        run(transcribe_in_order(range(5), one))
    assert {0, 2} <= set(cancelled) and set(cancelled) == set(started) - {1}  # every other one in flight
    assert 4 not in started  # never started at all


def test_chunk_properties() -> None:
    c = Chunk(index=0, start=50, end=550, voiced_frames=13, hard_cut=False)
    assert (c.start_seconds, c.end_seconds, c.voiced_seconds) == (1.0, 11.0, 0.26)
    assert c.has_speech and not Chunk(1, 0, 10, 12, False).has_speech
