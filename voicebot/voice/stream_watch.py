"""An output stream that stops progressing is given up on, never waited for.

PortAudio calls the speaker's callback every 10 ms while its stream runs. When the sound
server dies the stream ends with an error, but when it is stopped (SIGSTOP, a hung server)
the callbacks simply stop coming, and every PortAudio call on that stream (stop, abort,
close, and Pa_Terminate at exit) blocks for ever; an answer waiting for its last sample
would wait for ever too. Hence three rules, kept here:

- calls that can block run on daemon threads nobody joins (`in_thread`), never on the
  event loop's executor, which `asyncio.run` waits for at exit;
- `Progress` says when the callbacks have stopped (or an open has not returned) for long
  enough that the stream is stuck, so the speaker drops it with one notice;
- a process that abandoned a stream skips PortAudio's exit handler (`abandon_portaudio`),
  which would close that stream and block the exit.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import sys
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["OPEN_SECONDS", "STALL_SECONDS", "WATCH_EVERY", "Progress", "abandon_portaudio", "in_thread"]

T = TypeVar("T")
STALL_SECONDS = 3.0  # no callback for this long (300 blocks) while the stream is open: it is stuck
OPEN_SECONDS = 10.0  # an open (or a close) that has not returned by then never will
WATCH_EVERY = 0.25  # seconds between the watchdog's looks, only while a stream is open or opening


def in_thread(loop: asyncio.AbstractEventLoop, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
    """`fn(*args)` on a daemon thread of its own; its outcome on the loop. A call that never
    returns costs a parked thread, never the loop nor the process's exit."""
    future: asyncio.Future[T] = loop.create_future()

    def settle(outcome: Callable[[], None]) -> None:
        if not future.done():
            outcome()

    def run() -> None:
        try:
            result = fn(*args)
        except BaseException as exc:  # handed to whoever awaits the future
            failure = exc
            with contextlib.suppress(RuntimeError):  # the loop is closed: nobody waits any more
                loop.call_soon_threadsafe(settle, lambda: future.set_exception(failure))
        else:
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(settle, lambda: future.set_result(result))

    threading.Thread(target=run, name=f"voicebot-sound-{getattr(fn, '__name__', 'call')}", daemon=True).start()
    return future


def abandon_portaudio() -> None:
    """A stream was left stuck: at exit, do not let sounddevice terminate PortAudio (it would
    close that stream, and block the exit for ever)."""
    module = sys.modules.get("sounddevice")
    handler = getattr(module, "_exit_handler", None)
    if handler is not None:
        atexit.unregister(handler)


class Progress:
    """When the output last moved: the audio thread ticks, the loop asks whether it is stuck."""

    def __init__(self, *, stall: float = STALL_SECONDS, open_limit: float = OPEN_SECONDS) -> None:
        self.stall, self.open_limit = stall, open_limit
        self.last = time.monotonic()
        self.opening_since: float | None = None

    def tick(self, now: float) -> None:
        """A callback ran (audio thread: one float written, no lock needed)."""
        self.last = now

    def opening(self, now: float) -> None:
        self.opening_since = now

    def opened(self, now: float) -> None:
        self.opening_since = None
        self.last = now

    def stuck(self, now: float) -> str | None:
        """Why the output is stuck, for the notice; None while it moves."""
        if self.opening_since is not None:
            waited = now - self.opening_since
            return f"it did not open within {waited:.0f} s" if waited > self.open_limit else None
        silent = now - self.last
        return f"no audio went out for {silent:.1f} s" if silent > self.stall else None
