"""The `voicebot` entry point: a light front door that Ctrl+C never turns into a traceback.

`voicebot toggle` (bound to a desktop shortcut) must start in milliseconds, so this
module imports nothing but the socket client, which answers the control verbs in their
common forms itself; everything else goes to `voicebot.cli.app`, which builds the parser and
the heavier parts.

Every other import happens inside `main`'s handler for KeyboardInterrupt: a Ctrl+C while the
modules load (the first tenth of a second or more) ends in exit 130 and one line, as one
later does, not in a traceback. Only the interpreter's own start-up, before this module
runs, is out of its reach.
"""

from __future__ import annotations

import sys

from voicebot.errors import EXIT_BROKEN_PIPE, EXIT_INTERRUPTED  # a few lines of constants, imports only sys

TYPE_CHECKING = False  # typing's own would import `typing`: a few ms on every `voicebot toggle`
if TYPE_CHECKING:
    from collections.abc import Sequence


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `voicebot` script and `python -m voicebot`."""
    try:
        return _main(list(sys.argv[1:] if argv is None else argv))
    except KeyboardInterrupt:  # Ctrl+C before a command's own handling began (or after it ended)
        sys.stderr.write("voicebot: interrupted\n")
        return EXIT_INTERRUPTED


def _main(args: list[str]) -> int:
    from voicebot.control import client as control

    try:
        try:
            code = control.client_main(args)
            if code is None:
                from voicebot.cli.app import main as app_main
                code = app_main(args)
        except SystemExit as exc:  # argparse's --help, --version and bad flags end this way
            if exc.code is not None and not isinstance(exc.code, int):
                raise
            code = exc.code or 0
        sys.stdout.flush()  # a reader that left shows up here, not as a failure at exit
    except BrokenPipeError:
        return reader_gone()
    return code


def reader_gone() -> int:
    """Stdout's reader went away (`voicebot config | head -1`): stop quietly.

    Nothing more can be shown, and it is no failure of ours, so no message and not the
    exit code of an API failure: 141, what a shell reports for a Unix tool that SIGPIPE
    stopped. Stdout is pointed at /dev/null so the interpreter's last flush cannot fail
    again (see "Note on SIGPIPE" in Python's signal documentation).
    """
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no usable stdout descriptor at all: nothing to protect
        pass
    return EXIT_BROKEN_PIPE


if __name__ == "__main__":
    raise SystemExit(main())
