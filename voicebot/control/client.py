"""Control socket: wire protocol, socket location and the tiny `voicebot toggle|...` client.

pynput cannot see global keys on Wayland, so a desktop shortcut bound to `voicebot
toggle` reaches the daemon through a Unix socket instead. That client runs on every key
press, so this module imports only the standard library's light parts (no asyncio,
numpy, httpx, sounddevice or pynput); the asyncio server is in `voicebot.control.server`.

Protocol: one request per connection, one line of JSON (`{"cmd": "toggle", "mode":
"ask"}`) of at most `MAX_REQUEST_BYTES` including its newline, answered by one line
`{"ok": true, ...}` or `{"ok": false, "error": "..."}`.
"""

from __future__ import annotations

import _socket  # `socket` itself would add ~4 ms to every toggle (selectors, its enum tables); see send_command
import json
import os
import re
import sys
import time
from collections import namedtuple

from voicebot.errors import EXIT_API, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE, UsageError, VoicebotError, report_error

TYPE_CHECKING = False  # typing's own would import `typing`: a few ms on every `voicebot toggle`
if TYPE_CHECKING:  # for annotations only, so no toggle pays for `typing` or `pathlib`
    from collections.abc import Mapping, Sequence
    from pathlib import Path
    from typing import Any

ENV_SOCKET = "VOICEBOT_CONTROL_SOCKET"
SOCKET_NAME = "control.sock"
MAX_REQUEST_BYTES = 4096  # one request line, newline included
MAX_REPLY_BYTES = 65536
READ_DEADLINE = 2.0  # seconds a client may take to send its request
# The one list of control verbs: the wire protocol, the fast client path in cli.py and the
# full parser in app.py (help, "invalid choice") all read it.
COMMANDS = ("toggle", "start", "stop", "cancel", "new", "converse", "status", "ping")
COMMAND_HELP = {
    "toggle": "tell the running daemon to start a take, or to stop it and send it (for desktop shortcuts)",
    "start": "tell the running daemon to start a take (if none is running)",
    "stop": "tell the running daemon to stop the take and send it",
    "cancel": "tell the running daemon to drop the take, or to stop the answer",
    "new": "tell the running daemon to start a new conversation",
    "converse": "tell the running daemon to start listening hands-free, or to stop",
    "status": "show the running daemon's state, mode, pid and uptime",
    "ping": "check that a daemon is running (shows its pid)",
}
NO_DAEMON = "no voicebot daemon is running (start one with `voicebot run`)"
_MODE = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_UCRED_SIZE = 12  # struct ucred: pid_t pid; uid_t uid; gid_t gid, 4 bytes each


class ProtocolError(ValueError):
    """A request or reply that breaks the wire format; its text is safe to send back."""


class Command(namedtuple("Command", ["name", "mode"], defaults=[None])):
    """One validated request: the daemon's handler never sees a malformed one.

    A named tuple rather than a dataclass: `dataclasses` pulls in `inspect`, which
    would double the start-up time of `voicebot toggle`.
    """

    __slots__ = ()
    name: str
    mode: str | None

    def __new__(cls, name: str, mode: str | None = None) -> Command:
        if not isinstance(name, str) or name not in COMMANDS:
            shown = name if isinstance(name, str) else type(name).__name__
            raise ProtocolError(f"unknown command {shown[:40]!r} (expected one of: {', '.join(COMMANDS)})")
        if mode is not None and not (isinstance(mode, str) and _MODE.fullmatch(mode)):
            raise ProtocolError("mode must be a short lower-case name such as 'ask'")
        return super().__new__(cls, name, mode)


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


def error_reply(message: str, exit_code: int | None = None) -> dict[str, Any]:
    """A refusal; `exit_code` (1 or 2, as errors.py defines them) is what `voicebot <command>` exits with."""
    reply: dict[str, Any] = {"ok": False, "error": message}
    if exit_code is not None:
        reply["exit_code"] = exit_code
    return reply


def reply_exit_code(reply: Mapping[str, Any]) -> int:
    """The exit code a refusal asks for: 2 for a usage problem (no microphone, unknown mode), else 1."""
    return EXIT_USAGE if reply.get("exit_code") == EXIT_USAGE else EXIT_API


# --- location and trust ------------------------------------------------------------------


