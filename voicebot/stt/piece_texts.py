"""The texts of a recording's pieces: their prompts, their order, and the whole they make.

Continuity: each piece's `prompt` carries the end of the previous piece's text when that
text is already known as the piece's request is built; otherwise the piece goes with the
user's own prompt only. The alternative, making every piece wait for its predecessor,
is sequential: a 30-minute take would pay every piece's upload and processing in turn,
while the uploads (the slow part) could share the time. Whisper's prompt is a soft hint
for vocabulary and style, not needed to decode the words, and cut points lie in pauses
(voicebot.audio.chunking, voicebot.audio.pieces), so no sentence depends on it; we therefore keep a
few requests in flight and give the continuity prompt wherever it costs no waiting. With
one request in flight every piece gets it.

Nothing here knows about HTTP or audio: the transcription call is passed in.
"""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

T = TypeVar("T")

PROMPT_BYTES = 220  # Whisper keeps 224 prompt tokens; a token is at least one UTF-8 byte
GROQ_STT_CONCURRENCY = 3  # speech requests in flight per long recording at Groq


def pieces_in_flight(concurrency: int | None, stt_api_base: str | None) -> int:
    """`concurrency` (the `stt_concurrency` setting), or its default: 3 where speech goes to Groq
    (`stt_api_base` None: the chat server; the free tier allows 20 requests a minute), 1 for
    another server, which may decode one at a time and would only queue the rest until they
    time out."""
    if concurrency is not None:
        return concurrency
    host = (urllib.parse.urlsplit(stt_api_base).hostname or "") if stt_api_base else "groq.com"
    return GROQ_STT_CONCURRENCY if host == "groq.com" or host.endswith(".groq.com") else 1


def prompt_tail(text: str, max_bytes: int) -> str:
    """The end of `text` in at most `max_bytes` of UTF-8, starting at a word when it has words."""
    clean = " ".join(text.split())
    if max_bytes <= 0 or not clean:
        return ""
    raw = clean.encode("utf-8")
    if len(raw) <= max_bytes:
        return clean
    tail = raw[-max_bytes:].decode("utf-8", errors="ignore")  # drops a split character
    cut_mid_word = raw[-max_bytes - 1 : -max_bytes] != b" "
    if cut_mid_word and " " in tail:
        tail = tail.split(" ", 1)[1]
    return tail.strip()


def continuation_prompt(base: str | None, previous: str | None, max_bytes: int = PROMPT_BYTES) -> str | None:
    """The prompt for a chunk: the user's own prompt first, then as much of the end of the
    previous chunk's text as still fits (Whisper reads the prompt as preceding context)."""
    own = (base or "").strip()
    room = max_bytes - len(own.encode("utf-8")) - (1 if own else 0)
    tail = prompt_tail(previous or "", room)
    joined = f"{own} {tail}".strip()
    return joined or None


def join_texts(texts: Sequence[str]) -> str:
    """Chunk transcripts in order, one space between, empty ones left out."""
    return " ".join(t.strip() for t in texts if t and t.strip())


async def transcribe_in_order(items: Sequence[T], transcribe: Callable[[T, str | None], Awaitable[str]], *,
                              base_prompt: str | None = None, concurrency: int = GROQ_STT_CONCURRENCY) -> list[str]:
    """Each item's text, in the items' order, with at most `concurrency` calls at a time.

    Items start in order (asyncio.Semaphore wakes waiters first come, first served). A
    call's prompt carries the end of the previous item's text when it is known by then
    (see the module docstring for why it does not wait for it). The first failure
    cancels the other calls and is raised as it is.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    texts: list[str | None] = [None] * len(items)
    gate = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with gate:
            previous = texts[i - 1] if i > 0 else None
            texts[i] = await transcribe(items[i], continuation_prompt(base_prompt, previous))

    tasks = [asyncio.ensure_future(one(i)) for i in range(len(items))]
    try:
        await asyncio.gather(*tasks)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    return [t or "" for t in texts]
