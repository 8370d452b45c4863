"""The command line's grammar: the settings flags from the schema, and each command's own.

The commands themselves declare their arguments (a dataclass each, see `arguments`) beside
their handlers; this module puts them together into one parser and answers "which command,
with which arguments and which settings flags". Bare `voicebot` is `voicebot run`, so the
daemon's flags work without the word (`voicebot --no-hotkeys`, as `scripts/dev run
--no-hotkeys` passes them).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from voicebot import __version__
from voicebot.cli.arguments import Args, Command, Parser, add_arguments, flag_names, option
from voicebot.config.loading import parse_text
from voicebot.config.schema import FIELDS, kind_of
from voicebot.control.client import COMMAND_HELP, COMMANDS
from voicebot.errors import UsageError

CHOSEN = "voicebot command"  # the namespace key of the command chosen (a name no flag can have)


@dataclass(frozen=True, kw_only=True)
class ControlArgs(Args):
    """`voicebot toggle|start|stop|...`: answered by the control socket's client, without the settings."""

    mode: str | None = option("--mode", metavar="MODE", help="mode of the take, e.g. ask, dictate, translate")


@dataclass(frozen=True)
class Parsed:
    """A command line understood: the command, its arguments' values and the settings flags given."""

    command: Command[Any]
    values: dict[str, Any]
    settings: dict[str, Any]


def _flag_type(name: str) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse_text(name, text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    convert.__name__ = kind_of(name).__name__
    return convert


def _common_options() -> Parser:
    """Options every command takes: --config, --json, --debug and the settings (from the Settings schema)."""
    common = Parser(add_help=False)
    add_arguments(common, Args, inherited=True)
    common.add_argument("--no-color", dest="color", action="store_const", const="never", default=argparse.SUPPRESS,
                        help="no colours")
    group = common.add_argument_group("settings (also VOICEBOT_<NAME> variables and config-file keys)")
    for name, fld in FIELDS.items():
        meta = fld.metadata
        flag = meta["flag"]
        if not flag or name == "color":
            continue
        kind = kind_of(name)
        extra: dict[str, Any] = {"dest": name, "help": meta["help"], "default": argparse.SUPPRESS}
        if kind is bool:  # `--no-x` turns off a setting that is on by default
            group.add_argument(flag, action="store_false" if flag.startswith("--no-") else "store_true", **extra)
        elif kind is list:
            group.add_argument(flag, action="append", metavar=meta["metavar"] or "TEXT", **extra)
        else:
            group.add_argument(flag, type=_flag_type(name), choices=meta["choices"],
                               metavar=meta["metavar"] or (None if meta["choices"] else kind.__name__.upper()),
                               **extra)
    group.add_argument("--color", dest="color", choices=("auto", "always", "never"), default=argparse.SUPPRESS,
                       help=FIELDS["color"].metadata["help"])
    return common


def commands() -> tuple[Command[Any], ...]:
    """Every command, in the order `voicebot --help` lists them; the default one (run) first of all."""
    from voicebot.cli import batch_commands, history, memos_command, setup_commands
    from voicebot.cli import commands as talk

    control = tuple(Command(name, COMMAND_HELP[name], ControlArgs, None) for name in COMMANDS)
    return (*talk.COMMANDS, *history.COMMANDS, *memos_command.COMMANDS, *batch_commands.COMMANDS,
            *setup_commands.COMMANDS, *control)


def build_parser() -> Parser:
    """The whole parser; each (sub)command's parser records which `Command` it is under CHOSEN."""
    common = _common_options()
    every = commands()
    default = next(c for c in every if c.name == "run")
    parser = Parser(prog="voicebot", parents=[common],
                    description="Push-to-talk voice assistant on Groq: speak, and the answer streams here.")
    parser.add_argument("--version", action="version", version=f"voicebot {__version__}")
    add_arguments(parser.add_argument_group("the daemon's options (bare `voicebot` is `voicebot run`)"), default.args)
    parser.set_defaults(**{CHOSEN: default})
    sub = parser.add_subparsers(metavar="COMMAND", parser_class=Parser)
    control = Parser(add_help=False)
    add_arguments(control, ControlArgs)
    control.add_argument("--json", action="store_true", default=argparse.SUPPRESS,
                         help="print the daemon's reply as one JSON line")
    for command in every:
        _add(sub, command, [control] if command.handler is None else [common])
    return parser


def _add(sub: argparse._SubParsersAction[Parser], command: Command[Any], parents: list[Parser]) -> None:
    description = command.description or (command.help[0].upper() + command.help[1:] + "."
                                           if command.handler is None else command.help)
    parser = sub.add_parser(command.name, help=command.help, description=description, parents=parents)
    if command.handler is not None:
        add_arguments(parser, command.args)
    parser.set_defaults(**{CHOSEN: command})
    if command.actions:
        actions = parser.add_subparsers(metavar="ACTION", parser_class=Parser)
        for action in command.actions:
            _add(actions, action, parents)


def parse(argv: Sequence[str]) -> Parsed:
    """The command line's meaning; a flag of another command (`voicebot --hotkey f9 config`) is exit 2."""
    values = vars(build_parser().parse_args(list(argv)))
    command: Command[Any] = values.pop(CHOSEN)
    settings = {k: v for k, v in values.items() if k in FIELDS}
    own = {k: v for k, v in values.items() if k not in FIELDS}
    stray = sorted(set(own) - set(flag_names(command.args)))
    if stray:
        known = {name: flag for c in commands() for a in (c, *c.actions) for name, flag in flag_names(a.args).items()}
        flag = known.get(stray[0], stray[0])
        raise UsageError(f"{flag} is not an option of `voicebot {_path(command)}`",
                         hint=f"see `voicebot {_path(command)} --help`")
    return Parsed(command, own, settings)


def _path(command: Command[Any]) -> str:
    for parent in commands():
        if command in parent.actions:
            return f"{parent.name} {command.name}"
    return command.name
