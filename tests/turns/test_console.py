"""Console output: JSON Lines shapes, colour rules, and the status line never eating an answer."""

from __future__ import annotations

import io
import json

from voicebot.turns.console import HumanOutput, JsonOutput, make_output, use_color


class TTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_json_events_shape() -> None:
    out, err = io.StringIO(), io.StringIO()
    o = JsonOutput(out, err)
    o.transcript("hi", label=True)
    o.delta("Hel")
    o.delta("lo")
    o.reply("Hello", {"total_tokens": 3})
    o.reply("Hel", None, interrupted=True)
    o.error("boom")
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert events == [{"type": "transcript", "text": "hi"}, {"type": "delta", "text": "Hel"},
                      {"type": "delta", "text": "lo"}, {"type": "reply", "text": "Hello", "usage": {"total_tokens": 3}},
                      {"type": "reply", "text": "Hel", "usage": None, "interrupted": True},
                      {"type": "error", "message": "boom"}]
    assert err.getvalue() == "voicebot: error: boom\n"


def test_colour_only_on_tty_and_never_with_no_color() -> None:
    assert use_color(TTY(), "auto", {}) is True
    assert use_color(io.StringIO(), "auto", {}) is False
    assert use_color(TTY(), "auto", {"NO_COLOR": ""}) is False
    assert use_color(io.StringIO(), "always", {}) is True
    assert use_color(TTY(), "never", {}) is False
    o = make_output(False, "auto", {"NO_COLOR": "1"}, out=TTY(), err=TTY())
    o.transcript("q", label=True)
    assert "\x1b[" not in o.out.getvalue()  # type: ignore[attr-defined]


def test_human_reply_streams_in_place() -> None:
    out, err = io.StringIO(), io.StringIO()
    o = HumanOutput(out, err, color=False)
    o.transcript("What?", label=True)
    o.reasoning("hmm")
    o.delta("Paris")
    o.delta(".")
    o.reply("Paris.", None)
    assert out.getvalue() == "You: What?\nAssistant: (thinking) hmm\nParis.\n"


def test_status_line_on_tty_is_cleared_before_text_and_logged_otherwise() -> None:
    out, err = TTY(), TTY()
    o = HumanOutput(out, err, color=False)
    o.status("recording 1.0 s", live=True)
    o.transcript("q", label=True)
    assert err.getvalue() == "\r\x1b[2Krecording 1.0 s\r\x1b[2K"
    o.delta("partial")
    o.status("recording", live=False)  # never drawn over a streaming answer
    assert err.getvalue().endswith("\r\x1b[2K")
    plain_err = io.StringIO()
    p = HumanOutput(io.StringIO(), plain_err, color=False)
    p.status("recording 1.0 s", live=True)
    p.status("transcribing")
    assert plain_err.getvalue() == "voicebot: transcribing\n"


def test_a_notice_mid_answer_never_repeats_the_streamed_text() -> None:
    out, err = io.StringIO(), io.StringIO()
    o = HumanOutput(out, err, color=False)
    o.delta("Partial")
    o.notice("new conversation")
    o.reply("Partial", None, interrupted=True)
    o.delta("Next")
    o.reply("Next", None)
    assert out.getvalue() == "Assistant: Partial\n[interrupted]\nAssistant: Next\n"
    assert err.getvalue() == "voicebot: new conversation\n"


def test_colour_is_decided_per_stream() -> None:
    out, err = TTY(), io.StringIO()  # answers on a terminal, errors to a log file
    o = make_output(False, "auto", {}, out=out, err=err)
    o.transcript("q", label=True)
    o.error("boom")
    assert "\x1b[" in out.getvalue() and err.getvalue() == "voicebot: error: boom\n"


def test_timing_is_an_event_in_json_and_one_dim_line_for_people() -> None:
    out, err = io.StringIO(), io.StringIO()
    JsonOutput(out, err).timing(take_end_ms=40, upload_start_ms=45, transcript_ms=310, first_word_ms=520)
    assert json.loads(out.getvalue()) == {"type": "timing", "take_end_ms": 40, "upload_start_ms": 45,
                                          "transcript_ms": 310, "first_word_ms": 520}
    assert err.getvalue() == ""
    human_out, human_err = io.StringIO(), TTY()
    human = HumanOutput(human_out, human_err, color=True)
    human.timing(transcript_ms=310, first_word_ms=520, answer_ms=900)
    assert human_out.getvalue() == ""  # stdout keeps only the conversation
    assert human_err.getvalue() == "\x1b[2mvoicebot: heard in 0.31 s · first word 0.52 s\x1b[0m\n"
    plain = io.StringIO()
    HumanOutput(io.StringIO(), plain, color=False).timing(transcript_ms=1234)
    assert plain.getvalue() == "voicebot: heard in 1.23 s\n"
