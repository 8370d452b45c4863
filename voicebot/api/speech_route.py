"""Which speech server takes the next upload: after the primary failed, the fallback, for a while.

A primary that accepts connections and never answers costs the whole upload deadline (about
a minute) before the fallback is tried; paid on every turn, that makes voicebot useless. So
once the primary failed as a server that cannot serve, uploads go straight to the fallback,
and the primary is probed in the background with a cheap request: as soon as it answers at
all, it is preferred again. Only the client holds one of these (it knows when the primary
failed and how to probe it); the speech code asks it which server to use.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

__all__ = ["PROBE_EVERY", "SpeechRoute"]

log = logging.getLogger("voicebot.api.speech_route")

PROBE_EVERY = 10.0  # seconds between probes of a primary that failed


class SpeechRoute:
    """The primary speech server's standing: preferred, or resting while a probe watches it.

    `probe` makes one cheap request to the primary and says whether it answered.
    """

    def __init__(self, probe: Callable[[], Awaitable[bool]], *, every: float | None = None) -> None:
        self._probe = probe
        self._every = every
        self._watch: asyncio.Task[None] | None = None

    @property
    def prefer_fallback(self) -> bool:
        """Whether the primary failed lately and has not answered a probe since."""
        return self._watch is not None and not self._watch.done()

    def primary_failed(self) -> None:
        """The primary failed as a server that cannot serve: prefer the fallback until it answers a probe."""
        if not self.prefer_fallback:
            log.debug("the primary speech server failed: the fallback takes uploads while it is probed")
            self._watch = asyncio.get_running_loop().create_task(self._until_it_answers())

    async def _until_it_answers(self) -> None:
        while True:
            await asyncio.sleep(PROBE_EVERY if self._every is None else self._every)
            if await self._probe():
                log.debug("the primary speech server answers again: it takes uploads again")
                return

    async def aclose(self) -> None:
        """Stop probing (the client is closing)."""
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None
