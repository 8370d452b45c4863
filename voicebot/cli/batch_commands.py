"""`voicebot batch list|show|cancel|results` and `voicebot files list|show|download|delete`.

Groq's Batch and Files APIs from the command line: each action is one or two calls of
`voicebot.api.batches` / `voicebot.api.files`, printed as a table or lines for people and
as JSON events with --json. An id the server does not know, or a batch that cannot be
cancelled or has no results yet, is the user's problem (exit 2), not the API's.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicebot.api import batches, files
from voicebot.cli.arguments import Args, Command, option, positional
from voicebot.cli.client import make_client
from voicebot.cli.commands import output_for
from voicebot.errors import EXIT_API, EXIT_OK, ApiError, UsageError

if TYPE_CHECKING:
    from voicebot.config.schema import Settings
    from voicebot.turns.console import Output



@dataclass(frozen=True, kw_only=True)
class BatchArgs(Args):
    """`voicebot batch list|show|cancel|results [ID] [--out DIR]`."""

    action: str = positional(choices=("list", "show", "cancel", "results"))
    id: str | None = positional("ID", nargs="?", help="the batch (see `voicebot batch list`)")
    out: str | None = option("--out", metavar="DIR", help="results: also keep the raw output and error files in DIR")


@dataclass(frozen=True, kw_only=True)
class StoredFilesArgs(Args):
    """`voicebot files list|show|download|delete [ID] [-o PATH]`."""

    action: str = positional(choices=("list", "show", "download", "delete"))
    id: str | None = positional("ID", nargs="?", help="the file (see `voicebot files list`)")
    out: str | None = option("-o", "--out", metavar="PATH", help="download: write the file to PATH (default stdout)")


def _when(stamp: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M", time.gmtime(stamp)) if stamp else "-"


def _needs_id(action: str, ident: str | None, what: str) -> str:
    if action != "list" and not ident:
        raise UsageError(f"`{what} {action}` needs an ID (see `voicebot {what} list`)")
    if action == "list" and ident:
        raise UsageError(f"`{what} list` takes no ID")
    return ident or ""


def _unknown(err: ApiError, what: str, ident: str) -> ApiError | UsageError:
    """A 404 for an id is a wrong id (exit 2); anything else stays the API's failure."""
    if err.status == 404:
        return UsageError(f"no {what} {ident!r} on the server (see `voicebot {what} list`)")
    return err


def batch_fields(b: batches.BatchInfo) -> dict[str, Any]:
    return {"id": b.id, "status": b.status, "endpoint": b.endpoint, "input_file_id": b.input_file_id,
            "output_file_id": b.output_file_id, "error_file_id": b.error_file_id,
            "completion_window": b.completion_window, "created_at": b.created_at,
            "request_counts": {"total": b.total, "completed": b.completed, "failed": b.failed},
            "errors": [{"line": e.line, "code": e.code, "message": e.message} for e in b.errors],
            "metadata": dict(b.metadata)}


def file_fields(f: files.FileInfo) -> dict[str, Any]:
    return {"id": f.id, "filename": f.filename, "purpose": f.purpose, "bytes": f.bytes, "created_at": f.created_at}


async def batch(settings: Settings, args: BatchArgs) -> int:
    """`voicebot batch ACTION [ID]`."""
    action, as_json = args.action, args.json
    ident = _needs_id(action, args.id, "batch")
    output = output_for(settings, args)
    async with make_client(settings, output) as client:
        try:
            if action == "list":
                found = await batches.list_batches(client)
                if as_json:
                    for b in found:
                        output.event("batch", **batch_fields(b))
                else:
                    _batch_table(found)
                return EXIT_OK
            if action == "results":
                return await _results(client, ident, output, as_json, args.out)
            if action == "cancel":
                try:
                    shown = await batches.cancel(client, ident)
                except ApiError as err:
                    if err.status in (400, 409):
                        raise UsageError(f"batch {ident} cannot be cancelled: {err.message}") from None
                    raise
            else:
                shown = await batches.retrieve(client, ident)
        except ApiError as err:
            raise _unknown(err, "batch", ident) from None
    if as_json:
        output.event("batch", **batch_fields(shown))
    else:
        _batch_details(shown)
    return EXIT_OK


def _batch_table(found: list[batches.BatchInfo]) -> None:
    if not found:
        print("no batches")
        return
    width = max(len(b.id) for b in found)
    print(f"{'ID':<{width}}  {'STATUS':<11}  {'DONE':>11}  {'FAILED':>6}  {'CREATED (UTC)':<16}  ENDPOINT")
    for b in found:
        done = f"{b.completed}/{b.total}"
        print(f"{b.id:<{width}}  {b.status:<11}  {done:>11}  {b.failed:>6}  {_when(b.created_at):<16}  {b.endpoint}",
              flush=True)


def _batch_details(b: batches.BatchInfo) -> None:
    rows = [("id", b.id), ("status", b.status), ("endpoint", b.endpoint), ("window", b.completion_window),
            ("created", _when(b.created_at) + " UTC"), ("requests", f"{b.completed} done, {b.failed} failed, "
                                                               f"{b.total} in all"),
            ("input file", b.input_file_id), ("output file", b.output_file_id or "-"),
            ("error file", b.error_file_id or "-")]
    rows += [(f"meta {key}", str(value)) for key, value in b.metadata.items()]
    for name, value in rows:
        print(f"{name + ':':<13}{value}")
    for e in b.errors:
        print(f"line {e.line if e.line is not None else '?'}: {e.code}: {e.message}")


