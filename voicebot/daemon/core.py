"""The push-to-talk daemon: hotkeys and the control socket drive takes; takes become turns.

One asyncio loop owns every piece of state here. The pynput thread and the PortAudio
thread only hand events to it (see hotkey_listener.py and capture.py). A take is one task that
records (voicebot.daemon.recording: encoded as blocks arrive) and then runs its turn; barge-in and Esc are
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
from dataclasses import dataclass, field
from typing import Any

from voicebot.api.client import GroqClient
from voicebot.audio.encoding import PreparedAudio
from voicebot.control.client import Command
from voicebot.control.server import serve_control
from voicebot.daemon.hands_free import HandsFree
from voicebot.daemon.live_pieces import LivePieces
from voicebot.daemon.profiles import Focus, TurnProfiles, TurnSetup, settled
from voicebot.daemon.recording import Recording, RecordOptions, State, record
from voicebot.desktop.context import attach
from voicebot.desktop.dictation import Dictation, DictationOptions
from voicebot.desktop.rewrite import Rewriter
from voicebot.errors import EXIT_INTERRUPTED, EXIT_OK, NoSpeechError, UsageError, VoicebotError
from voicebot.hotkeys.listener import HotkeyListener
from voicebot.hotkeys.machine import (
    Action,
    Binding,
    Cancel,
    Discard,
    HotkeyMachine,
    Start,
    Stop,
    Trigger,
)
from voicebot.listen.utterances import ListenOptions
from voicebot.mic.input_devices import load_sounddevice
from voicebot.modes import ASK, CONVERSE, NEW, Mode, after_transcript, mode_named, recording_mode
from voicebot.protocols import Answerer, MicrophoneInput
from voicebot.spool.resend import KeptTakes
from voicebot.spool.store import PendingStore
from voicebot.stt.piece_texts import GROQ_STT_CONCURRENCY
from voicebot.turns.assistant import Assistant
from voicebot.turns.console import Output
from voicebot.turns.timing import TAKE_END
from voicebot.turns.web_search import Searching
from voicebot.voice.chime import Chimes
from voicebot.voice.ducking import Ducker, DuckOptions
from voicebot.voice.speaking import Narrator, SpokenAnswers, speaks

log = logging.getLogger("voicebot.daemon.core")

STOP_GRACE = 1.5  # seconds a turn gets to wind down on SIGTERM before it is cancelled
ANNOUNCE_WAIT = 1.0  # seconds a barge-in's `recording` event waits for the cut answer to close
OPEN_WAIT = 1.0  # seconds a `voicebot toggle|start` waits to learn whether the microphone opened


@dataclass(frozen=True, kw_only=True)
class DaemonOptions:
    """What the daemon itself reads: key timing, the kept takes' first retry, the microphone, the voice."""

    min_hold_seconds: float = 0.3  # shorter key taps are ignored
    retry_pending_seconds: float = 10.0  # first wait before kept takes are sent again
    open_microphone: bool = True  # open it at start (a pre-roll is kept); else only for each take
    pieces_in_flight: int = GROQ_STT_CONCURRENCY  # a long take's pieces sent at once while it is recorded
    speak: bool = False  # answers are read aloud unless a binding says otherwise (voice.speaking.speaks)
    context_max_chars: int = 8000  # a binding's context (selection, clipboard) is cut to this many characters
    record: RecordOptions = field(default_factory=RecordOptions)
    duck: DuckOptions = field(default_factory=DuckOptions)  # other playback quiet while a take records
    dictation: DictationOptions = field(default_factory=DictationOptions)
    listen: ListenOptions = field(default_factory=ListenOptions)  # hands-free sessions
    profiles: TurnProfiles | None = None  # the bindings' own settings (None: every turn runs with the above)


