"""One rule keeps the keys out of the conversation: what is shown, streamed, logged, sent back.

The rule itself (voicebot.redaction) is checked on any text cut into any deltas; then the
installed `voicebot chat` is given the key in a question, in an answer streamed a few
characters at a time, and in an answer cut off in the middle of the key.
"""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tests.cli.test_cli import events, run
from tests.fakegroq import TEST_API_KEY, TEST_STT_API_KEY, FakeGroq
from voicebot.redaction import MASK, MIN_CUT_KEY, Redaction
from voicebot.turns.console import JsonOutput, make_output

KEYS = (TEST_API_KEY, TEST_STT_API_KEY)
RULE = Redaction(KEYS)
words = st.text(alphabet="abcdefgks_ .", max_size=12)


def leaks(text: str) -> bool:
    """Whether `text` holds MIN_CUT_KEY or more characters of a key in a row."""
    return any(key[i:i + MIN_CUT_KEY] in text for key in KEYS for i in range(len(key) - MIN_CUT_KEY + 1))


@given(parts=st.lists(st.one_of(words, st.sampled_from(KEYS)), max_size=6), cuts=st.lists(st.integers(1, 9)))
def test_a_streamed_text_cut_anywhere_shows_what_the_whole_text_would(parts: list[str], cuts: list[int]) -> None:
    text = "".join(parts)
    deltas, at = [], 0
    for size in cuts:
        deltas.append(text[at:at + size])
        at += size
    deltas.append(text[at:])
    stream = RULE.stream()
    shown = [stream.feed(d) for d in deltas] + [stream.finish()]
    assert "".join(shown) == RULE(text)
    assert not any(leaks(piece) for piece in shown) and not leaks(RULE(text))


def test_the_rule_blanks_whole_keys_and_a_key_cut_off_at_the_end() -> None:
    assert RULE(f"key {TEST_API_KEY}, again {TEST_API_KEY}.") == f"key {MASK}, again {MASK}."
    assert RULE(f"cut {TEST_API_KEY[:MIN_CUT_KEY]}") == f"cut {MASK}"
    assert RULE("a gsk_ prefix and a long way") == "a gsk_ prefix and a long way"  # no secret in either
    assert Redaction()("anything") == "anything" and not Redaction([None, " "])


def test_outputs_blank_keys_in_every_event_field() -> None:
    out, err = io.StringIO(), io.StringIO()
    output = make_output(True, "never", {}, out, err, redact=RULE)
    assert not isinstance(output, JsonOutput)  # wrapped
    output.error(f"refused {TEST_STT_API_KEY}")
    output.notice("n", detail={"key": TEST_API_KEY, "list": [TEST_API_KEY]})
    output.event("x", text=TEST_API_KEY)
    text = out.getvalue() + err.getvalue()
    assert TEST_API_KEY not in text and TEST_STT_API_KEY not in text and text.count(MASK) == 5


# --- the installed command -------------------------------------------------------------------


def logged(home: Path) -> list[tuple[str, str | None, int]]:
    conn = sqlite3.connect(home / ".local" / "share" / "voicebot" / "log.db")
    try:
        return list(conn.execute("SELECT transcript, reply, interrupted FROM turns ORDER BY id"))
    finally:
        conn.close()


def test_a_key_typed_in_a_question_is_blanked_on_screen_in_the_log_and_in_the_request(
        fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["chat"], fake_groq, tmp_path, stdin=f"why is my key {TEST_API_KEY} refused\n")
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == f"Assistant: You said: why is my key {MASK} refused\n"
    (request,) = fake_groq.requests_to("/chat/completions")
    assert f"why is my key {MASK} refused" in json.dumps(request.json) and TEST_API_KEY not in json.dumps(request.json)
    assert logged(tmp_path) == [(f"why is my key {MASK} refused", f"You said: why is my key {MASK} refused", 0)]


def test_a_key_streamed_a_few_characters_at_a_time_is_never_shown(fake_groq: FakeGroq, tmp_path: Path) -> None:
    fake_groq.set_reply(f"Your key {TEST_API_KEY} is fine.")
    fake_groq.set_piece_chars(5)
    proc = run(["chat", "--json"], fake_groq, tmp_path, stdin="is my key fine\n")
    assert proc.returncode == 0, proc.stderr
    got = events(proc.stdout)
    deltas = [str(e["text"]) for e in got if e["type"] == "delta"]
    assert len(deltas) > 3 and not any(leaks(d) for d in deltas), deltas
    assert "".join(deltas) == f"Your key {MASK} is fine." == next(e for e in got if e["type"] == "reply")["text"]
    assert logged(tmp_path) == [("is my key fine", f"Your key {MASK} is fine.", 0)]


def test_an_answer_cut_off_inside_a_key_is_shown_and_kept_alike(fake_groq: FakeGroq, tmp_path: Path) -> None:
    fake_groq.set_reply(f"Your key {TEST_API_KEY} is fine.")
    fake_groq.set_piece_chars(7)  # "Your ke", "y gsk_t", "est_kYu", ...
    fake_groq.inject("/chat/completions", drop_after=4)  # the role chunk and three pieces: cut mid-key
    proc = run(["chat", "--json"], fake_groq, tmp_path, stdin="is my key fine\n")
    assert proc.returncode == 1, proc.stderr
    got = events(proc.stdout)
    deltas = [str(e["text"]) for e in got if e["type"] == "delta"]
    (reply,) = [e for e in got if e["type"] == "reply"]
    assert not any(leaks(d) for d in deltas), deltas
    assert "".join(deltas) == reply["text"] == f"Your key {MASK}" and reply["interrupted"] is True
    assert logged(tmp_path) == [("is my key fine", f"Your key {MASK}", 1)]
