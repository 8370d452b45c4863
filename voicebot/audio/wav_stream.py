"""WAV read while it streams: samples out as bytes come in, whatever the header's lengths say.

A streamed WAV (Groq's /audio/speech) cannot know its length when its header is sent,
so its RIFF and data sizes are placeholders: they are ignored and the data runs to the
end of the stream. Pure: no I/O, fed bytes, returns float32 mono samples.
"""

from __future__ import annotations

import struct

import numpy as np

PCM, IEEE_FLOAT, EXTENSIBLE = 1, 3, 0xFFFE
MAX_HEADER = 1 << 16  # a header longer than this is not a WAV worth waiting for


class BadWav(ValueError):
    """The bytes are not a WAV this reader can play."""


class WavStream:
    """Feed bytes; get mono float32 samples at `rate` (known once the header has been read)."""

    def __init__(self) -> None:
        self._buffer = b""
        self.rate: int | None = None
        self.channels = 1
        self._width = 2
        self._float = False
        self._in_data = False

    def feed(self, data: bytes) -> np.ndarray:
        self._buffer += data
        if not self._in_data and not self._read_header():
            if len(self._buffer) > MAX_HEADER:
                raise BadWav("no audio data found in the first 64 KiB")
            return np.zeros(0, dtype=np.float32)
        frame = self._width * self.channels
        usable = len(self._buffer) - len(self._buffer) % frame
        raw, self._buffer = self._buffer[:usable], self._buffer[usable:]
        return self._decode(raw)

    def _read_header(self) -> bool:
        """Parse RIFF chunks up to `data`; False while more bytes are needed."""
        buf = self._buffer
        if len(buf) < 12:
            return False
        if buf[:4] not in (b"RIFF", b"RIFX") or buf[8:12] != b"WAVE":
            raise BadWav("not a WAV stream")
        pos = 12
        while True:
            if len(buf) < pos + 8:
                return False
            chunk_id, size = buf[pos:pos + 4], struct.unpack("<I", buf[pos + 4:pos + 8])[0]
            if chunk_id == b"data":
                if self.rate is None:
                    raise BadWav("a WAV without its format chunk")
                self._buffer = buf[pos + 8:]
                self._in_data = True
                return True
            if len(buf) < pos + 8 + size:
                return False
            if chunk_id == b"fmt ":
                self._format(buf[pos + 8:pos + 8 + size])
            pos += 8 + size + (size & 1)

    def _format(self, fmt: bytes) -> None:
        if len(fmt) < 16:
            raise BadWav("a truncated WAV format chunk")
        tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
        if tag == EXTENSIBLE and len(fmt) >= 26:
            tag = struct.unpack("<H", fmt[24:26])[0]
        if (tag, bits) not in ((PCM, 16), (PCM, 32), (IEEE_FLOAT, 32)) or channels < 1 or rate < 1:
            raise BadWav(f"unsupported WAV encoding (format {tag}, {bits} bits)")
        self.rate, self.channels, self._width, self._float = rate, channels, bits // 8, tag == IEEE_FLOAT

    def _decode(self, raw: bytes) -> np.ndarray:
        if not raw:
            return np.zeros(0, dtype=np.float32)
        if self._float:
            samples = np.frombuffer(raw, dtype="<f4").astype(np.float32)
        elif self._width == 2:
            samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
        else:
            samples = (np.frombuffer(raw, dtype="<i4").astype(np.float64) / 2147483648.0).astype(np.float32)
        if self.channels > 1:
            samples = samples.reshape(-1, self.channels).mean(axis=1).astype(np.float32)
        return samples
