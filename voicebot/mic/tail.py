"""When a take ends after the key comes up: as soon as the audio is quiet, at most the release tail.

People often let go of the key while the last word is still sounding, so a take keeps
recording for up to `release_tail_ms` after the release. Waiting that long in full when the
speaker had already stopped only delays the answer. So the tail ends at the first level
frame after the release that closes a stretch of QUIET_SECONDS with no frame at speech
level; while speech goes on it runs on, up to the limit. The quiet stretch may begin
before the release (the common case: done speaking, then letting go, ends one frame after
the release) and must be longer than the gaps inside and between words, so a word still
being spoken is never cut.

"Quiet" is below audio.speech_threshold_dbfs over the take's own frames (above the absolute
floor and clearly above the take's noise floor, so steady hiss counts as quiet) and at least
PEAK_MARGIN_DB below the take's loudest frame: a take that is all one steady sound, or all
speech with no pause to learn the noise floor from, has nothing quiet in it, and keeps its
whole tail.
Pure: levels in, a verdict out; the microphone's Take calls it block by block.
"""

from __future__ import annotations

from array import array
from collections.abc import Sequence

import numpy as np

from voicebot.audio.samples import FRAME_SECONDS, frame_levels_dbfs, speech_threshold_dbfs

QUIET_SECONDS = 0.1  # longer than a stop closure or the gap between two words in a phrase
QUIET_FRAMES = round(QUIET_SECONDS / FRAME_SECONDS)
PEAK_MARGIN_DB = 26.0  # quiet is this far below the loudest frame: a word's fading "s" is ~20-23 dB down


def tail_is_over(levels: Sequence[float] | np.ndarray, frames_after_release: int, *,
                 quiet_frames: int = QUIET_FRAMES, threshold: float | None = None) -> bool:
    """Whether a take may end now, given its frame levels (dBFS, oldest first, all of them).

    `frames_after_release` of them arrived after the key came up; at least one must have.
    `threshold` defaults to the take's own (see the module docstring).
    """
    if frames_after_release < 1 or quiet_frames < 1:
        return frames_after_release >= 1
    lv = np.asarray(levels, dtype=np.float64)
    if lv.size < quiet_frames:
        return False
    limit = quiet_threshold(lv) if threshold is None else threshold
    return bool(np.all(lv[-quiet_frames:] < limit))


def quiet_threshold(levels: np.ndarray) -> float:
    """The level below which a frame of this take is quiet."""
    return min(speech_threshold_dbfs(levels), float(levels.max()) - PEAK_MARGIN_DB)


class LevelTrack:
    """The 20 ms frame levels of a take's audio as it arrives, whatever the block sizes."""

    def __init__(self, rate: int) -> None:
        self.rate = rate
        self._frame = max(1, round(rate * FRAME_SECONDS))
        self._carry = np.zeros(0, dtype=np.int16)
        self.levels = array("d")

    def add(self, block: np.ndarray) -> int:
        """Measure a mono int16 block; returns how many whole frames it completed."""
        joined = np.concatenate((self._carry, block)) if self._carry.size else block
        whole = joined.size // self._frame * self._frame
        if whole:
            self.levels.frombytes(frame_levels_dbfs(joined[:whole], self.rate).tobytes())
        self._carry = joined[whole:].copy()
        return whole // self._frame
