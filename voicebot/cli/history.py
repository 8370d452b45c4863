"""The conversation log from the command line: `voicebot history`, resuming, retranscribing.

Wiring only: the database is voicebot.log.store, the writing voicebot.log.writer. Reads
happen here directly (a command, not the daemon's loop); a log that cannot be read is
one line and exit 1, an unknown conversation or turn one line and exit 2. The log's modules
(sqlite3, and the spool's audio) are imported where they are used: the parser imports this
module for every command, for the arguments declared here.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicebot.cli.arguments import Args, Command, option, positional, switch
from voicebot.cli.client import make_client
from voicebot.config.schema import Settings
from voicebot.errors import EXIT_OK, UsageError, VoicebotError
from voicebot.spool.kept_take import AUDIO_TYPES, parse_time
from voicebot.turns.console import make_output
from voicebot.turns.conversation import Conversation, Turn

if TYPE_CHECKING:
    from voicebot.audio.encoding import PreparedAudio
    from voicebot.log.store import LoggedTurn
    from voicebot.log.writer import LogWriter
    from voicebot.turns.assistant import Assistant
    from voicebot.turns.console import Output

PENDING_SOURCE = "pending take "  # the source of a turn sent again from the pending folder
MAX_RESUMED_TURNS = 1000  # far more than any context window holds; the budget trims the rest
DEFAULT_COUNT = 20


@dataclass(frozen=True, kw_only=True)
class ResumeArgs(Args):
    """`--continue` / `--conversation ID`, taken by ask, chat and run."""

    resume: bool = switch("--continue", help="carry on the latest conversation in the log")
    conversation: str | None = option("--conversation", metavar="ID", help="carry on this conversation from the log")


@dataclass(frozen=True, kw_only=True)
class HistoryArgs(Args):
    """`voicebot history [-n N] [--search TEXT]`."""

    count: int = option("-n", default=DEFAULT_COUNT, type=int, metavar="N",
                        help=f"how many turns (default {DEFAULT_COUNT})")
    search: str | None = option("--search", metavar="TEXT",
                                help="only turns whose transcript or reply has these words")


@dataclass(frozen=True, kw_only=True)
class ShowArgs(Args):
    """`voicebot history show CONVERSATION`."""

    conversation_id: str = positional("CONVERSATION")


@dataclass(frozen=True, kw_only=True)
class RetranscribeArgs(Args):
    """`voicebot history retranscribe TURN`."""

    turn: str = positional("TURN")


class LogUnreadable(VoicebotError):
    """The log exists but cannot be opened or read (damaged, unreadable): exit 1."""


def make_recorder(settings: Settings, output: Output, env: Mapping[str, str] = os.environ) -> LogWriter:
    """The process's log writer, as the `log` and `keep_audio` settings say."""
    from voicebot.log import store as turnlog
    from voicebot.log.writer import LogWriter

    if not settings.log:
        return LogWriter.off()
    return LogWriter(turnlog.log_path(env), output.notice,
                     audio_root=turnlog.audio_dir(env) if settings.keep_audio else None)


