"""The memos run's progress line: a pure function of counts and the time so far."""

from __future__ import annotations

from voicebot.memos.progress import Progress, bar, clock, left_seconds, progress_line


def test_the_bar_fills_in_proportion_and_is_full_only_when_all_are_done() -> None:
    assert bar(0, 10, 10) == "[----------]"
    assert bar(4, 10, 10) == "[####------]"
    assert bar(499, 500, 10) == "[#########-]"  # 99.8 % is not done
    assert bar(500, 500, 10) == "[##########]"
    assert bar(0, 0, 4) == "[####]"  # nothing to do is done


def test_the_time_left_reads_as_a_clock() -> None:
    assert [clock(s) for s in (0, 7.4, 59.6, 750, 3 * 3600 + 300, -2)] == [
        "0:00", "0:07", "1:00", "12:30", "3:05:00", "0:00"]


def test_the_time_left_comes_from_the_rate_so_far() -> None:
    assert left_seconds(0, 10, 5.0) is None  # no rate yet
    assert left_seconds(4, 10, 8.0) == 12.0
    assert left_seconds(10, 10, 8.0) == 0.0


def test_the_line_says_stage_counts_percent_and_time_left() -> None:
    assert progress_line("transcribing", 4, 10, 8.0) == "transcribing [########------------] 4/10 40% · about 0:12 left"
    assert progress_line("transcribing", 0, 10, 1.0).endswith("0/10 0% · estimating the time left")
    assert progress_line("writing memos", 3, 3, 9.0) == "writing memos [####################] 3/3 100%"


def test_a_stage_gives_the_line_and_the_events_fields() -> None:
    stage = Progress("batch", 200, done=50, started=100.0, detail="batch_01 (in_progress)")
    assert stage.line(now=130.0).startswith("batch batch_01 (in_progress) [#####")
    assert stage.line(now=130.0).endswith("50/200 25% · about 1:30 left")
    assert stage.fields(now=130.0) == {"stage": "batch", "done": 50, "total": 200, "eta_s": 90.0}
    assert Progress("memo", 2, started=0.0).fields(now=1.0)["eta_s"] is None
