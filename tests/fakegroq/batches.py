"""Groq's /files and /batches for the fake server: uploads, JSONL checks, a batch's life.

A batch moves one state per `polls` retrieves (GET /batches/{id}), so tests and clients
see every state without waiting on a clock: validating -> in_progress -> finalizing ->
completed, or validating -> failed (bad JSONL, with line errors), or expired (after
`expire_after` lines, set per batch by the server's knob), or cancelling -> cancelled.
Lines run when the batch leaves in_progress; results go to an output file (status 200)
and an error file (other statuses, and lines an expiry left unrun), each in a shuffled
order, as Groq promises no order; a batch cancelled before its lines ran has neither.
Bookkeeping only: the server answers each line.
"""

from __future__ import annotations

import json
import random
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from .models import GroqError

MAX_FILE_BYTES = 200 * 1024 * 1024
MAX_LINES = 50_000
ENDPOINTS = ("/v1/chat/completions", "/v1/audio/transcriptions", "/v1/audio/translations")
FINAL = frozenset({"completed", "failed", "expired", "cancelled"})

# Answers one request line: (url, body) -> (HTTP status, response body).
Answer = Callable[[str, dict[str, Any]], Awaitable[tuple[int, dict[str, Any]]]]


def new_id(prefix: str) -> str:
    """Groq-style ids: a prefix and 26 lower-case base-32 characters."""
    return prefix + "".join(secrets.choice("0123456789abcdefghjkmnpqrstvwxyz") for _ in range(26))


@dataclass
class StoredFile:
    """One file in the organisation's storage."""

    id: str
    filename: str
    purpose: str
    data: bytes
    created_at: int

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "object": "file", "bytes": len(self.data), "created_at": self.created_at,
                "filename": self.filename, "purpose": self.purpose}


@dataclass
class Batch:
    """A batch and what the fake needs to move it along."""

    id: str
    input_file_id: str
    endpoint: str
    completion_window: str
    metadata: dict[str, Any] | None
    created_at: int
    lines: list[dict[str, Any]]  # parsed request lines (empty when validation failed)
    line_errors: list[dict[str, Any]]
    polls_per_state: int
    expire_after: int | None = None
    status: str = "validating"
    polls: int = 0
    stamps: dict[str, int | None] = field(default_factory=dict)
    output_file_id: str | None = None
    error_file_id: str | None = None
    completed: int = 0
    failed: int = 0
    running: bool = False  # its lines are being answered (a second poll meanwhile changes nothing)

    def to_json(self) -> dict[str, Any]:
        stamp = self.stamps.get
        return {
            "id": self.id, "object": "batch", "endpoint": self.endpoint,
            "errors": {"object": "list", "data": self.line_errors} if self.line_errors else None,
            "input_file_id": self.input_file_id, "completion_window": self.completion_window,
            "status": self.status, "output_file_id": self.output_file_id, "error_file_id": self.error_file_id,
            "created_at": self.created_at, "expires_at": self.created_at + window_seconds(self.completion_window),
            **{f"{name}_at": stamp(name) for name in ("in_progress", "finalizing", "completed", "failed",
                                                        "expired", "cancelling", "cancelled")},
            "request_counts": {"total": len(self.lines) if self.status != "validating" else 0,
                               "completed": self.completed, "failed": self.failed},
            "metadata": self.metadata,
        }


def window_seconds(window: str) -> int:
    """'24h' .. '7d' in seconds; GroqError 400 for anything else."""
    match = re.fullmatch(r"(\d{1,4})([hd])", window)
    seconds = int(match[1]) * (3600 if match[2] == "h" else 86_400) if match else 0
    if not 86_400 <= seconds <= 7 * 86_400:
        raise GroqError(400, "completion_window must be between 24h and 7d", param="completion_window")
    return seconds


def check_upload(filename: str | None, purpose: str | None, data: bytes | None, size: int) -> None:
    """Groq's checks on an upload to /files (filename None: no file part; data None: too big)."""
    if not purpose:
        raise GroqError(400, "purpose is required", param="purpose")
    if purpose != "batch":
        raise GroqError(400, f"invalid purpose '{purpose}': must be 'batch'", param="purpose")
    if filename is None:
        raise GroqError(400, "file is required", param="file")
    if not filename.lower().endswith(".jsonl"):
        raise GroqError(400, "file must be a JSONL file with the .jsonl extension", param="file")
    if size > MAX_FILE_BYTES or data is None:
        raise GroqError(413, "file is too large: the maximum size is 200 MB", code="request_too_large")
    if size == 0:
        raise GroqError(400, "file is empty", param="file")
    lines = data.count(b"\n") + (0 if data.endswith(b"\n") else 1)
    if lines > MAX_LINES:
        raise GroqError(400, f"file has {lines} lines: at most {MAX_LINES} are allowed", param="file")