@contextmanager
def reading(env: Mapping[str, str], notice: Callable[[str], None] | None = None,
            ) -> Iterator[sqlite3.Connection | None]:
    """The log for reading; None when nothing was ever recorded (it is not created for that).

    A log in a folder that cannot be written, or on a full disk, is still read
    (voicebot.log.reading); what the user should know about it goes to `notice`.
    """
    from voicebot.log import store as turnlog
    from voicebot.log.reading import open_for_reading

    path = turnlog.log_path(env)
    try:
        opened = open_for_reading(path)
    except FileNotFoundError:
        yield None
        return
    except (sqlite3.Error, OSError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise LogUnreadable(f"cannot read the conversation log {path}: {reason}") from None
    if opened.notice and notice is not None:
        notice(opened.notice)
    try:
        yield opened.conn
    except sqlite3.Error as exc:
        raise LogUnreadable(f"cannot read the conversation log {path}: {exc}") from None
    finally:
        opened.conn.close()


# --------------------------------------------------------------------------- arguments

MAX_COUNT = 1_000_000_000  # far beyond any log; SQLite's own limit would be 2**63 - 1
MAX_TURN = 2**63 - 1  # SQLite's largest row id


def count_arg(value: object) -> int:
    """`-n N`: a whole number from 1 to MAX_COUNT (a huge one is a usage error, not an overflow)."""
    if not isinstance(value, int) or not 1 <= value <= MAX_COUNT:
        raise UsageError(f"-n must be a whole number from 1 to {MAX_COUNT}, not {value!r}")
    return value


def shown_arg(text: str) -> str:
    """An argument quoted for a message; bytes that are not UTF-8 shown as escapes, never raised on."""
    return repr(os.fsencode(text))[1:] if not text.isprintable() else repr(text)


def text_arg(value: str, what: str) -> str:
    """An argument as text the log can hold: bytes that are not UTF-8 are a usage error."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise UsageError(f"{what} {shown_arg(value)} is not valid UTF-8 text") from None
    return value


def turn_number(text: str) -> int:
    """A turn's #N as given; anything else (a word, a number beyond any row id) is a usage error."""
    number = int(text) if text.isascii() and text.isdigit() and len(text) <= 19 else 0
    if not 1 <= number <= MAX_TURN:
        raise UsageError(f"not a turn number: {shown_arg(text)}", hint="`voicebot history` shows them as #N")
    return number


# --------------------------------------------------------------------------- resuming


def resumed(args: ResumeArgs, system_prompt: str | None, output: Output,
            env: Mapping[str, str] = os.environ) -> Conversation | None:
    """`--continue` / `--conversation ID`: the logged conversation to carry on, or None.

    Its answered turns go back into the history sent to the model (the budget drops the
    oldest as usual), and new turns are logged under the same id. Called before anything
    is started, so an unknown id ends the command (exit 2) with nothing done.
    """
    from voicebot.log import store as turnlog

    wanted = args.conversation
    if wanted is not None:
        text_arg(wanted, "the conversation")
    if args.resume and wanted:
        raise UsageError("give --continue or --conversation, not both")
    if not args.resume and not wanted:
        return None
    with reading(env, output.notice) as conn:
        conversation = wanted or (turnlog.latest_conversation(conn) if conn is not None else None)
        turns = turnlog.conversation_turns(conn, conversation, MAX_RESUMED_TURNS) if conn and conversation else []
    if wanted and not turns:
        raise UsageError(f"no conversation {wanted!r} in the conversation log",
                         hint="`voicebot history` lists them")
    if conversation is None:
        output.notice("no earlier conversation to continue; starting a new one")
        return None
    answered = [Turn(t.transcript, t.reply, t.interrupted) for t in turns if t.reply is not None]
    output.notice(f"continuing conversation {conversation} ({len(answered)} earlier turn(s))")
    return Conversation(system_prompt, answered, id=conversation)


def resume(assistant: Assistant, args: ResumeArgs, output: Output, env: Mapping[str, str] = os.environ) -> None:
    """`resumed`, put straight into `assistant`."""
    conversation = resumed(args, assistant.options.system_prompt, output, env)
    if conversation is not None:
        assistant.conversation = conversation


# --------------------------------------------------------------------------- `voicebot history`


def _when(stamp: str) -> str:
    try:
        return parse_time(stamp).astimezone().strftime("%Y-%m-%d %H:%M:%S")
    except ValueError:
        return stamp


def show_turns(turns: list[LoggedTurn], output: Output, json_mode: bool) -> None:
    """Turns oldest first: JSON events, or a header line and the words for people."""
    for index, turn in enumerate(turns):
        if json_mode:
            output.event("turn", **turn.as_event())
            continue
        head = f"#{turn.id}  {_when(turn.time)}  {turn.mode}  {turn.source}  conversation {turn.conversation}"
        lines = [head, f"You: {turn.transcript}"]
        if turn.reply is not None:
            lines.append(f"Assistant: {turn.reply}" + (" [interrupted]" if turn.interrupted else ""))
        if turn.error:
            lines.append(f"(failed: {turn.error})")
        print(("\n" if index else "") + "\n".join(lines), flush=True)


def history(settings: Settings, args: HistoryArgs, env: Mapping[str, str] = os.environ) -> int:
    """`voicebot history [-n N] [--search TEXT]`: the latest turns, newest last."""
    from voicebot.log import store as turnlog

    output = make_output(args.json, settings.color, env)
    count = count_arg(args.count)
    search = args.search
    if search is not None:
        text_arg(search, "the search")
    with reading(env, output.notice) as conn:
        turns = turnlog.latest(conn, count, search) if conn is not None else []
    if not turns and not args.json:
        output.notice("no matching turns" if search else
                      f"no turns recorded yet in {turnlog.log_path(env)}")
    show_turns(turns, output, args.json)
    return EXIT_OK


def show(settings: Settings, args: ShowArgs, env: Mapping[str, str] = os.environ) -> int:
    """`voicebot history show CONVERSATION`: one conversation whole, oldest first."""
    from voicebot.log import store as turnlog

    output = make_output(args.json, settings.color, env)
    wanted = text_arg(args.conversation_id, "the conversation")
    with reading(env, output.notice) as conn:
        turns = turnlog.conversation_turns(conn, wanted) if conn is not None else []
    if not turns:
        raise UsageError(f"no conversation {wanted!r} in the conversation log", hint="`voicebot history` lists them")
    show_turns(turns, output, args.json)
    return EXIT_OK


def no_audio_reason(turn: LoggedTurn) -> str:
    """Why a turn has no kept audio, from what the log knows: how the turn came in."""
    if turn.source == "text":
        return f"turn {turn.id} was typed, not spoken: it has no audio to transcribe again"
    if turn.source.startswith(PENDING_SOURCE):
        return (f"turn {turn.id} has no kept audio: it was logged when {turn.source} was sent again (`voicebot "
                f"retry` or the daemon) without keep_audio, and that take was removed once transcribed")
    return f"turn {turn.id} has no kept audio: keep_audio was off when it was logged"


def kept_audio(turn: LoggedTurn, env: Mapping[str, str]) -> PreparedAudio:
    """The take kept beside the log for `turn`; exit 2 when there is none."""
    from voicebot.audio.encoding import PreparedAudio
    from voicebot.log import store as turnlog

    if turn.audio is None:
        raise UsageError(no_audio_reason(turn))
    path = turnlog.audio_dir(env) / Path(turn.audio).name
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"cannot read the audio of turn {turn.id}, {path}: {exc.strerror}") from None
    ext = path.suffix.lstrip(".")
    return PreparedAudio(filename=f"speech.{ext}", data=data, content_type=AUDIO_TYPES.get(ext, "audio/flac"),
                         duration=None, sample_rate=None, channels=None, source=f"turn {turn.id}")


