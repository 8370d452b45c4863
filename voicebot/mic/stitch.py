"""Joining two input streams of one microphone into one take, without a lost or doubled sample.

While idle, the microphone runs a stream with long blocks (few wake-ups: a quiet idle); a
take wants short blocks (the release tail ends as soon as the audio after the key-up is
quiet, and the meter moves). PortAudio cannot change a running stream's block size, so at
the key press a second, short-block stream opens while the long-block one keeps going. The
take gets the long-block stream's audio (it holds the word spoken at the key press) up to
the end of its first block(s) after the press, then the short-block stream's audio from the
very next sample on.

Where that sample lies in the short stream: the block arrival times give an estimate (a
block arrives when its last sample does, on both streams alike, within a few ms), and the
audio itself makes it exact. Both streams carry the same source, so the short stream's first
frames appear, sample for sample, inside the long stream near the estimate; when the sound
server resamples each stream on its own they match best instead of exactly; when the audio
is one flat value (digital silence) any offset gives the same samples and the estimate is
used. With no such evidence the streams are not joined at all: the take stays on the long
blocks (its release tail then ends up to a block later) rather than risk a lost or doubled
word. Pure: blocks and times in, the take's blocks out; the microphone calls it on the loop.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

log = logging.getLogger("voicebot.mic.microphone")

MATCH_SECONDS = 0.02  # how much of the short stream is looked up in the long one
SEARCH_SECONDS = 0.05  # how far from the time estimate a best (not exact) match may lie, each way
EXACT_SEARCH_SECONDS = 0.25  # and an exact one: a source that delivers in bursts skews the estimate (seen: 41 ms)
GIVE_UP_SECONDS = 1.0  # short-stream audio held back at most while the long stream catches up
MIN_CORRELATION = 0.98  # a best match below this is no match (a vowel shifted by one pitch period comes close)


@dataclass(frozen=True)
class Join:
    """Where the streams were joined: the long stream's frame that the short stream's frame 0 is."""

    offset: int
    estimate: int  # what the arrival times said
    method: str  # "exact", "correlated" or "timed"


def locate(long_audio: np.ndarray, short_head: np.ndarray, estimate: int, search: int,
           exact_search: int | None = None) -> Join:
    """The offset in `long_audio` at which `short_head` starts, looked for around `estimate`.

    An exact match counts within `exact_search` of the estimate (default `search`), a best
    match only within `search`.
    """
    n = short_head.size
    if n == 0 or n > long_audio.size or np.ptp(short_head) == 0:
        return Join(estimate, estimate, "timed")
    wide = search if exact_search is None else max(search, exact_search)
    first, last = max(0, estimate - wide), min(long_audio.size - n, estimate + wide)
    if last >= first:
        windows = np.lib.stride_tricks.sliding_window_view(long_audio[first: last + n], n)
        exact = np.flatnonzero((windows == short_head).all(axis=1)) + first
        if exact.size:
            return Join(int(exact[np.argmin(np.abs(exact - estimate))]), estimate, "exact")
    first, last = max(0, estimate - search), min(long_audio.size - n, estimate + search)
    if last < first:
        return Join(estimate, estimate, "timed")
    windows = np.lib.stride_tricks.sliding_window_view(long_audio[first: last + n], n)
    a = windows.astype(np.float64) - windows.mean(axis=1, keepdims=True)
    b = short_head.astype(np.float64) - short_head.mean()
    norms = np.sqrt((a * a).sum(axis=1) * float((b * b).sum()))
    corr = np.divide(a @ b, norms, out=np.zeros(len(a)), where=norms > 0)
    best = int(np.argmax(corr))
    if corr[best] >= MIN_CORRELATION:
        return Join(best + first, estimate, "correlated")
    return Join(estimate, estimate, "timed")


class Stitch:
    """The take's audio from the key press on: the long stream's, then the short stream's.

    `history` is the end of what the take already holds from the long stream (its pre-roll)
    and `history_end` the time its last frame arrived (None when there was none). Feed each
    block with the time it arrived; each call returns the blocks the take gets, in order.
    If the short stream never delivers, the long stream's audio simply goes on.
    """

    def __init__(self, rate: int, history: np.ndarray, history_end: float | None) -> None:
        self.rate = rate
        self.join: Join | None = None
        self._match = max(1, round(rate * MATCH_SECONDS))
        self._search = max(1, round(rate * SEARCH_SECONDS))
        self._exact_search = round(rate * EXACT_SEARCH_SECONDS)
        keep = self._match + self._search
        self._history = np.asarray(history[-keep:], dtype=np.int16)
        self._long: list[np.ndarray] = []  # the newest of them, enough to look the short stream up in
        self._long_kept = 0
        self._long_frames = 0  # frames of the long stream after the history, all handed to the take
        self._skip = 0  # short-stream frames still to drop after the join (the take has them)
        self._anchor: tuple[int, float] | None = (0, history_end) if history_end is not None else None
        self._short: list[np.ndarray] = []
        self._short_frames = 0
        self._short_start: float | None = None  # when the short stream's frame 0 was recorded
        self.gave_up = False  # no safe join: the take stays on the long stream

    @property
    def joined(self) -> bool:
        return self.join is not None

    def long_block(self, block: np.ndarray, arrived: float) -> list[np.ndarray]:
        """A block of the long stream: the take's until the join, ignored after."""
        if self.joined or block.size == 0:
            return []
        if self.gave_up:
            return [block]
        self._long.append(block)
        self._long_frames += block.size
        self._long_kept += block.size
        while self._long_kept - self._long[0].size >= 2 * self.rate:  # no short stream yet: bound the memory
            self._long_kept -= self._long.pop(0).size
            self._history = self._history[:0]
        self._anchor = (self._long_frames, arrived)
        return [block, *self._try_join()]

    def short_block(self, block: np.ndarray, arrived: float) -> list[np.ndarray]:
        """A block of the short stream: held back until the join, the take's after it."""
        if block.size == 0 or self.gave_up:
            return []
        if self.joined:
            if self._skip:
                dropped, self._skip = min(self._skip, block.size), max(0, self._skip - block.size)
                block = block[dropped:]
            return [block] if block.size else []
        if self._short_start is None:
            self._short_start = arrived - block.size / self.rate
        self._short.append(block)
        self._short_frames += block.size
        return self._try_join()

    def _estimate(self) -> int | None:
        if self._anchor is None or self._short_start is None:
            return None
        frame, at = self._anchor
        return frame + round((self._short_start - at) * self.rate)

    def _try_join(self) -> list[np.ndarray]:
        estimate = self._estimate()
        if estimate is None or self._short_frames < self._match:
            return []
        if self._long_frames < estimate + self._match + self._search:
            if self._short_frames < self.rate * GIVE_UP_SECONDS:
                return []  # the long stream's next block will cover the short stream's start
            return self._give_up("the idle stream never reached the take's stream")
        base = self._history.size + self._long_kept - self._long_frames  # where long frame 0 is in `known`
        known = np.concatenate([self._history, *self._long])
        head = np.concatenate(self._short)[: self._match]
        found = locate(known, head, estimate + base, self._search, self._exact_search)
        if found.method == "timed":
            around = known[max(0, found.offset - self._search): found.offset + self._match + self._search]
            if not (around.size and np.all(around == head[0]) and np.all(head == head[0])):
                return self._give_up("no match for the take's stream in the idle one")
        self.join = Join(found.offset - base, estimate, found.method)
        skip = self._long_frames - self.join.offset  # short-stream frames the take already has
        if skip < 0:  # only where both streams are one flat value: nothing of substance is lost
            log.debug("%d flat frames skipped where the input streams were joined", -skip)
        log.debug("input streams joined (%s) %+d frames from the time estimate",
                  self.join.method, self.join.offset - self.join.estimate)
        short = np.concatenate(self._short)
        self._skip = max(0, skip - short.size)
        short = short[max(0, skip):]
        self._long, self._short, self._history = [], [], self._history[:0]
        return [short] if short.size else []

    def _give_up(self, why: str) -> list[np.ndarray]:
        log.debug("the take stays on the idle stream's blocks: %s", why)
        self.gave_up = True
        self._long, self._short, self._history = [], [], self._history[:0]
        return []
