"""Text for the voice: streamed answer text cut into speakable pieces as soon as each is complete.

Pure functions and one small incremental splitter, no I/O. A piece is a sentence (or a
line: list items and headings end where their line does), with markdown and code made
speakable: emphasis marks, bullets, heading hashes and table bars are dropped, links are
read as their text, inline code as its content, and a fenced code block becomes one short
remark instead of symbols read out. No piece is longer than the text-to-speech API's 200
characters: longer sentences are cut at commas (or semicolons, colons, dashes), then at
spaces, never inside a word (a single word longer than the limit, say a URL, is the only
thing ever cut).
"""

from __future__ import annotations

import re

MAX_CHARS = 200  # Groq's /audio/speech limit on `input`
CODE_REMARK = "There is a code block on screen."
_LINE_START_WAIT = 8  # characters a line needs before we decide it is not a list marker or a fence

_ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "prof", "sr", "jr", "st", "vs", "etc", "e.g", "i.e", "eg", "ie",
                            "approx", "no", "fig", "cf", "inc", "ltd", "co"})
_SENTENCE_END = re.compile(r"[.!?…]+[\"'”’)\]]*(?=\s)")
_LIST_MARKER = re.compile(r"^\s*(?:(?:[-*+•]|\d{1,3}[.)])\s+)+")
_HEADING = re.compile(r"^\s*#{1,6}\s+")
_QUOTE = re.compile(r"^\s*(?:>\s?)+")
_RULE = re.compile(r"^\s*(?:[-*_]\s*){3,}$")
_TABLE_SEPARATOR = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(?:\|\s*:?-{2,}:?\s*)*\|?\s*$")
_FENCE = re.compile(r"^\s*(```|~~~)")
_IMAGE = re.compile(r"!\[([^\]]*)\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]+)\]\([^)]*\)")
_URL = re.compile(r"<?https?://[^\s<>]*[^\s<>.,;:!?)\]'\"]>?")
_INLINE_CODE = re.compile(r"`+([^`]*)`+")
_HTML_TAG = re.compile(r"</?[A-Za-z][^>]*>")
_EMPHASIS = re.compile(r"(\*{1,3}|_{2,3}|~~)(?=\S)(.+?)(?<=\S)\1")
_UNDERSCORE_EMPHASIS = re.compile(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])")
_STRAY_MARKS = re.compile(r"[*#`~|<>^]+|(?<![\w])_+|_+(?![\w])")
_SPACES = re.compile(r"\s+")
_SPEAKABLE = re.compile(r"[^\W_]")  # a piece must hold at least one letter or digit


def clean_inline(text: str) -> str:
    """One line's markdown made speakable (no line-start constructs: see `clean_line`)."""
    text = _IMAGE.sub(r"\1", text)
    text = _LINK.sub(r"\1", text)
    text = _URL.sub("link", text)
    text = _INLINE_CODE.sub(r"\1", text)
    text = _HTML_TAG.sub(" ", text)
    for _ in range(3):  # nested emphasis: ***both*** or **bold _and italic_**
        text = _EMPHASIS.sub(r"\2", text)
        text = _UNDERSCORE_EMPHASIS.sub(r"\1", text)
    text = _STRAY_MARKS.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def line_prefix(line: str) -> str:
    """The markdown at the start of a line that is not spoken: bullets, numbers, hashes, quotes."""
    match = _QUOTE.match(line)
    end = match.end() if match else 0
    for pattern in (_LIST_MARKER, _HEADING):
        found = pattern.match(line, end)
        if found:
            end = found.end()
    return line[:end]


def clean_line(line: str) -> str:
    """A whole line made speakable: its prefix dropped, table cells joined with commas."""
    if _RULE.match(line) or _TABLE_SEPARATOR.match(line):
        return ""
    body = line[len(line_prefix(line)):]
    if body.strip().startswith("|"):
        cells = [clean_inline(c) for c in body.strip().strip("|").split("|")]
        return ", ".join(c for c in cells if c)
    return clean_inline(body)


def speakable(text: str) -> bool:
    return bool(_SPEAKABLE.search(text))


