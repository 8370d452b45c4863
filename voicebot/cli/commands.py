"""The commands that talk and listen: transcribe, translate, ask, chat, run, pending, retry.

Each builds the parts it needs (one API client per process, one output, one
assistant) and runs them; the pipeline itself lives in the modules named for it.
"""

from __future__ import annotations

import asyncio
import functools
import os
import sys
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicebot.cli.arguments import Args, Command, option, positional, switch
from voicebot.cli.client import make_client
from voicebot.cli.history import ResumeArgs, make_recorder, resume, resumed
from voicebot.cli.sound import make_narrator, make_speaker
from voicebot.config.schema import Settings
from voicebot.errors import EXIT_INTERRUPTED, EXIT_OK, UsageError, VoicebotError
from voicebot.hotkeys.bindings import normalise_bindings
from voicebot.hotkeys.machine import Binding, bindings_from_config
from voicebot.modes import ASK, RECORDING_NAMES
from voicebot.turns.console import Output, make_output
from voicebot.turns.reply_schema import ReplySchema, load_schema

if TYPE_CHECKING:  # the parser imports this module for every command: httpx, numpy and the rest load in the handlers
    from voicebot.audio.encoding import PreparedAudio
    from voicebot.turns.assistant import Assistant


@dataclass(frozen=True, kw_only=True)
class SchemaArgs(Args):
    """`--schema FILE` and `--web`, taken by ask and chat: what kind of answer is wanted."""

    schema: str | None = option("--schema", metavar="FILE",
                                help="the reply must be JSON matching this JSON Schema (structured outputs); "
                                     "a reply that does not is reported, exit 3")
    web: bool = switch("--web", help="answers that need today's facts: each question goes to groq/compound-mini, "
                                     "which searches the web; its sources are shown after the answer")


@dataclass(frozen=True, kw_only=True)
class ChatArgs(ResumeArgs, SchemaArgs):
    """`voicebot chat [--schema FILE]`."""


@dataclass(frozen=True, kw_only=True)
class FilesArgs(Args):
    """`voicebot transcribe|translate FILE...`."""

    files: list[str] = positional("FILE", nargs="+")


@dataclass(frozen=True, kw_only=True)
class AskArgs(FilesArgs, ResumeArgs, SchemaArgs):
    """`voicebot ask [--translate] FILE...`."""

    translate: bool = switch("--translate", help="turn the speech into English via /audio/translations")


@dataclass(frozen=True, kw_only=True)
class RunArgs(ResumeArgs):
    """`voicebot run`: the one binding given on the command line, or the control socket alone."""

    hotkey: str | None = option("--hotkey", metavar="COMBO",
                                help="the one binding to use, e.g. ctrl+alt+space or f9")
    mode: str | None = option("--mode", choices=RECORDING_NAMES, help="what that binding does (default ask)")
    toggle: bool = switch("--toggle", help="press to start, press again to stop")
    no_hotkeys: bool = switch("--no-hotkeys", help="no global hotkeys: drive it with `voicebot toggle` "
                                                   "(Wayland, desktop shortcuts)")
    hands_free: bool = switch("--hands-free", help="start listening hands-free: each utterance is a turn (the "
                                                   "converse key, Esc or `voicebot converse` ends it)")


@dataclass(frozen=True, kw_only=True)
class RetryArgs(Args):
    """`voicebot retry ID... | --all`."""

    ids: list[str] = positional("ID", nargs="*", help="takes to send (see `voicebot pending`)")
    all: bool = switch("--all", help="send every pending take, oldest first")


def output_for(settings: Settings, args: Args) -> Output:
    from voicebot.cli.wiring import redaction

    return make_output(args.json, settings.color, os.environ, redact=redaction(settings))


def reply_schema(args: Args) -> ReplySchema | None:
    """The --schema file, read and checked (UsageError, exit 2, for an unusable one)."""
    if isinstance(args, SchemaArgs) and args.schema and args.web:
        raise UsageError("--schema and --web cannot be combined (the web-search model takes no schema)")
    return load_schema(args.schema) if isinstance(args, SchemaArgs) and args.schema else None


