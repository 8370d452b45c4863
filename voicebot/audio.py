"""Audio preparation: whatever the user recorded becomes a small 16 kHz mono upload.

Groq downsamples to 16 kHz mono itself, so sending exactly that costs nothing in
accuracy. The codec is a setting (`audio_format`): Ogg/Opus by default, about 3.3 KB per
second of speech (a sixth of FLAC's ~20 KB/s, so a take is up a slow uplink in a few
tens of milliseconds) and transparent for speech recognition; or lossless FLAC.
Everything streams: files are decoded block by block and microphone takes are encoded
while they are recorded, so memory is bounded by the (compressed) upload, never by the
input.

Silent audio is never uploaded, because Whisper invents text for it. Speech presence is
judged from 20 ms frame energies in dBFS against an absolute floor and the recording's
own noise floor; gain is never normalised, since that would turn hiss into "speech".

Nothing here knows about HTTP or audio devices.
"""

from __future__ import annotations

import io
import os
from array import array
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import soundfile as sf
import soxr

from voicebot.errors import NoSpeechError, UsageError

TARGET_RATE = 16_000  # what the speech API wants (and what the microphone is asked for first)
MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # Groq's per-file limit (free tier); a parameter where it is checked


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


FRAME_SECONDS = 0.02  # 20 ms analysis frames: short enough to follow syllables
SILENCE_DBFS = -120.0  # level reported for digital silence, so levels stay finite
ABSOLUTE_FLOOR_DBFS = -55.0  # quieter than this is never speech, whatever the recording
NOISE_MARGIN_DB = 10.0  # a voiced frame stands this far above the recording's noise floor
NOISE_PERCENTILE = 10.0  # the quietest tenth of frames estimates the noise floor
MIN_VOICED_SECONDS = 0.25  # less voiced time than this is a click or a cough, not a request

READ_BLOCK_FRAMES = 32_768  # decode granularity: bounded memory whatever the file length
# Longest input file accepted, judged from its header before any sample is decoded: a
# multi-gigabyte file (or a header that lies) is refused at once instead of being
# decoded for minutes. Four hours is far beyond any spoken request or dictation.
MAX_FILE_SECONDS = 4 * 3600
RESAMPLE_QUALITY = "HQ"

# Containers the API accepts but libsndfile cannot decode: uploaded unchanged.
PASSTHROUGH_TYPES: dict[str, str] = {"m4a": "audio/mp4", "mp4": "audio/mp4", "webm": "audio/webm"}
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"


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


# --------------------------------------------------------------------------- pure helpers


def to_float(x: np.ndarray) -> np.ndarray:
    """Samples as float32 in [-1, 1] full scale, NaN/inf replaced so filters stay finite.

    Integer PCM is scaled by its type's full scale; float input beyond full scale is
    clipped here because it is distorted already and would only overflow later stages.
    """
    a = np.asarray(x)
    if a.dtype.kind in "iu":
        half = 2.0 ** (8 * a.dtype.itemsize - 1)
        offset = half if a.dtype.kind == "u" else 0.0
        return ((a.astype(np.float64) - offset) / half).astype(np.float32)
    if a.dtype.kind != "f":
        raise TypeError(f"audio samples must be integer or float, not {a.dtype}")
    clean = np.clip(np.nan_to_num(a, nan=0.0, posinf=1.0, neginf=-1.0), -1.0, 1.0)
    return clean.astype(np.float32, copy=False)


def to_mono(x: np.ndarray) -> np.ndarray:
    """Average the channels of a (frames, channels) array; 1-D input is already mono.

    Averaging (not summing) cannot clip, and speech is usually the same in every channel.
    """
    a = np.asarray(x)
    if a.ndim == 1:
        return a
    if a.ndim != 2:
        raise ValueError(f"audio must be 1-D or (frames, channels), not {a.ndim}-D")
    if a.shape[1] == 1:
        return a[:, 0]
    dtype = a.dtype if a.dtype.kind == "f" else np.float64
    return a.mean(axis=1, dtype=np.float64).astype(dtype)


