"""The full command line: settings loaded, logging set up, a command run, errors to exit codes.

It owns no logic of its own: the grammar is `parser`, each command's arguments and handler
live together in the command modules. Heavy modules (numpy, httpx, sounddevice, pynput) are
imported inside the commands that need them.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from typing import Any

from voicebot.cli.arguments import Args, Command
from voicebot.cli.parser import ControlArgs, parse
from voicebot.config.loading import load_settings, warn
from voicebot.config.schema import Settings
from voicebot.control.client import run_client
from voicebot.errors import EXIT_INTERRUPTED, EXIT_OK, UsageError, VoicebotError, report_error
from voicebot.redaction import Redaction


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
        parsed = parse(args)
        command = parsed.command
        if command.handler is None:  # a control verb in a form cli.py left to the parser (`voicebot --json status`)
            if parsed.settings:
                raise UsageError(f"`voicebot {command.name}` takes only --mode and --json; "
                                 "settings belong to `voicebot run`")
            verb: ControlArgs = command.bind(parsed.values)
            return run_client(command.name, verb.mode, as_json=verb.json)
        settings, warnings, given = _load(parsed.settings, command, command.bind(parsed.values))
        secret = Redaction.of(settings.api_key, settings.stt_api_key, settings.stt_fallback_api_key)
        _setup_logging(debug, secret)
        warn(warnings)
        return run_command(command, settings, given)
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


def _load(flags: dict[str, Any], command: Command[Any], args: Args) -> tuple[Settings, list[str], Args]:
    """The settings, and the arguments; for a command that shows a bad config file, not fatal.

    `voicebot config` is where a user looks when the file is wrong (the error for an unknown
    key points there), so it lists what applies without the file, then fails with the
    file's error (see setup_commands.config).
    """
    from voicebot.config.keystore import get_key, get_stt_key  # light: keyring itself loads only if consulted
    try:
        settings, warnings = load_settings(flags, os.environ, config_path=args.config, keyring_key=get_key,
                                           keyring_stt_key=get_stt_key)
        return settings, warnings, args
    except UsageError as exc:
        if command.on_bad_config is None:
            raise
        # An empty file in the bad one's place; a bad flag or variable still fails here.
        settings, warnings = load_settings(flags, os.environ, config_path=os.devnull, keyring_key=get_key,
                                           keyring_stt_key=get_stt_key)
        return settings, warnings, command.on_bad_config(args, exc)


def run_command(command: Command[Any], settings: Settings, args: Args) -> int:
    """Run a command's handler; an async one on its own event loop. Its result is the exit code."""
    assert command.handler is not None
    result = command.handler(settings, args)
    return result if isinstance(result, int) else asyncio.run(result) or EXIT_OK
