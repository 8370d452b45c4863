"""A local Groq-compatible server for voicebot's tests and benchmarks.

Start it with `FakeGroq().start()` (or the `fake_groq` pytest fixture, or
`python -m tests.fakegroq`), point clients at `.base_url` (OpenAI-style root) or
`.host_url` (what the official SDK takes), then steer it and inspect `.requests`.
"""

from __future__ import annotations

from .link import Link
from .local import DEFAULT_LOCAL_MODEL, LOCAL_ROOT
from .models import GroqError
from .server import (
    API_ROOT,
    BAD_GATEWAY_HTML,
    TEST_API_KEY,
    TEST_STT_API_KEY,
    AudioUpload,
    FakeGroq,
    Fault,
    RecordedRequest,
)
from .stt import Match, decode, recognise

__all__ = [
    "API_ROOT", "BAD_GATEWAY_HTML", "DEFAULT_LOCAL_MODEL", "LOCAL_ROOT", "TEST_API_KEY", "TEST_STT_API_KEY",
    "AudioUpload", "FakeGroq", "Fault", "GroqError", "Link", "Match", "RecordedRequest", "decode", "recognise",
]