def resample(x: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Band-limited rate conversion with soxr, so nothing above the new Nyquist aliases."""
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {src_rate} and {dst_rate}")
    a = np.asarray(x)
    if src_rate == dst_rate or len(a) == 0:
        return a
    return soxr.resample(a, src_rate, dst_rate, quality=RESAMPLE_QUALITY)


def to_pcm16(x: np.ndarray) -> np.ndarray:
    """Float samples quantised to int16 with the 32768 scale libsndfile reads back with."""
    f = np.clip(np.nan_to_num(np.asarray(x, dtype=np.float64)), -1.0, 1.0)
    return np.clip(np.round(f * 32768.0), -32768, 32767).astype(np.int16)


def encode(x: np.ndarray, rate: int, codec: str = DEFAULT_CODEC) -> bytes:
    """Mono audio (int16, or float in [-1, 1]) as one file of `codec` in memory."""
    stream = EncodedStream(rate, codec)
    stream.write(x if np.asarray(x).dtype == np.int16 else to_pcm16(to_float(x)))
    return stream.close()


def level_dbfs(block: np.ndarray) -> float:
    """RMS level of a block in dBFS (0 = full-scale square wave), for a live level meter.

    Digital silence and empty blocks report SILENCE_DBFS rather than -inf.
    """
    f = to_mono(to_float(block))
    if f.size == 0:
        return SILENCE_DBFS
    power = float(np.mean(np.square(f, dtype=np.float64)))
    return _power_to_dbfs(power)


def frame_levels_dbfs(x: np.ndarray, rate: int, frame_seconds: float = FRAME_SECONDS) -> np.ndarray:
    """RMS level of each whole, non-overlapping frame in dBFS (a trailing partial frame is
    dropped, so levels depend only on frame alignment, never on how audio was chunked)."""
    frame = _frame_length(rate, frame_seconds)
    f = to_mono(to_float(x))
    count = len(f) // frame
    if count == 0:
        return np.zeros(0, dtype=np.float64)
    frames = f[: count * frame].astype(np.float64).reshape(count, frame)
    power = np.mean(np.square(frames), axis=1)
    with np.errstate(divide="ignore"):
        levels = 10.0 * np.log10(power)
    return np.maximum(levels, SILENCE_DBFS)


def speech_threshold_dbfs(levels: np.ndarray) -> float:
    """Level a frame must reach to count as voiced: above the absolute floor and clearly
    above this recording's own noise floor (so steady hiss or hum never qualifies)."""
    lv = np.asarray(levels, dtype=np.float64)
    if lv.size == 0:
        return ABSOLUTE_FLOOR_DBFS
    noise_floor = float(np.percentile(lv, NOISE_PERCENTILE))
    return max(ABSOLUTE_FLOOR_DBFS, noise_floor + NOISE_MARGIN_DB)


def voiced_seconds(levels: np.ndarray, frame_seconds: float = FRAME_SECONDS) -> float:
    """Total duration of the frames that pass the speech threshold."""
    lv = np.asarray(levels, dtype=np.float64)
    if lv.size == 0:
        return 0.0
    return int(np.count_nonzero(lv >= speech_threshold_dbfs(lv))) * frame_seconds


def speech_present(
    levels: np.ndarray,
    frame_seconds: float = FRAME_SECONDS,
    min_voiced: float = MIN_VOICED_SECONDS,
) -> bool:
    """Whether frame levels (from frame_levels_dbfs) hold enough voiced time to upload."""
    return voiced_seconds(levels, frame_seconds) >= min_voiced - 1e-9


def check_upload_size(nbytes: int, source: str, max_bytes: int = MAX_UPLOAD_BYTES) -> None:
    """The upload limit, for what cannot be split (m4a/mp4/webm) and as each chunk's last guard.

    Decoded audio longer than the limit allows is split at pauses (voicebot.chunking), so
    takes and files are never refused for their length alone.
    """
    if nbytes > max_bytes:
        raise UsageError(
            f"audio from {source} is {_megabytes(nbytes)} once prepared, "
            f"over the {_megabytes(max_bytes)} upload limit",
            hint="record or pass a shorter piece",
        )


def check_file_duration(frames: int, rate: int, source: str) -> None:
    """Refuse a file whose header announces more than MAX_FILE_SECONDS, before decoding it."""
    if rate <= 0:
        raise UsageError(f"cannot use {source}: its header gives no sample rate")
    seconds = frames / rate
    if seconds > MAX_FILE_SECONDS:
        raise UsageError(
            f"cannot use {source}: it holds {seconds / 3600:.1f} h of audio, over the "
            f"{MAX_FILE_SECONDS / 3600:g} h limit for one file",
            hint="split it into shorter pieces",
        )


def sniff_passthrough(head: bytes) -> str | None:
    """Which accepted-but-undecodable container the first bytes announce, if any.

    ISO-BMFF files carry `ftyp` at offset 4 (brand `M4A ` marks audio-only m4a);
    WebM/Matroska files start with the EBML magic 1A 45 DF A3.
    """
    if len(head) >= 12 and head[4:8] == b"ftyp":
        return "m4a" if head[8:12] in (b"M4A ", b"M4B ") else "mp4"
    if head.startswith(_EBML_MAGIC):
        return "webm"
    return None


def _frame_length(rate: int, frame_seconds: float) -> int:
    if rate <= 0:
        raise ValueError(f"sample rate must be positive, got {rate}")
    return max(1, round(rate * frame_seconds))


def _power_to_dbfs(power: float) -> float:
    if power <= 0.0:
        return SILENCE_DBFS
    return max(SILENCE_DBFS, 10.0 * float(np.log10(power)))


def _megabytes(nbytes: int) -> str:
    return f"{nbytes / (1024 * 1024):.1f} MB"


# --------------------------------------------------------------------------- streaming


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
        int16 samples it became (what a long take's pieces are cut from: voicebot.pieces)."""
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


# --------------------------------------------------------------------------- files


def prepare_array(x: np.ndarray, rate: int, *, source: str = "microphone",
                  codec: str = DEFAULT_CODEC) -> PreparedAudio:
    """One-shot preparation of samples already in memory (same path as a live take)."""
    encoder = TakeEncoder(rate, source=source, codec=codec)
    encoder.write(x)
    return encoder.finish()


def prepare_file(path: str | os.PathLike[str], codec: str = DEFAULT_CODEC, *,
                 max_bytes: int = MAX_UPLOAD_BYTES, whole_seconds: float | None = None) -> PreparedAudio:
    """Turn an audio file into an upload: decoded formats become 16 kHz mono `codec`; m4a,
    mp4 and webm (recognised by their magic bytes) go up unchanged.

    A file longer than `whole_seconds` will be split into pieces (voicebot.chunking), which
    are encoded then: it becomes lossless FLAC here, so Opus (30x slower to encode than
    FLAC) encodes each sample once, never twice, and no piece is a lossy copy of a copy.

    Raises UsageError (one line naming the file) for anything that is not usable audio,
    and NoSpeechError for decodable audio without speech.
    """
    name = os.fspath(path)
    try:
        handle = open(name, "rb")  # noqa: PTH123, SIM115 - closed below, errors mapped first
    except FileNotFoundError:
        raise UsageError(f"cannot read {name}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"cannot read {name}: it is a directory, not an audio file") from None
    except PermissionError:
        raise UsageError(f"cannot read {name}: permission denied") from None
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
    with handle:
        try:
            head = handle.read(16)
        except OSError as exc:  # e.g. EISDIR on platforms where open() succeeds
            raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
        if not head:
            raise UsageError(f"cannot use {name}: the file is empty")
        container = sniff_passthrough(head)
        handle.seek(0)
        if container is not None:
            return _passthrough(handle, name, container, max_bytes)
        return _decode(handle, name, codec, whole_seconds)


def _passthrough(handle: BinaryIO, name: str, container: str, max_bytes: int) -> PreparedAudio:
    """Upload the file as it is, named with its own extension when that fits the container."""
    own = os.path.splitext(name)[1].lower().lstrip(".")
    compatible = {"m4a": ("m4a", "mp4"), "mp4": ("mp4", "m4a"), "webm": ("webm",)}[container]
    ext = own if own in compatible else container
    check_upload_size(os.fstat(handle.fileno()).st_size, name, max_bytes)  # before reading it all in
    data = handle.read()
    check_upload_size(len(data), name, max_bytes)
    return PreparedAudio(
        filename=f"speech.{ext}",
        data=data,
        content_type=PASSTHROUGH_TYPES[ext],
        duration=None,
        sample_rate=None,
        channels=None,
        source=name,
    )


def _decode(handle: BinaryIO, name: str, codec: str, whole_seconds: float | None) -> PreparedAudio:
    """Stream-decode with libsndfile into a TakeEncoder, block by block."""
    try:
        sound = sf.SoundFile(handle)
    except (sf.LibsndfileError, RuntimeError, ValueError):
        raise UsageError(
            f"cannot use {name}: not an audio file (expected wav, flac, ogg, mp3, m4a, mp4 or webm)"
        ) from None
    with sound:
        check_file_duration(sound.frames, sound.samplerate, name)
        if whole_seconds is not None and sound.frames > whole_seconds * sound.samplerate:
            codec = "flac"  # split later, each piece encoded in the chosen codec once
        encoder = TakeEncoder(sound.samplerate, source=name, codec=codec)
        while True:
            try:
                block = sound.read(READ_BLOCK_FRAMES, dtype="float32", always_2d=True)
            except (sf.LibsndfileError, RuntimeError) as exc:
                raise UsageError(f"cannot decode {name}: {exc}") from None
            if len(block) == 0:
                break
            encoder.write(block)
        return encoder.finish()
