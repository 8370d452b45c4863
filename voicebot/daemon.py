"""The push-to-talk daemon: hotkeys and the control socket drive takes; takes become turns.

One asyncio loop owns every piece of state here. The pynput thread and the PortAudio
thread only hand events to it (see hotkeys.py and capture.py). A take is one task that
records (encoding FLAC as blocks arrive) and then runs its turn; barge-in and Esc are
nothing more than cancelling that task, and the assistant keeps what was shown of a
cancelled answer in the history, marked as interrupted.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import time
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any

from voicebot.api import GroqClient
from voicebot.assistant import Assistant
from voicebot.audio import PreparedAudio, TakeEncoder
from voicebot.capture import Microphone, Take, load_sounddevice
from voicebot.chime import Chimes
from voicebot.console import Output
from voicebot.control import Command
from voicebot.control_server import serve_control
from voicebot.dictation import deliver
from voicebot.errors import EXIT_INTERRUPTED, EXIT_OK, ApiError, NoSpeechError, UsageError, VoicebotError
from voicebot.hotkeys import (
    Action,
    Binding,
    Cancel,
    Discard,
    HotkeyListener,
    HotkeyMachine,
    Start,
    Stop,
    Trigger,
    bindings_from_config,
)
from voicebot.pending import PendingStore, PendingTake, TakeBusy, UnknownTake, kept_notice, resend
from voicebot.settings import Settings, normalise_bindings

log = logging.getLogger("voicebot.daemon")

METER_INTERVAL = 0.1  # seconds between live status redraws
STOP_GRACE = 1.5  # seconds a turn gets to wind down on SIGTERM before it is cancelled
RETRY_MAX = 300.0  # the longest wait between automatic resends of kept takes
SUPERSEDED = "a new take started before this one was transcribed"
STOPPED = "the daemon stopped during the upload"
ANNOUNCE_WAIT = 1.0  # seconds a barge-in's `recording` event waits for the cut answer to close
OPEN_WAIT = 1.0  # seconds a `voicebot toggle|start` waits to learn whether the microphone opened


def meter(dbfs: float, width: int = 10) -> str:
    """A level bar from -60 dBFS (empty) to 0 dBFS (full)."""
    filled = max(0, min(width, round((dbfs + 60) / 60 * width)))
    return "█" * filled + "·" * (width - filled)


@dataclass
class Recording:
    """The take in progress: its mode, task, and (once the stream is open) its Take."""

    mode: str
    then_ask: bool
    task: asyncio.Task[None] | None = None
    take: Take | None = None
    stop_requested: bool = False
    # Resolved once the microphone runs for this take (None) or could not (the error),
    # so `voicebot toggle` can report a missing microphone instead of "recording".
    opened: asyncio.Future[VoicebotError | None] | None = None

    def opening_done(self, failure: VoicebotError | None) -> None:
        if self.opened is not None and not self.opened.done():
            self.opened.set_result(failure)

    def stop(self) -> None:
        self.stop_requested = True
        if self.take is not None:
            self.take.stop()


class Daemon:
    """Owns the microphone, the conversation and the current take; answers hotkeys and the socket."""

    def __init__(self, settings: Settings, output: Output, client: GroqClient, *,
                 bindings: list[Binding], then_ask: dict[str, bool], microphone: Microphone,
                 chimes: Chimes, store: PendingStore) -> None:
        self.settings = settings
        self.output = output
        self.client = client
        self.assistant = Assistant(client, settings, output)
        self.bindings = bindings
        self.machine = HotkeyMachine(bindings, min_hold=settings.min_hold_ms / 1000)
        self.mic = microphone
        self.chimes = chimes
        self.recording: Recording | None = None
        self.turn: asyncio.Task[Any] | None = None  # the take's task once it has become a turn
        self.state = "starting"
        self.started = time.monotonic()
        self._then_ask = then_ask
        self.store = store
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self._kept = asyncio.Event()  # set while kept takes may be waiting to be sent again
        self._given_up: set[str] = set()  # kept takes the API refuses for good: left to `voicebot retry`
        self._retry_delay = settings.retry_pending_seconds
        self._use_hotkeys = True
        self._stopped_by: int | None = None

    # --- life cycle --------------------------------------------------------------------------

    async def run(self, *, use_hotkeys: bool, control_path: str | None = None) -> int:
        """Serve until SIGINT (exit 130, as for Ctrl+C anywhere) or SIGTERM (exit 0: a service stopped)."""
        load_sounddevice()  # no PortAudio: exit 2 now, naming the package, not at the first take
        self._use_hotkeys = use_hotkeys
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)
        async with contextlib.AsyncExitStack() as stack:
            control = await serve_control(self.on_command, path=control_path)  # refuses a second daemon
            stack.callback(control.close)
            stack.push_async_callback(self._shutdown)
            if use_hotkeys:
                listener = HotkeyListener(self.machine, self.on_action)
                await listener.start()
                stack.callback(listener.stop)
            if self.settings.preroll_ms:
                await self._open_microphone()
            self.assistant.prefetch()
            if await asyncio.to_thread(self.store.list):  # takes kept by an earlier run
                self._kept.set()
            self._background(self._retry_pending())
            self._set_state("listening")
            self.output.milestone("ready", self._listening_hint())
            await self._stopping.wait()
        return EXIT_INTERRUPTED if self._stopped_by == signal.SIGINT else EXIT_OK

    def _on_signal(self, sig: int) -> None:
        self._stopped_by = sig
        self._stopping.set()

    async def _open_microphone(self) -> None:
        try:
            await self.mic.open()
        except UsageError as exc:  # no device now: say so, keep running, retry at the next take
            self.output.error(str(exc))

    async def _shutdown(self) -> None:
        """Stop within the 2 s SIGTERM promise: cancel the take/turn, close devices and the client.

        The waits share one budget rather than adding up, so a stuck task cannot stretch it.
        """
        tasks = {t for t in (self.recording.task if self.recording else None, self.turn) if t and not t.done()}
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_GRACE)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.mic.close(), 0.3)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.aclose(), 0.2)

    def stop(self) -> None:
        self._stopping.set()

    def _listening_hint(self) -> str:
        """How to start a take: the hotkeys, or the control socket when they are off."""
        if not self._use_hotkeys:
            return "listening on the control socket: `voicebot toggle` starts and stops a take"
        keys = ", ".join(f"{b.combo} ({b.mode})" for b in self.bindings)
        return f"listening: {keys}" if keys else "listening"

    def _set_state(self, state: str) -> None:
        self.state = state
        log.debug("state: %s", state)

    # --- inputs: hotkey actions and control commands -----------------------------------------

    def on_action(self, action: Action) -> None:
        """A hotkey action (delivered on the loop, in order)."""
        if isinstance(action, Start):
            self.begin(action.mode)
        elif isinstance(action, Stop):
            self.finish()
        elif isinstance(action, Discard):
            if self.recording is not None and not self.recording.stop_requested:
                self.discard(f"take ignored ({action.reason})")
            # else: a tap after release (during the tail) concerns no take: the last one stands
        elif isinstance(action, Cancel):
            if self.recording is not None:
                self.discard("take cancelled")
            else:
                self.interrupt_answer()
        elif isinstance(action, Trigger) and action.mode == "new":
            self.new_conversation()

    async def on_command(self, command: Command) -> dict[str, Any]:
        """A control-socket request; the reply goes back to `voicebot <command>`."""
        name = command.name
        mode = command.mode or self._default_mode()
        if mode not in ("ask", "translate", "dictate"):
            raise UsageError(f"unknown mode {mode!r} (modes: ask, translate, dictate)")
        now = time.monotonic()
        if name == "toggle" or (name == "start" and self.recording is None) or (
                name == "stop" and self.recording is not None):
            before = self.recording
            for action in self.machine.toggle(mode, now):
                self.on_action(action)
            if self.recording is not None and self.recording is not before:
                await self._microphone_opened(self.recording)
        elif name == "cancel":
            self.on_action(Cancel())
        elif name == "new":
            self.new_conversation()
        return self.status()

    async def _microphone_opened(self, rec: Recording) -> None:
        """Raise the microphone's error if this take could not start (no device, say).

        The daemon keeps running and tries the device again at the next take; the client
        exits 2, as the README's table has it for a missing microphone.
        """
        if rec.opened is None:
            return
        try:
            async with asyncio.timeout(OPEN_WAIT):
                failure = await asyncio.shield(rec.opened)
        except TimeoutError:
            return  # still opening: the take goes on, and says so in the daemon's output if it fails
        if failure is not None:
            raise failure

    def status(self) -> dict[str, Any]:
        return {"state": self.state, "mode": self.recording.mode if self.recording else None,
                "pid": os.getpid(), "uptime": round(time.monotonic() - self.started, 1),
                "turns": len(self.assistant.conversation.turns)}

    def _default_mode(self) -> str:
        return next((b.mode for b in self.bindings if b.records), "ask")

    # --- takes ---------------------------------------------------------------------------------

    def begin(self, mode: str) -> None:
        """Key down: stop any answer (barge-in), start recording, warm the connection."""
        if self.recording is not None:  # still in the last take's release tail: one take at a time
            self.machine.end_take()  # keep the key machine in step with what really records
            return
        cut = self.turn if self.turn is not None and not self.turn.done() else None
        self.interrupt_answer()
        self.chimes.play("start")
        rec = Recording(mode, self._then_ask.get(mode, False), opened=asyncio.get_running_loop().create_future())
        rec.task = asyncio.create_task(self._take(rec), name=f"take-{mode}")
        self.recording = rec
        self._background(self._warm())
        self._set_state("recording")
        if cut is None:
            self._announce(rec)
        else:
            self._background(self._announce_after(cut, rec))

    def _announce(self, rec: Recording) -> None:
        if self.recording is rec:  # not if the take was already dropped (a tap, Esc)
            self.output.milestone("recording", f"● recording ({rec.mode})", mode=rec.mode)

    async def _announce_after(self, cut: asyncio.Task[None], rec: Recording) -> None:
        """Barge-in: announce the new take only once the cut answer has closed (its interrupted reply).

        The recording itself starts at once; only the announcement waits, so readers of the
        event stream see one answer end before the next take begins, and the human status
        line is not swallowed by a reply that is still open.
        """
        await asyncio.wait({cut}, timeout=ANNOUNCE_WAIT)
        self._announce(rec)

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run `coro` as a task the loop cannot garbage-collect half-way (it keeps only weak refs)."""
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def finish(self) -> None:
        """Key up: end the take after the release tail; its task then runs the turn."""
        if self.recording is not None:
            self.recording.stop()

    def discard(self, why: str) -> None:
        """A tap, Esc or cancel: the take is dropped, nothing is uploaded."""
        rec, self.recording = self.recording, None
        self.machine.end_take()
        if rec is not None and rec.task is not None:
            rec.task.cancel()
        self.output.notice(why)
        self._back_to_listening()

    def interrupt_answer(self) -> None:
        """Cancel the turn in progress; the assistant keeps what was shown as interrupted."""
        if self.turn is not None and not self.turn.done():
            self.turn.cancel()

    def new_conversation(self) -> None:
        self.interrupt_answer()
        self.assistant.new_conversation()
        self.output.notice("new conversation")

    async def _warm(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.warm()

    async def _take(self, rec: Recording) -> None:
        """Record until stopped (encoding as we go), then run the turn in this same task."""
        try:
            prepared = await self._record(rec)
        except NoSpeechError:
            self.output.notice("no speech detected; nothing was sent")
            prepared = None
        except VoicebotError as exc:  # the device failed: report, keep running
            rec.opening_done(exc)
            self.output.error(str(exc))
            prepared = None
        except Exception as exc:
            log.debug("recording failed", exc_info=True)
            failure = VoicebotError(f"recording failed: {type(exc).__name__}: {exc}")
            rec.opening_done(failure)
            self.output.error(str(failure))
            prepared = None
        finally:
            rec.opening_done(None)  # dropped or cancelled before the microphone ran: nothing to report
            if self.recording is rec:
                self.recording = None
                self.machine.end_take()
            self.chimes.play("stop")
        if prepared is None:
            self._back_to_listening()
            return
        self.turn = asyncio.current_task()
        try:
            await self._turn(rec, prepared)
        except asyncio.CancelledError:
            pass  # barge-in or shutdown: the assistant already marked the answer
        except NoSpeechError:
            self.output.notice("no speech recognised")
        except VoicebotError as exc:
            self.output.error(str(exc))
        except Exception as exc:  # a bug or an OS failure: one line, and the daemon keeps going
            log.debug("turn failed", exc_info=True)
            self.output.error(f"the turn failed: {type(exc).__name__}: {exc}")
        finally:
            if self.turn is asyncio.current_task():
                self.turn = None
                self._back_to_listening()

    async def _record(self, rec: Recording) -> PreparedAudio:
        limit = self.settings.max_take_seconds
        async with self.mic.take() as take:
            rec.take = take
            rec.opening_done(None)
            if rec.stop_requested:
                take.stop()
            encoder = TakeEncoder(take.rate)
            drawn = 0.0
            async for block in take:
                encoder.write(block)
                elapsed = encoder.duration
                if elapsed - drawn >= METER_INTERVAL:
                    drawn = elapsed
                    level = meter(self.mic.level_dbfs)  # measured once per block, by the microphone
                    self.output.status(f"● recording ({rec.mode}) {elapsed:4.1f} s {level}", live=True)
                if elapsed >= limit and not take.done and not rec.stop_requested:
                    self.output.notice(f"maximum take length reached ({limit:g} s); sending what was recorded")
                    rec.stop()
        return encoder.finish()

    async def _turn(self, rec: Recording, prepared: PreparedAudio) -> None:
        self._set_state("transcribing")
        self.output.status("transcribing…")
        text = await self._transcribe_kept(rec, prepared)
        if text is None:
            return
        if rec.mode == "dictate":
            self.output.transcript(text, label=False)
            await deliver(text, self.settings.dictate_output)
            return
        if rec.mode == "translate" and not rec.then_ask:
            self.output.transcript(text, label=False)
            return
        self.output.transcript(text, label=True)
        self._set_state("answering")
        self.output.status("thinking…")
        await self.assistant.ask(text)

    async def _transcribe_kept(self, rec: Recording, prepared: PreparedAudio) -> str | None:
        """Transcribe a take that is on disk first, so no failure or crash can lose it.

        The take is removed only once its text is back. A failure keeps it (the user is
        told where) for the automatic resend; a take cut short by a newer one is kept too,
        but left for `voicebot retry`, as sending it later would reorder the conversation.
        """
        saving = asyncio.ensure_future(asyncio.to_thread(self.store.save, prepared, mode=rec.mode,
                                                         then_ask=rec.then_ask))
        try:
            kept = await asyncio.shield(saving)  # a cancelled wait must not leave an unmarked take behind
        except asyncio.CancelledError:
            with contextlib.suppress(Exception):
                self.store.mark_failed(await saving, STOPPED if self._stopping.is_set() else SUPERSEDED)
            raise
        except OSError as exc:  # disk full, read-only home: still send it, from memory
            self.output.error(f"could not keep the take on disk ({exc.strerror or exc}); sending it anyway")
            return await self.assistant.transcribe(prepared, translate=rec.mode == "translate")
        with self.store.claim(kept.id):
            try:
                text = await self.assistant.transcribe(prepared, translate=rec.mode == "translate")
            except NoSpeechError:
                self.store.remove(kept.id)
                raise
            except VoicebotError as exc:
                kept = self.store.mark_failed(kept, str(exc))
                self.output.error(f"{exc}; {kept_notice(kept)}")
                self._kept_for_retry(exc)
                return None
            except asyncio.CancelledError:
                kept = self.store.mark_failed(kept, STOPPED if self._stopping.is_set() else SUPERSEDED)
                self.output.notice(kept_notice(kept))
                raise
            self.store.remove(kept.id)
        return text

    def _kept_for_retry(self, exc: VoicebotError) -> None:
        """Wake the resend loop, waiting at least as long as the API asked."""
        retry_after = getattr(exc, "retry_after", None) or 0.0
        self._retry_delay = max(self._retry_delay, retry_after)
        self._kept.set()

    def _busy(self) -> bool:
        return self.recording is not None or (self.turn is not None and not self.turn.done())

    async def _retry_pending(self) -> None:
        """Send kept takes again once the API answers: oldest first, only while idle, with backoff."""
        while True:
            await self._kept.wait()
            await asyncio.sleep(self._retry_delay)
            if self._busy():
                continue  # never in the middle of a live take or answer
            try:
                listed = await asyncio.to_thread(self.store.list)
            except OSError as exc:
                self.output.error(f"cannot read the kept takes: {exc}")
                self._retry_delay = RETRY_MAX
                continue
            takes = [t for t in listed if t.error != SUPERSEDED and t.id not in self._given_up]
            if self._busy():
                continue  # a take began while the folder was read
            if not takes:
                self._kept.clear()
                self._retry_delay = self.settings.retry_pending_seconds
                continue
            task = asyncio.create_task(self._resend(takes[0]), name=f"resend-{takes[0].id}")
            self.turn = task
            try:
                sent = await task
            except asyncio.CancelledError:
                if self._stopping.is_set():
                    raise
                sent = False  # barge-in: the take stays kept; the live turn goes first
            finally:
                if self.turn is task:
                    self.turn = None
                    self._back_to_listening()
            self._retry_delay = (self.settings.retry_pending_seconds if sent
                                 else min(max(self._retry_delay * 2, self.settings.retry_pending_seconds), RETRY_MAX))

    async def _resend(self, take: PendingTake) -> bool:
        """One kept take, in its own mode; False when the API still fails."""
        self._set_state("transcribing")
        self.output.notice(f"sending again the take kept at {take.created.astimezone():%H:%M:%S} ({take.mode})")
        try:
            await resend(self.store, take, self.assistant, self.output)
        except (TakeBusy, UnknownTake):
            return True  # `voicebot retry` is sending it right now, or already did
        except NoSpeechError:
            self.store.remove(take.id)  # Whisper heard nothing: there is nothing to keep
            return True
        except VoicebotError as exc:
            if not take.audio.exists():  # the take was delivered; only its answer failed
                self.output.error(str(exc))
                return True
            if not isinstance(exc, ApiError):
                self.output.error(f"{exc}; still kept, will try again")
                return False
            if exc.status is not None and 400 <= exc.status < 500 and exc.status not in (408, 409, 429):
                self._given_up.add(take.id)  # retrying cannot fix it; do not let it block the others
                self.output.error(f"{exc}; the take stays kept, `voicebot retry {take.id}` sends it by hand")
                return True
            self.output.error(f"{exc}; still kept, will try again")
            retry_after = getattr(exc, "retry_after", None) or 0.0
            self._retry_delay = max(self._retry_delay, retry_after)
            return False
        except Exception as exc:  # an OS failure reading the take: say so, keep the loop alive
            log.debug("resend failed", exc_info=True)
            self.output.error(f"could not send the kept take {take.id}: {type(exc).__name__}: {exc}")
            self._given_up.add(take.id)
            return True
        return True

    def _back_to_listening(self) -> None:
        if self.recording is None and (self.turn is None or self.turn.done()):
            self._set_state("listening")
            self.output.status(self._listening_hint())


def build_bindings(settings: Settings, hotkey: str | None, mode: str | None,
                   toggle: bool) -> tuple[list[Binding], dict[str, bool]]:
    """Bindings (and each mode's then_ask) from the config, or the one given by --hotkey/--mode/--toggle."""
    table: dict[str, Any] = normalise_bindings(settings.hotkeys)
    if hotkey or mode or toggle:
        base = table.get(mode or "ask", {})
        keys = hotkey or base.get("keys") or "ctrl+alt+space"
        table = {mode or "ask": {"keys": keys, "style": "toggle" if toggle else base.get("style", "hold"),
                                 "then_ask": base.get("then_ask", False)}}
    return bindings_from_config(table), {m: bool(spec["then_ask"]) for m, spec in table.items()}
