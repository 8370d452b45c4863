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

MATCH_SECONDS = 0.02  # the short stream's first frames, left out of the look-up (a resampler warming up)
SEARCH_SECONDS = 0.05  # how far from the time estimate a best (not exact) match may lie, each way
EXACT_SEARCH_SECONDS = 0.5  # an exact or clear best one: streams of one source differ in latency (seen: 80 ms)
GIVE_UP_SECONDS = 1.0  # short-stream audio held back at most while the long stream catches up
MIN_CORRELATION = 0.98  # a best match below this is no match (a vowel shifted by one pitch period comes close)
MIN_MARGIN = 0.02  # a best match far from the estimate must beat every other fit by this much
PEAK_WIDTH = 3  # samples either side of a best match that belong to the same peak
HEAD_SECONDS = 0.1  # how much of the short stream's first sound is looked up in the long one


@dataclass(frozen=True)
class Join:
    """Where the streams were joined: the long stream's frame that the short stream's frame 0 is."""

    offset: int
    estimate: int  # what the arrival times said
    method: str  # "exact", "correlated" or "timed"


def _exact_offsets(long_audio: np.ndarray, head: np.ndarray) -> np.ndarray:
    """Every offset at which `head` stands sample for sample in `long_audio`.

    Candidates are narrowed a few samples at a time, so a long search costs little more than
    one comparison of the long audio with the head's first sample.
    """
    n = head.size
    candidates = np.flatnonzero(long_audio[: long_audio.size - n + 1] == head[0])
    for i in (1, 2, 3, n // 2, n - 1):
        if candidates.size == 0:
            break
        candidates = candidates[long_audio[candidates + i] == head[i]]
    if candidates.size == 0:
        return candidates
    windows = np.lib.stride_tricks.sliding_window_view(long_audio, n)[candidates]
    return candidates[(windows == head).all(axis=1)]


def _correlation(long_audio: np.ndarray, head: np.ndarray) -> np.ndarray:
    """The normalised correlation of `head` with every window of `long_audio` (via FFT)."""
    n = head.size
    x = long_audio.astype(np.float64)
    b = head.astype(np.float64) - head.mean()
    size = 1 << (x.size + n - 1).bit_length()
    dots = np.fft.irfft(np.fft.rfft(x, size) * np.conj(np.fft.rfft(b, size)), size)[: x.size - n + 1]
    sums = np.concatenate([[0.0], np.cumsum(x)])
    squares = np.concatenate([[0.0], np.cumsum(x * x)])
    window_sum = sums[n:] - sums[:-n]
    energy = (squares[n:] - squares[:-n]) - window_sum * window_sum / n  # n × the window's variance
    norms = np.sqrt(np.maximum(energy, 0.0) * float((b * b).sum()))
    return np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 1e-6 * max(1.0, float(norms.max(initial=0))))


def _unique_peak(corr: np.ndarray, first: int, last: int) -> int | None:
    """The best offset in corr[first:last + 1] if it is a clear winner, else None.

    A vowel repeats every pitch period, so the head also fits one period off; a winner must
    beat every fit farther than `PEAK_WIDTH` samples from it by `MIN_MARGIN`.
    """
    if last < first:
        return None
    part = corr[first: last + 1]
    best = int(np.argmax(part))
    if part[best] < MIN_CORRELATION:
        return None
    others = np.concatenate([part[: max(0, best - PEAK_WIDTH)], part[best + PEAK_WIDTH + 1:]])
    if others.size and part[best] - others.max() < MIN_MARGIN:
        return None
    return best + first


