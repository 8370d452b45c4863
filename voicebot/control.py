"""Control socket: wire protocol, socket location and the tiny `voicebot toggle|...` client.

pynput cannot see global keys on Wayland, so a desktop shortcut bound to `voicebot
toggle` reaches the daemon through a Unix socket instead. That client runs on every key
press, so this module imports only the standard library's light parts (no asyncio,
numpy, httpx, sounddevice or pynput); the asyncio server is in `voicebot.control_server`.

Protocol: one request per connection, one line of JSON (`{"cmd": "toggle", "mode":
"ask"}`) of at most `MAX_REQUEST_BYTES` including its newline, answered by one line
`{"ok": true, ...}` or `{"ok": false, "error": "..."}`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import socket
import struct
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from voicebot.errors import EXIT_INTERRUPTED, EXIT_OK, UsageError, VoicebotError

ENV_SOCKET = "VOICEBOT_CONTROL_SOCKET"
SOCKET_NAME = "control.sock"
MAX_REQUEST_BYTES = 4096  # one request line, newline included
MAX_REPLY_BYTES = 65536
READ_DEADLINE = 2.0  # seconds a client may take to send its request
COMMANDS = ("toggle", "start", "stop", "cancel", "new", "status", "ping")
CLIENT_COMMANDS = COMMANDS  # what `client_main` accepts as its first word
NO_DAEMON = "no voicebot daemon is running (start one with `voicebot run`)"
_MODE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_UCRED = struct.Struct("iII")  # struct ucred: pid_t pid; uid_t uid; gid_t gid


class ProtocolError(ValueError):
    """A request or reply that breaks the wire format; its text is safe to send back."""


@dataclass(frozen=True)
class Command:
    """One validated request: the daemon's handler never sees a malformed one."""

    name: str
    mode: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or self.name not in COMMANDS:
            shown = self.name if isinstance(self.name, str) else type(self.name).__name__
            raise ProtocolError(f"unknown command {shown[:40]!r} (expected one of: {', '.join(COMMANDS)})")
        if self.mode is not None and not (isinstance(self.mode, str) and _MODE.fullmatch(self.mode)):
            raise ProtocolError("mode must be a short lower-case name such as 'ask'")


# --- wire format -------------------------------------------------------------------------


def encode_request(cmd: Command) -> bytes:
    """The request line for `cmd`; `mode` is left out when unset."""
    body: dict[str, str] = {"cmd": cmd.name}
    if cmd.mode is not None:
        body["mode"] = cmd.mode
    return json.dumps(body, separators=(",", ":")).encode("ascii") + b"\n"


def _load_json(data: bytes, what: str) -> Any:
    try:
        return json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise ProtocolError(f"{what} is not UTF-8") from None
    except (ValueError, RecursionError):  # JSONDecodeError is a ValueError; nesting bombs recurse
        raise ProtocolError(f"{what} is not a line of valid JSON") from None


def decode_request(line: bytes) -> Command:
    """Parse one request line (with or without its newline) into a `Command`."""
    if len(line) > MAX_REQUEST_BYTES:
        raise ProtocolError(f"request too large (limit {MAX_REQUEST_BYTES} bytes)")
    body = _load_json(line.rstrip(b"\r\n"), "request")
    if not isinstance(body, dict):
        raise ProtocolError('request must be a JSON object such as {"cmd": "toggle"}')
    extra = sorted(set(body) - {"cmd", "mode"})
    if extra:
        raise ProtocolError(f"unknown request field {extra[0][:40]!r}")
    if "cmd" not in body:
        raise ProtocolError('request has no "cmd"')
    return Command(body["cmd"], body.get("mode"))


def encode_reply(reply: Mapping[str, Any]) -> bytes:
    """One ASCII line; raises TypeError/ValueError for data JSON cannot carry."""
    data = json.dumps(dict(reply), separators=(",", ":"), allow_nan=False).encode("ascii") + b"\n"
    if len(data) > MAX_REPLY_BYTES:
        raise ValueError(f"reply too large ({len(data)} bytes)")
    return data


def decode_reply(data: bytes) -> dict[str, Any]:
    """The daemon's reply as a dict with a boolean `ok` (and a string `error` when not ok)."""
    body = _load_json(data.rstrip(b"\r\n"), "reply")
    if not isinstance(body, dict) or not isinstance(body.get("ok"), bool):
        raise ProtocolError('reply is not a JSON object with a boolean "ok"')
    if not body["ok"] and not isinstance(body.get("error"), str):
        raise ProtocolError('error reply has no "error" text')
    return body


def error_reply(message: str) -> dict[str, Any]:
    return {"ok": False, "error": message}


# --- location and trust ------------------------------------------------------------------