def split_long(text: str, limit: int = MAX_CHARS) -> list[str]:
    """Cut `text` into pieces of at most `limit` characters: at commas (and the like), then spaces.

    Never inside a word, unless one word alone is longer than `limit`.
    """
    text = _SPACES.sub(" ", text).strip()
    pieces: list[str] = []
    while len(text) > limit:
        window = text[:limit + 1]  # a cut right after the limit's last character is still whole
        cut = max(window.rfind(mark) for mark in (", ", "; ", ": ", " - ", " – ", " — "))
        if cut > limit // 4:
            cut += 1  # keep the comma with the words before it
        else:
            cut = window.rfind(" ")
            if cut <= 0:  # one word longer than the limit: the only cut inside a word
                cut = limit
        head, text = text[:cut].rstrip(), text[cut:].lstrip()
        if head:
            pieces.append(head)
    if text:
        pieces.append(text)
    return pieces


def _ends_sentence(text: str, end: int) -> bool:
    """Whether the terminator run ending at `end` really ends a sentence (not "e.g." or "Dr.")."""
    start = end
    while start > 0 and text[start - 1] in ".!?…\"'”’)]":
        start -= 1
    if text[start:end].startswith(".") and not text[start:end].startswith(".."):
        word = re.search(r"([\w.]+)$", text[:start])
        if word:
            token = word.group(1).lower().rstrip(".")
            if token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
                return False
    return True


class SpeechText:
    """Fed the answer's text as it streams; returns each speakable piece once it is complete.

    A piece is complete at a sentence end followed by a space, or at the end of its line.
    `finish()` returns what is left when the answer ends.
    """

    def __init__(self, limit: int = MAX_CHARS) -> None:
        self.limit = limit
        self._line = ""  # the current line's text not yet spoken (its prefix already removed)
        self._at_line_start = True
        self._in_code = False
        self._table = False

    def feed(self, text: str) -> list[str]:
        out: list[str] = []
        self._line += text
        while True:
            newline = self._line.find("\n")
            if newline < 0:
                break
            line, self._line = self._line[:newline], self._line[newline + 1:]
            out += self._complete_line(line)
        out += self._sentences_so_far()
        return out

    def finish(self) -> list[str]:
        line, self._line = self._line, ""
        out = self._complete_line(line) if line.strip() else []
        self._at_line_start, self._in_code = True, False
        return out

    # -- internals

    def _complete_line(self, line: str) -> list[str]:
        at_start, self._at_line_start = self._at_line_start, True
        if at_start:
            if _FENCE.match(line):
                opening = not self._in_code
                self._in_code = opening
                return [CODE_REMARK] if opening else []
            if self._in_code:
                return []
            if _RULE.match(line) or _TABLE_SEPARATOR.match(line) or line.strip().startswith("|"):
                return self._pieces(clean_line(line))
            line = line[len(line_prefix(line)):]
        out, rest = self._split_sentences(line)
        return out + self._pieces(clean_inline(rest))

    def _sentences_so_far(self) -> list[str]:
        """Complete sentences at the start of the unfinished line."""
        if self._in_code:
            return []
        if self._at_line_start:
            stripped = self._line.lstrip()
            if len(stripped) < _LINE_START_WAIT or stripped.startswith(("|", "```", "~~~")):
                return []  # a list marker, heading, fence or table row is not decided yet
            self._line = self._line[len(line_prefix(self._line)):]
            self._at_line_start = False
        out, self._line = self._split_sentences(self._line)
        if len(self._line) > 2 * self.limit:  # a very long run without an end: speak its first part
            cut = self._line.rfind(" ", 0, self.limit)
            if cut > 0:
                head, self._line = self._line[:cut], self._line[cut:]
                out += self._pieces(clean_inline(head))
        return out

    def _split_sentences(self, text: str) -> tuple[list[str], str]:
        """(the complete sentences' pieces, the unfinished rest) of a line's text."""
        out: list[str] = []
        while True:
            end = next((m.end() for m in _SENTENCE_END.finditer(text) if _ends_sentence(text, m.end())), None)
            if end is None:
                return out, text
            sentence, text = text[:end], text[end:]
            out += self._pieces(clean_inline(sentence))

    def _pieces(self, text: str) -> list[str]:
        text = text.lstrip("-–—•,;: ")  # a dash or comma left at the front is not read out
        return [p for p in split_long(text, self.limit) if speakable(p)]


def speech_pieces(text: str, limit: int = MAX_CHARS) -> list[str]:
    """All the pieces of a whole text (what feeding it in one go and finishing gives)."""
    splitter = SpeechText(limit)
    return splitter.feed(text) + splitter.finish()