def socket_path(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> Path:
    """Where the socket lives: argument, then $VOICEBOT_CONTROL_SOCKET, then the runtime dir.

    Without XDG_RUNTIME_DIR the fallback is a per-user directory in /tmp, which
    `private_files.ensure_private_dir` refuses to use if someone else got there first.
    """
    from pathlib import Path  # the client only needs the string (`_socket_location`)

    return Path(_socket_location(path, env))


def _socket_location(path: str | os.PathLike[str] | None = None, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    if path is not None and os.fspath(path):
        return os.fspath(path)
    if env.get(ENV_SOCKET):
        return env[ENV_SOCKET]
    if env.get("XDG_RUNTIME_DIR"):
        return f"{env['XDG_RUNTIME_DIR'].rstrip('/')}/voicebot/{SOCKET_NAME}"
    return f"/tmp/voicebot-{os.geteuid()}/{SOCKET_NAME}"


def peer_credentials(sock: Any) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a Unix socket, from the kernel (SO_PEERCRED)."""
    raw = sock.getsockopt(_socket.SOL_SOCKET, _socket.SO_PEERCRED, _UCRED_SIZE)
    pid, uid, gid = (int.from_bytes(raw[i:i + 4], sys.byteorder, signed=i == 0) for i in (0, 4, 8))
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
    target = _socket_location(path)
    deadline = time.monotonic() + timeout
    # The C-level socket object: connect/sendall/recv/settimeout as `socket.socket` has them,
    # and the same OSError subclasses, without the `socket` module's import time.
    sock = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        _connect(sock, target, timeout)
        _, uid, _ = peer_credentials(sock)
        if not peer_allowed(uid):
            raise UsageError(f"the control socket {target} is served by uid {uid}, not by you; "
                             "refusing to talk to it")
        try:
            try:
                sock.sendall(request)
            except (BrokenPipeError, ConnectionResetError):
                pass  # a refusal may come before the daemon reads: still read it
            data = _recv_line(sock, deadline)
        except TimeoutError:
            raise VoicebotError(f"the voicebot daemon did not answer within {timeout:g} s") from None
        except OSError as exc:
            raise VoicebotError(f"lost the connection to the voicebot daemon ({exc.strerror or exc})") from None
    finally:
        sock.close()
    if not data:
        raise VoicebotError("the voicebot daemon closed the connection without answering")
    try:
        return decode_reply(data)
    except ProtocolError as exc:
        raise VoicebotError(f"the voicebot daemon sent a malformed reply: {exc}") from None


def _connect(sock: _socket.socket, target: str, timeout: float) -> None:
    try:
        sock.connect(target)
    except (FileNotFoundError, ConnectionRefusedError, NotADirectoryError):
        raise UsageError(NO_DAEMON) from None
    except PermissionError:
        raise UsageError(f"cannot open the control socket {target}: permission denied") from None
    except TimeoutError:
        raise VoicebotError(f"the voicebot daemon did not accept the connection within {timeout:g} s") from None
    except OSError as exc:  # e.g. path too long for AF_UNIX
        raise UsageError(f"cannot open the control socket {target}: {exc.strerror or exc}") from None


def _recv_line(sock: _socket.socket, deadline: float) -> bytes:
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


def client_args(argv: Sequence[str]) -> tuple[str, str | None, bool] | None:
    """(command, mode, json) for the forms a desktop shortcut uses: `VERB [--mode MODE] [--json]`.

    None for anything else (--help, a typo, options before the verb): the full parser in
    `voicebot.cli.app`, which knows these verbs too, then explains or refuses it. Parsing the
    common forms here keeps argparse (and its gettext, shutil, …) off every key press.
    """
    if not argv or argv[0] not in COMMANDS:
        return None
    mode: str | None = None
    as_json = False
    rest = list(argv[1:])
    while rest:
        arg = rest.pop(0)
        if arg == "--json":
            as_json = True
        elif arg == "--mode" and rest and not rest[0].startswith("-"):
            mode = rest.pop(0)
        elif arg.startswith("--mode="):
            mode = arg.partition("=")[2]
        else:
            return None
    return argv[0], mode, as_json


def run_client(command: str, mode: str | None = None, *, as_json: bool = False,
               path: str | os.PathLike[str] | None = None) -> int:
    """`voicebot toggle|start|stop|cancel|new|status|ping`: send it, show the reply.

    Exit 0 when the daemon did it; 2 when there is no daemon or the request is a usage
    problem (bad mode, no microphone); 1 when the daemon refused or did not answer. With
    --json the reply is one event named for the command (`{"type": "status", "ok": true,
    "state": ...}`), and a failure, whoever found it, the `error` event every command prints.
    """
    try:
        reply = send_command(command, mode, path=path)
    except VoicebotError as exc:
        return report_error(str(exc), exc.exit_code, json_mode=as_json)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    if not reply["ok"]:
        return report_error(reply["error"], reply_exit_code(reply), json_mode=as_json)
    if as_json:
        print(json.dumps({"type": command, **reply}, ensure_ascii=False), flush=True)
    else:
        for line in format_reply(reply):
            print(line)
    return EXIT_OK


def client_main(argv: Sequence[str]) -> int | None:
    """The fast path of `voicebot VERB ...`: its exit code, or None when `argv` is for the full parser."""
    parsed = client_args(argv)
    if parsed is None:
        return None
    command, mode, as_json = parsed
    return run_client(command, mode, as_json=as_json)
