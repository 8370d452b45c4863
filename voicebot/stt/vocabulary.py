"""The speech-to-text prompt: the user's own `stt_prompt` and their `vocabulary` words.

Whisper reads the prompt as text that came before the audio, so listing the unusual
words a user says (product names, jargon) makes it spell them right. Groq refuses a
prompt over 896 characters (224 tokens) with a 400, so the words that do not fit are
left out, last first, and the caller says so once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

PROMPT_LIMIT = 896  # characters: Groq's 224-token prompt limit, which it counts as 4 characters a token


@dataclass(frozen=True)
class SpeechPrompt:
    """The prompt to send (None for none) and what did not fit."""

    text: str | None
    left_out: tuple[str, ...] = ()  # vocabulary words dropped, in their original order
    own_cut: bool = False  # the stt_prompt alone was over the limit and was cut

    @property
    def trimmed(self) -> bool:
        return bool(self.left_out) or self.own_cut

    def notice(self, limit: int = PROMPT_LIMIT) -> str:
        """One line for the user about what was trimmed."""
        parts = []
        if self.own_cut:
            parts.append(f"stt_prompt was cut to {limit} characters")
        if self.left_out:
            shown = ", ".join(self.left_out[:5]) + (", …" if len(self.left_out) > 5 else "")
            parts.append(f"{len(self.left_out)} vocabulary word(s) left out ({shown})")
        return f"the speech-to-text prompt is limited to {limit} characters: " + "; ".join(parts)


def _cut(text: str, limit: int) -> str:
    """The start of `text` in at most `limit` characters, ending at a word when it can."""
    if len(text) <= limit:
        return text
    head = text[:limit]
    if text[limit] != " " and " " in head:
        head = head.rsplit(" ", 1)[0]
    return head.rstrip()


def speech_prompt(own: str | None, vocabulary: Sequence[str], limit: int = PROMPT_LIMIT) -> SpeechPrompt:
    """`own` first, then the vocabulary words joined by commas, within `limit` characters."""
    base = " ".join((own or "").split())
    cut = len(base) > limit
    base = _cut(base, limit)
    words = [" ".join(w.split()) for w in vocabulary]
    words = [w for w in words if w]
    kept: list[str] = []
    size = len(base)
    for i, word in enumerate(words):
        grown = size + (2 if kept else (1 if base else 0)) + len(word)
        if grown > limit:
            return SpeechPrompt(_join(base, kept), tuple(words[i:]), cut)
        kept.append(word)
        size = grown
    return SpeechPrompt(_join(base, kept), (), cut)


def _join(base: str, words: list[str]) -> str | None:
    text = " ".join(p for p in (base, ", ".join(words)) if p)
    return text or None
