"""A local Groq-compatible server for voicebot's tests and benchmarks.

Start it with `FakeGroq().start()` (or the `fake_groq` pytest fixture, or
`scripts/dev fakegroq`, which is `.venv/bin/python -m tests.fakegroq`), point clients at
`.base_url` (OpenAI-style root) or `.host_url` (what the official SDK takes), then steer
it and inspect `.requests`.
"""

from __future__ import annotations

import importlib.util
import sys

if sys.argv[:1] == ["-m"]:  # `python -m tests.fakegroq`: say what is missing in one line, not a traceback
    _missing = [name for name in ("aiohttp", "numpy", "soundfile", "soxr") if importlib.util.find_spec(name) is None]
    if _missing:
        raise SystemExit(f"python -m tests.fakegroq: this Python lacks {', '.join(_missing)} (test dependencies); "
                         "run `scripts/dev fakegroq`, or `.venv/bin/python -m tests.fakegroq` after `scripts/dev test`")

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
