"""The utterance segmenter, frame by frame, and a session's capture blocks through it: no device, no clock,
no model (a level stands in for it)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from voicebot.listen.utterances import (
    LEAD_SECONDS,
    Ended,
    Heard,
    ListenOptions,
    Segmenter,
    Started,
    TimedOut,
    hear,
    reset,
    step,
)
from voicebot.listen.vad import FRAME, FRAME_MS, SpeechDetector

OPTS = ListenOptions(start_ms=96, endpoint_ms=160, preroll_ms=64, max_seconds=1.0, timeout_seconds=0.64)


def frame(i: int) -> bytes:
    return i.to_bytes(2, "little")


def run(probs: list[float], seg: Segmenter | None = None) -> tuple[Segmenter, list[tuple[int, object]]]:
    seg = seg or Segmenter(OPTS, frame_ms=32.0)
    events: list[tuple[int, object]] = []
    for i, p in enumerate(probs):
        seg, out = step(seg, frame(i), p)
        events += [(i, e) for e in out]
    return seg, events


def test_a_voiced_run_shorter_than_start_ms_starts_nothing() -> None:
    _, events = run([0.0, 0.99, 0.99, 0.1, 0.99, 0.99, 0.0, 0.0])  # 64 ms runs: a click, a cough
    assert events == []


def test_start_carries_the_preroll_and_the_voiced_run() -> None:
    _, events = run([0.0, 0.0, 0.0, 0.2, 0.99, 0.99, 0.99, 0.99])
    assert events[0] == (6, Started(b"".join(frame(i) for i in (2, 3, 4, 5, 6))))  # 2 pre-roll + 3 voiced
    assert events[1] == (7, Heard(frame(7)))


def test_end_after_endpoint_ms_of_quiet_and_not_before() -> None:
    probs = [0.99] * 3 + [0.1] * 4 + [0.99] + [0.1] * 5
    _, events = run(probs)
    ends = [(i, e) for i, e in events if isinstance(e, Ended)]
    assert ends == [(12, Ended("quiet"))]  # the 4-frame pause (128 ms) did not end it; 5 quiet frames did
    heard = [i for i, e in events if isinstance(e, Heard)]
    assert heard == list(range(3, 13))  # every frame after the start belongs to the utterance, to the end


def test_a_word_tail_between_the_thresholds_is_not_quiet() -> None:
    probs = [0.99] * 3 + [0.4] * 10 + [0.1] * 5  # 0.4 >= 0.5 - 0.15: still speech for the end rule
    _, events = run(probs)
    assert [(i, e) for i, e in events if isinstance(e, Ended)] == [(17, Ended("quiet"))]


def test_a_long_utterance_ends_at_max_seconds_and_the_next_one_can_start() -> None:
    _, events = run([0.99] * 40)
    ends = [(i, e) for i, e in events if isinstance(e, Ended)]
    assert ends[0] == (2 + 31 - 3 + 1, Ended("limit"))  # 1 s = 31.25 frames, counting the 3 that started it
    assert sum(isinstance(e, Started) for _, e in events) == 2


def test_no_utterance_for_timeout_seconds_times_out_and_speech_resets_the_count() -> None:
    _, events = run([0.0] * 18 + [0.99] * 3 + [0.0] * 25)  # the voiced run at 18-20 is not cut by the timeout
    assert [(i, e) for i, e in events if isinstance(e, TimedOut)] == [(45, TimedOut())]
    _, events = run([0.0] * 20)
    assert events == [(19, TimedOut())]


def test_reset_forgets_a_running_utterance_and_the_held_audio() -> None:
    seg, events = run([0.99] * 5)
    assert seg.speaking
    seg = reset(seg)
    seg, events = run([0.1, 0.99, 0.99, 0.99], seg)
    assert events[0][1] == Started(b"".join(frame(i) for i in (0, 1, 2, 3)))


def test_without_preroll_only_the_voiced_run_starts_it() -> None:
    seg = Segmenter(ListenOptions(start_ms=64, preroll_ms=0), frame_ms=32.0)
    _, events = run([0.0, 0.0, 0.99, 0.99], seg)
    assert events == [(3, Started(frame(2) + frame(3)))]


@pytest.mark.parametrize("bad", [{"threshold": 1.0}, {"start_ms": 0}, {"endpoint_ms": -1}, {"preroll_ms": -1},
                                 {"max_seconds": 0}, {"timeout_seconds": -1}, {"sure": 0.4}, {"sure": 1.1},
                                 {"sure_frames": -1}])
def test_options_refuse_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ListenOptions(**bad)  # type: ignore[arg-type]


def test_the_start_reaches_back_to_the_speech_that_led_into_its_run() -> None:
    # A first syllable (frames 3-4) broken by one low frame, then the run that starts the utterance
    # (6-8): the start carries the pre-roll before frame 3, not only before the run.
    _, events = run([0.0, 0.0, 0.0, 0.99, 0.99, 0.1, 0.99, 0.99, 0.99])
    assert events[0] == (8, Started(b"".join(frame(i) for i in range(1, 9))))
    # Speech that endpoint_ms of quiet (5 frames) separates from the run is not part of it.
    _, events = run([0.99, 0.99] + [0.0] * 5 + [0.99] * 3)
    assert events[0] == (9, Started(b"".join(frame(i) for i in range(5, 10))))
    # Nor is speech more than LEAD_SECONDS before it (voiced frames with dips, never a run: 2 s).
    seg = Segmenter(ListenOptions(start_ms=96, endpoint_ms=160, preroll_ms=64), frame_ms=32.0)
    _, events = run([0.99, 0.99, 0.2] * 21 + [0.99] * 3, seg)
    lead = seg.frames_for(LEAD_SECONDS * 1000)
    assert events[0] == (65, Started(b"".join(frame(i) for i in range(66 - lead - 2, 66))))


# --- music: a run the model is never sure of starts nothing -------------------------------------

def test_a_run_the_model_is_never_sure_of_starts_nothing() -> None:
    # Music's tones: probabilities over the threshold for a second and more, never sure (0.98).
    _, events = run([0.0] * 3 + [0.8, 0.9, 0.6, 0.96, 0.7] * 8 + [0.0] * 10)
    assert not any(isinstance(e, Started) for _, e in events)
    _, events = run([0.0] * 3 + [0.8] * 10 + [0.99] + [0.8] * 10 + [0.0] * 10)  # one sure frame is not enough
    assert not any(isinstance(e, Started) for _, e in events)


def test_the_start_waits_for_sure_frames_and_keeps_the_speech_from_its_first_voiced_frame() -> None:
    # A quiet first syllable the model is unsure of (frames 4-8), then sure speech: the run is long
    # enough at frame 6, but the utterance starts at the second sure frame (10), from the pre-roll
    # before frame 4, and ends endpoint_ms after the speech as ever.
    _, events = run([0.0] * 4 + [0.7] * 5 + [0.99] * 2 + [0.1] * 5)
    assert events[0] == (10, Started(b"".join(frame(i) for i in range(2, 11))))
    assert [(i, e) for i, e in events if isinstance(e, Ended)] == [(15, Ended("quiet"))]
    # Sure frames since the first voiced one count, a dip between them and the run or not.
    _, events = run([0.0, 0.99, 0.99, 0.2, 0.6, 0.6, 0.6])
    assert events == [(6, Started(b"".join(frame(i) for i in range(7))))]


def test_sure_frames_older_than_lead_seconds_do_not_count() -> None:
    seg = Segmenter(ListenOptions(start_ms=96, endpoint_ms=160, preroll_ms=64), frame_ms=32.0)
    lead = seg.frames_for(LEAD_SECONDS * 1000)
    # Two sure frames, then no quiet (0.4 is above the end's threshold) for longer than the lead
    # reaches back, then an unsure run: it starts nothing.
    _, events = run([0.99, 0.99] + [0.4] * lead + [0.7] * 5, seg)
    assert events == []


def test_the_audio_held_for_a_run_not_yet_sure_stops_growing() -> None:
    options = ListenOptions(start_ms=96, endpoint_ms=160, preroll_ms=64)
    seg, events = run([0.7] * 300, Segmenter(options, frame_ms=32.0))
    assert events == [] and len(seg.held) == seg.frames_for(64) + seg.frames_for(LEAD_SECONDS * 1000)


def test_without_sure_frames_any_run_starts_one() -> None:
    seg = Segmenter(ListenOptions(start_ms=96, preroll_ms=0, sure_frames=0), frame_ms=32.0)
    _, events = run([0.0, 0.6, 0.6, 0.6], seg)
    assert events == [(3, Started(b"".join(frame(i) for i in (1, 2, 3))))]


# --- hear: capture blocks in, the utterance's samples out, exactly --------------------------------

RATE = 16_000


class Loudness:
    """Stands in for the model: a frame is speech when its RMS is above -30 dBFS."""

    def process(self, data: Any) -> float:
        frame = np.frombuffer(data, np.float32)
        return 0.99 if float(np.sqrt(np.mean(frame * frame))) > 0.03 else 0.05

    def reset(self) -> None:
        return None


def speech(rng: np.random.Generator, syllables: list[tuple[int, int]]) -> np.ndarray:
    """(syllable ms, gap ms) pairs as loud noise bursts with digital silence between them."""
    parts = []
    for on, off in syllables:
        syllable = (rng.standard_normal(RATE * on // 1000) * 6000).astype(np.int16)
        parts += [syllable, np.zeros(RATE * off // 1000, np.int16)]
    return np.concatenate(parts)


# "What is the capital": three short syllables, each broken off by a stop's closure, before the
# first long voiced stretch; then a pause shorter than endpoint_ms, then more.
QUESTION = [(150, 50), (120, 60), (130, 50), (400, 250), (350, 40), (300, 0)]


def heard_utterances(source: np.ndarray, block: int, options: ListenOptions) -> list[np.ndarray]:
    """The samples each utterance was handed, as the hands-free session hands them on."""
    detector = SpeechDetector(RATE, Loudness())
    seg = Segmenter(options, frame_ms=FRAME_MS)
    out: list[list[bytes]] = []
    running = False
    for at in range(0, source.size, block):
        seg, got = hear(seg, detector.feed(source[at: at + block]))
        if got.begun is not None:
            out.append([got.begun])
            running = True
        if running:
            out[-1].append(got.audio)
        running = running and got.ended is None
    return [np.frombuffer(b"".join(parts), np.int16) for parts in out]


@pytest.mark.parametrize("block", [3200, 320, 1000, 4096])
@pytest.mark.parametrize("lead_in", [0, 97, 256, 1531])
def test_each_utterance_is_the_source_from_its_preroll_on_sample_for_sample(block: int, lead_in: int) -> None:
    rng = np.random.default_rng(block + lead_in)
    quiet = np.zeros(RATE + lead_in, np.int16)
    first, second = speech(rng, QUESTION), speech(rng, [(300, 80), (500, 0)])
    # (the rest of the block an utterance ends in is not listened to: the session's echo guard begins)
    source = np.concatenate([quiet, first, np.zeros(2 * RATE, np.int16), second, np.zeros(RATE, np.int16)])
    options = ListenOptions(timeout_seconds=0)
    utterances = heard_utterances(source, block, options)
    assert len(utterances) == 2
    preroll = round(options.preroll_ms / FRAME_MS) * FRAME
    for said, spoken_at in zip(utterances, [quiet.size, quiet.size + first.size + 2 * RATE], strict=True):
        begins = spoken_at // FRAME * FRAME - preroll  # the pre-roll before the frame the speech starts in
        assert np.array_equal(said, source[begins: begins + said.size])  # no sample lost, doubled or moved
        spoken = first if spoken_at == quiet.size else second
        endpoint = round(options.endpoint_ms / FRAME_MS) * FRAME
        assert begins + said.size >= spoken_at + spoken.size + endpoint - block - FRAME  # up to its quiet end