def parse_lines(data: bytes, endpoint: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(request lines, line errors) of a batch input file; any error fails the whole batch."""
    lines: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()

    def bad(number: int, code: str, message: str, param: str | None = None) -> None:
        errors.append({"code": code, "message": message, "param": param, "line": number})

    for number, raw in enumerate(data.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            bad(number, "invalid_json_line", "This line is not parseable as valid JSON.")
            continue
        if not isinstance(line, dict):
            bad(number, "invalid_request", "Each line must be a JSON object.")
            continue
        custom_id = line.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            bad(number, "missing_required_parameter", "custom_id is required.", "custom_id")
        elif custom_id in seen:
            bad(number, "duplicate_custom_id", f"The custom_id '{custom_id}' is used more than once.", "custom_id")
        else:
            seen.add(custom_id)
        if line.get("method") != "POST":
            bad(number, "invalid_method", "method must be POST.", "method")
        if line.get("url") != endpoint:
            bad(number, "mismatched_url", f"url must match the batch's endpoint {endpoint}.", "url")
        if not isinstance(line.get("body"), dict):
            bad(number, "missing_required_parameter", "body must be a JSON object.", "body")
        lines.append(line)
    if not lines and not errors:
        bad(1, "empty_file", "The input file holds no requests.")
    return ([] if errors else lines), errors


class BatchBook:
    """Every file and batch of the fake's one organisation (the server serialises access)."""

    def __init__(self) -> None:
        self.files: dict[str, StoredFile] = {}
        self.batches: dict[str, Batch] = {}
        self.polls_per_state = 1
        self.expire_next: int | None = None

    def add_file(self, filename: str, purpose: str, data: bytes) -> StoredFile:
        stored = StoredFile(new_id("file_"), filename, purpose, data, int(time.time()))
        self.files[stored.id] = stored
        return stored

    def file(self, file_id: str) -> StoredFile:
        if file_id not in self.files:
            raise GroqError(404, f"file {file_id} not found", code="not_found")
        return self.files[file_id]

    def batch(self, batch_id: str) -> Batch:
        if batch_id not in self.batches:
            raise GroqError(404, f"batch {batch_id} not found", code="not_found")
        return self.batches[batch_id]

    def create(self, body: Any) -> Batch:
        if not isinstance(body, dict):
            raise GroqError(400, "request body must be a JSON object")
        for name in ("input_file_id", "endpoint", "completion_window"):
            if not isinstance(body.get(name), str) or not body[name]:
                raise GroqError(400, f"{name} is required", param=name)
        if body["endpoint"] not in ENDPOINTS:
            raise GroqError(400, f"endpoint must be one of {', '.join(ENDPOINTS)}", param="endpoint")
        window_seconds(body["completion_window"])
        metadata = body.get("metadata")
        if metadata is not None and not isinstance(metadata, dict):
            raise GroqError(400, "metadata must be an object", param="metadata")
        source = self.file(body["input_file_id"])
        if source.purpose != "batch":
            raise GroqError(400, f"file {source.id} was not uploaded with purpose 'batch'", param="input_file_id")
        lines, errors = parse_lines(source.data, body["endpoint"])
        batch = Batch(new_id("batch_"), source.id, body["endpoint"], body["completion_window"], metadata,
                      int(time.time()), lines, errors, self.polls_per_state, self.expire_next)
        self.expire_next = None
        self.batches[batch.id] = batch
        return batch

    def cancel(self, batch_id: str) -> Batch:
        batch = self.batch(batch_id)
        if batch.status in FINAL or batch.status == "finalizing":
            raise GroqError(400, f"Cannot cancel a batch with status '{batch.status}'.", code="invalid_state")
        if batch.status != "cancelling":
            batch.status, batch.polls = "cancelling", 0
            batch.stamps["cancelling"] = int(time.time())
        return batch

    async def advance(self, batch: Batch, answer: Answer) -> None:
        """One retrieve's worth of progress: a new state every `polls_per_state` polls."""
        if batch.status in FINAL or batch.running:
            return
        batch.polls += 1
        if batch.polls < batch.polls_per_state:
            return
        batch.polls = 0
        now = int(time.time())
        if batch.status == "validating":
            batch.status = "failed" if batch.line_errors else "in_progress"
        elif batch.status == "in_progress":
            await self._run(batch, answer)
            return
        elif batch.status == "finalizing":
            batch.status = "completed"
        elif batch.status == "cancelling":
            batch.status = "cancelled"  # nothing had run yet: no output or error file
        batch.stamps[batch.status] = now

    async def _run(self, batch: Batch, answer: Answer) -> None:
        limit = len(batch.lines) if batch.expire_after is None else batch.expire_after
        output: list[dict[str, Any]] = []
        errors: list[dict[str, Any]] = []
        batch.running = True
        try:
            for line in batch.lines[:limit]:
                status, body = await answer(line["url"], line["body"])
                result = {"id": new_id("batch_req_"), "custom_id": line["custom_id"],
                          "response": {"status_code": status, "request_id": new_id("req_"), "body": body},
                          "error": None}
                (output if status == 200 else errors).append(result)
        finally:
            batch.running = False
        batch.completed, batch.failed = len(output), len(errors)
        expired = batch.lines[limit:]
        errors += [self._unrun(line, "batch_expired", "This request could not be executed before the "
                               "completion window expired.") for line in expired]
        self._finish(batch, output, errors)
        batch.status = "expired" if batch.expire_after is not None else "finalizing"
        batch.stamps[batch.status] = int(time.time())

    @staticmethod
    def _unrun(line: dict[str, Any], code: str, message: str) -> dict[str, Any]:
        return {"id": new_id("batch_req_"), "custom_id": line["custom_id"], "response": None,
                "error": {"code": code, "message": message}}

    def _finish(self, batch: Batch, output: list[dict[str, Any]], errors: list[dict[str, Any]]) -> None:
        """Write the output and error files, lines shuffled (Groq keeps no order)."""
        shuffle = random.Random(batch.id).shuffle
        for results, kind in ((output, "output"), (errors, "error")):
            if not results:
                continue
            shuffle(results)
            data = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in results).encode()
            stored = self.add_file(f"batch_{batch.id}_{kind}.jsonl", "batch_output", data)
            if kind == "output":
                batch.output_file_id = stored.id
            else:
                batch.error_file_id = stored.id


