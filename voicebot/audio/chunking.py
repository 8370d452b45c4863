"""Long audio: split at pauses into uploads the API accepts (their texts are joined in
order by voicebot.stt.piece_texts).

Whisper takes one file of at most 25 MB per request, and a long dictation must not be
refused or cut mid-word. So audio longer than `max_chunk_seconds` (or bigger than the
upload limit) is cut where the speaker paused: within a search window just short of the
target length, at the stretch whose loudest 20 ms frame is quietest (levels as
voicebot.audio.files measures them). Only when the whole window is speech is the cut "hard",
at the quietest single frame. Because cuts fall in pauses, chunks do not overlap and no
word is transcribed twice, unlike blind fixed-length splitting, which needs overlap and
a fuzzy merge. Chunks without speech are not uploaded at all (Whisper invents text for
silence).

Nothing here knows about HTTP.
"""

from __future__ import annotations

import io
import itertools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import soundfile as sf

from voicebot.audio.encoding import CODECS, EncodedStream, codec_of_container
from voicebot.audio.files import MAX_UPLOAD_BYTES, check_upload_size
from voicebot.audio.samples import (
    FRAME_SECONDS,
    MIN_VOICED_SECONDS,
    TARGET_RATE,
    frame_levels_dbfs,
    speech_threshold_dbfs,
)

FRAME = round(TARGET_RATE * FRAME_SECONDS)  # samples per level frame (320)
PAUSE_RADIUS = 5  # a pause is 2*5+1 = 11 quiet frames (220 ms): longer than gaps inside words
MAX_SEARCH_SECONDS = 60.0  # look this far back from the target length for a pause
SEARCH_FRACTION = 0.25  # ...but never more than this share of a chunk
# 16-bit mono at 16 kHz is 32 000 bytes a second before FLAC compresses it; a chunk this
# long fits the upload limit even as incompressible noise (FLAC frames add well under 3 %;
# Opus is a fixed bitrate far below that).
UPLOAD_SAFE_SECONDS = MAX_UPLOAD_BYTES * 0.97 / (TARGET_RATE * 2)
PCM_BYTES_PER_SECOND = TARGET_RATE * 2
READ_BLOCK = FRAME * 100  # 2 s blocks, whole level frames, when decoding for analysis
Upload = tuple[str, bytes, str]


# --------------------------------------------------------------------------- cut points


@dataclass(frozen=True)
class Cut:
    """Where one chunk ends and the next begins, as a level-frame index.

    `hard`: the search window held no pause, so the cut falls inside speech (at its
    quietest frame).
    """

    frame: int
    hard: bool = False


@dataclass(frozen=True)
class Chunk:
    """One piece of a long recording, in level frames [start, end) and sample bounds."""

    index: int
    start: int
    end: int
    voiced_frames: int
    hard_cut: bool  # this chunk ends in a hard cut

    @property
    def start_seconds(self) -> float:
        return self.start * FRAME_SECONDS

    @property
    def end_seconds(self) -> float:
        return self.end * FRAME_SECONDS

    @property
    def voiced_seconds(self) -> float:
        return self.voiced_frames * FRAME_SECONDS

    @property
    def has_speech(self) -> bool:
        """Worth uploading: enough voiced time that Whisper has words to hear."""
        return self.voiced_seconds >= MIN_VOICED_SECONDS - 1e-9


def sliding_max(levels: np.ndarray, radius: int) -> np.ndarray:
    """Loudest level within `radius` frames of each frame (the window shrinks at the ends)."""
    lv = np.asarray(levels, dtype=np.float64)
    if radius <= 0 or lv.size == 0:
        return lv.copy()
    padded = np.pad(lv, radius, mode="constant", constant_values=-np.inf)
    return np.lib.stride_tricks.sliding_window_view(padded, 2 * radius + 1).max(axis=1)


def _last_argmin(values: np.ndarray) -> int:
    """Index of the minimum, the latest one on ties (longer chunks, fewer requests)."""
    return int(values.size - 1 - np.argmin(values[::-1]))


