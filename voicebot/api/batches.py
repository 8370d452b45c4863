"""Groq's `/batches`: create, list, retrieve and cancel batches, and read their result lines.

Thin callers of `GroqClient.request`, like `voicebot.api.files`. A batch runs the request
lines of an uploaded JSONL file within its completion window (24h to 7d) at half the
price; its output and error files hold one result line per request, in any order, each
naming its request by `custom_id`.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from voicebot.api.files import decoded, path_of
from voicebot.api.wire import bad_response, host_of

if TYPE_CHECKING:
    from voicebot.api.client import GroqClient

FINAL = frozenset({"completed", "failed", "expired", "cancelled"})
CANCELLABLE = frozenset({"validating", "in_progress"})


@dataclass(frozen=True)
class LineError:
    """Why a batch failed validation, at one line of its input file."""

    line: int | None
    code: str
    message: str


@dataclass(frozen=True)
class BatchInfo:
    """A batch as `GET /batches/{id}` describes it (what voicebot shows and acts on)."""

    id: str
    status: str
    endpoint: str
    input_file_id: str
    output_file_id: str | None
    error_file_id: str | None
    completion_window: str
    created_at: int
    total: int
    completed: int
    failed: int
    errors: tuple[LineError, ...] = ()
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        return self.status in FINAL


def _int(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def batch_from(obj: Mapping[str, Any], host: str) -> BatchInfo:
    """A batch object read leniently; one without an id or status is a bad response."""
    batch_id, status = _text(obj.get("id")), _text(obj.get("status"))
    if batch_id is None or status is None:
        raise bad_response(host, "a batch without an id or status")
    counts = _mapping(obj.get("request_counts"))
    listed = _mapping(obj.get("errors")).get("data")
    listed = listed if isinstance(listed, list) else []
    errors = tuple(LineError(e.get("line") if isinstance(e.get("line"), int) else None, str(e.get("code") or ""),
                             str(e.get("message") or "")) for e in listed if isinstance(e, Mapping))
    metadata = obj.get("metadata")
    return BatchInfo(id=batch_id, status=status, endpoint=str(obj.get("endpoint") or ""),
                     input_file_id=str(obj.get("input_file_id") or ""), output_file_id=_text(obj.get("output_file_id")),
                     error_file_id=_text(obj.get("error_file_id")),
                     completion_window=str(obj.get("completion_window") or ""), created_at=_int(obj.get("created_at")),
                     total=_int(counts.get("total")), completed=_int(counts.get("completed")),
                     failed=_int(counts.get("failed")), errors=errors,
                     metadata=metadata if isinstance(metadata, Mapping) else {})


async def create(client: GroqClient, input_file_id: str, *, endpoint: str = "/v1/chat/completions",
                 completion_window: str = "24h", metadata: Mapping[str, str] | None = None) -> BatchInfo:
    """Start a batch over an uploaded file; sent once, as a second one would be billed twice."""
    body: dict[str, Any] = {"input_file_id": input_file_id, "endpoint": endpoint,
                            "completion_window": completion_window}
    if metadata:
        body["metadata"] = dict(metadata)
    response = await client.request("POST", "/batches", json=body, once=True)
    return batch_from(decoded(response), host_of(response.request.url))


async def retrieve(client: GroqClient, batch_id: str) -> BatchInfo:
    response = await client.request("GET", path_of("batches", batch_id))
    return batch_from(decoded(response), host_of(response.request.url))


async def list_batches(client: GroqClient) -> list[BatchInfo]:
    response = await client.request("GET", "/batches")
    data = decoded(response).get("data")
    if not isinstance(data, list):
        raise bad_response(host_of(response.request.url), "no batch list")
    return [batch_from(item, host_of(response.request.url)) for item in data if isinstance(item, Mapping)]


async def cancel(client: GroqClient, batch_id: str) -> BatchInfo:
    response = await client.request("POST", path_of("batches", batch_id, "cancel"))
    return batch_from(decoded(response), host_of(response.request.url))


@dataclass(frozen=True)
class Result:
    """One request's outcome from an output or error file."""

    custom_id: str
    status: int | None  # the HTTP status the request got; None: it never ran (expired, cancelled)
    body: Mapping[str, Any]  # the answer (a chat completion, a transcript) or its error body
    error: str | None  # why it failed, one line; None when it succeeded

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None


def result_from(line: Mapping[str, Any]) -> Result | None:
    """A result line read leniently; None for one that names no request."""
    custom_id = _text(line.get("custom_id"))
    if custom_id is None:
        return None
    response = _mapping(line.get("response"))
    status = response.get("status_code")
    body = _mapping(response.get("body"))
    error: str | None = None
    if isinstance(line.get("error"), Mapping):
        err = _mapping(line.get("error"))
        error = f"{err.get('message') or 'failed'} ({err.get('code') or 'error'})"
    elif status != 200:
        error = f"HTTP {status}: {_mapping(body.get('error')).get('message') or 'failed'}"
    return Result(custom_id, status if isinstance(status, int) else None, body, error)


def read_results(lines: Iterable[bytes | str]) -> dict[str, Result]:
    """Result lines (output and error files together, any order) by custom_id; unreadable lines skipped."""
    out: dict[str, Result] = {}
    for raw in lines:
        try:
            obj = json.loads(raw)
        except ValueError:
            continue
        result = result_from(obj) if isinstance(obj, Mapping) else None
        if result is not None:
            out[result.custom_id] = result
    return out
