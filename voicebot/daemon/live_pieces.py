"""A long take transcribed while it is recorded: each piece kept on disk, then sent at once.

voicebot.audio.pieces cuts the take at pauses as it is recorded; each closed piece comes here.
The guarantees of a whole take hold for every piece:

- on disk before its upload: a piece is saved as a pending take (noted as a piece, so
  that after a crash it is left to `voicebot retry` rather than asked on its own) and
  stays there until the whole take's text is back. At the release the whole take is
  saved (voicebot.spool.resend) and the pieces' files go: from then on the take is kept exactly
  as a short one is, and a failure anywhere keeps the whole take for the resend;
- in order: texts are joined in the order spoken; a piece's prompt carries the end of
  the previous piece's text when that is back by the time the piece goes up (usually,
  as pieces are seconds apart), and the user's own prompt otherwise;
- checked: each piece's invented segments are dropped, a piece without voiced time is
  never uploaded, and the joined text gets the whole take's no-speech and sparse checks
  (voicebot.stt.hearing);
- a cancelled take (Esc, a tap, shutdown) takes its pieces with it: uploads stop and
  their files are removed, as nothing of a dropped take is kept.

Live preview: as each piece's text comes back, the text heard so far (the pieces back in
order, up to the first still in the air) is shown: a `preview` event for --json readers,
and its end on the status line beside the meter, so the user sees the transcript grow
while still speaking. It is a preview: the take's transcript is still judged whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from voicebot.audio.encoding import PreparedAudio
from voicebot.errors import VoicebotError
from voicebot.spool.resend import PIECE
from voicebot.spool.store import PendingStore, UnknownTake
from voicebot.stt.piece_texts import continuation_prompt, join_texts

if TYPE_CHECKING:
    from voicebot.modes import Mode
    from voicebot.stt.hearing import HeardText, Hearing
    from voicebot.turns.assistant import Assistant
    from voicebot.turns.console import Output

log = logging.getLogger("voicebot.daemon.live_pieces")
STATUS_COLUMNS = 80  # the status line's width when the terminal's is unknown
MIN_TAIL = 16  # characters of the text heard so far the status line always shows


def preview_tail(text: str, chars: int) -> str:
    """The end of `text` in at most `chars` characters, cut at a word, "…" where it was cut."""
    if len(text) <= chars:
        return text
    tail = text[len(text) - max(1, chars - 1):]
    space = tail.find(" ")
    if 0 <= space < len(tail) - 1:
        tail = tail[space + 1:]
    return "…" + tail


def with_preview(line: str, heard: str, columns: int = STATUS_COLUMNS) -> str:
    """The status `line` with the end of the text heard so far after it, the whole within `columns`
    (a line wider than the terminal wraps, and is then no longer redrawn in place)."""
    heard = " ".join(heard.split())  # one line, whatever the speech server wrote
    if not heard:
        return line
    return f"{line} · {preview_tail(heard, max(MIN_TAIL, columns - len(line) - 4))}"


class LivePieces:
    """The pieces of one take: kept and sent while it is recorded, joined at the end."""

    def __init__(self, store: PendingStore, assistant: Assistant, output: Output, mode: Mode, *,
                 concurrency: int) -> None:
        self.store = store
        self.assistant = assistant
        self.output = output
        self.mode = mode
        self.hearing: Hearing = assistant.hearing(translate=mode.translates)
        self.kept: list[str] = []  # ids of the pieces kept on disk
        self.failed: VoicebotError | None = None  # the first piece that failed after the safe retries
        self.speech_seconds: float | None = None  # the whole take's voiced time, for the sparse check
        self._texts: list[str | None] = []
        self._tasks: list[asyncio.Task[str]] = []
        self._gate = asyncio.Semaphore(concurrency)
        self._disk_error_told = False
        self._last: tuple[PreparedAudio, bool] | None = None
        self._forgotten = False  # the pieces' files are no longer wanted
        self._shown = ""  # the text heard so far, as last told

    @property
    def sent(self) -> int:
        """Pieces handed over so far (the last one included once the take ended)."""
        return len(self._tasks)

    @property
    def preview(self) -> str:
        """The text heard so far: the pieces back, in order, up to the first still in the air."""
        return join_texts(self._back())

    def _back(self) -> list[str]:
        back: list[str] = []
        for text in self._texts:
            if text is None:
                break
            back.append(text)
        return back

    def _tell_preview(self) -> None:
        """A `preview` event when the text heard so far grew (and, on a terminal, the status line)."""
        back = self._back()
        preview = join_texts(back)
        if preview and preview != self._shown:
            self._shown = preview
            self.output.milestone("preview", with_preview("heard so far:", preview), text=preview,
                                  pieces=len(back))

    def add(self, piece: PreparedAudio, has_speech: bool, *, keep: bool = True) -> None:
        """A piece closed at a pause: keep it and send it in the background, in order."""
        index = len(self._tasks)
        self._texts.append(None)
        self._tasks.append(asyncio.ensure_future(self._one(index, piece, has_speech, keep)))

    def end(self, last: PreparedAudio, has_speech: bool) -> None:
        """The take ended: what followed the last cut is the last piece, sent by `transcribe`."""
        self._last = (last, has_speech)

    async def heard(self) -> HeardText:
        """At the release: send the last piece (the whole take is on disk by now), then
        every piece's text in order, checked as one recording. The first failure is raised."""
        if self._last is None:
            raise ValueError("the take has not ended")
        self._mark_upload()
        self.add(*self._last, keep=False)
        try:
            texts = [await task for task in self._tasks]
        except BaseException:
            self.cancel()  # the first failure (or a barge-in) ends the others; their outcomes are collected
            await asyncio.gather(*self._tasks, return_exceptions=True)
            raise
        return self.hearing.finish(texts, self.speech_seconds)

    async def transcribe(self, whole: PreparedAudio) -> str:
        """The take's text through the assistant (logged as one turn with the whole take's audio)."""
        return await self.assistant.transcribe(whole, translate=self.mode.translates, mode=self.mode.name,
                                               heard=self.heard)

    def cancel(self) -> None:
        """Stop every upload still under way (the take failed or was dropped)."""
        for task in self._tasks:
            task.cancel()

    def forget(self) -> list[str]:
        """The whole take is kept (or delivered, or dropped) instead of its pieces: the ids of
        their files, for `remove`. A piece still being saved removes its own file."""
        self._forgotten = True
        ids, self.kept = self.kept, []
        return ids

    def remove(self, ids: list[str]) -> None:
        """Remove pieces' files (blocking file work: a thread's)."""
        for take_id in ids:
            with contextlib.suppress(OSError, UnknownTake):
                self.store.remove(take_id)

    async def drop(self) -> None:
        """The take was cancelled: nothing of it goes on, nothing of it is kept."""
        self.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.remove(self.forget())

    def _mark_upload(self) -> None:
        self.assistant.uploading()  # the turn's clock counts from the first piece's upload

    async def _one(self, index: int, piece: PreparedAudio, has_speech: bool, keep: bool) -> str:
        if not has_speech:  # Whisper invents text for silence: a piece without voice is never sent
            self._texts[index] = ""
            return ""
        if self.failed is not None:
            raise self.failed  # the take will be kept whole and sent again: no point in the rest
        kept = await self._keep(piece) if keep else None
        async with self._gate:
            previous = self._texts[index - 1] if index > 0 else None
            prompt = continuation_prompt(self.hearing.base_prompt, previous)
            try:
                with contextlib.ExitStack() as claimed:
                    if kept is not None:  # held while sent, so `voicebot retry` cannot send it too
                        with contextlib.suppress(UnknownTake):  # superseded by the whole take, claimed itself
                            claimed.enter_context(self.store.claim(kept))
                    text = await self.hearing.piece(piece.as_upload(), prompt, piece.duration)
            except VoicebotError as exc:
                if self.failed is None:
                    self.failed = exc
                log.debug("piece %d failed: %s", index + 1, exc)
                raise
        self._texts[index] = text
        if keep:  # not the last piece: the whole transcript follows it at once
            self._tell_preview()
        return text

    async def _keep(self, piece: PreparedAudio) -> str | None:
        """Save the piece before its upload (its id; None if the disk refused it). A cancelled
        wait still leaves no file behind."""
        saving = asyncio.ensure_future(asyncio.to_thread(self.store.save, piece, mode=self.mode.name,
                                                         then_ask=self.mode.then_ask, note=PIECE))
        try:
            kept = await asyncio.shield(saving)
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                self.store.remove((await saving).id)
            raise
        except OSError as exc:  # disk full, read-only home: still send it, from memory
            if not self._disk_error_told:
                self._disk_error_told = True
                self.output.error(f"could not keep the take on disk ({exc.strerror or exc}); sending it anyway")
            return None
        if self._forgotten:  # the whole take was kept meanwhile and stands for this piece too
            await asyncio.to_thread(self.remove, [kept.id])
            return None
        self.kept.append(kept.id)
        return kept.id


__all__ = ["LivePieces", "preview_tail", "with_preview"]