def choose_cut(levels: np.ndarray, lo: int, hi: int, threshold: float,
               radius: int = PAUSE_RADIUS, neighbourhood: np.ndarray | None = None) -> Cut:
    """The cut frame in [lo, hi]: the middle of the quietest pause, or a hard cut.

    A frame qualifies as a pause when every frame within `radius` of it is below the
    speech threshold; among those the one whose neighbourhood is quietest wins. With no
    pause in the window the cut is hard, at the quietest single frame.
    """
    if not 0 <= lo <= hi < len(levels):
        raise ValueError(f"search window [{lo}, {hi}] outside {len(levels)} frames")
    near = sliding_max(levels, radius) if neighbourhood is None else neighbourhood
    best = lo + _last_argmin(near[lo : hi + 1])
    if near[best] < threshold:
        return Cut(best)
    return Cut(lo + _last_argmin(np.asarray(levels[lo : hi + 1], dtype=np.float64)), hard=True)


def search_frames(max_frames: int) -> int:
    """How far back from the target length a pause is looked for."""
    return max(1, min(round(MAX_SEARCH_SECONDS / FRAME_SECONDS), int(max_frames * SEARCH_FRACTION)))


def plan_cuts(levels: np.ndarray, max_frames: int, threshold: float | None = None,
              radius: int = PAUSE_RADIUS) -> list[Cut]:
    """Cut points so that no chunk is longer than `max_frames`, each at a pause if one is near."""
    lv = np.asarray(levels, dtype=np.float64)
    if max_frames < 2:
        raise ValueError("a chunk must hold at least two frames")
    limit = speech_threshold_dbfs(lv) if threshold is None else threshold
    near = sliding_max(lv, radius)
    window = search_frames(max_frames)
    cuts: list[Cut] = []
    start = 0
    while len(lv) - start > max_frames:
        hi = start + max_frames
        cut = choose_cut(lv, max(start + 1, hi - window), hi, limit, radius, near)
        cuts.append(cut)
        start = cut.frame
    return cuts


def plan_chunks(levels: np.ndarray, max_frames: int, threshold: float | None = None) -> list[Chunk]:
    """The chunks between the cuts, with each one's voiced time (the last runs to the end)."""
    lv = np.asarray(levels, dtype=np.float64)
    limit = speech_threshold_dbfs(lv) if threshold is None else threshold
    cuts = plan_cuts(lv, max_frames, limit)
    bounds = [0, *(c.frame for c in cuts), len(lv)]
    hard = [c.hard for c in cuts] + [False]
    voiced = lv >= limit
    return [Chunk(i, a, b, int(np.count_nonzero(voiced[a:b])), hard[i])
            for i, (a, b) in enumerate(itertools.pairwise(bounds))]


def max_chunk_frames(max_seconds: float, max_bytes: int = MAX_UPLOAD_BYTES) -> int:
    """Frames per chunk: the configured length, never more than fits one upload."""
    safe = UPLOAD_SAFE_SECONDS if max_bytes == MAX_UPLOAD_BYTES else max_bytes * 0.97 / PCM_BYTES_PER_SECOND
    return max(2, int(min(max_seconds, safe) / FRAME_SECONDS))


# --------------------------------------------------------------------------- audio


@dataclass(frozen=True)
class Analysis:
    """What the splitter learnt from decoding a 16 kHz mono upload."""

    samples: int
    levels: np.ndarray
    container: str = "FLAC"  # libsndfile's name for the upload's container ("OGG", "FLAC", ...)

    @property
    def duration(self) -> float:
        return self.samples / TARGET_RATE


def _open_16k_mono(data: bytes) -> sf.SoundFile | None:
    """The upload as a readable 16 kHz mono stream, or None (passthrough containers, other audio)."""
    try:
        sound = sf.SoundFile(io.BytesIO(data))
    except (sf.LibsndfileError, RuntimeError, ValueError, TypeError):
        return None
    if sound.samplerate != TARGET_RATE or sound.channels != 1:
        sound.close()
        return None
    return sound


def duration_of(data: bytes) -> float | None:
    """Seconds of a 16 kHz mono upload, from its header; None for anything else."""
    sound = _open_16k_mono(data)
    if sound is None:
        return None
    with sound:
        return sound.frames / TARGET_RATE


def analyse(data: bytes) -> Analysis | None:
    """Decode a 16 kHz mono upload block by block into its 20 ms frame levels.

    The levels are those TakeEncoder measured while recording (same samples, same
    framing), so a cut is judged on exactly the audio that will be sent.
    """
    sound = _open_16k_mono(data)
    if sound is None:
        return None
    parts: list[np.ndarray] = []
    samples = 0
    with sound:
        while True:
            block = sound.read(READ_BLOCK, dtype="int16")
            if len(block) == 0:
                break
            samples += len(block)
            parts.append(frame_levels_dbfs(block, TARGET_RATE))
    levels = np.concatenate(parts) if parts else np.zeros(0, dtype=np.float64)
    return Analysis(samples, levels, str(sound.format))


