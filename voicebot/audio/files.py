"""Audio files prepared for upload: whatever the user recorded becomes a small 16 kHz mono upload.

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

import os
from typing import BinaryIO

import soundfile as sf

from voicebot.audio.encoding import (
    DEFAULT_CODEC,
    PreparedAudio,
    TakeEncoder,
)
from voicebot.errors import UsageError

MAX_UPLOAD_BYTES = 25 * 1024 * 1024  # Groq's per-file limit (free tier); a parameter where it is checked
READ_BLOCK_FRAMES = 32_768  # decode granularity: bounded memory whatever the file length
# Longest input file accepted, judged from its header before any sample is decoded: a
# multi-gigabyte file (or a header that lies) is refused at once instead of being
# decoded for minutes. Four hours is far beyond any spoken request or dictation.
MAX_FILE_SECONDS = 4 * 3600
# Containers the API accepts but libsndfile cannot decode: uploaded unchanged.
PASSTHROUGH_TYPES: dict[str, str] = {"m4a": "audio/mp4", "mp4": "audio/mp4", "webm": "audio/webm"}
_EBML_MAGIC = b"\x1a\x45\xdf\xa3"


def check_upload_size(nbytes: int, source: str, max_bytes: int = MAX_UPLOAD_BYTES) -> None:
    """The upload limit, for what cannot be split (m4a/mp4/webm) and as each chunk's last guard.

    Decoded audio longer than the limit allows is split at pauses (voicebot.audio.chunking), so
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


def _megabytes(nbytes: int) -> str:
    return f"{nbytes / (1024 * 1024):.1f} MB"


def prepare_file(path: str | os.PathLike[str], codec: str = DEFAULT_CODEC, *,
                 max_bytes: int = MAX_UPLOAD_BYTES, whole_seconds: float | None = None) -> PreparedAudio:
    """Turn an audio file into an upload: decoded formats become 16 kHz mono `codec`; m4a,
    mp4 and webm (recognised by their magic bytes) go up unchanged.

    A file longer than `whole_seconds` will be split into pieces (voicebot.audio.chunking), which
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


__all__ = [
    "MAX_FILE_SECONDS",
    "MAX_UPLOAD_BYTES",
    "PASSTHROUGH_TYPES",
    "READ_BLOCK_FRAMES",
    "check_file_duration",
    "check_upload_size",
    "prepare_file",
    "sniff_passthrough",
]
