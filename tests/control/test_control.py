"""Control socket: location and permissions, protocol, hostile clients, single instance, client CLI."""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voicebot.cli import main as cli
from voicebot.control.client import (
    COMMAND_HELP,
    COMMANDS,
    MAX_REQUEST_BYTES,
    NO_DAEMON,
    Command,
    ProtocolError,
    client_args,
    client_main,
    decode_reply,
    decode_request,
    encode_reply,
    encode_request,
    format_duration,
    format_reply,
    peer_allowed,
    peer_credentials,
    send_command,
    socket_path,
)
from voicebot.control.server import ControlServer, lock_path_for, serve_control
from voicebot.errors import UsageError, VoicebotError
from voicebot.private_files import ensure_private_dir

REPO = Path(__file__).resolve().parents[2]
HANG_GUARD = 20.0  # generous: only there so a bug fails the test instead of hanging it
NOBODY = 65534
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another user")


# --- helpers -----------------------------------------------------------------------------


class FakeDaemon:
    """The daemon's handler in miniature: a state machine that records what it was asked."""

    def __init__(self) -> None:
        self.calls: list[Command] = []
        self.state = "idle"

    async def __call__(self, cmd: Command) -> dict[str, Any]:
        self.calls.append(cmd)
        if cmd.mode == "refuse":
            raise UsageError("mode refused by the daemon")
        if cmd.mode == "busy":
            raise VoicebotError("the daemon cannot do that now")
        if cmd.mode == "crash":
            raise RuntimeError("secret internals gsk_notakey")
        if cmd.mode == "unsendable":
            return {"state": object()}
        if cmd.name == "toggle":
            self.state = "idle" if self.state == "recording" else "recording"
        elif cmd.name == "start":
            self.state = "recording"
        elif cmd.name in ("stop", "cancel"):
            self.state = "idle"
        if cmd.name == "status":
            return {"state": self.state, "mode": cmd.mode or "ask", "pid": os.getpid(), "uptime": 62.5}
        return {"state": self.state}


class LoopThread:
    """An event loop on a background thread, so blocking clients can talk to the server."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(HANG_GUARD)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(HANG_GUARD)
        self.loop.close()


class Served:
    def __init__(self, loop: LoopThread, base: Path) -> None:
        self.loop = loop
        self.base = base
        self.path = base / "run" / "control.sock"
        self.daemon = FakeDaemon()
        self.server: ControlServer | None = None

    def start(self, **kwargs: Any) -> ControlServer:
        self.server = self.loop.run(serve_control(self.daemon, path=self.path, **kwargs))
        return self.server

    def close(self) -> None:
        server = self.server
        if server is not None:
            async def shut() -> None:
                server.close()
                await server.wait_closed()
            self.loop.run(shut())
            self.server = None


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A short private base dir: AF_UNIX paths are limited to 107 bytes."""
    base = Path(tempfile.mkdtemp(prefix="vbc-"))
    yield base
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def loop_thread() -> Iterator[LoopThread]:
    lt = LoopThread()
    yield lt
    lt.stop()


@pytest.fixture
def served(loop_thread: LoopThread, short_dir: Path) -> Iterator[Served]:
    s = Served(loop_thread, short_dir)
    s.start()
    yield s
    s.close()


def raw_exchange(path: Path, data: bytes, *, eof: bool = True) -> bytes:
    """Send raw bytes, optionally half-close, and read everything the server sends back."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(HANG_GUARD)
        sock.connect(str(path))
        try:
            sock.sendall(data)
            if eof:
                sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may stop reading a huge request early
        out = bytearray()
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                return bytes(out)
            out += chunk
        return bytes(out)


def one_reply(raw: bytes) -> dict[str, Any]:
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1, raw
    return decode_reply(raw)


DAEMON_SCRIPT = """
import asyncio, sys
from voicebot.control.server import serve_control

async def handler(cmd):
    return {"state": "idle"}

