"""A pending take's record: its id, its times, and the JSON sidecar that describes it.

Pure functions and one frozen dataclass, so the on-disk format is tested without a disk:
ids sort by time and can name nothing but our own files, times are UTC text that sorts
in time order, and `decode_sidecar` refuses anything malformed with a reason. A take
whose sidecar is lost or broken is still listed (`orphan_take`): it is the user's
recording. `voicebot.spool.store` keeps these files on disk and sends them again.
"""

from __future__ import annotations

import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeGuard

from voicebot.modes import DICTATE, RECORDING_NAMES, Mode, recording_mode

__all__ = [
    "AUDIO_TYPES", "SIDECAR_SUFFIX", "PendingTake", "audio_extension", "decode_sidecar", "encode_sidecar",
    "format_time", "is_take_id", "make_take_id", "new_take_id", "orphan_take", "parse_time", "sort_key",
    "time_of_id",
]

FALLBACK_MODE = DICTATE.name  # a take whose sidecar is lost is only transcribed, never asked
SIDECAR_VERSION = 1
SIDECAR_SUFFIX = ".json"
ID_PATTERN = re.compile(r"^(?P<stamp>\d{8}T\d{6}Z)-(?P<token>[0-9a-f]{4,16})$")
ID_TIME_FORMAT = "%Y%m%dT%H%M%SZ"
AUDIO_TYPES = {"flac": "audio/flac", "m4a": "audio/mp4", "mp4": "audio/mp4", "webm": "audio/webm",
               "wav": "audio/wav", "ogg": "audio/ogg", "mp3": "audio/mpeg"}

@dataclass(frozen=True)
class PendingTake:
    """One kept take as listed: what its sidecar says, and where its audio is.

    `problem` is set when the sidecar was missing or unreadable; the audio is still
    listed (and can be retried, transcribed only) because it is the user's recording.
    """

    id: str
    time: str  # ISO 8601 UTC with microseconds, e.g. 2026-11-22T03:15:02.123456Z
    mode: str
    then_ask: bool
    source: str
    duration: float | None
    attempts: int
    error: str | None
    audio: Path
    content_type: str = "audio/flac"
    last_attempt: str | None = None
    problem: str | None = None

    @property
    def created(self) -> datetime:
        return parse_time(self.time)

    @property
    def kind(self) -> Mode:
        """The mode it was spoken in, then_ask folded in (what sending it again does)."""
        return recording_mode(self.mode, then_ask=self.then_ask)

    @property
    def asks(self) -> bool:
        """Whether sending it again continues the conversation (and streams an answer)."""
        return self.kind.answers


def format_time(moment: datetime) -> str:
    """UTC ISO 8601 with microseconds and a Z: sorts as text in time order."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def _valid_time(value: object) -> TypeGuard[str]:
    if not isinstance(value, str):
        return False
    try:
        parse_time(value)
    except ValueError:
        return False
    return True


def make_take_id(moment: datetime, token: str) -> str:
    """`20261122T031502Z-ab12`: the UTC second first, so ids sort by time."""
    take_id = f"{moment.astimezone(UTC).strftime(ID_TIME_FORMAT)}-{token}"
    if not ID_PATTERN.match(take_id):
        raise ValueError(f"bad take id token {token!r}")
    return take_id


def new_take_id(moment: datetime | None = None) -> str:
    return make_take_id(moment or datetime.now(UTC), secrets.token_hex(2))


def is_take_id(text: str) -> bool:
    """Only ids of our own shape name files: `../x` or `a/b` can never reach the disk."""
    return ID_PATTERN.match(text) is not None


def time_of_id(take_id: str) -> datetime:
    match = ID_PATTERN.match(take_id)
    if match is None:
        raise ValueError(f"not a take id: {take_id!r}")
    return datetime.strptime(match["stamp"], ID_TIME_FORMAT).replace(tzinfo=UTC)


def audio_extension(filename: str) -> str:
    """The extension the audio is kept under (the upload's own; FLAC for takes)."""
    ext = Path(filename).suffix.lower().lstrip(".")
    return ext if ext in AUDIO_TYPES else "flac"


def sidecar_dict(take: PendingTake) -> dict[str, Any]:
    return {"version": SIDECAR_VERSION, "id": take.id, "time": take.time, "mode": take.mode,
            "then_ask": take.then_ask, "source": take.source, "duration": take.duration,
            "attempts": take.attempts, "error": take.error, "last_attempt": take.last_attempt,
            "audio": take.audio.name, "content_type": take.content_type}


def encode_sidecar(take: PendingTake) -> bytes:
    return (json.dumps(sidecar_dict(take), ensure_ascii=False, indent=1) + "\n").encode("utf-8")


def decode_sidecar(data: bytes, take_id: str, directory: Path) -> PendingTake:
    """A sidecar's take; ValueError saying what is wrong for anything malformed."""
    try:
        raw = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    if raw.get("id") != take_id:
        raise ValueError(f"its id {raw.get('id')!r} does not match its file name")
    mode = raw.get("mode")
    if mode not in RECORDING_NAMES:
        raise ValueError(f"unknown mode {mode!r}")
    audio = raw.get("audio")
    if not isinstance(audio, str) or audio != f"{take_id}.{audio_extension(audio)}":
        raise ValueError(f"bad audio file name {audio!r}")
    attempts = raw.get("attempts", 0)
    duration = raw.get("duration")
    if not isinstance(attempts, int) or isinstance(attempts, bool) or attempts < 0:
        raise ValueError(f"bad attempts {attempts!r}")
    if duration is not None and (not isinstance(duration, (int, float)) or isinstance(duration, bool)):
        raise ValueError(f"bad duration {duration!r}")
    time = raw.get("time")
    if not _valid_time(time):
        raise ValueError(f"bad time {time!r}")
    texts = {k: raw.get(k) for k in ("source", "error", "last_attempt", "content_type")}
    for key, value in texts.items():
        if value is not None and not isinstance(value, str):
            raise ValueError(f"bad {key} {value!r}")
    return PendingTake(id=take_id, time=time, mode=mode, then_ask=raw.get("then_ask") is True,
                       source=texts["source"] or "microphone", duration=duration, attempts=attempts,
                       error=texts["error"], audio=directory / audio,
                       content_type=texts["content_type"] or AUDIO_TYPES[audio_extension(audio)],
                       last_attempt=texts["last_attempt"])


def orphan_take(audio: Path, problem: str) -> PendingTake:
    """A recording whose sidecar is missing or broken: kept, listed, transcribed only if retried."""
    take_id = audio.name.split(".", 1)[0]
    return PendingTake(id=take_id, time=format_time(time_of_id(take_id)), mode=FALLBACK_MODE, then_ask=False,
                       source="unknown", duration=None, attempts=0, error=None, audio=audio,
                       content_type=AUDIO_TYPES[audio_extension(audio.name)], problem=problem)


def sort_key(take: PendingTake) -> tuple[str, str, str]:
    """Oldest first: the id's second, then the sidecar's microseconds, then the id."""
    return (take.id.split("-", 1)[0], take.time, take.id)
