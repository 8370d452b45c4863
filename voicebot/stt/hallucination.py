"""Checks on what Whisper returned, so invented text is dropped or flagged, never passed on.

Whisper writes plausible text for silence, noise and music ("Thank you.", "Thanks for
watching!"), and at temperature 0 may loop on one phrase. These checks catch most of it:

- Per segment (verbose_json): Whisper's own rule for a silent window, no_speech_prob
  above 0.6 while avg_logprob is below -1.0, marks a segment as invented; it is dropped.
  Both must hold: a confident transcript of quiet speech keeps a high no_speech_prob.
- Per segment (verbose_json): Whisper's third rule, a gzip compression_ratio above 2.4,
  marks a failed decode (text repeating itself); it is dropped too and counted apart,
  so the user is told (a local Whisper once printed 858 characters of one looped line).
- Per recording: a transcript without a single word (". . . . .", "...", "?!", "♪") is no
  speech: Whisper writes punctuation for noise, and it is never sent to the chat.
- Per recording: a long recording whose text has far too few words for the time the
  speaker was audibly talking (under 0.2 words a second over more than 20 s; people
  say about 2 to 3) is flagged to the user rather than silently accepted.

Pure functions over plain values; voicebot.turns.assistant applies them.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

NO_SPEECH_PROB = 0.6  # Whisper's no_speech_threshold
LOGPROB_FLOOR = -1.0  # Whisper's logprob_threshold
COMPRESSION_RATIO_CEILING = 2.4  # Whisper's compression_ratio_threshold
MIN_WORDS_PER_SECOND = 0.2
MIN_CHECKED_SECONDS = 20.0  # shorter recordings say too little to judge


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return float(value)


def is_hallucinated(segment: Mapping[str, Any]) -> bool:
    """Whisper's silence rule for one verbose_json segment; missing fields never drop it."""
    no_speech = _number(segment.get("no_speech_prob"))
    logprob = _number(segment.get("avg_logprob"))
    if no_speech is None or logprob is None:
        return False
    return no_speech > NO_SPEECH_PROB and logprob < LOGPROB_FLOOR


def is_repetition(segment: Mapping[str, Any]) -> bool:
    """Whisper's failed-decode rule for one verbose_json segment: text that compresses too well."""
    ratio = _number(segment.get("compression_ratio"))
    return ratio is not None and ratio > COMPRESSION_RATIO_CEILING


@dataclass(frozen=True)
class Filtered:
    """A transcript's text after dropping invented segments, how many were dropped (of them,
    `repeated` as failed decodes) and how many kept."""

    text: str
    dropped: int
    kept: int
    repeated: int = 0


def filter_segments(text: str, segments: Iterable[Mapping[str, Any]]) -> Filtered:
    """The text without its invented segments.

    Without segments (json or text responses) there is nothing to judge and the text is
    kept. When no segment is dropped the server's own text is kept as it was written.
    """
    listed = list(segments)
    if not listed:
        return Filtered(text.strip(), 0, 0)
    repeated = sum(1 for s in listed if is_repetition(s))
    kept = [s for s in listed if not (is_hallucinated(s) or is_repetition(s))]
    if len(kept) == len(listed):
        return Filtered(text.strip(), 0, len(kept))
    pieces = (str(s.get("text") or "").strip() for s in kept)
    return Filtered(" ".join(p for p in pieces if p), len(listed) - len(kept), len(kept), repeated)


def _is_cjk(ch: str) -> bool:
    """Scripts written without spaces between words (Chinese, Japanese kana, Thai, ...)."""
    name = unicodedata.name(ch, "")
    return name.startswith(("CJK UNIFIED", "CJK COMPATIBILITY IDEOGRAPH", "HIRAGANA", "KATAKANA", "THAI"))


def count_words(text: str) -> int:
    """Words in a transcript: space-separated tokens, and about one per two characters
    of scripts written without spaces (so Chinese or Japanese is not judged as one word)."""
    count = 0
    for token in text.split():
        unspaced = sum(1 for ch in token if _is_cjk(ch))
        if unspaced:
            count += (unspaced + 1) // 2
        elif any(ch.isalnum() for ch in token):  # a lone dash or ellipsis is no word
            count += 1
    return count


def has_words(text: str) -> bool:
    """Whether a transcript holds any word at all (letters or digits of any script), not
    only punctuation, symbols or spaces."""
    return count_words(text) > 0


@dataclass(frozen=True)
class SparseText:
    """A long recording with far too few words: probably cut off, or partly invented."""

    words: int
    seconds: float

    @property
    def words_per_second(self) -> float:
        return self.words / self.seconds if self.seconds > 0 else 0.0

    def message(self) -> str:
        return (f"only {self.words} word{'s' if self.words != 1 else ''} recognised in {self.seconds:.0f} s "
                f"of speech: the transcript may be incomplete or invented; check the recording")


def sparse_text(text: str, speech_seconds: float | None, *, min_rate: float = MIN_WORDS_PER_SECOND,
                min_seconds: float = MIN_CHECKED_SECONDS) -> SparseText | None:
    """The flag for `text` heard over `speech_seconds` of speech, or None when it is plausible."""
    if speech_seconds is None or speech_seconds <= min_seconds:
        return None
    words = count_words(text)
    if words / speech_seconds >= min_rate:
        return None
    return SparseText(words, speech_seconds)