async def main():
    server = await serve_control(handler, path=sys.argv[1])
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    server.close()

asyncio.run(main())
"""


def start_daemon_process(path: Path) -> subprocess.Popen[str]:
    """A real second process that owns the socket (and its lock) at `path`."""
    proc = subprocess.Popen([sys.executable, "-c", DAEMON_SCRIPT, str(path)], cwd=REPO,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                            env={**os.environ, "PYTHONPATH": str(REPO)})
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    return proc


# --- location and permissions ------------------------------------------------------------


def test_socket_path_precedence() -> None:
    env = {"VOICEBOT_CONTROL_SOCKET": "/e/c.sock", "XDG_RUNTIME_DIR": "/run/user/7"}
    assert socket_path("/a/c.sock", env) == Path("/a/c.sock")
    assert socket_path(None, env) == Path("/e/c.sock")
    assert socket_path(None, {"XDG_RUNTIME_DIR": "/run/user/7"}) == Path("/run/user/7/voicebot/control.sock")
    assert socket_path(None, {"XDG_RUNTIME_DIR": ""}) == Path(f"/tmp/voicebot-{os.geteuid()}/control.sock")
    assert socket_path(None, {}) == Path(f"/tmp/voicebot-{os.geteuid()}/control.sock")


def test_directory_0700_and_socket_0600_even_with_permissive_umask(loop_thread: LoopThread,
                                                                  short_dir: Path) -> None:
    served = Served(loop_thread, short_dir)
    old = os.umask(0)
    try:
        served.start()
    finally:
        os.umask(old)
    try:
        dir_info = os.lstat(served.path.parent)
        sock_info = os.lstat(served.path)
        assert stat.S_IMODE(dir_info.st_mode) == 0o700
        assert stat.S_ISSOCK(sock_info.st_mode)
        assert stat.S_IMODE(sock_info.st_mode) == 0o600
        assert stat.S_IMODE(os.lstat(lock_path_for(served.path)).st_mode) == 0o600
    finally:
        served.close()


@pytest.mark.parametrize("mode", [0o750, 0o705, 0o770, 0o701])
def test_directory_open_to_others_is_refused(short_dir: Path, mode: int) -> None:
    directory = short_dir / "run"
    directory.mkdir()
    directory.chmod(mode)
    with pytest.raises(UsageError, match="open to group or others"):
        ensure_private_dir(directory)


def test_directory_of_another_user_is_refused(short_dir: Path) -> None:
    directory = short_dir / "run"
    directory.mkdir(mode=0o700)
    ensure_private_dir(directory)  # ours: fine
    with pytest.raises(UsageError, match=f"belongs to uid {os.geteuid()}, not to you \\(uid 4242\\)"):
        ensure_private_dir(directory, own_uid=4242)


@needs_root
def test_directory_chowned_to_another_user_is_refused(short_dir: Path) -> None:
    directory = short_dir / "run"
    directory.mkdir(mode=0o700)
    os.chown(directory, NOBODY, NOBODY)
    with pytest.raises(UsageError, match=f"belongs to uid {NOBODY}"):
        ensure_private_dir(directory)


def test_symlinked_directory_is_refused(short_dir: Path) -> None:
    real = short_dir / "real"
    real.mkdir(mode=0o700)
    (short_dir / "run").symlink_to(real)
    with pytest.raises(UsageError, match="not a directory"):
        ensure_private_dir(short_dir / "run")


def test_missing_parent_is_a_usage_error(short_dir: Path) -> None:
    with pytest.raises(UsageError, match="parent does not exist"):
        ensure_private_dir(short_dir / "no" / "run")


@needs_root
def test_serve_refuses_a_foreign_directory(loop_thread: LoopThread, short_dir: Path) -> None:
    served = Served(loop_thread, short_dir)
    served.path.parent.mkdir(mode=0o700)
    os.chown(served.path.parent, NOBODY, NOBODY)
    with pytest.raises(UsageError):
        served.start()
    assert not served.path.exists()


def test_something_else_at_the_socket_path_is_not_deleted(loop_thread: LoopThread, short_dir: Path) -> None:
    served = Served(loop_thread, short_dir)
    served.path.parent.mkdir(mode=0o700)
    served.path.write_text("precious")
    with pytest.raises(UsageError, match="not a socket"):
        served.start()
    assert served.path.read_text() == "precious"


# --- peer credentials --------------------------------------------------------------------


def test_peer_allowed_only_for_the_same_uid() -> None:
    assert peer_allowed(1000, own_uid=1000)
    assert not peer_allowed(1001, own_uid=1000)
    assert not peer_allowed(0, own_uid=1000)
    assert not peer_allowed(1000, own_uid=0)
    assert peer_allowed(os.geteuid())


def test_so_peercred_reports_our_own_process() -> None:
    left, right = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with left, right:
        assert peer_credentials(left) == (os.getpid(), os.geteuid(), os.getegid())


def test_so_peercred_through_the_server(served: Served) -> None:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(HANG_GUARD)
        sock.connect(str(served.path))
        pid, uid, _ = peer_credentials(sock)  # the server side: it runs in this process
        assert (pid, uid) == (os.getpid(), os.geteuid())


def _drop_to_nobody() -> None:
    os.setgroups([])
    os.setgid(NOBODY)
    os.setuid(NOBODY)


def _in_child_as_nobody(body: Callable[[], bytes]) -> tuple[int, bytes]:
    """Fork; the child drops to uid/gid nobody, runs `body` and sends its bytes back.

    A fork rather than a new interpreter: this interpreter may live where nobody cannot
    read it. The child only makes socket calls and leaves with os._exit.
    """
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        status = 1
        try:
            os.close(read_end)
            _drop_to_nobody()
            os.write(write_end, body())
            status = 0
        except BaseException as exc:
            with contextlib.suppress(BaseException):
                os.write(write_end, repr(exc).encode())
        finally:
            os._exit(status)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        out = pipe.read()
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), out


@needs_root
def test_connection_from_another_uid_is_refused(served: Served) -> None:
    # Open the filesystem guards on purpose, so only SO_PEERCRED stands in the way.
    served.base.chmod(0o711)
    served.path.parent.chmod(0o711)
    served.path.chmod(0o666)

    def knock() -> bytes:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(HANG_GUARD)
            sock.connect(str(served.path))
            with contextlib.suppress(BrokenPipeError):  # refused before our request was read
                sock.sendall(b'{"cmd": "toggle"}\n')
            return sock.recv(4096)

    code, out = _in_child_as_nobody(knock)
    assert code == 0, out
    assert one_reply(out) == {"ok": False, "error": "permission denied"}
    assert served.daemon.calls == []


@needs_root
def test_client_refuses_a_socket_served_by_another_uid(short_dir: Path) -> None:
    short_dir.chmod(0o733)  # nobody may create its socket here
    path = short_dir / "impostor.sock"
    ready_r, ready_w = os.pipe()
    done_r, done_w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: listen as nobody until the parent is done (connections queue unaccepted)
        try:
            os.close(ready_r)
            os.close(done_w)
            _drop_to_nobody()
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            listener.bind(str(path))
            listener.listen(4)
            os.chmod(path, 0o666)
            os.write(ready_w, b"ready")
            os.read(done_r, 1)
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(done_r)
    try:
        assert os.read(ready_r, 5) == b"ready"
        with pytest.raises(UsageError, match=f"served by uid {NOBODY}"):
            send_command("toggle", path=path, timeout=HANG_GUARD)
    finally:
        os.close(done_w)
        os.close(ready_r)
        os.waitpid(pid, 0)


# --- protocol ----------------------------------------------------------------------------


modes = st.none() | st.from_regex(r"[a-z][a-z0-9_-]{0,31}", fullmatch=True)


@given(st.sampled_from(COMMANDS), modes)
def test_request_round_trip(name: str, mode: str | None) -> None:
    line = encode_request(Command(name, mode))
    assert line.endswith(b"\n") and line.count(b"\n") == 1 and len(line) <= MAX_REQUEST_BYTES
    assert decode_request(line) == Command(name, mode)


def test_request_wire_format() -> None:
    assert json.loads(encode_request(Command("toggle", "ask"))) == {"cmd": "toggle", "mode": "ask"}
    assert json.loads(encode_request(Command("status"))) == {"cmd": "status"}
    assert decode_request(b'{"cmd": "stop", "mode": null}\r\n') == Command("stop", None)


@pytest.mark.parametrize("line, message", [
    (b"", "not a line of valid JSON"),
    (b"toggle", "not a line of valid JSON"),
    (b'{"cmd": "toggle"', "not a line of valid JSON"),
    (b"\xff\xfe{}", "not UTF-8"),
    (b"[" * 3000 + b"]" * 3000, "too large"),
    (b"[" * 2000 + b"]" * 2000, "not a line of valid JSON"),
    (b'["toggle"]', "must be a JSON object"),
    (b"{}", 'no "cmd"'),
    (b'{"cmd": "reboot"}', "unknown command 'reboot'"),
    (b'{"cmd": 3}', "unknown command 'int'"),
    (b'{"cmd": ["toggle"]}', "unknown command 'list'"),
    (b'{"cmd": "toggle", "mode": 1}', "mode must be"),
    (b'{"cmd": "toggle", "mode": "../../etc"}', "mode must be"),
    (b'{"cmd": "toggle", "mode": "' + b"a" * 40 + b'"}', "mode must be"),
    (b'{"cmd": "toggle", "mdoe": "ask"}', "unknown request field 'mdoe'"),
])
def test_malformed_requests_are_protocol_errors(line: bytes, message: str) -> None:
    with pytest.raises(ProtocolError, match=message):
        decode_request(line)


def test_replies() -> None:
    assert decode_reply(encode_reply({"ok": True, "state": "idle"})) == {"ok": True, "state": "idle"}
    assert encode_reply({"ok": False, "error": "a\nb"}).count(b"\n") == 1
    with pytest.raises(ValueError):
        encode_reply({"ok": True, "x": float("nan")})
    for bad in (b"[]", b'{"ok": "yes"}', b'{"ok": false}', b"nope"):
        with pytest.raises(ProtocolError):
            decode_reply(bad)


# --- server behaviour --------------------------------------------------------------------


def test_commands_reach_the_handler(served: Served) -> None:
    assert send_command("toggle", "ask", path=served.path, timeout=HANG_GUARD) == {"ok": True, "state": "recording"}
    assert send_command("toggle", path=served.path, timeout=HANG_GUARD) == {"ok": True, "state": "idle"}
    status = send_command("status", path=served.path, timeout=HANG_GUARD)
    assert status == {"ok": True, "state": "idle", "mode": "ask", "pid": os.getpid(), "uptime": 62.5}
    for name in ("start", "stop", "cancel", "new"):
        assert send_command(name, path=served.path, timeout=HANG_GUARD)["ok"] is True
    assert served.daemon.calls == [Command("toggle", "ask"), Command("toggle"), Command("status"),
                                   Command("start"), Command("stop"), Command("cancel"), Command("new")]


def test_ping_is_answered_by_the_server_itself(served: Served) -> None:
    assert send_command("ping", path=served.path, timeout=HANG_GUARD) == {"ok": True, "pid": os.getpid()}
    assert served.daemon.calls == []


def test_handler_failures_become_error_replies(served: Served) -> None:
    refused = send_command("start", "refuse", path=served.path, timeout=HANG_GUARD)
    assert refused == {"ok": False, "error": "mode refused by the daemon", "exit_code": 2}
    crashed = send_command("start", "crash", path=served.path, timeout=HANG_GUARD)
    assert crashed["ok"] is False and "RuntimeError" in crashed["error"]
    assert "gsk_" not in crashed["error"]  # exception text may hold anything: it stays in the log
    unsendable = send_command("start", "unsendable", path=served.path, timeout=HANG_GUARD)
    assert unsendable["ok"] is False and "internal error" in unsendable["error"]
    assert send_command("ping", path=served.path, timeout=HANG_GUARD)["ok"] is True


@pytest.mark.parametrize("data, message", [
    (b"x" * (10 * MAX_REQUEST_BYTES), "too large"),
    (b'{"cmd": "toggle", "mode": "' + b"a" * MAX_REQUEST_BYTES + b'"}\n', "too large"),
    (b"not json\n", "not a line of valid JSON"),
    (b'{"cmd": "reboot"}\n', "unknown command"),
    (b"", "empty request"),
    (b'{"cmd": "tog', "not a line of valid JSON"),  # partial, then EOF
])
def test_bad_requests_get_one_error_line(served: Served, data: bytes, message: str) -> None:
    reply = one_reply(raw_exchange(served.path, data))
    assert reply["ok"] is False and message in reply["error"]
    assert served.daemon.calls == []
    assert send_command("ping", path=served.path, timeout=HANG_GUARD)["ok"] is True


def test_request_without_newline_before_eof_is_accepted(served: Served) -> None:
    assert one_reply(raw_exchange(served.path, b'{"cmd": "new"}')) == {"ok": True, "state": "idle"}


def test_only_the_first_line_counts(served: Served) -> None:
    reply = one_reply(raw_exchange(served.path, b'{"cmd": "start"}\n{"cmd": "stop"}\n'))
    assert reply == {"ok": True, "state": "recording"}
    assert served.daemon.calls == [Command("start")]


def test_silent_and_partial_clients_are_dropped(loop_thread: LoopThread, short_dir: Path) -> None:
    served = Served(loop_thread, short_dir)
    served.start(read_timeout=0.2)
    try:
        silent = raw_exchange(served.path, b"", eof=False)
        partial = raw_exchange(served.path, b'{"cmd": "toggle"', eof=False)
        for raw in (silent, partial):
            reply = one_reply(raw)
            assert reply["ok"] is False and "no request within" in reply["error"]
        assert served.daemon.calls == []
    finally:
        served.close()


def test_silent_clients_do_not_block_others(loop_thread: LoopThread, short_dir: Path) -> None:
    served = Served(loop_thread, short_dir)
    served.start(read_timeout=HANG_GUARD * 3)  # the silent ones stay connected throughout
    silent = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(20)]
    try:
        for sock in silent:
            sock.connect(str(served.path))
            sock.sendall(b'{"cmd": "sta')
        assert send_command("status", path=served.path, timeout=HANG_GUARD)["ok"] is True
        for sock in silent:  # still waiting for their request: not served, not dropped
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):
                sock.recv(1)
    finally:
        for sock in silent:
            sock.close()
        served.close()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.binary(max_size=2 * MAX_REQUEST_BYTES)
       | st.text(max_size=300).map(lambda s: s.encode("utf-8", "surrogatepass"))
       | st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=10),
                      lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=5), kids,
                                                                                max_size=3),
                      max_leaves=10).map(lambda v: json.dumps(v).encode() + b"\n"))
def test_random_bytes_never_break_the_server(served: Served, data: bytes) -> None:
    reply = one_reply(raw_exchange(served.path, data))
    if reply["ok"]:  # only a valid request may get through, and then it reached the handler
        cmd = decode_request(data.split(b"\n")[0])
        assert cmd.name == "ping" or served.daemon.calls[-1] == cmd
    else:
        assert reply["error"]


def test_random_bytes_leave_the_server_alive(served: Served) -> None:
    for data in (os.urandom(5000), b"\x00" * 100, b"\n", b"{}\n" * 2000):
        one_reply(raw_exchange(served.path, data))
    assert send_command("ping", path=served.path, timeout=HANG_GUARD)["ok"] is True


def test_fifty_concurrent_clients_are_served_together(loop_thread: LoopThread, short_dir: Path) -> None:
    clients = 50
    in_flight = 0
    everyone_in: asyncio.Event | None = None

    async def handler(cmd: Command) -> dict[str, Any]:
        # Each call waits until all 50 are inside at once: a server that handled
        # connections one by one would never get there and the clients would time out.
        nonlocal in_flight, everyone_in
        if everyone_in is None:
            everyone_in = asyncio.Event()
        in_flight += 1
        if in_flight == clients:
            everyone_in.set()
        await everyone_in.wait()
        return {"state": "idle", "seen": in_flight}

    path = short_dir / "run" / "control.sock"
    server = loop_thread.run(serve_control(handler, path=path))
    try:
        with concurrent.futures.ThreadPoolExecutor(clients) as pool:
            replies = list(pool.map(lambda _: send_command("toggle", path=path, timeout=HANG_GUARD * 2),
                                    range(clients)))
        assert all(reply == {"ok": True, "state": "idle", "seen": clients} for reply in replies)
    finally:
        async def shut() -> None:
            server.close()
            await server.wait_closed()
        loop_thread.run(shut())


# --- lifecycle: close, stale socket, single instance -------------------------------------


def test_close_removes_the_socket_and_frees_the_path(loop_thread: LoopThread, short_dir: Path) -> None:
    served = Served(loop_thread, short_dir)
    served.start()
    assert served.path.exists()
    served.close()
    assert not served.path.exists()
    with pytest.raises(UsageError, match="no voicebot daemon"):
        send_command("ping", path=served.path, timeout=HANG_GUARD)
    served.start()  # the lock was released too
    assert send_command("ping", path=served.path, timeout=HANG_GUARD)["ok"] is True
    served.close()


def test_close_cancels_open_connections(loop_thread: LoopThread, short_dir: Path) -> None:
    served = Served(loop_thread, short_dir)
    served.start(read_timeout=HANG_GUARD * 3)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as waiting:
        waiting.settimeout(HANG_GUARD)
        waiting.connect(str(served.path))
        assert send_command("ping", path=served.path, timeout=HANG_GUARD)["ok"]  # accepted by now
        served.close()
        assert waiting.recv(100) == b""  # closed, not left hanging until the read deadline


def test_close_leaves_a_successors_socket_alone(loop_thread: LoopThread, short_dir: Path) -> None:
    served = Served(loop_thread, short_dir)
    served.start()
    server = served.server
    assert server is not None
    os.unlink(served.path)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as other:
        other.bind(str(served.path))
        served.close()
        assert stat.S_ISSOCK(os.lstat(served.path).st_mode)


def test_killed_daemon_leaves_a_stale_socket_that_is_replaced(loop_thread: LoopThread, short_dir: Path) -> None:
    path = short_dir / "run" / "control.sock"
    proc = start_daemon_process(path)
    assert send_command("ping", path=path, timeout=HANG_GUARD)["pid"] == proc.pid
    proc.send_signal(signal.SIGKILL)
    proc.wait(HANG_GUARD)
    assert stat.S_ISSOCK(os.lstat(path).st_mode)  # left behind
    with pytest.raises(UsageError, match="no voicebot daemon"):
        send_command("ping", path=path, timeout=HANG_GUARD)
    served = Served(loop_thread, short_dir)
    served.start()
    try:
        assert send_command("ping", path=path, timeout=HANG_GUARD) == {"ok": True, "pid": os.getpid()}
    finally:
        served.close()


def test_second_instance_is_refused_while_another_holds_the_lock(loop_thread: LoopThread,
                                                                short_dir: Path) -> None:
    path = short_dir / "run" / "control.sock"
    proc = start_daemon_process(path)
    try:
        served = Served(loop_thread, short_dir)
        with pytest.raises(UsageError) as info:
            served.start()
        assert str(info.value) == (f"voicebot is already running (pid {proc.pid}); "
                                   "stop it first or use `voicebot toggle`")
        # The loser touched nothing: the first daemon still answers on its socket.
        assert send_command("ping", path=path, timeout=HANG_GUARD)["pid"] == proc.pid
    finally:
        proc.communicate("", timeout=HANG_GUARD)  # EOF on stdin: it closes cleanly
    assert proc.returncode == 0
    assert not path.exists()


# --- client ------------------------------------------------------------------------------


def test_no_daemon_is_a_usage_error(short_dir: Path) -> None:
    with pytest.raises(UsageError) as info:
        send_command("toggle", path=short_dir / "nothing" / "control.sock")
    assert str(info.value) == NO_DAEMON


def test_client_rejects_bad_commands_before_connecting(short_dir: Path) -> None:
    with pytest.raises(UsageError, match="unknown command"):
        send_command("reboot", path=short_dir / "control.sock")
    with pytest.raises(UsageError, match="mode must be"):
        send_command("toggle", "ASK ME", path=short_dir / "control.sock")


def test_unresponsive_daemon_is_an_error_not_a_hang(short_dir: Path) -> None:
    path = short_dir / "mute.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen(1)
        with pytest.raises(VoicebotError, match="did not answer") as info:
            send_command("toggle", path=path, timeout=0.3)
    assert not isinstance(info.value, UsageError) and info.value.exit_code == 1


def test_garbled_reply_is_an_error(short_dir: Path) -> None:
    path = short_dir / "garble.sock"
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as listener:
        listener.bind(str(path))
        listener.listen(1)

        def answer() -> None:
            conn, _ = listener.accept()
            with conn:
                conn.recv(4096)
                conn.sendall(b"HTTP/1.1 200 OK\r\n\r\n")
        thread = threading.Thread(target=answer, daemon=True)
        thread.start()
        with pytest.raises(VoicebotError, match="malformed reply"):
            send_command("toggle", path=path, timeout=HANG_GUARD)
        thread.join(HANG_GUARD)


def test_client_main_status_lines(served: Served, monkeypatch: pytest.MonkeyPatch,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VOICEBOT_CONTROL_SOCKET", str(served.path))
    assert client_main(["status"]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == ["state: idle", "mode: ask", f"pid: {os.getpid()}", "uptime: 1m 02s"]
    assert err == ""


def test_client_main_json(served: Served, monkeypatch: pytest.MonkeyPatch,
                          capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VOICEBOT_CONTROL_SOCKET", str(served.path))
    assert client_main(["toggle", "--mode", "dictate", "--json"]) == 0
    out, _ = capsys.readouterr()
    assert json.loads(out) == {"type": "toggle", "ok": True, "state": "recording"}
    assert served.daemon.calls == [Command("toggle", "dictate")]


def test_client_main_daemon_refusal_exits_with_its_kind(served: Served, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """A usage problem the daemon finds (a mode it does not know, no microphone) exits 2; others 1."""
    monkeypatch.setenv("VOICEBOT_CONTROL_SOCKET", str(served.path))
    assert client_main(["start", "--mode", "refuse"]) == 2
    out, err = capsys.readouterr()
    assert out == "" and err == "voicebot: error: mode refused by the daemon\n"
    assert client_main(["start", "--mode=busy", "--json"]) == 1
    out, err = capsys.readouterr()
    assert json.loads(out) == {"type": "error", "message": "the daemon cannot do that now", "exit_code": 1}
    assert err == "voicebot: error: the daemon cannot do that now\n"


def test_client_args_takes_the_shortcut_forms_and_leaves_the_rest_to_the_parser() -> None:
    assert client_args(["toggle"]) == ("toggle", None, False)
    assert client_args(["status", "--json"]) == ("status", None, True)
    assert client_args(["start", "--json", "--mode", "dictate"]) == ("start", "dictate", True)
    assert client_args(["stop", "--mode=translate"]) == ("stop", "translate", False)
    for argv in (["toggle", "--help"], ["toggle", "-h"], ["toggle", "--mode"], ["toggle", "--mode", "--json"],
                 ["toggle", "--bogus"], ["--json", "status"], ["run"], ["reboot"], []):
        assert client_args(argv) is None, argv


@pytest.mark.parametrize("argv", [["toggle", "--bogus"], ["toggle", "--mode"], ["toggle", "--mode", "Bad Mode"],
                                  ["reboot"], ["--model", "x", "status"]])
def test_control_usage_errors_exit_2(argv: list[str], short_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VOICEBOT_CONTROL_SOCKET", str(short_dir / "control.sock"))
    assert cli.main(argv) == 2
    out, err = capsys.readouterr()
    assert out == "" and err.startswith("voicebot: error: ") and err.count("\n") == 1


def test_client_main_without_daemon(short_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("VOICEBOT_CONTROL_SOCKET", str(short_dir / "control.sock"))
    assert client_main(["toggle"]) == 2
    assert capsys.readouterr().err == f"voicebot: error: {NO_DAEMON}\n"


def test_format_helpers() -> None:
    assert [format_duration(s) for s in (0, 45.9, 125, 3723, 3 * 86400 + 4 * 3600 + 300)] == [
        "0s", "45s", "2m 05s", "1h 02m 03s", "3d 04h 05m"]
    assert format_reply({"ok": True, "extra": [1], "uptime": 5, "state": "idle", "busy": False, "x": None}) == [
        "state: idle", "uptime: 5s", "busy: no", "extra: [1]", "x: -"]
    assert format_reply({"ok": True}) == []


def _imported(code: str) -> tuple[subprocess.CompletedProcess[str], set[str]]:
    """Run `code` under -X importtime; the modules it imported (the interpreter's own start-up included)."""
    result = subprocess.run([sys.executable, "-X", "importtime", "-c", code], cwd=REPO, capture_output=True,
                            text=True, timeout=HANG_GUARD,
                            env={**os.environ, "PYTHONPATH": str(REPO),
                                 "VOICEBOT_CONTROL_SOCKET": "/nonexistent-voicebot/control.sock"})
    return result, {line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if "import time:" in line}


def test_client_import_is_light() -> None:
    """`voicebot toggle` runs on every shortcut press: its path (cli.py's front door, the socket
    client) imports no heavy part, and none of the standard library's slow ones either; the
    time itself is measured by benchmarks/control_startup.py, not here."""
    heavy = {"numpy", "httpx", "httpx_sse", "sounddevice", "soundfile", "soxr", "pynput", "asyncio", "keyring",
             "voicebot.cli.app", "voicebot.config.loading",
             "argparse", "dataclasses", "inspect", "typing", "pathlib", "gettext", "shutil", "contextlib",
             "socket", "selectors", "struct"}
    _, baseline = _imported("pass")  # whatever this interpreter's start-up (site, .pth files) loads anyway
    result, imported = _imported("import sys\nfrom voicebot.cli.main import main\nsys.exit(main(['status']))\n")
    assert result.returncode == 2, result.stderr  # the whole client path, here with no daemon
    assert "voicebot.control.client" in imported
    assert sorted((imported - baseline) & heavy) == []


def test_one_list_of_control_verbs() -> None:
    """The fast path, the full parser (help, "invalid choice") and the wire protocol share COMMANDS."""
    from voicebot.cli.parser import build_parser
    parser = build_parser()
    verbs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    assert set(COMMANDS) <= set(verbs) and set(COMMANDS) == set(COMMAND_HELP)
    for name in COMMANDS:
        assert client_args([name]) == (name, None, False)