def prepare_all(files: list[str], settings: Settings) -> list[PreparedAudio]:
    """Every file prepared before any request: a bad one ends the command with nothing sent."""
    from voicebot.audio.files import prepare_file

    return [prepare_file(Path(name), settings.audio_format, whole_seconds=settings.max_chunk_seconds)
            for name in files]


async def _files(settings: Settings, args: FilesArgs, *, translate: bool, answer: bool) -> int:
    """Each file in turn: its text printed (transcribe, translate) or asked as one turn of one
    conversation (ask). All are prepared first, so a bad one ends the command with nothing sent."""
    from voicebot.cli.wiring import make_assistant

    output = output_for(settings, args)
    schema = reply_schema(args)  # a bad schema file: exit 2 before anything is sent
    settings.require_key()
    audio = prepare_all(args.files, settings)
    recorder = make_recorder(settings, output)
    speaker = make_speaker(settings, output) if answer and settings.speak else None
    async with make_client(settings, output) as client:
        assistant = make_assistant(client, settings, output, log=recorder, reply_schema=schema,
                                   web=isinstance(args, SchemaArgs) and args.web)
        if isinstance(args, ResumeArgs):
            resume(assistant, args, output)
        narrator = make_narrator(settings, client, speaker, output)
        try:
            for prepared in audio:
                assistant.start_clock()  # timed from the start of its upload
                if narrator is not None:
                    await narrator.answer(functools.partial(_spoken_turn, assistant, prepared, translate),
                                          first_audio=assistant.heard_first_audio)
                    assistant.report_timing()
                elif answer:
                    await assistant.spoken_turn(prepared, translate=translate)
                else:
                    output.transcript(await assistant.transcribe(prepared, translate=translate), label=False)
                    assistant.report_timing()
        finally:
            await recorder.aclose()
            if speaker is not None:
                await speaker.aclose()
    return EXIT_OK


async def _spoken_turn(assistant: Assistant, prepared: PreparedAudio, translate: bool,
                       feed: Callable[[str], None]) -> str:
    return await assistant.spoken_turn(prepared, translate=translate, on_text=feed)


async def transcribe(settings: Settings, args: FilesArgs) -> int:
    return await _files(settings, args, translate=False, answer=False)


async def translate(settings: Settings, args: FilesArgs) -> int:
    return await _files(settings, args, translate=True, answer=False)


async def ask(settings: Settings, args: AskArgs) -> int:
    return await _files(settings, args, translate=args.translate, answer=True)


def chat_sync(settings: Settings, args: ChatArgs) -> int:
    """Typed turns of one conversation: stdin lines, or a prompt when stdin is a terminal.

    One event loop (asyncio.Runner) lives across turns so the client's keep-alive
    connection is reused while `input()` waits for the user.
    """
    from voicebot.cli.wiring import make_assistant

    output = output_for(settings, args)
    schema = reply_schema(args)
    settings.require_key()
    interactive = sys.stdin.isatty()
    recorder = make_recorder(settings, output)
    with asyncio.Runner() as runner:
        client = make_client(settings, output)
        assistant = make_assistant(client, settings, output, log=recorder, reply_schema=schema, web=args.web)
        speaker = make_speaker(settings, output) if settings.speak else None
        narrator = make_narrator(settings, client, speaker, output)

        def ask(question: str) -> Coroutine[Any, Any, str]:
            if narrator is None:
                return assistant.ask(question)
            return narrator.answer(lambda feed: assistant.ask(question, on_text=feed))

        try:
            resume(assistant, args, output)
            if interactive:
                return _repl(runner, assistant, output, ask)
            for line in sys.stdin:
                question = line.strip()
                if question:
                    runner.run(ask(question))
            return EXIT_OK
        finally:
            if speaker is not None:
                runner.run(speaker.aclose())
            runner.run(client.aclose())
            recorder.close()


