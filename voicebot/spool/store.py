"""Pending takes: recordings kept on disk until their transcript has been shown.

A take is saved here *before* its upload begins and removed only once its transcript is
safely out, so a network failure, a 5xx after retries, or a daemon killed with SIGKILL
mid-upload never loses what the user said. Each take is two files in
`$XDG_DATA_HOME/voicebot/pending/` (default ~/.local/share): the audio (`<id>.ogg` for
Opus, `<id>.flac`, or a passed-through file's own extension, kept byte for byte) and
a small JSON sidecar (`<id>.json`: time, mode, error, attempts, source, duration).

Crash safety comes from the order of atomic steps. Every file is written to a temp file
in the same directory, fsynced, renamed into place, and the directory fsynced. Saving
writes the audio first and the sidecar last, so the sidecar is the commit mark; removing
deletes the audio first. Hence a crash mid-save leaves at worst a temp file (ignored) or
audio without a sidecar (still listed: it is the user's recording), and a crash
mid-remove leaves at worst a sidecar without audio (ignored: the take was delivered).

Files are 0600 and directories 0700 whatever the umask: these are the user's words.
"""

from __future__ import annotations

import builtins
import contextlib
import errno
import fcntl
import logging
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from voicebot.audio.encoding import CODECS, PreparedAudio
from voicebot.audio.samples import TARGET_RATE
from voicebot.errors import UsageError, VoicebotError
from voicebot.modes import after_transcript, recording_mode
from voicebot.private_files import TEMP_PREFIX, ensure_data_dir, fsync_dir, fsync_file, write_atomic
from voicebot.spool.kept_take import (
    AUDIO_TYPES,
    SIDECAR_SUFFIX,
    PendingTake,
    audio_extension,
    decode_sidecar,
    encode_sidecar,
    format_time,
    is_take_id,
    new_take_id,
    orphan_take,
    sort_key,
)

if TYPE_CHECKING:
    from voicebot.protocols import TranscriptView, TurnAssistant

log = logging.getLogger("voicebot.spool.store")

OWN_EXTENSIONS = frozenset(Path(c.filename).suffix.lstrip(".") for c in CODECS.values())  # flac, ogg


class UnknownTake(UsageError):
    """No pending take has that id (exit 2)."""


class TakeBusy(VoicebotError):
    """Another voicebot process is sending this take right now."""


def pending_dir(env: Mapping[str, str]) -> Path:
    """`$XDG_DATA_HOME/voicebot/pending`; a relative XDG_DATA_HOME is ignored, as the spec says."""
    base = env.get("XDG_DATA_HOME") or ""
    if not os.path.isabs(base):
        base = str(Path(env.get("HOME") or Path.home()) / ".local" / "share")
    return Path(base) / "voicebot" / "pending"


def kept_notice(take: PendingTake) -> str:
    """What the user is told when a take could not be transcribed."""
    return f"the recording is kept at {take.audio}; `voicebot retry {take.id}` sends it again"


# --------------------------------------------------------------------------- disk


def ensure_private_root(directory: Path) -> None:
    """The pending folder (and missing parents) 0700 and ours; our `voicebot/` parent is
    tightened too (logs will live there)."""
    ensure_data_dir(directory, what="recordings directory")