def socket_path(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Path:
    """Where the socket lives: argument, then $VOICEBOT_CONTROL_SOCKET, then the runtime dir.

    Without XDG_RUNTIME_DIR the fallback is a per-user directory in /tmp, which
    `private_files.ensure_private_dir` refuses to use if someone else got there first.
    """
    env = os.environ if env is None else env
    if path is not None and os.fspath(path):
        return Path(path)
    if env.get(ENV_SOCKET):
        return Path(env[ENV_SOCKET])
    if env.get("XDG_RUNTIME_DIR"):
        return Path(env["XDG_RUNTIME_DIR"]) / "voicebot" / SOCKET_NAME
    return Path("/tmp") / f"voicebot-{os.geteuid()}" / SOCKET_NAME


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end, from the kernel (SO_PEERCRED)."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _UCRED.size)
    pid, uid, gid = _UCRED.unpack(raw)
    return pid, uid, gid


def peer_allowed(peer_uid: int, own_uid: int | None = None) -> bool:
    """Only the daemon's own user may drive it (root included: no exceptions)."""
    return peer_uid == (os.geteuid() if own_uid is None else own_uid)


# --- client ------------------------------------------------------------------------------


def send_command(name: str, mode: str | None = None, *, path: str | os.PathLike[str] | None = None,
                 timeout: float = 2.0) -> dict[str, Any]:
    """Send one command to the daemon and return its reply (`ok` may be false).

    Raises UsageError when no daemon listens (exit 2) and VoicebotError (exit 1) when one
    does but does not answer properly within `timeout` seconds.
    """
    try:
        request = encode_request(Command(name, mode))
    except ProtocolError as exc:
        raise UsageError(str(exc)) from None
    target = socket_path(path)
    deadline = time.monotonic() + timeout
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        _connect(sock, target, timeout)
        _, uid, _ = peer_credentials(sock)
        if not peer_allowed(uid):
            raise UsageError(f"the control socket {target} is served by uid {uid}, not by you; "
                             "refusing to talk to it")
        try:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                sock.sendall(request)  # a refusal may come before the daemon reads: still read it
            data = _recv_line(sock, deadline)
        except TimeoutError:
            raise VoicebotError(f"the voicebot daemon did not answer within {timeout:g} s") from None
        except OSError as exc:
            raise VoicebotError(f"lost the connection to the voicebot daemon ({exc.strerror or exc})") from None
    if not data:
        raise VoicebotError("the voicebot daemon closed the connection without answering")
    try:
        return decode_reply(data)
    except ProtocolError as exc:
        raise VoicebotError(f"the voicebot daemon sent a malformed reply: {exc}") from None


def _connect(sock: socket.socket, target: Path, timeout: float) -> None:
    try:
        sock.connect(os.fspath(target))
    except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
        raise UsageError(NO_DAEMON) from None
    except PermissionError:
        raise UsageError(f"cannot open the control socket {target}: permission denied") from None
    except TimeoutError:
        raise VoicebotError(f"the voicebot daemon did not accept the connection within {timeout:g} s") from None
    except OSError as exc:  # e.g. path too long for AF_UNIX
        raise UsageError(f"cannot open the control socket {target}: {exc.strerror or exc}") from None


def _recv_line(sock: socket.socket, deadline: float) -> bytes:
    """Bytes up to the first newline (or EOF), all within the overall deadline."""
    buf = bytearray()
    while b"\n" not in buf and len(buf) <= MAX_REPLY_BYTES:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)
        chunk = sock.recv(8192)
        if not chunk:
            break
        buf += chunk
    return bytes(buf.split(b"\n", 1)[0])


def format_duration(seconds: float) -> str:
    """Uptime for people: `45s`, `2m 05s`, `1h 02m 03s`, `3d 04h 05m`."""
    total = max(0, int(seconds))
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours:02d}h {minutes:02d}m"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def _show(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (str, int, float)):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def format_reply(reply: Mapping[str, Any]) -> list[str]:
    """`key: value` lines of a successful reply, the well-known status keys first."""
    first = [key for key in ("state", "mode", "pid", "uptime") if key in reply]
    rest = sorted(key for key in reply if key not in first and key != "ok")
    lines = []
    for key in first + rest:
        value = reply[key]
        if key == "uptime" and isinstance(value, (int, float)) and not isinstance(value, bool):
            lines.append(f"uptime: {format_duration(value)}")
        else:
            lines.append(f"{key}: {_show(value)}")
    return lines


class _Parser(argparse.ArgumentParser):
    """Bad flags end in one `voicebot: error:` line and exit 2, like the main CLI."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def _parser(command: str) -> _Parser:
    parser = _Parser(prog=f"voicebot {command}",
                     description="Send one command to the running voicebot daemon.")
    parser.add_argument("--mode", metavar="MODE", help="mode for this turn, e.g. ask, dictate, translate")
    parser.add_argument("--json", action="store_true", help="print the daemon's reply as one JSON line")
    return parser


def _error(message: str) -> None:
    sys.stderr.write(f"voicebot: error: {' '.join(message.split())}\n")


def client_main(argv: list[str]) -> int:
    """`voicebot toggle|start|stop|cancel|new|status [--mode MODE] [--json]`: 0 ok, 2 usage, 1 refused."""
    if not argv or argv[0] not in CLIENT_COMMANDS:
        _error(f"expected one of: {', '.join(CLIENT_COMMANDS)}")
        return UsageError.exit_code
    command = argv[0]
    try:
        args = _parser(command).parse_args(argv[1:])
        reply = send_command(command, args.mode)
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    except VoicebotError as exc:
        _error(str(exc))
        return exc.exit_code
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    if args.json:
        print(json.dumps(reply, ensure_ascii=False), flush=True)
    if not reply["ok"]:
        _error(reply["error"])
        return VoicebotError.exit_code
    if not args.json:
        for line in format_reply(reply):
            print(line)
    return EXIT_OK