def locate(long_audio: np.ndarray, short_head: np.ndarray, estimate: int, search: int,
           exact_search: int | None = None) -> Join:
    """The offset in `long_audio` at which `short_head` starts, looked for around `estimate`.

    An exact match counts within `exact_search` of the estimate (default `search`; None or
    negative: anywhere in `long_audio`), the nearest one winning. A best (not exact) match
    counts within `search`, or anywhere `exact_search` reaches when it is a clear winner
    there: each stream of a sound server can have its own latency, which skews the estimate.
    """
    n = short_head.size
    if n == 0 or n > long_audio.size or np.ptp(short_head) == 0:
        return Join(estimate, estimate, "timed")
    wide = search if exact_search is None else max(search, exact_search)
    exact = _exact_offsets(long_audio, short_head)
    exact = exact[np.abs(exact - estimate) <= wide]
    if exact.size:
        return Join(int(exact[np.argmin(np.abs(exact - estimate))]), estimate, "exact")
    corr = _correlation(long_audio, short_head)
    top = corr.size - 1
    found = _unique_peak(corr, max(0, estimate - wide), min(top, estimate + wide))
    if found is None:
        found = _unique_peak(corr, max(0, estimate - search), min(top, estimate + search))
    if found is not None:
        return Join(found, estimate, "correlated")
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
        self._head = round(rate * HEAD_SECONDS)
        keep = self._head + self._exact_search  # a new stream may start with audio from before the key press
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
        self._searched_until = -1  # the long stream's length at the last search

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
        lead = self._match  # a new stream's first frames pass through a resampler still warming up
        if estimate is None or self._short_frames < lead + self._match:
            return []
        timed_out = self._short_frames >= self.rate * GIVE_UP_SECONDS
        short = np.concatenate(self._short)
        sound = np.flatnonzero(short[lead:] != short[lead])
        if not sound.size:
            return self._try_flat_join(estimate, short, timed_out)
        # The head looked up in the long stream starts at the short stream's first sound (a key
        # pressed in digital silence has nothing to match until the words begin) and spans a few
        # phonemes: one vowel, resampled by the sound server, fits a pitch period off as well.
        at = lead + int(sound[0])
        if self._short_frames < at + self._head:
            return []  # the head is not whole yet
        estimate += at  # where the head should be
        if self._long_frames < estimate + self._head + self._search:
            if not timed_out:
                return []  # the long stream's next block will cover the head
            return self._give_up("the idle stream never reached the take's stream")
        if self._long_frames == self._searched_until and not timed_out:
            return []  # nothing new to look in since the last search
        self._searched_until = self._long_frames
        # Each stream of a sound server has its own latency, so the estimate can be off by more
        # than `search`: until the long stream covers the whole wider window, only an exact match
        # or a best one near the estimate is taken; after that, a clear best one anywhere in it.
        complete = self._long_frames >= estimate + self._head + self._exact_search or timed_out
        base = self._history.size + self._long_kept - self._long_frames  # where long frame 0 is in `known`
        known = np.concatenate([self._history, *self._long])
        found = locate(known, short[at: at + self._head], estimate + base, self._search, self._exact_search)
        far = found.method == "correlated" and abs(found.offset - found.estimate) > self._search
        if found.method == "timed" or far:
            if not complete:
                return []  # the match may still be on its way in the long stream
            if found.method == "timed":
                return self._give_up("no match for the take's stream in the idle one")
        return self._joined(Join(found.offset - base - at, estimate - at, found.method), short)

    def _try_flat_join(self, estimate: int, short: np.ndarray, timed_out: bool) -> list[np.ndarray]:
        """Join two streams that are one flat value (digital silence) by the arrival times.

        The estimate may be off by up to `exact_search`, so around the join the take skips or
        repeats up to that much: harmless only where both streams are flat all along it, and
        the short stream is known (flat) up to the join, so no sound can fall in the gap.
        """
        value = short[self._match]
        known = np.concatenate([self._history, *self._long])
        if (self._long_frames - estimate <= short.size
                and known.size and np.all(known[-self._exact_search:] == value)):
            return self._joined(Join(estimate, estimate, "timed"), short)
        if timed_out:
            return self._give_up("no sound to find the take's stream by in the idle one")
        return []  # wait for the words (or for more silence on the short stream)

    def _joined(self, join: Join, short: np.ndarray) -> list[np.ndarray]:
        self.join = join
        skip = self._long_frames - join.offset  # short-stream frames the take already has
        if skip < 0:  # only where both streams are one flat value: nothing of substance is lost
            log.debug("%d flat frames skipped where the input streams were joined", -skip)
        log.debug("input streams joined (%s) %+d frames from the time estimate", join.method,
                  join.offset - join.estimate)
        self._skip = max(0, skip - short.size)
        short = short[max(0, skip):]
        self._long, self._short, self._history = [], [], self._history[:0]
        return [short] if short.size else []

    def _give_up(self, why: str) -> list[np.ndarray]:
        log.debug("the take stays on the idle stream's blocks: %s", why)
        self.gave_up = True
        self._long, self._short, self._history = [], [], self._history[:0]
        return []
