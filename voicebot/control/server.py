"""The daemon's end of the control socket: an asyncio Unix server on the daemon's own loop.

Each connection is its own task that reads one request under a deadline, so a silent,
slow or hostile client never holds up the others or the loop. The wire format and the
socket location live in `voicebot.control.client`, which the light client shares.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import socket
import stat
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from voicebot.control.client import (
    ENV_SOCKET,
    MAX_REQUEST_BYTES,
    READ_DEADLINE,
    Command,
    ProtocolError,
    decode_request,
    encode_reply,
    error_reply,
    peer_allowed,
    peer_credentials,
    socket_path,
)
from voicebot.errors import UsageError, VoicebotError
from voicebot.private_files import ensure_private_dir

log = logging.getLogger(__name__)

Handler = Callable[[Command], Awaitable[dict[str, Any]]]
WRITE_DEADLINE = 2.0  # a client that will not take its reply is dropped after this


def lock_path_for(sock_path: Path) -> Path:
    """The lock file sits next to the socket, so each socket path has exactly one owner."""
    return sock_path.with_name(sock_path.name + ".lock")


def acquire_instance_lock(lock_path: Path) -> int:
    """Hold an exclusive flock on `lock_path` (returns its fd), or say who holds it.

    flock is released by the kernel when the holder dies, however it dies, so a killed
    daemon never blocks the next one. The file is never unlinked: removing a lock file
    others may have open would let two daemons each lock a different inode.
    """
    fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pid = _read_pid(fd)
        os.close(fd)
        raise UsageError(f"voicebot is already running (pid {pid if pid else 'unknown'}); "
                         "stop it first or use `voicebot toggle`") from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd


def _read_pid(fd: int) -> int | None:
    """The holder's pid; it writes it just after locking, so allow it a moment to."""
    for _ in range(5):
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        if text.isdigit():
            return int(text)
        time.sleep(0.02)
    return None


def bind_private_socket(path: Path) -> socket.socket:
    """A listening socket at `path`, created 0600; a stale socket there is replaced.

    Call only while holding the instance lock: then any socket already at `path` was
    left by a daemon that died. The umask (not a later chmod) sets the mode, so there
    is no moment when the socket is open to others.
    """
    with contextlib.suppress(FileNotFoundError):
        if not stat.S_ISSOCK(os.lstat(path).st_mode):
            raise UsageError(f"{path} exists and is not a socket; remove it or choose another path")
        os.unlink(path)
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        old_umask = os.umask(0o177)
        try:
            sock.bind(os.fspath(path))
        finally:
            os.umask(old_umask)
        sock.listen(128)
        sock.setblocking(False)
    except OSError as exc:
        sock.close()
        raise UsageError(f"cannot listen on the control socket {path}: {exc.strerror or exc}") from None
    except BaseException:
        sock.close()
        raise
    return sock


async def _read_request(reader: asyncio.StreamReader) -> bytes:
    """One request line without its newline; EOF also ends it. Never buffers past the limit."""
    buf = bytearray()
    while True:
        chunk = await reader.read(MAX_REQUEST_BYTES - len(buf))
        if not chunk:
            if not buf:
                raise ProtocolError("empty request")
            return bytes(buf)
        start = len(buf)
        buf += chunk
        newline = buf.find(b"\n", start)
        if newline >= 0:
            return bytes(buf[:newline])
        if len(buf) >= MAX_REQUEST_BYTES:
            raise ProtocolError(f"request too large (limit {MAX_REQUEST_BYTES} bytes)")


