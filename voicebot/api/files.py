"""Groq's `/files`: the JSONL files a batch reads and writes, as thin callers of the client.

Every request goes through `GroqClient.request` (its retries, the key, scrubbed errors);
this module only says what each call sends and how its answer reads. Uploads are JSONL
with purpose `batch` (Groq takes up to 50,000 lines and 200 MB); a batch's results come
back as files with purpose `batch_output`.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from voicebot.api.wire import bad_response, host_of, json_object

if TYPE_CHECKING:
    import httpx

    from voicebot.api.client import GroqClient

MAX_LINES = 50_000
MAX_BYTES = 200 * 1024 * 1024


@dataclass(frozen=True)
class FileInfo:
    """One stored file, as `GET /files/{id}` describes it."""

    id: str
    filename: str
    purpose: str
    bytes: int
    created_at: int


def file_from(obj: Mapping[str, Any], host: str) -> FileInfo:
    """A file object read leniently (unknown fields ignored); one without an id is a bad response."""
    file_id = obj.get("id")
    if not isinstance(file_id, str) or not file_id:
        raise bad_response(host, "a file without an id")
    size, created = obj.get("bytes"), obj.get("created_at")
    return FileInfo(id=file_id, filename=str(obj.get("filename") or ""), purpose=str(obj.get("purpose") or ""),
                    bytes=size if isinstance(size, int) else 0, created_at=created if isinstance(created, int) else 0)


def decoded(response: httpx.Response) -> dict[str, Any]:
    """A success answer's JSON object (an ApiError for an empty, HTML or garbled one)."""
    return json_object(response.content, response.headers.get("content-type", ""), host_of(response.request.url))


def path_of(kind: str, object_id: str, *rest: str) -> str:
    """`/kind/ID/...` with the id quoted, so no id can reach another path."""
    return "/".join((f"/{kind}", urllib.parse.quote(object_id, safe=""), *rest))


async def upload(client: GroqClient, filename: str, data: bytes, *, purpose: str = "batch") -> FileInfo:
    """Store `data` as `filename` (a .jsonl) for a batch; sent once (never twice after a timeout)."""
    response = await client.request("POST", "/files", data={"purpose": purpose},
                                    files={"file": (filename, data, "application/jsonl")}, once=True)
    return file_from(decoded(response), host_of(response.request.url))


async def list_files(client: GroqClient) -> list[FileInfo]:
    response = await client.request("GET", "/files")
    data = decoded(response).get("data")
    if not isinstance(data, list):
        raise bad_response(host_of(response.request.url), "no file list")
    return [file_from(item, host_of(response.request.url)) for item in data if isinstance(item, Mapping)]


async def file_info(client: GroqClient, file_id: str) -> FileInfo:
    response = await client.request("GET", path_of("files", file_id))
    return file_from(decoded(response), host_of(response.request.url))


async def content(client: GroqClient, file_id: str) -> bytes:
    """The file's bytes (a batch's output or error JSONL, or an uploaded input)."""
    response = await client.request("GET", path_of("files", file_id, "content"))
    return response.content


async def delete(client: GroqClient, file_id: str) -> bool:
    """Remove a stored file; True when the server says it is gone."""
    response = await client.request("DELETE", path_of("files", file_id))
    return decoded(response).get("deleted") is True