@dataclass(frozen=True)
class Upload:
    """A multipart upload to /files as read: filename None when no file part came."""

    filename: str | None
    purpose: str | None
    data: bytes | None  # None when over MAX_FILE_BYTES (not kept)
    size: int


async def route(book: BatchBook, method: str, endpoint: str, *, body: Any, upload: Upload | None,
                answer: Answer) -> tuple[int, Any] | None:
    """(status, JSON body or bytes) for a /files or /batches request; None: no such route."""
    parts = endpoint.strip("/").split("/")
    kind, rest = parts[0], parts[1:]
    if kind == "files" and not rest and method == "POST":
        up = upload or Upload(None, None, None, 0)
        check_upload(up.filename, up.purpose, up.data, up.size)
        assert up.filename is not None and up.data is not None
        return 200, book.add_file(up.filename, "batch", up.data).to_json()
    if kind == "files" and not rest and method == "GET":
        return 200, {"object": "list", "data": [f.to_json() for f in book.files.values()]}
    if kind == "files" and len(rest) == 1 and method == "GET":
        return 200, book.file(rest[0]).to_json()
    if kind == "files" and len(rest) == 1 and method == "DELETE":
        del book.files[book.file(rest[0]).id]
        return 200, {"id": rest[0], "object": "file", "deleted": True}
    if kind == "files" and rest[1:] == ["content"] and method == "GET":
        return 200, book.file(rest[0]).data
    if kind == "batches" and not rest and method == "POST":
        return 200, book.create(body).to_json()
    if kind == "batches" and not rest and method == "GET":
        return 200, {"object": "list", "data": [b.to_json() for b in reversed(book.batches.values())]}
    if kind == "batches" and len(rest) == 1 and method == "GET":
        batch = book.batch(rest[0])
        await book.advance(batch, answer)
        return 200, batch.to_json()
    if kind == "batches" and rest[1:] == ["cancel"] and method == "POST":
        return 200, book.cancel(rest[0]).to_json()
    return None
