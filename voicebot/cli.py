"""The `voicebot` entry point: a light front door.

`voicebot toggle` (bound to a desktop shortcut) must start in milliseconds, so this
module imports nothing but the socket client for the control commands; every other
command goes to `voicebot.app`, which builds the parser and the heavier parts.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

CONTROL_COMMANDS = ("toggle", "start", "stop", "cancel", "new", "status", "ping")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `voicebot` script and `python -m voicebot`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] in CONTROL_COMMANDS:
        from voicebot.control import client_main
        return client_main(args)
    from voicebot.app import main as app_main
    return app_main(args)


if __name__ == "__main__":
    raise SystemExit(main())
