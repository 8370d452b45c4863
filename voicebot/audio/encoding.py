"""Encoding an upload: Ogg/Opus or FLAC written as samples arrive, and what was prepared.

A take is encoded while it is recorded (TakeEncoder), so when the key comes up its upload
is ready but for the last block; its levels are kept on the way, so the silence guard
needs no second pass. Opus at 16 kHz mono is about 3.3 KB per second of speech, a sixth
of FLAC, and transparent for speech recognition.
"""

from __future__ import annotations

import io
from array import array
from dataclasses import dataclass, field

import numpy as np
import soundfile as sf
import soxr

from voicebot.audio.samples import (
    FRAME_SECONDS,
    RESAMPLE_QUALITY,
    TARGET_RATE,
    _frame_length,
    frame_levels_dbfs,
    speech_present,
    to_float,
    to_mono,
    to_pcm16,
    voiced_seconds,
)
from voicebot.errors import NoSpeechError


@dataclass(frozen=True)
class Codec:
    """How an upload is encoded: libsndfile's container and subtype, and how it is named."""

    name: str  # the `audio_format` setting's value
    container: str
    subtype: str
    filename: str
    content_type: str


CODECS: dict[str, Codec] = {
    "opus": Codec("opus", "OGG", "OPUS", "speech.ogg", "audio/ogg"),
    "flac": Codec("flac", "FLAC", "PCM_16", "speech.flac", "audio/flac"),
}
DEFAULT_CODEC = "opus"


def codec_named(name: str) -> Codec:
    """The codec for an `audio_format` value; ValueError for anything else."""
    try:
        return CODECS[name]
    except KeyError:
        raise ValueError(f"unknown audio format {name!r} (formats: {', '.join(CODECS)})") from None


def codec_of_container(container: str) -> Codec | None:
    """The codec that writes libsndfile's `container` ("OGG", "FLAC"), if it is one of ours."""
    return next((c for c in CODECS.values() if c.container == container), None)


@dataclass(frozen=True)
class PreparedAudio:
    """One upload ready for the speech-to-text endpoint, with what we know about it."""

    filename: str
    data: bytes = field(repr=False)  # megabytes of audio have no place in a repr or log
    content_type: str
    duration: float | None
    sample_rate: int | None
    channels: int | None
    source: str

    def as_upload(self) -> tuple[str, bytes, str]:
        """The (filename, bytes, content type) triple httpx takes for a multipart file."""
        return (self.filename, self.data, self.content_type)


class EncodedStream:
    """A mono file of one codec (Ogg/Opus or 16-bit FLAC) growing in memory as int16 blocks
    are written.

    The encoders emit pages/frames as they go, so `nbytes` tracks the upload's size while
    recording. Opus takes 8, 12, 16, 24 or 48 kHz; FLAC any rate.
    """

    def __init__(self, rate: int = TARGET_RATE, codec: str = DEFAULT_CODEC) -> None:
        self.rate = rate
        self.codec = codec_named(codec)
        self.frames = 0
        self._buffer = io.BytesIO()
        self._file: sf.SoundFile | None = sf.SoundFile(
            self._buffer, "w", samplerate=rate, channels=1, format=self.codec.container, subtype=self.codec.subtype
        )

    def write(self, pcm: np.ndarray) -> None:
        """Append int16 mono samples."""
        if self._file is None:
            raise ValueError("the encoded stream is closed")
        a = np.asarray(pcm)
        if a.dtype != np.int16 or a.ndim != 1:
            raise TypeError("EncodedStream takes 1-D int16 samples")
        if len(a):
            self._file.write(a)
            self.frames += len(a)

    @property
    def nbytes(self) -> int:
        """Bytes of encoded audio produced so far."""
        with self._buffer.getbuffer() as view:
            return view.nbytes

    def close(self) -> bytes:
        """Finish the stream (libsndfile rewrites the header) and return the whole file."""
        if self._file is not None:
            file, self._file = self._file, None
            file.close()
        return self._buffer.getvalue()

    def __del__(self) -> None:
        # An abandoned stream must close its SoundFile while the buffer still exists;
        # left to the garbage collector the buffer may go first and libsndfile complains.
        file, self._file = getattr(self, "_file", None), None
        if file is not None:
            file.close()


def encode(x: np.ndarray, rate: int, codec: str = DEFAULT_CODEC) -> bytes:
    """Mono audio (int16, or float in [-1, 1]) as one file of `codec` in memory."""
    stream = EncodedStream(rate, codec)
    stream.write(x if np.asarray(x).dtype == np.int16 else to_pcm16(to_float(x)))
    return stream.close()


