"""The conversation log watching turns: each turn's events become its row.

The assistant only tells what happens (voicebot.turns.events); this observer turns that
into the log's writes through a `LogWriter` (voicebot.log.writer), which never holds
a turn up. A transcript is written as soon as it is heard, so a take's words are kept even
if no answer comes; asking it next makes that row the ask turn (a `transcribe` row
becomes `ask`), and the answer, its stage times and its end are added to the same row.
"""

from __future__ import annotations

import asyncio

from voicebot.log.writer import Entry, LogWriter
from voicebot.turns.events import (
    AnswerComplete,
    AnswerCut,
    Asked,
    FirstWord,
    Transcribed,
    TurnEnded,
    TurnEvent,
    TurnFailed,
)


class TurnLog:
    """Writes one assistant's turns to the log (`LogWriter.off()`: nothing)."""

    def __init__(self, recorder: LogWriter) -> None:
        self.recorder = recorder
        self._heard: tuple[str, Entry] | None = None  # the last transcript, until it is asked
        self._entries: dict[int, Entry] = {}  # the rows of the questions being answered

    def on_turn_event(self, event: TurnEvent) -> None:
        if isinstance(event, Transcribed):
            entry = self.recorder.begin(conversation=event.conversation, mode=event.mode, source=event.source,
                                        transcript=event.text, stt_model=event.stt_model, audio=event.audio,
                                        started=event.started,
                                        timings={"transcribed_ms": round(event.transcribed * 1000)})
            self._heard = (event.text, entry)
        elif isinstance(event, Asked):
            self._entries[event.turn] = self._entry_for(event)
        elif isinstance(event, FirstWord):
            self._mark(event.turn, "first_delta")
        elif isinstance(event, AnswerComplete | AnswerCut):
            self._mark(event.turn, "replied")
        elif isinstance(event, TurnEnded):
            self._ended(event)
        elif isinstance(event, TurnFailed):
            self._failed(event)

    def kept(self) -> asyncio.Future[bool]:
        """Settles once the last transcript's row is committed (True) or will not be (False:
        the log is off, or failing as its notice said): a kept take may leave the spool then."""
        if self._heard is None:
            done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
            done.set_result(False)
            return done
        return asyncio.wrap_future(self._heard[1].written)

    def _entry_for(self, event: Asked) -> Entry:
        """The row of this question: the transcript just heard, or a new typed turn."""
        heard, self._heard = self._heard, None
        if heard is not None and heard[0] == event.question:
            entry = heard[1]
            entry.mode = "ask" if entry.mode == "transcribe" else entry.mode
            return entry
        return self.recorder.begin(conversation=event.conversation, mode="ask", source="text",
                                   transcript=event.question)

    def _mark(self, turn: int, name: str) -> None:
        entry = self._entries.get(turn)
        if entry is not None:
            entry.mark(name)

    def _failed(self, event: TurnFailed) -> None:
        entry = self._entries.pop(event.turn, None)
        if entry is not None:
            self.recorder.update(entry, error=event.error, conversation=event.conversation, mode=entry.mode)

    def _ended(self, event: TurnEnded) -> None:
        entry = self._entries.pop(event.turn, None)
        if entry is None:
            return
        if event.timings:
            entry.timings.update(event.timings)  # the user's figures, from the key release
        if event.interrupted:
            self.recorder.update(entry, reply=event.reply, interrupted=1, model=event.model,
                                 conversation=event.conversation, mode=entry.mode)
        else:
            self.recorder.update(entry, reply=event.reply, usage=event.usage, model=event.model,
                                 conversation=event.conversation, mode=entry.mode)


__all__ = ["TurnLog"]
