"""The utterance segmenter, frame by frame: no device, no clock, no model."""

from __future__ import annotations

import pytest

from voicebot.listen.utterances import Ended, Heard, ListenOptions, Segmenter, Started, TimedOut, reset, step

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
    _, events = run([0.0, 0.9, 0.9, 0.1, 0.9, 0.9, 0.0, 0.0])  # 64 ms runs: a click, a cough
    assert events == []


def test_start_carries_the_preroll_and_the_voiced_run() -> None:
    _, events = run([0.0, 0.0, 0.0, 0.2, 0.9, 0.9, 0.9, 0.9])
    assert events[0] == (6, Started(b"".join(frame(i) for i in (2, 3, 4, 5, 6))))  # 2 pre-roll + 3 voiced
    assert events[1] == (7, Heard(frame(7)))


def test_end_after_endpoint_ms_of_quiet_and_not_before() -> None:
    probs = [0.9] * 3 + [0.1] * 4 + [0.9] + [0.1] * 5
    _, events = run(probs)
    ends = [(i, e) for i, e in events if isinstance(e, Ended)]
    assert ends == [(12, Ended("quiet"))]  # the 4-frame pause (128 ms) did not end it; 5 quiet frames did
    heard = [i for i, e in events if isinstance(e, Heard)]
    assert heard == list(range(3, 13))  # every frame after the start belongs to the utterance, to the end


def test_a_word_tail_between_the_thresholds_is_not_quiet() -> None:
    probs = [0.9] * 3 + [0.4] * 10 + [0.1] * 5  # 0.4 >= 0.5 - 0.15: still speech for the end rule
    _, events = run(probs)
    assert [(i, e) for i, e in events if isinstance(e, Ended)] == [(17, Ended("quiet"))]


def test_a_long_utterance_ends_at_max_seconds_and_the_next_one_can_start() -> None:
    _, events = run([0.9] * 40)
    ends = [(i, e) for i, e in events if isinstance(e, Ended)]
    assert ends[0] == (2 + 31 - 3 + 1, Ended("limit"))  # 1 s = 31.25 frames, counting the 3 that started it
    assert sum(isinstance(e, Started) for _, e in events) == 2


def test_no_utterance_for_timeout_seconds_times_out_and_speech_resets_the_count() -> None:
    _, events = run([0.0] * 18 + [0.9] * 3 + [0.0] * 25)  # the voiced run at 18-20 is not cut by the timeout
    assert [(i, e) for i, e in events if isinstance(e, TimedOut)] == [(45, TimedOut())]
    _, events = run([0.0] * 20)
    assert events == [(19, TimedOut())]


def test_reset_forgets_a_running_utterance_and_the_held_audio() -> None:
    seg, events = run([0.9] * 5)
    assert seg.speaking
    seg = reset(seg)
    seg, events = run([0.1, 0.9, 0.9, 0.9], seg)
    assert events[0][1] == Started(b"".join(frame(i) for i in (0, 1, 2, 3)))


def test_without_preroll_only_the_voiced_run_starts_it() -> None:
    seg = Segmenter(ListenOptions(start_ms=64, preroll_ms=0), frame_ms=32.0)
    _, events = run([0.0, 0.0, 0.9, 0.9], seg)
    assert events == [(3, Started(frame(2) + frame(3)))]


@pytest.mark.parametrize("bad", [{"threshold": 1.0}, {"start_ms": 0}, {"endpoint_ms": -1}, {"preroll_ms": -1},
                                 {"max_seconds": 0}, {"timeout_seconds": -1}])
def test_options_refuse_nonsense(bad: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        ListenOptions(**bad)  # type: ignore[arg-type]
