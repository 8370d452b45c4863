"""The pre-roll ring: the last N frames of audio, kept while the microphone idles between takes.

Speech often starts with the key press itself, so the first syllable would be lost if the
take began only when the key went down. The ring is an immutable value replaced on every
block: the loop thread swaps it without locks, a take snapshots it at the key press for free,
and the rules of what is kept and what is dropped are unit-tested without a sound card.
"""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Preroll:
    """At most `capacity` frames of raw audio, oldest first, as immutable byte chunks."""

    capacity: int
    frame_bytes: int = 2  # int16 mono
    chunks: tuple[bytes, ...] = ()
    frames: int = 0

    def __post_init__(self) -> None:
        if self.capacity < 0:
            raise ValueError("capacity must not be negative")
        if self.frame_bytes <= 0:
            raise ValueError("frame_bytes must be positive")


def capacity_for(ms: int, rate: int) -> int:
    """Frames needed to hold `ms` milliseconds at `rate` Hz (rounded to the nearest frame)."""
    if ms < 0 or rate <= 0:
        raise ValueError("ms must not be negative and rate must be positive")
    return (ms * rate + 500) // 1000


def push(ring: Preroll, chunk: bytes) -> Preroll:
    """The ring with `chunk` appended and the oldest audio beyond `capacity` dropped."""
    if len(chunk) % ring.frame_bytes:
        raise ValueError(f"chunk of {len(chunk)} bytes is not whole {ring.frame_bytes}-byte frames")
    if ring.capacity == 0 or not chunk:
        return ring
    chunks = (*ring.chunks, chunk)
    frames = ring.frames + len(chunk) // ring.frame_bytes
    # Drop whole chunks while what remains still fills the ring.
    start = 0
    while frames - len(chunks[start]) // ring.frame_bytes >= ring.capacity:
        frames -= len(chunks[start]) // ring.frame_bytes
        start += 1
    chunks = chunks[start:]
    excess = frames - ring.capacity
    if excess > 0:  # cut the head of the oldest chunk so exactly `capacity` frames remain
        chunks = (chunks[0][excess * ring.frame_bytes:], *chunks[1:])
        frames = ring.capacity
    return replace(ring, chunks=chunks, frames=frames)


def contents(ring: Preroll) -> bytes:
    """Everything the ring holds, oldest first, as one byte string."""
    return b"".join(ring.chunks)


def cleared(ring: Preroll) -> Preroll:
    """The same ring, empty: its audio now belongs to a take and must not be handed out twice."""
    return replace(ring, chunks=(), frames=0)
