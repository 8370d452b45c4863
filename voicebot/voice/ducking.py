"""Quiet while you speak: other programs' playback muted (or lowered) for the length of a take.

Through `pactl` (PulseAudio, or PipeWire's pulse server): the streams playing when the
take starts (sink inputs) are muted, or with a `volume` set to that percent of their own
volume, and put back exactly as they were (the same mute flag, the same raw volume of
each channel) when the take ends. Never voicebot's own streams (its chimes and spoken
answers: its process id), never one already muted, and never one the user changed
meanwhile (it is left as they set it). A stream that starts during the take plays on.

A crash must never leave the user muted: what is about to change is written to a file in
the runtime dir BEFORE anything changes, removed once it is put back, and `recover`
(at every daemon start, whatever `duck` says now) puts back what a killed daemon left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import subprocess
import threading
from collections.abc import AsyncIterator, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from voicebot.private_files import write_atomic
from voicebot.protocols import Notices

log = logging.getLogger("voicebot.voice.ducking")
PACTL_TIMEOUT = 3.0  # seconds: a sound server that does not answer must not hold a take up
STATE_NAME = "ducked.json"


class DuckError(Exception):
    """pactl is missing, cannot reach the sound server, or refused a change."""


@dataclass(frozen=True, kw_only=True)
class DuckOptions:
    """Whether takes quiet other playback, how much, and where the state survives a crash."""

    enabled: bool = False
    volume: int = 0  # percent of their own volume other streams keep while you speak; 0 mutes them
    state_path: Path | None = None  # the runtime dir's ducked.json; None: nothing is ducked or recovered


@dataclass(frozen=True)
class Ducked:
    """One stream as it was, and what voicebot made of it (`lowered` None: muted instead)."""

    index: int
    owner: str  # its process id and media name: an index the server gave to a new stream is not it
    mute: bool
    volume: list[int]
    lowered: list[int] | None = None


@dataclass
class _Stream:
    index: int
    owner: str
    pid: int | None
    mute: bool
    volume: list[int] = field(default_factory=list)


def _pactl(args: list[str], env: Mapping[str, str]) -> str:
    tool = shutil.which("pactl", path=env.get("PATH"))
    if tool is None:
        raise DuckError("pactl is not installed (Debian/Ubuntu: pulseaudio-utils)")
    try:
        done = subprocess.run([tool, *args], capture_output=True, text=True, timeout=PACTL_TIMEOUT,
                              stdin=subprocess.DEVNULL, env=dict(env))
    except (OSError, subprocess.SubprocessError) as exc:
        raise DuckError(f"pactl failed: {exc}") from None
    if done.returncode != 0:
        said = (done.stderr.strip().splitlines() or [f"exit status {done.returncode}"])[0]
        raise DuckError(f"pactl {args[0] if args[0] != '-f' else 'list'}: {said}")
    return done.stdout


def streams(env: Mapping[str, str]) -> list[_Stream]:
    """The sink inputs playing now (`pactl -f json`, PulseAudio 16 and PipeWire)."""
    try:
        listed = json.loads(_pactl(["-f", "json", "list", "sink-inputs"], env) or "[]")
    except json.JSONDecodeError:
        raise DuckError("pactl gave no JSON (PulseAudio 16 or newer is needed)") from None
    found = []
    for entry in listed:
        props = entry.get("properties") or {}
        pid = props.get("application.process.id")
        volume = [int(v["value"]) for v in (entry.get("volume") or {}).values()]
        found.append(_Stream(int(entry["index"]), f"{pid}:{props.get('media.name', '')}",
                             int(str(pid)) if str(pid).isdigit() else None, bool(entry.get("mute")), volume))
    return found


def _put_back(saved: list[Ducked], env: Mapping[str, str]) -> int:
    """Each stream back as it was, if it still plays and still is as voicebot left it; how many."""
    now = {s.index: s for s in streams(env)}
    done = 0
    for d in saved:
        s = now.get(d.index)
        if s is None or s.owner != d.owner:
            continue  # it ended meanwhile
        if d.lowered is None and s.mute:
            _pactl(["set-sink-input-mute", str(d.index), "0"], env)
        elif d.lowered is not None and s.volume == d.lowered:
            _pactl(["set-sink-input-volume", str(d.index), *map(str, d.volume)], env)
        else:
            continue  # the user changed it meanwhile: theirs stands
        done += 1
    return done


class Ducker:
    """Quiets other playback for one daemon's takes; puts back what an earlier one left."""

    def __init__(self, options: DuckOptions, output: Notices, *, env: Mapping[str, str] | None = None,
                 own_pids: frozenset[int] | None = None) -> None:
        self.options = options
        self.output = output
        self.env = os.environ if env is None else env
        self.own_pids = own_pids if own_pids is not None else frozenset({os.getpid()})
        self._ducked: list[Ducked] = []
        self._told = False
        self._notices: list[tuple[str, dict[str, Any]]] = []  # said by `tell`, on the event loop
        self._restoring: asyncio.Future[None] | None = None  # the last take's putting back, under way
        self._lock = threading.Lock()  # one of duck, restore, recover at a time (they run in threads)

    def _say_once(self, what: str, exc: DuckError) -> None:
        if not self._told:  # once a daemon: the same failure at every take would only be noise
            self._told = True
            self._notices.append((f"{what}: {exc}", {"check": "duck", "reason": str(exc)}))

    def tell(self) -> None:
        """Say what the blocking calls (run in threads) had to say; the console is the loop's."""
        notices, self._notices = self._notices, []
        for text, fields in notices:
            self.output.notice(text, **fields)

    async def recover_at_start(self) -> None:
        """`recover`, off the loop, and say so."""
        await asyncio.to_thread(self.recover)
        self.tell()

    def recover(self) -> int:
        """Put back what a daemon that stopped mid-take left muted or lowered; how many streams."""
        with self._lock:
            return self._recover()

    def _recover(self) -> int:
        path = self.options.state_path
        if path is None or not path.exists():
            return 0
        try:
            saved = [Ducked(**item) for item in json.loads(path.read_text())]
        except (OSError, ValueError, TypeError) as exc:
            log.debug("unreadable %s: %s", path, exc)
            path.unlink(missing_ok=True)
            return 0
        try:
            done = _put_back(saved, self.env)
        except DuckError as exc:
            self._say_once("could not put other playback back", exc)
            return 0  # the file stays: the next start (or take) tries again
        path.unlink(missing_ok=True)
        if done:
            self._notices.append((f"put back the sound of {done} stream(s) a stopped voicebot had left "
                                  f"{'muted' if saved[0].lowered is None else 'lowered'}",
                                  {"check": "duck", "streams": done}))
        return done

    def duck(self) -> None:
        """Mute (or lower) other playback; the state is on disk before anything changes."""
        with self._lock:
            self._duck()

    def _duck(self) -> None:
        path = self.options.state_path
        if not self.options.enabled or path is None:
            return
        try:
            self._recover()
            if path.exists():
                return  # an earlier state could not be put back: never write over it
            plan = [self._plan(s) for s in streams(self.env) if s.pid not in self.own_pids and not s.mute]
            if not plan:
                return
            write_atomic(path, json.dumps([asdict(d) for d in plan]).encode(), durable=False)
            for d in plan:
                if d.lowered is None:
                    _pactl(["set-sink-input-mute", str(d.index), "1"], self.env)
                else:
                    _pactl(["set-sink-input-volume", str(d.index), *map(str, d.lowered)], self.env)
                self._ducked.append(d)
        except (DuckError, OSError) as exc:
            self._say_once("could not quiet other playback", exc if isinstance(exc, DuckError) else DuckError(exc))

    def _plan(self, s: _Stream) -> Ducked:
        if self.options.volume <= 0:
            return Ducked(s.index, s.owner, s.mute, s.volume)
        return Ducked(s.index, s.owner, s.mute, s.volume, [v * self.options.volume // 100 for v in s.volume])

    def restore(self) -> None:
        """Put back what `duck` changed, then forget it (the file too)."""
        with self._lock:
            self._restore()

    def _restore(self) -> None:
        ducked, self._ducked = self._ducked, []
        path = self.options.state_path
        if path is None or (not ducked and not path.exists()):
            return
        try:
            _put_back(ducked, self.env)
        except DuckError as exc:
            self._say_once("could not put other playback back", exc)
            return  # the file stays for the next take or start
        path.unlink(missing_ok=True)

    @contextlib.asynccontextmanager
    async def quiet(self) -> AsyncIterator[None]:
        """Other playback quiet for the body (a take). Ducking runs beside it, so the take starts
        at once; after a take that ends well the putting back runs beside its turn (the upload
        does not wait for pactl), and the next take's ducking waits for it. A take cancelled
        (dropped, or the daemon stopping) waits for it to be done."""
        if not self.options.enabled or self.options.state_path is None:
            yield
            return
        ducking = asyncio.ensure_future(self._duck_after(self._restoring))
        try:
            yield
        except BaseException:
            await asyncio.shield(self._restore_after(ducking))
            raise
        self._restoring = asyncio.ensure_future(self._restore_after(ducking))

    async def _duck_after(self, restoring: asyncio.Future[None] | None) -> None:
        if restoring is not None:
            with contextlib.suppress(Exception):
                await asyncio.shield(restoring)
        await asyncio.to_thread(self.duck)

    async def _restore_after(self, ducking: asyncio.Future[None]) -> None:
        with contextlib.suppress(Exception, asyncio.CancelledError):
            await asyncio.shield(ducking)
        await asyncio.to_thread(self.restore)
        self.tell()

    async def settled(self) -> None:
        """Wait until what the last take quieted is back (a daemon stopping, a test)."""
        if self._restoring is not None:
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await asyncio.shield(self._restoring)


def state_file(runtime_dir: Path) -> Path:
    return runtime_dir / STATE_NAME


__all__ = ["DuckError", "DuckOptions", "Ducked", "Ducker", "state_file", "streams"]
