"""The full command line: parser built from the settings schema, wiring, exit codes.

It owns no logic of its own. Heavy modules (numpy, httpx, sounddevice, pynput) are
imported inside the commands that need them.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, NoReturn

from voicebot import __version__
from voicebot.config.loading import load_settings, parse_text, warn
from voicebot.config.schema import FIELDS, Settings, kind_of
from voicebot.control.client import COMMAND_HELP, COMMANDS, run_client
from voicebot.errors import EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError, VoicebotError, report_error
from voicebot.modes import RECORDING_NAMES
from voicebot.redaction import Redaction


class _Parser(argparse.ArgumentParser):
    """argparse that ends in one line on stderr and exit 2, not a usage dump (every command's parser)."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"voicebot: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(EXIT_USAGE)


def _flag_type(name: str) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse_text(name, text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = kind_of(name).__name__
    return convert


def _common_options() -> _Parser:
    """Options every command takes; generated from the Settings schema."""
    common = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    common.add_argument("--config", metavar="PATH", help="config file (default $XDG_CONFIG_HOME/voicebot/config.toml)")
    common.add_argument("--json", action="store_true", help="JSON Lines events on stdout")
    common.add_argument("--debug", action="store_true", help="debug logging and tracebacks on stderr")
    common.add_argument("--no-color", dest="color", action="store_const", const="never", help="no colours")
    group = common.add_argument_group("settings (also VOICEBOT_<NAME> variables and config-file keys)")
    for name, fld in FIELDS.items():
        meta = fld.metadata
        flag = meta["flag"]
        if not flag or name == "color":
            continue
        kind = kind_of(name)
        extra: dict[str, Any] = {"dest": name, "help": meta["help"]}
        if kind is bool:  # `--no-x` turns off a setting that is on by default
            group.add_argument(flag, action="store_false" if flag.startswith("--no-") else "store_true", **extra)
        elif kind is list:
            group.add_argument(flag, action="append", metavar=meta["metavar"] or "TEXT", **extra)
        else:
            group.add_argument(flag, type=_flag_type(name), choices=meta["choices"],
                               metavar=meta["metavar"] or (None if meta["choices"] else kind.__name__.upper()),
                               **extra)
    group.add_argument("--color", dest="color", choices=("auto", "always", "never"),
                       help=FIELDS["color"].metadata["help"])
    return common


def build_parser() -> argparse.ArgumentParser:
    common = _common_options()
    parser = _Parser(prog="voicebot", parents=[common],
                     description="Push-to-talk voice assistant on Groq: speak, and the answer streams here.")
    parser.add_argument("--version", action="version", version=f"voicebot {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    def add(name: str, help: str) -> argparse.ArgumentParser:
        return sub.add_parser(name, help=help, description=help, parents=[common])

    for name, what in (("transcribe", "print the transcript of each audio file"),
                       ("translate", "print each audio file's speech translated into English")):
        add(name, what).add_argument("files", nargs="+", metavar="FILE")
    ask = add("ask", "each audio file is one spoken turn of one conversation; stream the answers")
    ask.add_argument("files", nargs="+", metavar="FILE")
    ask.add_argument("--translate", action="store_true", help="turn the speech into English via /audio/translations")
    run = add("run", "the push-to-talk daemon (the default command)")
    chat = add("chat", "typed turns: one per stdin line, or an interactive prompt on a terminal")
    for answering in (ask, chat):
        answering.add_argument("--schema", metavar="FILE",
                               help="the reply must be JSON matching this JSON Schema (structured outputs); "
                                    "a reply that does not is reported, exit 3")
    for resumable in (ask, run, chat):
        resumable.add_argument("--continue", dest="resume", action="store_true",
                               help="carry on the latest conversation in the log")
        resumable.add_argument("--conversation", metavar="ID", help="carry on this conversation from the log")
    run.add_argument("--hotkey", metavar="COMBO", help="the one binding to use, e.g. ctrl+alt+space or f9")
    run.add_argument("--mode", choices=RECORDING_NAMES, help="what that binding does (default ask)")
    run.add_argument("--toggle", action="store_true", help="press to start, press again to stop")
    run.add_argument("--no-hotkeys", action="store_true",
                     help="no global hotkeys: drive it with `voicebot toggle` (Wayland, desktop shortcuts)")
    run.add_argument("--hands-free", action="store_true",
                     help="start listening hands-free: each utterance is a turn (the converse key, Esc or "
                          "`voicebot converse` ends it)")
    memos = add("memos", "voice memos in bulk: each audio file (folders searched) transcribed and turned into "
                         "a title, summary and action items, as Markdown and JSON beside it or in --out")
    memos.add_argument("paths", nargs="+", metavar="PATH")
    memos.add_argument("--batch", action="store_true",
                       help="through Groq's Batch API: cheaper, done within the completion window")
    memos.add_argument("--out", metavar="DIR", help="write the memos here instead of beside their audio")
    memos.add_argument("--window", metavar="DURATION", default="24h",
                       help="--batch: the completion window, 24h to 7d (default 24h)")
    memos.add_argument("--poll-seconds", dest="poll_seconds", type=float, default=10.0, metavar="S",
                       help="--batch: the first wait between looks at the batch, doubling up to 60 s (default 10)")
    batch = add("batch", "Groq batches: list them, show or cancel one, or print its results by custom_id")
    batch.add_argument("action", choices=("list", "show", "cancel", "results"))
    batch.add_argument("id", nargs="?", metavar="ID", help="the batch (see `voicebot batch list`)")
    batch.add_argument("--out", metavar="DIR", help="results: also keep the raw output and error files in DIR")
    files = add("files", "files stored for batches: list, show, download or delete one")
    files.add_argument("action", choices=("list", "show", "download", "delete"))
    files.add_argument("id", nargs="?", metavar="ID", help="the file (see `voicebot files list`)")
    files.add_argument("-o", "--out", metavar="PATH", help="download: write the file to PATH (default stdout)")
    add("devices", "list audio input devices (the default is marked)")
    add("models", "list the models the API offers")
    add("config", "show the effective settings and where each came from")
    add("pending", "list the recordings kept because they were not transcribed")
    retry = add("retry", "send kept recordings again in their own mode; each is removed once transcribed")
    retry.add_argument("ids", nargs="*", metavar="ID", help="takes to send (see `voicebot pending`)")
    retry.add_argument("--all", action="store_true", help="send every pending take, oldest first")
    history = add("history", "the latest turns from the conversation log, newest last")
    history.add_argument("-n", dest="count", type=int, default=20, metavar="N", help="how many turns (default 20)")
    history.add_argument("--search", metavar="TEXT", help="only turns whose transcript or reply has these words")
    actions = history.add_subparsers(dest="history_command", metavar="ACTION", parser_class=_Parser)
    show = actions.add_parser("show", help="one conversation whole", description="one conversation whole",
                           parents=[common])
    show.add_argument("conversation_id", metavar="CONVERSATION")
    again = actions.add_parser("retranscribe", parents=[common], help="transcribe a turn's kept audio again "
                            "(keep_audio) and record the new text",
                            description="transcribe a turn's kept audio again and record the new text; "
                                        "--stt-model picks the model")
    again.add_argument("turn", metavar="TURN")
    key = add("key", 'keep the API key in the system keyring (service "voicebot"); it is never printed')
    key.add_argument("action", choices=("set", "delete", "status"),
                     help="set: prompt for the key (or read one line of stdin); delete; "
                          "status: where the key comes from")
    key.add_argument("--stt", action="store_true",
                     help="the speech server's own key (stt_api_key) rather than the Groq key")
    # The control verbs talk to a running daemon. cli.py answers their usual forms without
    # this parser (fast); it is here for --help, the command list and anything unusual.
    control = _Parser(add_help=False, argument_default=argparse.SUPPRESS)
    control.add_argument("--mode", metavar="MODE", help="mode of the take, e.g. ask, dictate, translate")
    control.add_argument("--json", action="store_true", help="print the daemon's reply as one JSON line")
    for name in COMMANDS:
        what = COMMAND_HELP[name]
        sub.add_parser(name, help=what, description=what[0].upper() + what[1:] + ".", parents=[control])
    return parser


def _split_args(ns: argparse.Namespace) -> tuple[dict[str, Any], dict[str, Any]]:
    """(setting flags the user gave, everything else)."""
    given = vars(ns)
    flags = {k: v for k, v in given.items() if k in FIELDS}
    return flags, {k: v for k, v in given.items() if k not in FIELDS}


def _setup_logging(debug: bool, secret: Redaction) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_LineFormatter(debug, secret))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if debug else logging.WARNING)
    if debug:  # our own detail, not every byte httpcore moves
        for noisy in ("httpcore", "hpack", "asyncio"):
            logging.getLogger(noisy).setLevel(logging.INFO)


class _LineFormatter(logging.Formatter):
    """`voicebot: <level>: ...` lines; tracebacks only under --debug; the key masked in all of it.

    Masking the formatted text (not just the message) also covers exception text and
    tracebacks: the last line of defence should anything ever carry the key.
    """

    def __init__(self, debug: bool, secret: Redaction) -> None:
        super().__init__("voicebot: %(levelname)s: %(name)s: %(message)s" if debug
                         else "voicebot: %(levelname)s: %(message)s")
        self.debug, self.secret = debug, secret

    def format(self, record: logging.LogRecord) -> str:
        record.levelname = record.levelname.lower()
        if not self.debug:  # one line: what went wrong, without the stack
            record = logging.makeLogRecord({**record.__dict__, "exc_info": None, "exc_text": None,
                                            "stack_info": None})
        return self.secret(super().format(record))


def main(args: list[str]) -> int:
    """Run a full command (not the control-socket ones); returns the exit code."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="replace")
    debug = "--debug" in args
    secret = Redaction()
    try:
        ns = build_parser().parse_args(args)
        flags, rest = _split_args(ns)
        command = rest.get("command") or "run"
        if command in COMMANDS:  # `voicebot --json status` and other forms cli.py left to the parser
            if flags:
                raise UsageError(f"`voicebot {command}` takes only --mode and --json; "
                                 "settings belong to `voicebot run`")
            return run_client(command, rest.get("mode"), as_json=bool(rest.get("json")))
        settings, warnings = _load(flags, rest, command)
        secret = Redaction.of(settings.api_key, settings.stt_api_key, settings.stt_fallback_api_key)
        _setup_logging(debug, secret)
        warn(warnings)
        return run_command(command, settings, rest)
    except KeyboardInterrupt:
        sys.stderr.write("voicebot: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # `voicebot ... | head`: cli.main stops quietly
        raise
    except VoicebotError as exc:  # machine readers (--json) get the failure as an event too
        return report_error(secret(str(exc)), exc.exit_code, json_mode="--json" in args)
    except Exception as exc:  # a bug: say so in one line, details under --debug
        if debug:
            import traceback
            sys.stderr.write(secret(traceback.format_exc()))
        sys.stderr.write(f"voicebot: error: internal error: {type(exc).__name__}: "
                         f"{secret(str(exc))} (rerun with --debug for details)\n")
        return 1


def _load(flags: dict[str, Any], rest: dict[str, Any], command: str) -> tuple[Settings, list[str]]:
    """The settings; for `voicebot config`, a config file it cannot use is reported, not fatal.

    `voicebot config` is where a user looks when the file is wrong (the error for an unknown
    key points there), so it lists what applies without the file, then fails with the
    file's error (see setup_commands.config).
    """
    from voicebot.config.keystore import get_key, get_stt_key  # light: keyring itself loads only if consulted
    try:
        return load_settings(flags, os.environ, config_path=rest.get("config"), keyring_key=get_key,
                             keyring_stt_key=get_stt_key)
    except UsageError as exc:
        if command != "config":
            raise
        rest["config_error"] = exc
        # An empty file in the bad one's place; a bad flag or variable still fails here.
        return load_settings(flags, os.environ, config_path=os.devnull, keyring_key=get_key,
                             keyring_stt_key=get_stt_key)


def run_command(command: str, settings: Settings, rest: Mapping[str, Any]) -> int:
    """Dispatch to a command; each returns an exit code."""
    from voicebot.cli import (
        batch_commands,
        commands,
        memos_command,
        setup_commands,  # the part that pulls in httpx/numpy
    )
    handlers: dict[str, Callable[[Settings, Mapping[str, Any]], Coroutine[Any, Any, int]]] = {
        "transcribe": commands.transcribe, "translate": commands.translate, "ask": commands.ask,
        "models": setup_commands.models, "config": setup_commands.config,
        "run": commands.run, "devices": setup_commands.devices,
        "pending": commands.pending, "retry": commands.retry, "history": commands.history,
        "batch": batch_commands.batch, "files": batch_commands.files_command, "memos": memos_command.memos,
    }
    if command == "chat":  # its own loop runner: input() waits between turns
        return commands.chat_sync(settings, rest)
    if command == "key":  # no event loop: it may wait at a no-echo prompt
        return setup_commands.key(settings, rest)
    if command not in handlers:
        raise UsageError(f"unknown command {command!r}")
    return asyncio.run(handlers[command](settings, rest)) or EXIT_OK