class TakeEncoder:
    """Encodes one take while it is recorded, and keeps its speech statistics.

    Feed blocks (int16 or float, mono or (frames, channels)) at `input_rate` with `write`;
    other rates than 16 kHz are resampled on the fly. Levels are measured on the 16 kHz
    int16 samples actually encoded, so the verdict depends only on the upload's audio, not
    on block sizes. Not thread-safe: feed it from one thread (e.g. drain the device queue).
    """

    def __init__(self, input_rate: int = TARGET_RATE, *, source: str = "microphone",
                 codec: str = DEFAULT_CODEC) -> None:
        if input_rate <= 0:
            raise ValueError(f"sample rate must be positive, got {input_rate}")
        self.input_rate = input_rate
        self.source = source
        self._resampler = (
            None
            if input_rate == TARGET_RATE
            else soxr.ResampleStream(input_rate, TARGET_RATE, 1, dtype="float32", quality=RESAMPLE_QUALITY)
        )
        self._stream = EncodedStream(TARGET_RATE, codec)
        self._frame = _frame_length(TARGET_RATE, FRAME_SECONDS)
        self._pending = np.zeros(0, dtype=np.int16)  # samples short of a whole level frame
        self._levels = array("d")  # one level per 20 ms: 1.4 MB for an hour
        self._finished = False
        self._flushed = False  # the input has ended: no more writes

    def write(self, block: np.ndarray) -> np.ndarray:
        """Resample, quantise, encode and measure one block as it arrives; returns the 16 kHz
        int16 samples it became (what a long take's pieces are cut from: voicebot.audio.pieces)."""
        if self._finished or self._flushed:
            raise ValueError("take already finished")
        mono = to_mono(to_float(block))
        if self._resampler is not None:
            mono = self._resampler.resample_chunk(np.ascontiguousarray(mono, dtype=np.float32))
        pcm = to_pcm16(mono)
        self._encode(pcm)
        return pcm

    @property
    def duration(self) -> float:
        """Seconds of 16 kHz audio encoded so far."""
        return self._stream.frames / TARGET_RATE

    @property
    def voiced_seconds(self) -> float:
        """Voiced time so far, judged against the noise floor heard so far."""
        return voiced_seconds(self._level_array())

    def flush(self) -> np.ndarray:
        """End the input: encode what the resampler still holds, and return those samples."""
        if self._finished:
            raise ValueError("take already finished")
        resampler, self._resampler = self._resampler, None
        self._flushed = True
        if resampler is None:
            return np.zeros(0, dtype=np.int16)
        tail = to_pcm16(resampler.resample_chunk(np.zeros(0, dtype=np.float32), last=True))
        self._encode(tail)
        return tail

    def finish(self) -> PreparedAudio:
        """Flush, close and return the upload; NoSpeechError if the take held no speech."""
        self.flush()
        self._finished = True
        data = self._stream.close()
        if not speech_present(self._level_array()):
            raise NoSpeechError(f"no speech detected in {self.source}")
        return PreparedAudio(
            filename=self._stream.codec.filename,
            data=data,
            content_type=self._stream.codec.content_type,
            duration=self._stream.frames / TARGET_RATE,
            sample_rate=TARGET_RATE,
            channels=1,
            source=self.source,
        )

    def _level_array(self) -> np.ndarray:
        return np.array(self._levels, dtype=np.float64)  # a copy: the array may still grow

    def abort(self) -> None:
        """Drop a take that will not be sent (cancelled)."""
        self._finished = True
        self._stream.close()

    def _encode(self, pcm: np.ndarray) -> None:
        if len(pcm) == 0:
            return
        # No size check here: a take longer than one upload is split at pauses before it is
        # sent; memory stays bounded by max_take_seconds (takes) and MAX_FILE_SECONDS (files).
        self._stream.write(pcm)
        joined = np.concatenate((self._pending, pcm)) if len(self._pending) else pcm
        whole = len(joined) // self._frame * self._frame
        if whole:
            self._levels.frombytes(frame_levels_dbfs(joined[:whole], TARGET_RATE).tobytes())
        self._pending = joined[whole:].copy()


def prepare_array(x: np.ndarray, rate: int, *, source: str = "microphone",
                  codec: str = DEFAULT_CODEC) -> PreparedAudio:
    """One-shot preparation of samples already in memory (same path as a live take)."""
    encoder = TakeEncoder(rate, source=source, codec=codec)
    encoder.write(x)
    return encoder.finish()