class Daemon:
    """Owns the microphone, the conversation and the current take; answers hotkeys and the socket."""

    def __init__(self, options: DaemonOptions, output: Output, client: GroqClient, *, assistant: Assistant,
                 bindings: list[Binding], microphone: MicrophoneInput, chimes: Chimes,
                 store: PendingStore, narrator: Narrator | None = None) -> None:
        self.options = options
        self.output = output
        self.client = client  # for warming the connection on key-down, and closing it
        self.assistant = assistant
        self.dictation = Dictation(options.dictation, output, client)
        self.bindings = bindings
        self.machine = HotkeyMachine(bindings, min_hold=options.min_hold_seconds)
        self.focus = Focus(options.profiles or TurnProfiles(TurnSetup(
            assistant=assistant.options, dictation=options.dictation, speak=options.speak)), output)
        self.mic = microphone
        self.chimes = chimes
        self.ducker = Ducker(options.duck, output)
        self.narrator = narrator  # reads answers aloud where `speaks` says so
        self.recording: Recording | None = None
        self.turn: asyncio.Task[Any] | None = None  # the take's task once it has become a turn
        self.state = State.STARTING
        self.started = time.monotonic()
        self.store = store
        self.kept = KeptTakes(store, assistant, output, first_delay=options.retry_pending_seconds)
        self._stopping = asyncio.Event()
        self._tasks: set[asyncio.Task[None]] = set()
        self.use_hotkeys = True
        self._stopped_by: int | None = None
        self.hands_free: HandsFree | None = None  # the hands-free session, while one listens

    # --- life cycle --------------------------------------------------------------------------

    async def run(self, *, use_hotkeys: bool, control_path: str | None = None, hands_free: bool = False) -> int:
        """Serve until SIGINT (exit 130, as for Ctrl+C anywhere) or SIGTERM (exit 0: a service stopped)."""
        load_sounddevice()  # no PortAudio: exit 2 now, naming the package, not at the first take
        self.use_hotkeys = use_hotkeys
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal, sig)
        async with contextlib.AsyncExitStack() as stack:
            control = await serve_control(self.on_command, path=control_path)  # refuses a second daemon
            stack.callback(control.close)
            stack.push_async_callback(self.shutdown)
            await self.ducker.recover_at_start()  # what a killed daemon left muted comes back first
            if use_hotkeys:
                listener = HotkeyListener(self.machine, self.on_action)
                await listener.start()
                stack.callback(listener.stop)
            if self.options.open_microphone:
                await self._open_microphone()
            self.assistant.prefetch()
            if await asyncio.to_thread(self.store.list):  # takes kept by an earlier run
                self.kept.wake()
            self.background(self.kept.run(self._busy, self._run_turn))
            self.set_state(State.LISTENING)
            self.output.milestone("ready", self.listening_hint())
            if hands_free:
                self.toggle_hands_free()
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

    async def shutdown(self) -> None:
        """Stop within the 2 s SIGTERM promise: cancel the take/turn, close devices and the client.

        The waits share one budget rather than adding up, so a stuck task cannot stretch it.
        """
        session = self.hands_free.task if self.hands_free else None
        tasks = {t for t in (self.recording.task if self.recording else None, self.turn, session) if t and not t.done()}
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_GRACE)
        await self.dictation.close()  # a clipboard waiting to be put back goes back now
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.ducker.settled(), 0.5)  # other playback back as it was
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.mic.close(), 0.3)
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.client.aclose(), 0.2)

    def stop(self) -> None:
        self._stopping.set()

    def listening_hint(self) -> str:
        """How to start a take: the hotkeys, or the control socket when they are off."""
        if self.hands_free is not None:
            return f"listening hands-free: speak; {self.hands_free._ends_hint()}"
        if not self.use_hotkeys:
            return "listening on the control socket: `voicebot toggle` starts and stops a take"
        keys = ", ".join(f"{b.combo} ({b.mode.name})" for b in self.bindings)
        return f"listening: {keys}" if keys else "listening"

    def set_state(self, state: State) -> None:
        self.state = state
        log.debug("state: %s", state.value)

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
            if self.hands_free is not None:
                self.hands_free.stop("hands-free ended (Esc)")
            if self.recording is not None:
                self.discard("take cancelled")
            else:
                self.interrupt_answer()
        elif isinstance(action, Trigger) and action.mode == NEW.name:
            self.new_conversation()
        elif isinstance(action, Trigger) and action.mode == CONVERSE.name:
            self.toggle_hands_free()

    async def on_command(self, command: Command) -> dict[str, Any]:
        """A control-socket request; the reply goes back to `voicebot <command>`."""
        name = command.name
        mode = command.mode or self._default_mode()
        try:
            recording_mode(mode)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
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
        elif name == "converse":
            self.toggle_hands_free()
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
        return {"state": self.state.value, "mode": self.recording.mode.name if self.recording else None,
                "pid": os.getpid(), "uptime": round(time.monotonic() - self.started, 1),
                "turns": len(self.assistant.conversation.turns), "hands_free": self.hands_free is not None}

    def _default_mode(self) -> str:
        return next((b.mode.name for b in self.bindings if b.records), ASK.name)

    def _mode(self, name: str) -> Mode:
        """The mode a take started as `name` records in: its binding's (then_ask and all)."""
        return next((b.mode for b in self.bindings if b.mode.name == name), None) or mode_named(name)

    # --- takes ---------------------------------------------------------------------------------

    def toggle_hands_free(self) -> None:
        """Start a hands-free session (voicebot.daemon.hands_free), or end the one that listens."""
        if self.hands_free is not None:
            self.hands_free.stop()
        elif self.recording is not None:
            self.output.notice("hands-free starts once this take is over: press it again then")
        else:
            self.hands_free = HandsFree(self, self._mode(ASK.name), self.options.listen)
            self.machine.hands_free = True
            self.hands_free.start()

    def hands_free_ended(self, session: HandsFree) -> None:
        if self.hands_free is session:
            self.hands_free = None
            self.machine.hands_free = False
            self._back_to_listening()

    def begin(self, mode: str) -> None:
        """Key down: stop any answer (barge-in), start recording, warm the connection."""
        if self.hands_free is not None:  # hands-free hears the speech itself: the key only cuts the answer
            self.machine.end_take()
            self.interrupt_answer()
            return
        if self.recording is not None:  # still in the last take's release tail: one take at a time
            self.machine.end_take()  # keep the key machine in step with what really records
            return
        cut = self.turn if self.turn is not None and not self.turn.done() else None
        self.interrupt_answer()
        self.chimes.play("start")
        rec = Recording(self._mode(mode), opened=asyncio.get_running_loop().create_future())
        rec.setup = self.focus.decide(rec.mode.name)  # the focused window is read now, off the loop
        rec.task = asyncio.create_task(self.run_take(rec), name=f"take-{mode}")
        self.recording = rec
        self.background(self.warm())
        self.set_state(State.RECORDING)
        self.background(self._announce(rec, cut))

    async def _announce(self, rec: Recording, cut: asyncio.Task[None] | None) -> None:
        """Say "● recording" once the microphone runs for this take, and after a cut answer closed.

        Not before: without a microphone the take's error is said instead, never a recording
        that is not happening. On barge-in the recording itself starts at once; only the
        announcement waits for the cut answer (its interrupted reply), so readers of the
        event stream see one answer end before the next take begins, and the human status
        line is not swallowed by a reply that is still open.
        """
        if rec.opened is not None and await asyncio.shield(rec.opened) is not None:
            return  # the microphone failed: its error is the take's only word
        if cut is not None:
            await asyncio.wait({cut}, timeout=ANNOUNCE_WAIT)
        if self.recording is rec:  # not if the take was already dropped (a tap, Esc)
            self.output.milestone("recording", f"● recording ({rec.mode.name})", mode=rec.mode.name)

    def background(self, coro: Coroutine[Any, Any, None]) -> None:
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

    async def warm(self) -> None:
        with contextlib.suppress(Exception):
            await self.client.warm()

    async def run_take(self, rec: Recording) -> None:
        """Record until stopped (encoding as we go), then run the turn in this same task."""
        try:
            prepared = await self._record(rec)
            recorded_at = time.monotonic()
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
        clock = self.assistant.start_clock(rec.released_at)
        clock.mark(TAKE_END, recorded_at)
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
            self.assistant.report_timing()  # a no-op once the answer reported it
            if self.turn is asyncio.current_task():
                self.turn = None
                self._back_to_listening()

    async def _record(self, rec: Recording) -> PreparedAudio:
        """Record and encode the take (voicebot.daemon.recording); a long one's pieces go up meanwhile.

        A push-to-talk take has other playback quiet while it records (`duck`)."""
        async with self.ducker.quiet() if rec.source is None else contextlib.nullcontext():
            return await record(rec, rec.source or self.mic, self.options.record, self.output, lambda: LivePieces(
                self.store, self.assistant.for_turn(settled(rec.setup, self.focus.profiles.for_mode(
                    rec.mode.name)).assistant), self.output, rec.mode, concurrency=self.options.pieces_in_flight))

    async def _setup(self, rec: Recording) -> TurnSetup:
        """What the take's turn runs with: the application's and the binding's profiles over the settings."""
        if rec.setup is None:  # a hands-free utterance: decided as it ends
            rec.setup = self.focus.decide(rec.mode.name)
        return await rec.setup

    async def _turn(self, rec: Recording, prepared: PreparedAudio) -> None:
        self.set_state(State.TRANSCRIBING)
        self.output.status("transcribing…")
        setup = await self._setup(rec)
        assistant = self.assistant.for_turn(setup.assistant)
        self.dictation.options = setup.dictation  # one turn at a time: this one's dictation settings
        text = await self.kept.transcribe(prepared, rec.mode, stopping=self._stopping.is_set, pieces=rec.pieces,
                                          assistant=assistant)
        if text is not None:
            spoken = self.narrator is not None and speaks(setup.speak, rec.mode)
            asker = Searching(assistant) if rec.mode.web else assistant
            answerer: Answerer = (SpokenAnswers(self.narrator.with_voice(setup.voice), asker)
                                  if self.narrator and spoken else asker)
            if rec.mode.context is not None and rec.mode.answers:  # read only for a binding that asks for it
                answerer = await attach(rec.mode.context, self.options.context_max_chars, answerer, self.output)
            rewriter = Rewriter(self.dictation, self.client, setup.assistant.chat, limit=self.options.context_max_chars)
            await after_transcript(rec.mode, text, output=self.output, assistant=answerer,
                                   dictate=self.dictation.land, edit=rewriter.run, answering=self._answering)

    def _answering(self) -> None:
        self.set_state(State.ANSWERING)
        self.output.status("thinking…")

    def _busy(self) -> bool:
        return self.recording is not None or (self.turn is not None and not self.turn.done())

    async def _run_turn(self, coro: Coroutine[Any, Any, bool], name: str) -> bool:
        """Run a resend as the current turn, so a barge-in cuts it like an answer (then False)."""
        self.set_state(State.TRANSCRIBING)
        task = asyncio.create_task(coro, name=name)
        self.turn = task
        try:
            return await task
        except asyncio.CancelledError:
            if self._stopping.is_set():
                raise
            return False  # barge-in: the take stays kept; the live turn goes first
        finally:
            if self.turn is task:
                self.turn = None
                self._back_to_listening()

    def _back_to_listening(self) -> None:
        if self.recording is None and (self.turn is None or self.turn.done()):
            self.set_state(State.LISTENING)
            self.output.status(self.listening_hint())
