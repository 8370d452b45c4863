"""Text for the voice: sentences as soon as complete, at most 200 characters, no markdown read out."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from voicebot.voice.speakable import CODE_REMARK, MAX_CHARS, SpeechText, clean_inline, speech_pieces, split_long


def streamed(text: str, cuts: list[int]) -> list[str]:
    splitter = SpeechText()
    out: list[str] = []
    last = 0
    for cut in sorted(set(cuts)):
        out += splitter.feed(text[last:cut])
        last = cut
    return out + splitter.feed(text[last:]) + splitter.finish()


def test_a_sentence_is_given_as_soon_as_it_is_complete() -> None:
    splitter = SpeechText()
    assert splitter.feed("The capital of France is Paris") == []
    assert splitter.feed(".") == []  # "Paris." could still be "Paris.com": the space decides
    assert splitter.feed(" It") == ["The capital of France is Paris."]
    assert splitter.feed(" has two million people! And") == ["It has two million people!"]
    assert splitter.finish() == ["And"]


def test_abbreviations_decimals_and_initials_do_not_end_a_sentence() -> None:
    assert speech_pieces("Mr. Smith paid 2.50 dollars, e.g. for J. R. R. Tolkien's book. Then he left.") == [
        "Mr. Smith paid 2.50 dollars, e.g. for J. R. R. Tolkien's book.", "Then he left."]


def test_markdown_is_made_speakable() -> None:
    text = ("# Heading\n**Bold** and *italic* and __under__ and ~~gone~~ and `ls -l`.\n"
            "- a bullet item here\n* another bullet item\n2. numbered item here\n> quoted text here\n"
            "See [the docs](https://example.com/x) or ![a cat](cat.png) at https://example.com.\n---\n"
            "| name | age |\n|------|-----|\n| Ann | 31 |\n")
    assert speech_pieces(text) == [
        "Heading", "Bold and italic and under and gone and ls -l.", "a bullet item here", "another bullet item",
        "numbered item here", "quoted text here", "See the docs or a cat at link.", "name, age", "Ann, 31"]


def test_code_blocks_are_summarised_once_not_read() -> None:
    text = "Try this:\n```python\nprint('x')\nfor i in range(3): pass\n```\nThat prints x."
    assert speech_pieces(text) == ["Try this:", CODE_REMARK, "That prints x."]
    assert streamed(text, list(range(len(text)))) == ["Try this:", CODE_REMARK, "That prints x."]


def test_long_sentences_are_cut_at_commas_then_spaces() -> None:
    clause = "and then the quick brown fox jumped over the lazy dog"
    sentence = ", ".join([clause] * 6) + "."
    pieces = split_long(sentence)
    assert all(len(p) <= MAX_CHARS for p in pieces)
    assert all(p.endswith((",", ".")) for p in pieces)  # cut after a comma, never mid-clause
    no_commas = " ".join(["word"] * 100)
    pieces = split_long(no_commas)
    assert all(len(p) <= MAX_CHARS for p in pieces) and " ".join(pieces) == no_commas


def test_only_a_word_longer_than_the_limit_is_ever_cut() -> None:
    word = "x" * 450
    assert split_long(f"see {word} now") == ["see", "x" * 200, "x" * 200, "x" * 50 + " now"]


def test_symbols_alone_are_not_spoken() -> None:
    assert speech_pieces("***\n- \n...\n") == []


_words = st.sampled_from(["the", "Paris", "e.g.", "Dr.", "2.5", "**bold**", "`code`", "[link](http://x.y)", "and,",
                          "end.", "why?", "wow!", "word" * 20, "_it_", "#", "-", "1.", "|", "x" * 230])
_seps = st.sampled_from([" ", " ", " ", "\n", "\n\n", "\n- ", "\n1. ", "\n# ", "\n```\n"])


@st.composite
def answers(draw: st.DrawFn) -> str:
    parts = draw(st.lists(st.tuples(_words, _seps), max_size=60))
    return "".join(w + s for w, s in parts)


@settings(max_examples=300, deadline=None)
@given(answers(), st.lists(st.integers(min_value=0, max_value=2000), max_size=30))
def test_pieces_are_short_clean_and_the_same_however_the_text_streams(text: str, cuts: list[int]) -> None:
    whole = speech_pieces(text)
    pieces = streamed(text, cuts)
    assert all(0 < len(p) <= MAX_CHARS for p in pieces)
    assert not any(re.search(r"\*\*|`|\]\(|^#|^- ", p) for p in pieces)
    assert " ".join(pieces).split() == " ".join(whole).split()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet="abcdefghij,;: ", min_size=1, max_size=30), min_size=1, max_size=40))
def test_split_long_never_cuts_a_word(chunks: list[str]) -> None:
    text = " ".join(chunks)
    pieces = split_long(text)
    assert all(len(p) <= MAX_CHARS for p in pieces)
    assert " ".join(pieces).split() == text.split()  # the same words, none cut in two


def test_clean_inline_keeps_ordinary_text() -> None:
    assert clean_inline("It's 5 o'clock - time for tea (and cake).") == "It's 5 o'clock - time for tea (and cake)."