def mark_retranscribed(env: Mapping[str, str], turn_id: int, text: str, stt_model: str) -> None:
    from voicebot.log import store as turnlog

    path = turnlog.log_path(env)
    try:
        conn = turnlog.connect(path, create=False)
        try:
            turnlog.retranscribed(conn, turn_id, text, stt_model)
        finally:
            conn.close()
    except (sqlite3.Error, OSError) as exc:
        raise LogUnreadable(f"the new transcript was shown but not recorded in {path}: {exc}") from None


async def retranscribe(settings: Settings, args: RetranscribeArgs, env: Mapping[str, str] = os.environ) -> int:
    """`voicebot history retranscribe TURN`: the speech server hears the turn's kept audio again."""
    from voicebot.cli.wiring import make_assistant

    output = make_output(args.json, settings.color, env)
    settings.require_key()
    async with make_client(settings, output) as client:
        return await _retranscribe(make_assistant(client, settings, output), args, output, env)


async def _retranscribe(assistant: Assistant, args: RetranscribeArgs, output: Output,
                        env: Mapping[str, str]) -> int:
    """`voicebot history retranscribe TURN`: its kept audio transcribed again, shown and recorded.

    The new text replaces the turn's transcript; the first one is kept (first_transcript).
    """
    from voicebot.log import store as turnlog

    turn_id = turn_number(args.turn)
    with reading(env, output.notice) as conn:
        turn = turnlog.get_turn(conn, turn_id) if conn is not None else None
    if turn is None:
        raise UsageError(f"no turn {turn_id} in the conversation log", hint="`voicebot history` lists them")
    audio = kept_audio(turn, env)
    translate = turn.mode == "translate"
    text = (await assistant.hear(audio, translate=translate)).text  # hear: not logged as a new turn
    model = assistant.options.speech.model(translate=translate)
    if args.json:
        output.event("retranscribed", id=turn_id, transcript=text, previous=turn.transcript, stt_model=model)
    else:
        output.transcript(text, label=False)
    mark_retranscribed(env, turn_id, text, model)  # after it is shown: the words are out either way
    if not args.json:
        output.notice(f"turn {turn_id} retranscribed with {model}; it was: {turn.transcript}")
    return EXIT_OK


COMMANDS: tuple[Command[Any], ...] = (
    Command("history", "the latest turns from the conversation log, newest last", HistoryArgs, history, actions=(
        Command("show", "one conversation whole", ShowArgs, show),
        Command("retranscribe", "transcribe a turn's kept audio again (keep_audio) and record the new text",
                RetranscribeArgs, retranscribe,
                description="transcribe a turn's kept audio again and record the new text; "
                            "--stt-model picks the model"))),
)