async def _results(client: Any, ident: str, output: Output, as_json: bool, out_dir: str | None) -> int:
    """Each request's answer by custom_id (output and error files together); exit 1 if any failed."""
    b = await batches.retrieve(client, ident)
    if not b.final:
        raise UsageError(f"batch {ident} is {b.status} ({b.completed} of {b.total} done): no results yet; "
                         f"see `voicebot batch show {ident}`")
    raw: dict[str, bytes] = {}
    for kind, file_id in (("output", b.output_file_id), ("errors", b.error_file_id)):
        if file_id:
            raw[kind] = await files.content(client, file_id)
    if out_dir is not None:
        _keep(Path(out_dir), ident, raw)
    found = batches.read_results(line for data in raw.values() for line in data.splitlines())
    failed = [r for r in found.values() if not r.ok]
    for custom_id in sorted(found):
        r = found[custom_id]
        if as_json:
            output.event("result", custom_id=r.custom_id, ok=r.ok, status=r.status, body=dict(r.body), error=r.error)
        elif r.ok:
            print(f"{custom_id}: {answer_text(r.body)}", flush=True)
    if not as_json:  # JSON readers have them as result events with ok false
        for r in sorted(failed, key=lambda r: r.custom_id):
            print(f"voicebot: {r.custom_id} failed: {r.error}", file=sys.stderr)
    if b.status != "completed":
        output.notice(f"batch {ident} ended {b.status}: {len(found) - len(failed)} of {b.total} answered",
                      status=b.status)
    return EXIT_API if failed else EXIT_OK


def _keep(folder: Path, ident: str, raw: Mapping[str, bytes]) -> None:
    """The raw output and error files, as ID.output.jsonl and ID.errors.jsonl in `folder`."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        for kind, data in raw.items():
            (folder / f"{ident}.{kind}.jsonl").write_bytes(data)
    except OSError as exc:
        raise UsageError(f"cannot write the results to {folder}: {exc.strerror or exc}") from None


def answer_text(body: Mapping[str, Any]) -> str:
    """The text of a chat completion or a transcript body (empty if it has none)."""
    choices = body.get("choices")
    if isinstance(choices, list) and choices and isinstance(choices[0], Mapping):
        message = choices[0].get("message")
        if isinstance(message, Mapping) and isinstance(message.get("content"), str):
            return str(message["content"])
    text = body.get("text")
    return text.strip() if isinstance(text, str) else ""


async def files_command(settings: Settings, args: StoredFilesArgs) -> int:
    """`voicebot files ACTION [ID]`."""
    action, as_json = args.action, args.json
    ident = _needs_id(action, args.id, "files")
    output = output_for(settings, args)
    async with make_client(settings, output) as client:
        try:
            if action == "list":
                found = await files.list_files(client)
                for f in found:
                    if as_json:
                        output.event("file", **file_fields(f))
                if not as_json:
                    _file_table(found)
            elif action == "show":
                shown = await files.file_info(client, ident)
                if as_json:
                    output.event("file", **file_fields(shown))
                else:
                    for name, value in file_fields(shown).items():
                        print(f"{name + ':':<12}{_when(value) + ' UTC' if name == 'created_at' else value}")
            elif action == "download":
                data = await files.content(client, ident)
                _save(data, args.out, output, ident)
            else:
                files_gone = await files.delete(client, ident)
                if as_json:
                    output.event("file_deleted", id=ident, deleted=files_gone)
                else:
                    print(f"deleted {ident}" if files_gone else f"the server did not delete {ident}")
        except ApiError as err:
            raise _unknown(err, "file", ident) from None
    return EXIT_OK


def _file_table(found: list[files.FileInfo]) -> None:
    if not found:
        print("no files")
        return
    width = max(len(f.id) for f in found)
    print(f"{'ID':<{width}}  {'PURPOSE':<12}  {'BYTES':>11}  {'CREATED (UTC)':<16}  FILENAME")
    for f in found:
        print(f"{f.id:<{width}}  {f.purpose:<12}  {f.bytes:>11,}  {_when(f.created_at):<16}  {f.filename}", flush=True)


def _save(data: bytes, out: str | None, output: Output, ident: str) -> None:
    """The file's bytes to `out` (written whole, then renamed into place) or to stdout."""
    if out is None or out == "-":
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    target = Path(out)
    if target.is_dir():
        raise UsageError(f"{out} is a directory; give the file to write, e.g. {Path(out) / (ident + '.jsonl')}")
    temp = target.with_name(f".{target.name}.part")
    try:
        temp.write_bytes(data)
        temp.replace(target)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {out}: {exc.strerror or exc}") from None
    output.notice(f"saved {ident} to {out} ({len(data):,} bytes)", path=str(target), bytes=len(data))


COMMANDS: tuple[Command[Any], ...] = (
    Command("batch", "Groq batches: list them, show or cancel one, or print its results by custom_id", BatchArgs,
            batch),
    Command("files", "files stored for batches: list, show, download or delete one", StoredFilesArgs,
            files_command),
)
