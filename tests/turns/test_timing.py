"""A turn's stage times: marks from the release (or the upload), as numbers and as a line (pure)."""

from __future__ import annotations

from voicebot.turns.timing import FIRST_WORD, TAKE_END, TRANSCRIPT, UPLOAD_START, TurnClock, timing_line


def test_stages_are_milliseconds_from_the_release_in_stage_order() -> None:
    clock = TurnClock(origin=100.0)
    clock.mark(FIRST_WORD, 100.52)
    clock.mark(TAKE_END, 100.04)
    clock.mark(TRANSCRIPT, 100.31)
    clock.mark(TRANSCRIPT, 100.90)  # only the first time counts
    assert clock.fields() == {"take_end_ms": 40, "transcript_ms": 310, "first_word_ms": 520}
    assert list(clock.fields()) == ["take_end_ms", "transcript_ms", "first_word_ms"]


def test_without_an_origin_the_first_mark_is_zero() -> None:
    clock = TurnClock()
    clock.mark(UPLOAD_START, 7.0)
    clock.mark(TRANSCRIPT, 7.25)
    assert clock.fields() == {"upload_start_ms": 0, "transcript_ms": 250}


def test_the_line_people_see() -> None:
    assert timing_line({"transcript_ms": 310, "first_word_ms": 520}) == "heard in 0.31 s · first word 0.52 s"
    assert timing_line({"transcript_ms": 1234}) == "heard in 1.23 s"
    assert timing_line({"take_end_ms": 40}) == ""