class PendingStore:
    """The pending takes of one user. Safe to use from several processes at once."""

    def __init__(self, root: Path | None = None, env: Mapping[str, str] = os.environ) -> None:
        self.root = Path(root) if root is not None else pending_dir(env)

    def __repr__(self) -> str:
        return f"PendingStore({str(self.root)!r})"

    # ---- writing ----------------------------------------------------------------------

    def save(self, prepared: PreparedAudio, *, mode: str, then_ask: bool = False,
             now: datetime | None = None, note: str | None = None, durable: bool = True) -> PendingTake:
        """Keep a take before it is uploaded; returns it (its `id` names it from now on).

        `note` is kept as its error from the start (a piece of a take still being recorded
        says so, should the daemon die before the take is whole). `durable=False` leaves the
        fsyncs to `make_durable`: the take already survives a killed process."""
        recording_mode(mode)  # ValueError naming the modes
        ensure_private_root(self.root)
        moment = now or datetime.now(UTC)
        ext = audio_extension(prepared.filename)
        while True:  # two takes in one second: a fresh token, never an overwrite
            take_id = new_take_id(moment)
            if not any(self.root.glob(f"{take_id}.*")):
                break
        take = PendingTake(id=take_id, time=format_time(moment), mode=mode, then_ask=then_ask,
                           source=prepared.source, duration=prepared.duration, attempts=0, error=note,
                           audio=self.root / f"{take_id}.{ext}", content_type=prepared.content_type)
        write_atomic(take.audio, prepared.data, durable=durable)  # audio first: the sidecar is the commit mark
        write_atomic(self._sidecar(take_id), encode_sidecar(take), durable=durable)
        log.debug("kept take %s (%s, %s s) in %s", take_id, mode, prepared.duration, self.root)
        return take

    def make_durable(self, take: PendingTake) -> None:
        """The fsyncs a `save(durable=False)` left out: the take then survives a power cut."""
        fsync_file(take.audio)
        fsync_file(self._sidecar(take.id))
        fsync_dir(self.root)

    def mark_failed(self, take: PendingTake, error: str, *, now: datetime | None = None) -> PendingTake:
        """Record a failed attempt in the sidecar (also repairing a broken one); returns the new take."""
        updated = replace(take, attempts=take.attempts + 1, error=error, problem=None,
                          last_attempt=format_time(now or datetime.now(UTC)))
        if not updated.audio.exists():
            raise UnknownTake(f"no pending take {take.id}")
        write_atomic(self._sidecar(take.id), encode_sidecar(updated))
        return updated

    def remove(self, take_id: str) -> None:
        """Forget a delivered take: audio first, so a crash never leaves a take that looks
        whole. Removing a take that is already gone is not an error."""
        if not is_take_id(take_id):
            raise UnknownTake(f"no pending take {take_id!r}")
        for ext in AUDIO_TYPES:
            with contextlib.suppress(FileNotFoundError):
                (self.root / f"{take_id}.{ext}").unlink()
        with contextlib.suppress(FileNotFoundError):
            self._sidecar(take_id).unlink()
        with contextlib.suppress(FileNotFoundError):
            fsync_dir(self.root)

    # ---- reading ----------------------------------------------------------------------

    def list(self) -> list[PendingTake]:
        """Every pending take, oldest first. Temp files and sidecars without audio (a
        remove that was cut short) are skipped; audio without a readable sidecar is listed
        with `problem` set."""
        try:
            names = os.listdir(self.root)
        except FileNotFoundError:
            return []
        takes: dict[str, PendingTake] = {}
        audio_files: dict[str, Path] = {}
        for name in names:
            if name.startswith(TEMP_PREFIX):
                continue
            take_id, _, ext = name.partition(".")
            if not is_take_id(take_id):
                continue
            if ext == SIDECAR_SUFFIX[1:]:
                continue
            if ext in AUDIO_TYPES:
                audio_files[take_id] = self.root / name
        for take_id, audio in audio_files.items():
            takes[take_id] = self._read(take_id, audio)
        return sorted(takes.values(), key=sort_key)

    def get(self, take_id: str) -> PendingTake:
        """One take by id; UnknownTake (exit 2) if there is none."""
        if is_take_id(take_id):  # its own few files only: this runs just before an upload
            for ext in AUDIO_TYPES:
                audio = self.root / f"{take_id}.{ext}"
                if audio.exists():
                    return self._read(take_id, audio)
        raise UnknownTake(f"no pending take {take_id!r}", hint="`voicebot pending` lists them")

    def select(self, ids: Sequence[str]) -> builtins.list[PendingTake]:
        """The named takes in time order (the order they were spoken), all or nothing."""
        known = {take.id: take for take in self.list()}
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise UnknownTake(f"no pending take {unknown[0]!r}", hint="`voicebot pending` lists them")
        return sorted({known[i].id: known[i] for i in ids}.values(), key=sort_key)

    def load(self, take_id: str) -> PreparedAudio:
        """The take's upload, exactly the bytes that were kept."""
        take = self.get(take_id)
        try:
            data = take.audio.read_bytes()
        except FileNotFoundError:
            raise UnknownTake(f"pending take {take_id} was removed meanwhile") from None
        ext = take.audio.suffix.lstrip(".")
        ours = ext in OWN_EXTENSIONS  # what voicebot itself encodes: 16 kHz mono
        return PreparedAudio(filename=f"speech.{ext}", data=data,
                             content_type=take.content_type, duration=take.duration,
                             sample_rate=TARGET_RATE if ours else None,
                             channels=1 if ours else None, source=f"pending take {take_id}")

    @contextlib.contextmanager
    def claim(self, take_id: str) -> Iterator[PendingTake]:
        """Hold a take while it is being sent, so two processes (the daemon and `voicebot
        retry`) never send it twice. The lock is the kernel's (flock on the audio file):
        a process killed mid-upload releases it. TakeBusy if someone else holds it."""
        take = self.get(take_id)
        try:
            fd = os.open(take.audio, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            raise UnknownTake(f"pending take {take_id} was removed meanwhile") from None
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    raise TakeBusy(f"pending take {take_id} is being sent by another voicebot") from None
                raise
            if os.fstat(fd).st_nlink == 0:  # the holder before us delivered and removed it
                raise UnknownTake(f"pending take {take_id} was removed meanwhile")
            yield take
        finally:
            os.close(fd)

    # ---- internals --------------------------------------------------------------------

    def _sidecar(self, take_id: str) -> Path:
        return self.root / f"{take_id}{SIDECAR_SUFFIX}"

    def _read(self, take_id: str, audio: Path) -> PendingTake:
        try:
            data = self._sidecar(take_id).read_bytes()
        except FileNotFoundError:
            return orphan_take(audio, "its sidecar is missing")
        except OSError as exc:
            return orphan_take(audio, f"its sidecar cannot be read: {exc.strerror}")
        try:
            take = decode_sidecar(data, take_id, self.root)
        except ValueError as exc:
            return orphan_take(audio, f"its sidecar is damaged: {exc}")
        if take.audio != audio:
            return orphan_take(audio, f"its sidecar names another audio file, {take.audio.name}")
        return take


# --------------------------------------------------------------------------- sending again


async def resend(store: PendingStore, take: PendingTake, assistant: TurnAssistant, output: TranscriptView) -> str:
    """Send one kept take again in its own mode; returns its transcript.

    The transcript is shown once its turn is in the conversation log, and the take removed
    right after, before any answer streams: from then on the words are on screen and in the
    log, and an answer that fails is an error of its own, not a lost recording. A failed
    transcription updates the sidecar and re-raises. Dictated text is printed only: typing
    into whatever window has the focus minutes later would be a surprise.
    """
    with store.claim(take.id) as current:
        prepared = store.load(current.id)
        mode = current.kind
        try:
            text = await assistant.transcribe(prepared, translate=mode.translates,  # long ones go in pieces
                                              mode=mode.name)
        except VoicebotError as exc:
            store.mark_failed(current, str(exc))
            raise
        # The words leave the spool only once they are in the log (or the log is off or failing):
        # killed before that, the take is still here to be sent again.
        await assistant.recorded()
        # still claimed while it is shown and removed, so no other process sends it twice
        await after_transcript(mode, text, output=output, assistant=assistant,
                               shown=lambda: store.remove(current.id))
    return text


__all__ = ["PendingStore", "TakeBusy", "UnknownTake", "ensure_private_root", "kept_notice", "pending_dir", "resend"]