def _repl(runner: asyncio.Runner, assistant: Assistant, output: Output,
          ask: Callable[[str], Coroutine[Any, Any, str]]) -> int:
    """Interactive prompt: Ctrl+C stops an answer; Ctrl+C at the prompt or Ctrl+D leaves."""
    try:
        import readline  # noqa: F401  (line editing and history for input())
    except ImportError:
        pass
    sys.stderr.write("voicebot chat: type a question; Ctrl+D to leave, /new for a fresh conversation\n")
    while True:
        try:
            question = input("you> ").strip()
        except EOFError:
            sys.stdout.write("\n")
            return EXIT_OK
        except KeyboardInterrupt:
            sys.stdout.write("\n")
            return EXIT_INTERRUPTED
        if not question:
            continue
        if question == "/new":
            assistant.new_conversation()
            output.notice("new conversation")
            continue
        try:
            runner.run(ask(question))
        except KeyboardInterrupt:
            continue  # the partial answer is kept, marked interrupted
        except VoicebotError as exc:
            output.error(str(exc))


def build_bindings(settings: Settings, hotkey: str | None, mode: str | None, toggle: bool) -> list[Binding]:
    """Bindings from the config, or the one given by --hotkey/--mode/--toggle (then_ask in each mode)."""
    table: dict[str, Any] = normalise_bindings(settings.hotkeys)
    if hotkey or mode or toggle:
        name = mode or ASK.name
        base = table.get(name, {})
        keys = hotkey or base.get("keys") or "ctrl+alt+space"
        table = {name: {"keys": keys, "style": "toggle" if toggle else base.get("style", "hold"),
                        "then_ask": base.get("then_ask", False), "then_enter": base.get("then_enter", False),
                        **({"context": base["context"]} if "context" in base else {})}}
    return bindings_from_config(table)


async def run(settings: Settings, args: RunArgs) -> int:
    """The push-to-talk daemon, until SIGINT/SIGTERM."""
    from voicebot.cli.wiring import daemon_options, make_assistant
    from voicebot.daemon.core import Daemon
    from voicebot.mic.microphone import Microphone
    from voicebot.voice.chime import Chimes

    output = output_for(settings, args)
    settings.require_key()
    carried_on = resumed(args, settings.system_prompt, output)  # an unknown id: exit 2 before anything starts
    bindings = build_bindings(settings, args.hotkey, args.mode, args.toggle)
    named = settings.device
    device: str | int | None = int(named) if named is not None and named.strip().isdigit() else named
    if device is not None:
        from voicebot.mic.input_devices import list_input_devices, match_device
        devices = list_input_devices()
        if devices:  # a --device that names nothing is a typo: exit 2 now, listing the inputs
            match_device(device, devices)  # (with no device at all the daemon waits for one)
    mic = Microphone(device, preroll_ms=settings.preroll_ms, release_tail_ms=settings.release_tail_ms)
    client = make_client(settings, output)
    from voicebot.spool.store import PendingStore
    recorder = make_recorder(settings, output)
    assistant = make_assistant(client, settings, output, log=recorder)
    if carried_on is not None:
        assistant.conversation = carried_on
    speaker = make_speaker(settings, output)
    daemon = Daemon(daemon_options(settings), output, client, assistant=assistant, bindings=bindings, microphone=mic,
                    chimes=Chimes(not settings.quiet, speaker), store=PendingStore(),
                    narrator=make_narrator(settings, client, speaker, output))
    try:
        return await daemon.run(use_hotkeys=not args.no_hotkeys, hands_free=args.hands_free)
    finally:
        await recorder.aclose(wait=0.5)  # within the daemon's 2 s promise to stop
        await speaker.aclose()


