"""The one rule that keeps the API keys out of everything voicebot shows, says or keeps.

Every configured key (the chat key, the speech server's, the fallback's) becomes `***`
wherever it appears: in what the user typed or said, in the answer as it streams, in the
conversation log, in errors and in JSON events. The conversation passes through `Redaction`
once, in the assistant, so the screen, the log, the voice and the history sent back to the
model all hold the same text; outputs apply it again to everything else they print.

A streamed answer can cut a key anywhere, across deltas: `StreamRedaction` holds back the
end of the text while it could still be the start of a key, and lets it go once it cannot.
An answer that ends (or is interrupted) in the middle of a key has that part blanked too:
MIN_CUT_KEY characters of a key are already too much of it to show.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

__all__ = ["MASK", "MIN_CUT_KEY", "Redaction", "StreamRedaction"]

MASK = "***"
MIN_CUT_KEY = 8  # a text ending in this much of a key (cut off mid-key) is blanked too: "gsk_" alone is no secret


class _Revealable(Protocol):
    def reveal(self) -> str: ...


class Redaction:
    """Blanks the given keys out of any text. Falsy (and does nothing) without keys."""

    __slots__ = ("__keys",)

    def __init__(self, keys: Iterable[str | None] = ()) -> None:
        found = {k.strip() for k in keys if k and k.strip()}
        self.__keys = tuple(sorted(found, key=len, reverse=True))  # a longer key first, should one hold another

    @classmethod
    def of(cls, *secrets: _Revealable | None) -> Redaction:
        """The rule for the settings' keys (config Secrets; None where a key is not set)."""
        return cls(s.reveal() for s in secrets if s is not None)

    def __bool__(self) -> bool:
        return bool(self.__keys)

    def __repr__(self) -> str:
        return f"Redaction({len(self.__keys)} key(s))"

    def __call__(self, text: str) -> str:
        """`text` with every key blanked, and any key it ends in the middle of (MIN_CUT_KEY or more)."""
        if not self.__keys or not text:
            return text
        text = self._whole(text)
        cut = self._cut_key(text)
        return text[: len(text) - cut] + MASK if cut >= MIN_CUT_KEY else text

    def stream(self) -> StreamRedaction:
        """A redaction for one streamed text (an answer's deltas)."""
        return StreamRedaction(self)

    def _whole(self, text: str) -> str:
        for key in self.__keys:
            if key in text:
                text = text.replace(key, MASK)
        return text

    def _cut_key(self, text: str) -> int:
        """How many characters at the end of `text` are the start of some key (0: none)."""
        best = 0
        for key in self.__keys:
            for size in range(min(len(key) - 1, len(text)), best, -1):
                if text.endswith(key[:size]):
                    best = size
                    break
        return best


class StreamRedaction:
    """One streamed text, redacted as it comes: `feed` each delta, `finish` at the end.

    What `feed` returns is safe to show at once; the rest (a tail that may be the start of
    a key) waits for the next delta or for `finish`. Joined, the returned pieces are
    exactly the whole text redacted by the same `Redaction`.
    """

    def __init__(self, rule: Redaction) -> None:
        self._rule = rule
        self._held = ""

    def feed(self, text: str) -> str:
        if not self._rule:
            return text
        pending = self._rule._whole(self._held + text)
        keep = self._rule._cut_key(pending)
        self._held = pending[len(pending) - keep:] if keep else ""
        return pending[: len(pending) - keep]

    def finish(self) -> str:
        """The held tail, redacted as an ending: called once the text is complete or cut off."""
        held, self._held = self._held, ""
        return self._rule(held) if held else ""
