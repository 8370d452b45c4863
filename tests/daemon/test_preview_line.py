"""The live preview on the status line: the end of the text heard so far, within the terminal's width."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from voicebot.daemon.live_pieces import MIN_TAIL, preview_tail, with_preview

LINE = "● recording (dictate) 12.3 s ██████···· · 2 sent"


def test_the_end_is_kept_cut_at_a_word() -> None:
    text = "What is the capital of France? The spider climbed up the wall."
    assert preview_tail(text, 100) == text
    assert preview_tail(text, 24) == "…climbed up the wall."
    assert with_preview(LINE, "", 80) == LINE
    assert with_preview(LINE, "one\ntwo  three", 200) == f"{LINE} · one two three"  # one line, always


@given(text=st.text(st.characters(blacklist_categories=["Cs"]), max_size=400), columns=st.integers(1, 300))
def test_the_line_fits_the_terminal_and_ends_with_what_was_heard(text: str, columns: int) -> None:
    line = with_preview(LINE, text, columns)
    heard = " ".join(text.split())
    if not heard:
        assert line == LINE
        return
    assert len(line) <= max(len(LINE) + 3 + MIN_TAIL, columns)
    shown = line[len(LINE) + 3:]
    assert heard.endswith(shown.removeprefix("…")) and shown