async def pending(settings: Settings, args: Args) -> int:
    """The takes kept because they were not transcribed, oldest first."""
    from voicebot.spool.store import PendingStore

    output = output_for(settings, args)
    store = PendingStore()
    takes = store.list()
    for take in takes:
        if take.problem:
            output.notice(f"warning: take {take.id}: {take.problem}; it will be sent as {take.mode}")
    if args.json:
        for take in takes:
            output.event("pending", id=take.id, time=take.time, mode=take.mode, then_ask=take.then_ask,
                         duration=take.duration, attempts=take.attempts, error=take.error,
                         source=take.source, audio=str(take.audio), problem=take.problem)
        return EXIT_OK
    if not takes:
        print("no pending takes")
        return EXIT_OK
    rows = [(t.id, t.created.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
             t.kind.label,
             f"{t.duration:.1f} s" if t.duration is not None else "?", str(t.attempts),
             t.error or ("unreadable sidecar" if t.problem else "never finished (stopped mid-upload?)"))
            for t in takes]
    header = ("ID", "WHEN", "MODE", "LENGTH", "TRIES", "LAST ERROR")
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(5)]
    for row in (header, *rows):
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[5], flush=True)
    output.notice(f"{len(takes)} pending take(s) in {store.root}; `voicebot retry --all` sends them again")
    return EXIT_OK


async def retry(settings: Settings, args: RetryArgs) -> int:
    """Send kept takes again, oldest first, in their own modes and in one conversation.

    Each take is removed once its transcript is shown. The first failure stops the run:
    that take (with its sidecar updated) and every later one stay, so a conversation is
    never replayed out of order.
    """
    from voicebot.cli.wiring import make_assistant
    from voicebot.spool.store import PendingStore, TakeBusy, UnknownTake, resend

    output = output_for(settings, args)
    ids = args.ids
    if ids and args.all:
        raise UsageError("give take ids or --all, not both")
    if not ids and not args.all:
        raise UsageError("name the takes to send, or use --all", hint="`voicebot pending` lists them")
    store = PendingStore()
    takes = store.select(ids) if ids else store.list()
    if not takes:
        output.notice("no pending takes")
        return EXIT_OK
    settings.require_key()
    recorder = make_recorder(settings, output)
    async with make_client(settings, output) as client:
        assistant = make_assistant(client, settings, output, log=recorder)
        try:
            for index, take in enumerate(takes):
                try:
                    await resend(store, take, assistant, output)
                except (TakeBusy, UnknownTake) as exc:  # another voicebot is sending it, or has
                    output.notice(f"{exc}; skipped")
                    continue
                except VoicebotError as exc:
                    raise _retry_failure(exc, take.id, take.audio.exists(), len(takes) - index, store.root) from None
                if args.json:
                    output.event("retried", id=take.id)
                else:
                    output.notice(f"take {take.id} transcribed and removed")
        finally:
            await recorder.aclose()
    return EXIT_OK


def _retry_failure(exc: VoicebotError, take_id: str, kept: bool, left: int, root: Path) -> VoicebotError:
    """The error line of a failed retry, saying what is still kept and where; same exit code."""
    still = left if kept else left - 1
    where = f"take {take_id} is kept" if kept else "its transcript was shown"
    more = f"; {still} take(s) still pending in {root}, `voicebot retry --all` sends them again" if still else ""
    failure = VoicebotError(f"{exc}; {where}{more}")
    failure.exit_code = exc.exit_code
    return failure


COMMANDS: tuple[Command[Any], ...] = (
    Command("transcribe", "print the transcript of each audio file", FilesArgs, transcribe),
    Command("translate", "print each audio file's speech translated into English", FilesArgs, translate),
    Command("ask", "each audio file is one spoken turn of one conversation; stream the answers", AskArgs, ask),
    Command("run", "the push-to-talk daemon (the default command)", RunArgs, run),
    Command("chat", "typed turns: one per stdin line, or an interactive prompt on a terminal", ChatArgs,
            chat_sync),
    Command("pending", "list the recordings kept because they were not transcribed", Args, pending),
    Command("retry", "send kept recordings again in their own mode; each is removed once transcribed",
            RetryArgs, retry),
)
