"""What a `voicebot memos` run must not forget if it is killed: transcripts already paid
for, and the batch it started (its file, its id, which memo each request is).

One JSON file per user (`$XDG_DATA_HOME/voicebot/memos-state.json`), keyed by the inputs'
absolute paths, replaced atomically on every change and held under an exclusive lock
while a run works, so two runs never start the same batch.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicebot.errors import UsageError
from voicebot.private_files import ensure_private_dir, write_atomic


@dataclass
class PendingBatch:
    """A batch of memo requests: `run` names it before it exists (its metadata carries it),
    then the uploaded file and the batch's id are added as soon as they are known."""

    run: str
    requests: dict[str, str]  # custom_id -> the memo's key (its absolute path or URL)
    out: str | None = None  # the run's --out, where the results go (None: beside the inputs)
    endpoint: str = "/v1/chat/completions"  # or /v1/audio/transcriptions: audio by URL, transcribed
    file_id: str | None = None
    batch_id: str | None = None


@dataclass
class State:
    path: Path
    transcripts: dict[str, str] = field(default_factory=dict)
    batch: PendingBatch | None = None

    def save(self) -> None:
        """Durably, as a whole: a kill at any moment leaves the previous or the new state."""
        doc: dict[str, Any] = {"transcripts": self.transcripts,
                               "batch": vars(self.batch) if self.batch is not None else None}
        write_atomic(self.path, json.dumps(doc, ensure_ascii=False, indent=1).encode())

    def start_batch(self, requests: dict[str, str], out: str | None, endpoint: str) -> PendingBatch:
        self.batch = PendingBatch(run="memos-" + secrets.token_hex(8), requests=requests, out=out, endpoint=endpoint)
        self.save()
        return self.batch

    def finished(self, done: set[str], *, batch_over: bool = False) -> None:
        """Memos written: their transcripts go; the batch too once it has ended (its failed
        memos keep their transcripts for the next run)."""
        for key in done:
            self.transcripts.pop(key, None)
        if batch_over:
            self.batch = None
        self.save()


def state_path(env: dict[str, str] | os._Environ[str]) -> Path:
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "voicebot" / "memos-state.json"


def _read(path: Path) -> State:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return State(path)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read {path}: {exc}; move it aside to start afresh (a batch it named "
                         "is still listed by `voicebot batch list`)") from None
    batch = doc.get("batch")
    return State(path, dict(doc.get("transcripts") or {}),
                 PendingBatch(**batch) if isinstance(batch, dict) else None)


@contextlib.contextmanager
def locked_state(path: Path) -> Iterator[State]:
    """The state, held under an exclusive lock for the run (another run is told so, exit 2)."""
    ensure_private_dir(path.parent, parents=True)
    fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError("another `voicebot memos` is running (it holds "
                             f"{path.with_suffix('.lock')}); wait for it to finish") from None
        yield _read(path)
    finally:
        os.close(fd)
