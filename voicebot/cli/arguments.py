"""Typed command-line arguments: each command declares its own, beside its handler.

A command's arguments are a frozen dataclass whose fields carry their flag and help
(`option`, `switch`, `positional`); its subparser is built from those fields and its
handler receives an instance, so every argument a handler reads is checked by mypy, and a
flag cannot exist without the field that holds it (nor the other way round).

Light on purpose (argparse and dataclasses only): the parser is built for every command.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field, fields
from typing import TYPE_CHECKING, Any, Generic, NoReturn, TypeVar

from voicebot.errors import EXIT_USAGE, UsageError

if TYPE_CHECKING:
    from voicebot.config.schema import Settings


class Parser(argparse.ArgumentParser):
    """argparse that ends in one line on stderr and exit 2, not a usage dump (every command's parser).

    No abbreviations: `--mode` must never be taken for `--model` (`voicebot --mode translate
    config` once set the chat model to "translate").
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **{"allow_abbrev": False, **kwargs})

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"voicebot: error: {message} (see `{self.prog} --help`)\n")
        raise SystemExit(EXIT_USAGE)


# --------------------------------------------------------------------------- declaring arguments


def option(*flags: str, help: str, default: Any = None, **argparse_options: Any) -> Any:
    """A field set by a flag that takes a value (`--search TEXT`); argparse's own options pass through."""
    return field(default=default, metadata={"flags": flags, "help": help, "argparse": argparse_options})


def switch(*flags: str, help: str) -> Any:
    """A boolean field that a flag turns on (`--all`)."""
    return field(default=False, metadata={"flags": flags, "help": help, "argparse": {"action": "store_true"}})


def positional(metavar: str | None = None, *, help: str | None = None, nargs: str | None = None,
               **argparse_options: Any) -> Any:
    """A field filled by words on the command line; `nargs="*"` makes it an optional list, `"?"` optional."""
    extra: dict[str, Any] = {**({"metavar": metavar} if metavar else {}), **({"nargs": nargs} if nargs else {}),
                             **argparse_options}
    if nargs == "*":
        return field(default_factory=list, metadata={"flags": (), "help": help, "argparse": extra})
    if nargs == "?":
        return field(default=None, metadata={"flags": (), "help": help, "argparse": extra})
    return field(metadata={"flags": (), "help": help, "argparse": extra})


@dataclass(frozen=True, kw_only=True)
class Args:
    """What every command takes besides the settings flags: --config, --json and --debug."""

    config: str | None = option("--config", metavar="PATH",
                                help="config file (default $XDG_CONFIG_HOME/voicebot/config.toml)")
    json: bool = switch("--json", help="JSON Lines events on stdout")
    debug: bool = switch("--debug", help="debug logging and tracebacks on stderr")


A = TypeVar("A", bound=Args)


def add_arguments(parser: argparse.ArgumentParser | argparse._ArgumentGroup, args: type[Args], *,
                  inherited: bool = False) -> None:
    """Give `parser` the flags and words of `args`'s fields (those of `Args` itself only if `inherited`).

    Nothing is given a default here: a flag left out leaves its name out of the namespace,
    and the dataclass's own default applies (one place for each default).
    """
    common = set() if inherited else {f.name for f in fields(Args)}
    for f in fields(args):
        if f.name in common or "flags" not in f.metadata:
            continue
        meta = f.metadata
        options = {"help": meta["help"], "default": argparse.SUPPRESS, **meta["argparse"]}
        if meta["flags"]:
            parser.add_argument(*meta["flags"], dest=f.name, **options)
        else:
            parser.add_argument(f.name, **options)


def flag_names(args: type[Args]) -> dict[str, str]:
    """Each field's flag as a user writes it (`no_hotkeys` -> `--no-hotkeys`), for error messages."""
    return {f.name: (f.metadata["flags"] or (f.metadata["argparse"].get("metavar", f.name),))[0]
            for f in fields(args) if "flags" in f.metadata}


def from_values(args: type[A], values: Mapping[str, Any]) -> A:
    """An instance of `args` from the parsed values of its fields (the others are the caller's)."""
    names = {f.name for f in fields(args)}
    return args(**{name: value for name, value in values.items() if name in names})


# --------------------------------------------------------------------------- the commands


Result = Coroutine[Any, Any, int] | int  # a handler's exit code, or the coroutine that returns it


@dataclass(frozen=True)
class Command(Generic[A]):
    """One `voicebot NAME`: its arguments and the handler that receives them with the settings.

    `actions` are its own subcommands (`voicebot history show ...`). No handler: a control
    verb, which the socket client answers without the settings. `on_bad_config` is for a
    command that still runs when the config file cannot be used (`voicebot config` shows what
    applies without it): it is handed the file's error with the arguments.
    """

    name: str
    help: str
    args: type[A]
    handler: Callable[[Settings, A], Result] | None
    actions: tuple[Command[Any], ...] = ()
    on_bad_config: Callable[[A, UsageError], A] | None = None
    description: str | None = None  # for `voicebot NAME --help`, when it says more than `help`

    def bind(self, values: Mapping[str, Any]) -> A:
        """The arguments, typed, from the parsed values of their fields."""
        return from_values(self.args, values)