def encode_chunks(data: bytes, chunks: Sequence[Chunk], total_samples: int, source: str = "the recording",
                  max_bytes: int = MAX_UPLOAD_BYTES, codec: str | None = None) -> Iterator[tuple[Chunk, bytes]]:
    """Each chunk that holds speech as its own upload, in `codec` (default the recording's
    own: Opus stays Opus, anything else becomes FLAC), in order; silent ones are skipped.

    The last chunk also takes the samples after the last whole level frame.
    """
    sound = _open_16k_mono(data)
    if sound is None:
        raise ValueError("only 16 kHz mono audio can be split")
    codec = codec or piece_codec(sound.format)
    with sound:
        for chunk in chunks:
            first = chunk.start * FRAME
            last = total_samples if chunk is chunks[-1] else chunk.end * FRAME
            if not chunk.has_speech:
                continue
            sound.seek(first)
            stream = EncodedStream(TARGET_RATE, codec)
            remaining = last - first
            while remaining > 0:
                block = sound.read(min(READ_BLOCK, remaining), dtype="int16")
                if len(block) == 0:
                    break
                stream.write(np.ascontiguousarray(block))
                remaining -= len(block)
            encoded = stream.close()
            check_upload_size(len(encoded), f"{source} (part {chunk.index + 1})", max_bytes)
            yield chunk, encoded


def piece_codec(container: str) -> str:
    """The codec pieces of a recording in libsndfile's `container` are encoded with."""
    own = codec_of_container(container)
    return own.name if own is not None else "flac"


@dataclass(frozen=True)
class SplitAudio:
    """What goes up for one recording: one upload, or several pieces cut at pauses.

    `speech_seconds` is the voiced time when the audio was analysed (else None), the
    yardstick for the words-per-second check.
    """

    uploads: tuple[Upload, ...]
    duration: float | None
    speech_seconds: float | None
    chunks: tuple[Chunk, ...] = ()

    @property
    def split(self) -> bool:
        return len(self.chunks) > 1


def needs_split(nbytes: int, duration: float | None, max_seconds: float,
                max_bytes: int = MAX_UPLOAD_BYTES) -> bool:
    """Whether one upload would be too big or longer than the configured chunk length."""
    return nbytes > max_bytes or (duration is not None and duration > max_seconds)


def split_upload(upload: Upload, *, max_seconds: float, source: str = "the recording",
                 max_bytes: int = MAX_UPLOAD_BYTES, codec: str | None = None) -> SplitAudio:
    """The uploads for one recording: unchanged when it fits, else chunks cut at pauses.

    Audio that fits goes up without a decoding pass (its header gives its length), so
    a spoken question is not delayed; `speech_seconds_of` can measure it meanwhile.
    Uploads voicebot cannot decode (m4a/mp4/webm) always go up as they are. Pieces are
    encoded with `codec` (default: the recording's own, Opus or FLAC).
    """
    _, data, _ = upload
    duration = duration_of(data)
    if duration is None:
        return SplitAudio((upload,), None, None)
    if not needs_split(len(data), duration, max_seconds, max_bytes):
        return SplitAudio((upload,), duration, None)
    found = analyse(data)
    if found is None:  # header said 16 kHz mono, the body did not decode: let the API judge it
        return SplitAudio((upload,), duration, None)
    threshold = speech_threshold_dbfs(found.levels)
    chunks = plan_chunks(found.levels, max_chunk_frames(max_seconds, max_bytes), threshold)
    chosen = CODECS[codec or piece_codec(found.container)]
    pieces = [(chosen.filename, encoded, chosen.content_type)
              for _, encoded in encode_chunks(data, chunks, found.samples, source, max_bytes, chosen.name)]
    voiced = sum(c.voiced_seconds for c in chunks)
    return SplitAudio(tuple(pieces), found.duration, voiced, tuple(chunks))


def speech_seconds_of(data: bytes) -> float | None:
    """Voiced time of a 16 kHz mono upload (None for anything else), judged as the splitter does."""
    found = analyse(data)
    if found is None or found.levels.size == 0:
        return None
    lv = found.levels
    return int(np.count_nonzero(lv >= speech_threshold_dbfs(lv))) * FRAME_SECONDS
