"""Kept takes in the daemon: each take is kept on disk before its upload, and sent again later.

A take is saved (pending.py) before it is uploaded and removed once its text is back, so
no failure or crash loses it. Once the API answers again the daemon sends kept takes
itself, oldest first, only while the user is neither recording nor listening to an
answer, backing off while the API keeps failing. The resend's decisions (which takes,
what a failure means, how long to wait) are pure functions below; `KeptTakes` applies them.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
from collections.abc import Awaitable, Callable, Collection, Coroutine, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from voicebot.api.retry import retryable_status
from voicebot.errors import ApiError, NoSpeechError, VoicebotError
from voicebot.modes import Mode
from voicebot.protocols import TurnAssistant
from voicebot.spool.kept_take import PendingTake
from voicebot.spool.store import PendingStore, TakeBusy, UnknownTake, kept_notice, resend

if TYPE_CHECKING:
    from voicebot.audio.encoding import PreparedAudio
    from voicebot.turns.console import Output

log = logging.getLogger("voicebot.spool.resend")

RETRY_MAX = 300.0  # the longest wait between automatic resends of kept takes
SUPERSEDED = "a new take started before this one was transcribed"
STOPPED = "the daemon stopped during the upload"
PIECE = ("a piece of a long take, kept while the rest was still being recorded (voicebot stopped before the "
         "take was whole)")


class TakePieces(Protocol):
    """A long take already sent in part while it was recorded (the daemon's `LivePieces`): what
    the resend asks of it, so the spool needs nothing from the daemon."""

    async def transcribe(self, whole: PreparedAudio) -> str: ...

    def cancel(self) -> None: ...

    def forget(self) -> list[str]: ...

    def remove(self, ids: list[str]) -> None: ...


class Outcome(enum.Enum):
    """What a failed resend means for its take."""

    DONE = "done"  # delivered after all (only its answer failed): nothing left to send
    RETRY = "retry"  # may work later: keep it in the queue, back off
    GIVE_UP = "give_up"  # the API refuses it for good: leave it to `voicebot retry`, send the others


# --- decisions ---------------------------------------------------------------------------------


def due(listed: Sequence[PendingTake], given_up: Collection[str]) -> list[PendingTake]:
    """The kept takes the daemon may send by itself, oldest first.

    A take cut short by a newer one is left for `voicebot retry`: sending it later would
    put it after the words that followed it. So is one the API refused for good, and a
    piece of a take the daemon never finished (sent alone, a fragment would be asked).
    """
    return [t for t in listed if t.error not in (SUPERSEDED, PIECE) and t.id not in given_up]


def outcome(exc: VoicebotError, *, delivered: bool) -> Outcome:
    """Classify a resend's failure: 4xx other than 408/409/429 cannot be fixed by waiting."""
    if delivered:
        return Outcome.DONE
    if isinstance(exc, ApiError) and exc.status is not None and 400 <= exc.status < 500 \
            and not retryable_status(exc.status):
        return Outcome.GIVE_UP
    return Outcome.RETRY


def honour_retry_after(delay: float, exc: BaseException) -> float:
    """The delay stretched to at least what the API asked for (retry-after)."""
    return max(delay, getattr(exc, "retry_after", None) or 0.0)


def next_delay(delay: float, first: float, *, sent: bool) -> float:
    """Back to `first` after a success, else doubled (at least `first`) up to RETRY_MAX."""
    return first if sent else min(max(delay * 2, first), RETRY_MAX)


# --- the loop ----------------------------------------------------------------------------------


RunTurn = Callable[[Coroutine[Any, Any, bool], str], Awaitable[bool]]


class KeptTakes:
    """Keeps each take while it is transcribed, and sends kept takes again in the background.

    Resends go one at a time, as the daemon's turns: the daemon lends `run` its `busy`
    (is the user recording or being answered?) and `run_turn` (run this as the current
    turn, so a barge-in cancels it like any answer; False if it was cut).
    """

    def __init__(self, store: PendingStore, assistant: TurnAssistant, output: Output, *,
                 first_delay: float) -> None:
        self.store = store
        self.assistant = assistant
        self.output = output
        self.first_delay = first_delay
        self.delay = first_delay
        self.given_up: set[str] = set()  # refused for good: left to `voicebot retry`
        self._kept = asyncio.Event()  # set while kept takes may be waiting to be sent again

    def wake(self, exc: BaseException | None = None) -> None:
        """A take was kept (or found at start-up): wake the loop, waiting at least as long as the API asked."""
        if exc is not None:
            self.delay = honour_retry_after(self.delay, exc)
        self._kept.set()

    async def transcribe(self, prepared: PreparedAudio, mode: Mode, *, stopping: Callable[[], bool],
                         pieces: TakePieces | None = None, assistant: TurnAssistant | None = None) -> str | None:
        """Transcribe a take that is on disk first, so no failure or crash can lose it.

        The take is removed only once its text is back. A failure keeps it (the user is
        told where) for the automatic resend, and returns None; a take cut short by a newer
        one is kept too, but left for `voicebot retry`, as sending it later would reorder
        the conversation. `stopping` says whether a cancellation is the daemon stopping.
        `pieces`: a long take already sent in part while it was recorded; its pieces' own
        files go once the whole take is kept, and its text is theirs, joined. `assistant`: the
        turn's own (a binding's profile: Assistant.for_turn), else this one's.
        """
        store = self.store
        hearer = assistant if assistant is not None else self.assistant

        async def send() -> str:
            if pieces is not None:
                return await pieces.transcribe(prepared)
            return await hearer.transcribe(prepared, translate=mode.translates, mode=mode.name)

        saving = asyncio.ensure_future(asyncio.to_thread(store.save, prepared, mode=mode.name,
                                                         then_ask=mode.then_ask, durable=False))
        try:
            kept = await asyncio.shield(saving)  # a cancelled wait must not leave an unmarked take behind
        except asyncio.CancelledError:
            if pieces is not None:
                pieces.cancel()
            with contextlib.suppress(Exception):
                store.mark_failed(await saving, STOPPED if stopping() else SUPERSEDED)
                if pieces is not None:
                    pieces.remove(pieces.forget())
            raise
        except OSError as exc:  # disk full, read-only home: still send it, from memory
            self.output.error(f"could not keep the take on disk ({exc.strerror or exc}); sending it anyway")
            text = await send()
            if pieces is not None:
                pieces.remove(pieces.forget())
            return text
        # The take is on disk: a killed daemon loses nothing. Its fsyncs, which make it survive
        # a power cut too, run while it goes up (before it, they cost 10-100 ms at every release).
        syncing = asyncio.ensure_future(asyncio.to_thread(store.make_durable, kept))
        # The whole take is kept now and stands for its pieces: their files go, off the loop and
        # alongside the last upload (each removal fsyncs the folder).
        forgetting = asyncio.ensure_future(asyncio.to_thread(pieces.remove, pieces.forget())) \
            if pieces is not None else None
        with store.claim(kept.id):
            try:
                text = await send()
            except NoSpeechError:
                store.remove(kept.id)
                raise
            except VoicebotError as exc:
                kept = store.mark_failed(kept, str(exc))
                self.output.error(f"{exc}; {kept_notice(kept)}")
                self.wake(exc)  # sent again once the API answers
                return None
            except asyncio.CancelledError:
                kept = store.mark_failed(kept, STOPPED if stopping() else SUPERSEDED)
                self.output.notice(kept_notice(kept))
                raise
            finally:
                if forgetting is not None:
                    await asyncio.shield(forgetting)  # never two copies of a take left behind
                with contextlib.suppress(OSError):
                    await asyncio.shield(syncing)  # an fsync that fails leaves the take as written
            await self.assistant.recorded()  # its words are in the log (or the log is off) before the take goes
            store.remove(kept.id)
        return text

    async def run(self, busy: Callable[[], bool], run_turn: RunTurn) -> None:
        """Send kept takes again once the API answers: oldest first, only while idle, with backoff."""
        while True:
            await self._kept.wait()
            await asyncio.sleep(self.delay)
            if busy():
                continue  # never in the middle of a live take or answer
            try:
                listed = await asyncio.to_thread(self.store.list)
            except OSError as exc:
                self.output.error(f"cannot read the kept takes: {exc}")
                self.delay = RETRY_MAX
                continue
            takes = due(listed, self.given_up)
            if busy():
                continue  # a take began while the folder was read
            if not takes:
                self._kept.clear()
                self.delay = self.first_delay
                continue
            sent = await run_turn(self.send(takes[0]), f"resend-{takes[0].id}")
            self.delay = next_delay(self.delay, self.first_delay, sent=sent)

    async def send(self, take: PendingTake) -> bool:
        """One kept take, in its own mode; False when the API still fails."""
        self.output.notice(f"sending again the take kept at {take.created.astimezone():%H:%M:%S} ({take.mode})")
        try:
            await resend(self.store, take, self.assistant, self.output)
        except (TakeBusy, UnknownTake):
            return True  # `voicebot retry` is sending it right now, or already did
        except NoSpeechError:
            self.store.remove(take.id)  # Whisper heard nothing: there is nothing to keep
            return True
        except VoicebotError as exc:
            verdict = outcome(exc, delivered=not take.audio.exists())
            if verdict is Outcome.DONE:  # the take was delivered; only its answer failed
                self.output.error(str(exc))
                return True
            if verdict is Outcome.GIVE_UP:
                self.given_up.add(take.id)  # retrying cannot fix it; do not let it block the others
                self.output.error(f"{exc}; the take stays kept, `voicebot retry {take.id}` sends it by hand")
                return True
            self.output.error(f"{exc}; still kept, will try again")
            self.delay = honour_retry_after(self.delay, exc)
            return False
        except Exception as exc:  # an OS failure reading the take: say so, keep the loop alive
            log.debug("resend failed", exc_info=True)
            self.output.error(f"could not send the kept take {take.id}: {type(exc).__name__}: {exc}")
            self.given_up.add(take.id)
            return True
        return True


__all__ = [
    "PIECE",
    "RETRY_MAX",
    "STOPPED",
    "SUPERSEDED",
    "KeptTakes",
    "Outcome",
    "TakePieces",
    "due",
    "honour_retry_after",
    "next_delay",
    "outcome",
]
