"""A simulated network link and service speed for the fake server, for latency benchmarks.

The fake answers in microseconds over loopback; a person talks to Groq over a home link
and Groq takes its time. `Link` puts those costs back, on the server side, so any client
(voicebot, the official SDK) pays them exactly as it would on the real link:

- `connect_ms`: opening a connection (TCP + TLS): the first request on each new
  connection waits this long before it is read;
- `first_byte_ms`: the round trip: every response waits this long before its first byte;
- `uplink_bytes_per_s`: the upload: a request body is not complete before its size at
  this rate has passed since the request began;
- `stt_ms` + `stt_ms_per_audio_s` x seconds of audio: the speech-to-text work;
- `ttft_ms`: the chat model's time to its first token.
The fake's own processing time counts towards the service times, never on top of them.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Link:
    connect_ms: float = 0.0
    first_byte_ms: float = 0.0
    uplink_bytes_per_s: float | None = None
    stt_ms: float = 0.0
    stt_ms_per_audio_s: float = 0.0
    ttft_ms: float = 0.0
    _seen: weakref.WeakSet[Any] = field(default_factory=weakref.WeakSet, repr=False)

    @classmethod
    def home(cls) -> Link:
        """The link of issue 8: 120 ms to connect, 60 ms to the first byte, 500 KB/s up,
        speech-to-text 150 ms + 10 ms per second of audio, chat TTFT 200 ms."""
        return cls(connect_ms=120, first_byte_ms=60, uplink_bytes_per_s=500_000, stt_ms=150,
                   stt_ms_per_audio_s=10, ttft_ms=200)

    def floor_ms(self, audio_seconds: float) -> float:
        """The physical floor of one spoken question: STT + TTFT + two round trips."""
        return self.stt_ms + self.stt_ms_per_audio_s * audio_seconds + self.ttft_ms + 2 * self.first_byte_ms

    async def connected(self, connection: Any) -> None:
        """The first request on a connection pays for opening it."""
        if connection is None or connection in self._seen:
            return
        self._seen.add(connection)
        await asyncio.sleep(self.connect_ms / 1000)

    async def uploaded(self, started: float, nbytes: int) -> None:
        """Hold a request body until it could have crossed the uplink."""
        if self.uplink_bytes_per_s:
            await _sleep_until(started + nbytes / self.uplink_bytes_per_s)

    async def first_byte(self) -> None:
        await asyncio.sleep(self.first_byte_ms / 1000)

    async def transcribed(self, started: float, audio_seconds: float) -> None:
        await _sleep_until(started + (self.stt_ms + self.stt_ms_per_audio_s * audio_seconds) / 1000)

    async def first_token(self, started: float) -> None:
        await _sleep_until(started + self.ttft_ms / 1000)


async def _sleep_until(deadline: float) -> None:
    left = deadline - time.monotonic()
    if left > 0:
        await asyncio.sleep(left)
