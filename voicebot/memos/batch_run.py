"""A memo batch's life on Groq: JSONL written as a stream, uploaded, the batch created (and
never twice), polled with back-off until it ends, its results read by custom_id.

Each step records what it learnt in the run's state before the next begins: the run's name
before the upload (the batch's metadata carries it, so a batch created by a run killed
before it heard the answer is found again, not made twice), the file's id after the upload,
the batch's id the moment the server gives it.
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicebot.api import batches, files
from voicebot.errors import UsageError
from voicebot.memos.state import PendingBatch, State

if TYPE_CHECKING:
    from voicebot.api.client import GroqClient

CHAT = "/v1/chat/completions"
TRANSCRIBE = "/v1/audio/transcriptions"
MAX_POLL_SECONDS = 60.0


def check_window(window: str) -> str:
    """A completion window Groq takes (24h to 7d), checked before anything is paid for."""
    match = re.fullmatch(r"(\d{1,4})([hd])", window.strip())
    hours = int(match[1]) * (24 if match[2] == "d" else 1) if match else 0
    if not 24 <= hours <= 7 * 24:
        raise UsageError(f"--window must be a duration from 24h to 7d, like 24h, 48h or 7d (not {window!r})")
    return window.strip()


Body = Callable[[str], dict[str, Any]]  # a memo's key -> its request body


def write_requests(path: Path, requests: Mapping[str, str], endpoint: str, body: Body) -> int:
    """One request line per memo, written as it is made (memory stays flat); returns bytes written."""
    size = 0
    with path.open("w", encoding="utf-8") as out:
        for custom_id, key in requests.items():
            line = json.dumps({"custom_id": custom_id, "method": "POST", "url": endpoint, "body": body(key)},
                              ensure_ascii=False) + "\n"
            size += len(line.encode())
            out.write(line)
    return size


async def submit(client: GroqClient, state: State, pending: PendingBatch, *, body: Body, window: str) -> str:
    """Upload and create the batch for `pending` (each step skipped if an earlier run did it); its id."""
    if pending.batch_id is not None:
        return pending.batch_id
    for found in await batches.list_batches(client):  # created by a run killed before it heard the id?
        if found.metadata.get("voicebot_run") == pending.run:
            pending.batch_id = found.id
            state.save()
            return found.id
    if pending.file_id is None:
        with tempfile.TemporaryDirectory(prefix="voicebot-memos-") as folder:
            path = Path(folder) / f"{pending.run}.jsonl"
            await asyncio.to_thread(write_requests, path, pending.requests, pending.endpoint, body)
            data = await asyncio.to_thread(path.read_bytes)
        pending.file_id = (await files.upload(client, path.name, data)).id
        state.save()
    created = await batches.create(client, pending.file_id, endpoint=pending.endpoint, completion_window=window,
                                   metadata={"voicebot_run": pending.run})
    pending.batch_id = created.id
    state.save()  # before anything else: the id is what lets a later run collect the results
    return created.id


async def wait(client: GroqClient, batch_id: str, *, first_wait: float,
               told: Callable[[batches.BatchInfo], None], sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
               ) -> batches.BatchInfo:
    """Poll until the batch ends, waiting first_wait, then twice as long each time (at most a minute)."""
    delay = first_wait
    last = ""
    while True:
        info = await batches.retrieve(client, batch_id)
        if info.status != last or info.final:
            told(info)
            last = info.status
        if info.final:
            return info
        await sleep(delay)
        delay = min(delay * 2, MAX_POLL_SECONDS)


async def results(client: GroqClient, info: batches.BatchInfo) -> dict[str, batches.Result]:
    """Every request's result from the output and error files, by custom_id."""
    lines: list[bytes] = []
    for file_id in (info.output_file_id, info.error_file_id):
        if file_id:
            lines += (await files.content(client, file_id)).splitlines()
    return batches.read_results(lines)