class ControlServer:
    """A running control socket. `close()` stops it, removes the socket, frees the lock."""

    def __init__(self, handler: Handler, path: Path, lock_fd: int, read_timeout: float) -> None:
        self.path = path
        self._handler = handler
        self._lock_fd: int | None = lock_fd
        self._read_timeout = read_timeout
        self._server: asyncio.AbstractServer | None = None
        self._inode: tuple[int, int] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()

    async def _start(self, sock: socket.socket) -> None:
        info = os.lstat(self.path)
        self._inode = (info.st_dev, info.st_ino)
        self._server = await asyncio.start_unix_server(self._on_client, sock=sock,
                                                       limit=MAX_REQUEST_BYTES)

    def close(self) -> None:
        """Stop listening, drop open connections, remove our socket and release the lock."""
        if self._server is not None:
            self._server.close()
        self._remove_socket()
        for task in list(self._tasks):
            task.cancel()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    async def wait_closed(self) -> None:
        """Wait until connection tasks cancelled by `close()` have finished."""
        if self._server is not None:
            await self._server.wait_closed()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def __aenter__(self) -> ControlServer:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()
        await self.wait_closed()

    def _remove_socket(self) -> None:
        """Unlink the socket only if it is still ours, not one a successor bound since."""
        if self._inode is None:
            return
        with contextlib.suppress(FileNotFoundError):
            info = os.lstat(self.path)
            if (info.st_dev, info.st_ino) == self._inode:
                os.unlink(self.path)
        self._inode = None

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        try:
            reply = await self._answer(reader, writer.get_extra_info("socket"))
            try:
                data = encode_reply(reply)
            except (TypeError, ValueError) as exc:
                log.error("control: the handler's reply cannot be sent as JSON: %s", type(exc).__name__)
                data = encode_reply(error_reply("internal error in the daemon: unsendable reply"))
            writer.write(data)
            async with asyncio.timeout(WRITE_DEADLINE):
                await writer.drain()
        except (OSError, TimeoutError):
            pass  # the client went away or would not read; nothing to tell it
        except asyncio.CancelledError:
            # Closing. Ending quietly matters: 3.11's stream callback calls task.exception(),
            # which raises on a cancelled task and would log a spurious error.
            pass
        except Exception:  # a bug here must cost one connection, never the server
            log.exception("control: connection failed")
        finally:
            writer.close()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await writer.wait_closed()
            if task is not None:
                self._tasks.discard(task)

    async def _answer(self, reader: asyncio.StreamReader, sock: socket.socket) -> dict[str, Any]:
        """The reply for one connection; every failure becomes an error reply."""
        try:
            pid, uid, _ = peer_credentials(sock)
        except OSError:
            return error_reply("permission denied")
        if not peer_allowed(uid):
            log.warning("control: refused a connection from uid %d (pid %d)", uid, pid)
            return error_reply("permission denied")
        try:
            async with asyncio.timeout(self._read_timeout):
                line = await _read_request(reader)
            cmd = decode_request(line)
        except TimeoutError:
            return error_reply(f"no request within {self._read_timeout:g} s")
        except ProtocolError as exc:
            return error_reply(str(exc))
        if cmd.name == "ping":  # answered here, so it works even if the daemon's logic is stuck
            return {"ok": True, "pid": os.getpid()}
        try:
            result = await self._handler(cmd)
        except VoicebotError as exc:  # the client exits with its code: 2 for a usage problem, else 1
            return error_reply(str(exc), exc.exit_code)
        except Exception as exc:  # the text may hold anything; only the type goes to the client
            log.exception("control: handling %r failed", cmd.name)
            return error_reply(f"internal error in the daemon ({type(exc).__name__}); see its log")
        if not isinstance(result, dict):
            log.error("control: handler returned %s, not a dict", type(result).__name__)
            return error_reply("internal error in the daemon: bad reply")
        return {**result, "ok": True}


async def serve_control(handler: Handler, *, path: str | os.PathLike[str] | None = None,
                        read_timeout: float = READ_DEADLINE) -> ControlServer:
    """Own the control socket for this user and answer requests with `handler`.

    Raises UsageError if another daemon holds the lock, or the directory is not private.
    `ping` is answered without the handler; every other command reaches it as a
    `Command`, and its dict comes back to the client with `"ok": true`. The handler
    reports a refusal by raising VoicebotError (its text goes to the client).
    """
    target = socket_path(path)
    ensure_private_dir(target.parent, what="control directory",
                       hint=f"set {ENV_SOCKET} to a socket path in a private directory")
    lock_fd = acquire_instance_lock(lock_path_for(target))
    server = ControlServer(handler, target, lock_fd, read_timeout)
    try:
        sock = bind_private_socket(target)
        try:
            await server._start(sock)
        except BaseException:
            sock.close()
            raise
    except BaseException:
        server.close()
        raise
    return server
