"""`voicebot memos PATH...`: each audio file transcribed, then turned into a memo (title,
summary, action items) at once or, with --batch, through Groq's Batch API.

Resumable: a finished memo (its .memo.json exists) is skipped, transcripts and the batch in
flight are kept in the run's state (voicebot.memos.state), so a run killed at any step and
started again pays for nothing twice and finds its batch again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from voicebot.api import batches
from voicebot.cli.arguments import Args, Command, option, positional, switch
from voicebot.cli.batch_commands import answer_text
from voicebot.cli.client import make_client
from voicebot.cli.commands import output_for
from voicebot.cli.history import make_recorder
from voicebot.errors import EXIT_API, EXIT_OK, ApiError, UsageError, VoicebotError
from voicebot.memos import batch_run, inputs
from voicebot.memos.progress import Progress
from voicebot.memos.schema import MemoMismatch, markdown, memo_record, memo_text, parse_memo, request_body
from voicebot.memos.state import State, locked_state, state_path
from voicebot.private_files import write_atomic

if TYPE_CHECKING:
    from voicebot.api.client import GroqClient
    from voicebot.config.schema import Settings
    from voicebot.log.writer import LogWriter
    from voicebot.turns.console import Output

FILES_AT_ONCE = 2  # speech-to-text: files in flight (each may send pieces of its own)
CHATS_AT_ONCE = 4


class Run:
    """One invocation's parts and tallies."""

    def __init__(self, settings: Settings, output: Output, client: GroqClient, state: State, *,
                 as_json: bool, log: LogWriter) -> None:
        self.settings, self.output, self.client, self.state = settings, output, client, state
        self.as_json, self.log = as_json, log
        self.written = 0
        self.failed: list[str] = []

    def progress(self, stage: Progress, **fields: Any) -> None:
        """A bar redrawn in place on a terminal; a `progress` event for JSON readers."""
        if self.as_json:
            self.output.event("progress", **stage.fields(), **fields)
        else:
            self.output.status(stage.line(), live=True)

    def fail(self, item: inputs.Item, why: str) -> None:
        self.failed.append(item.key)
        self.output.error(f"{item.source}: {why}")

    def write(self, item: inputs.Item, content: str, *, batch_id: str | None) -> bool:
        """The memo's Markdown, then its JSON (the mark of a finished memo); False if the reply is no memo."""
        transcript = self.state.transcripts[item.key]
        try:
            memo = parse_memo(content)
        except MemoMismatch as exc:
            self.fail(item, f"the model's reply does not match the memo schema ({exc}); nothing written")
            return False
        item.record.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(item.markdown, markdown(memo, transcript, item.source).encode())
        record = memo_record(memo, transcript, item.source, model=self.settings.chat_model, batch_id=batch_id)
        write_atomic(item.record, (json.dumps(record, ensure_ascii=False, indent=2) + "\n").encode())
        self.written += 1
        self._logged(item, memo_text(memo))
        if self.as_json:
            self.output.event("memo", source=item.source, markdown=str(item.markdown), json=str(item.record),
                              title=memo.title, action_items=len(memo.action_items))
        else:
            self.output.transcript(f"{item.name} -> {item.markdown}: {memo.title}", label=False)
        return True

    def _logged(self, item: inputs.Item, text: str) -> None:
        """The memo in the conversation log as a conversation of its own (mode `memo`): found by
        `history --search`, shown by `history show`, asked about with `chat --conversation ID`."""
        from voicebot.turns.conversation import new_conversation_id

        entry = self.log.begin(conversation=new_conversation_id(), mode="memo", source=item.source,
                               transcript=self.state.transcripts[item.key],
                               stt_model=self.settings.transcription_model)
        self.log.update(entry, reply=text.strip(), model=self.settings.chat_model)


@dataclass(frozen=True, kw_only=True)
class MemosArgs(Args):
    """`voicebot memos PATH... [--batch] [--out DIR] [--window DURATION] [--poll-seconds S]`."""

    paths: list[str] = positional("PATH", nargs="+")
    batch: bool = switch("--batch", help="through Groq's Batch API: cheaper, done within the completion window")
    out: str | None = option("--out", metavar="DIR", help="write the memos here instead of beside their audio")
    window: str = option("--window", default="24h", metavar="DURATION",
                         help="--batch: the completion window, 24h to 7d (default 24h)")
    poll_seconds: float = option("--poll-seconds", default=10.0, type=float, metavar="S",
                                 help="--batch: the first wait between looks at the batch, doubling up to 60 s "
                                      "(default 10)")


async def memos(settings: Settings, args: MemosArgs) -> int:
    output = output_for(settings, args)
    settings.require_key()
    out = Path(args.out) if args.out else None
    window = batch_run.check_window(args.window)
    first_wait = args.poll_seconds
    if first_wait <= 0:
        raise UsageError("--poll-seconds must be more than 0")
    items = inputs.collect(list(args.paths), out)
    todo = [i for i in items if not i.finished]
    if len(todo) < len(items):
        output.notice(f"{len(items) - len(todo)} of {len(items)} memos already written: skipped",
                      skipped=len(items) - len(todo))
    if not args.batch and any(i.is_url for i in todo):
        raise UsageError("audio by URL is transcribed inside a batch (Groq fetches it): add --batch")
    log = make_recorder(settings, output)
    with locked_state(state_path(os.environ)) as state:
        async with contextlib.AsyncExitStack() as closing:
            closing.push_async_callback(log.aclose)  # the memos written so far reach the log, whatever stops the run
            client = await closing.enter_async_context(make_client(settings, output))
            run = Run(settings, output, client, state, as_json=args.json, log=log)
            if state.batch is not None:
                await _finish_batch(run, first_wait)  # an earlier run's batch first: it is paid for
            todo = [i for i in todo if not i.finished]
            await _transcribe(run, [i for i in todo if not i.is_url and i.key not in state.transcripts])
            urls = [i for i in todo if i.is_url and i.key not in state.transcripts]
            if urls:
                state.start_batch(_custom_ids(urls), _out(out), batch_run.TRANSCRIBE)
                await _finish_batch(run, first_wait, window=window)
            ready = [i for i in todo if i.key in state.transcripts and i.key not in run.failed]
            if ready and args.batch:
                state.start_batch(_custom_ids(ready), _out(out), batch_run.CHAT)
                await _finish_batch(run, first_wait, window=window)
            elif ready:
                await _at_once(run, ready)
    output.notice(f"{run.written} memo{'s' if run.written != 1 else ''} written"
                  + (f", {len(run.failed)} failed" if run.failed else ""), written=run.written,
                  failed=len(run.failed))
    return EXIT_API if run.failed else EXIT_OK


def _custom_ids(items: list[inputs.Item]) -> dict[str, str]:
    """Request names that say which memo they are (unique by their number)."""
    return {f"{n:05d}-{PurePosixPath(i.name).stem[:40]}": i.key for n, i in enumerate(items)}


def _out(out: Path | None) -> str | None:
    return str(out.resolve()) if out is not None else None


async def _transcribe(run: Run, todo: list[inputs.Item]) -> None:
    """Transcripts (same preparation and checks as `voicebot transcribe`), a few files at once,
    each kept in the state as soon as it arrives."""
    from voicebot.audio.files import prepare_file
    from voicebot.cli.wiring import make_assistant

    gate = asyncio.Semaphore(FILES_AT_ONCE)
    stage = Progress("transcribe", len(todo))

    async def one(item: inputs.Item) -> None:
        async with gate:
            try:
                prepared = await asyncio.to_thread(prepare_file, Path(item.source))
                text = await make_assistant(run.client, run.settings, run.output).transcribe(prepared)
            except ApiError:
                raise  # the API is down or refusing: the run stops, what it has is kept
            except VoicebotError as exc:  # no speech, an unreadable file: this memo only
                run.fail(item, str(exc))
                return
            run.state.transcripts[item.key] = text
            run.state.save()
            stage.done += 1
            run.progress(stage)

    await asyncio.gather(*(one(item) for item in todo))


async def _at_once(run: Run, ready: list[inputs.Item]) -> None:
    """Each memo from its own chat completion (structured output), a few at once."""
    gate = asyncio.Semaphore(CHATS_AT_ONCE)
    stage = Progress("memo", len(ready))

    async def one(item: inputs.Item) -> None:
        async with gate:
            body = request_body(run.settings.chat_model, run.state.transcripts[item.key])
            try:
                response = await run.client.request("POST", "/chat/completions", json=body)
            except ApiError as err:
                if err.status not in (400, 413, 422):  # the key, the network, the limits: the run stops
                    raise
                run.fail(item, f"the model refused this memo: {err.message}")  # this one only
                return
        try:
            answer = json.loads(response.content)
        except ValueError:
            answer = None
        content = answer_text(answer) if isinstance(answer, dict) else response.text
        if run.write(item, content, batch_id=None):
            run.state.finished({item.key})
        stage.done += 1
        run.progress(stage)

    await asyncio.gather(*(one(item) for item in ready))


async def _finish_batch(run: Run, first_wait: float, *, window: str = "24h") -> None:
    """Submit the state's batch if it is not yet, wait for it to end, take in its results:
    transcripts (audio by URL) into the state, or memos written."""
    pending = run.state.batch
    assert pending is not None
    out = Path(pending.out) if pending.out else None
    items = {cid: inputs.Item(key, *inputs.results_for(key, out)) for cid, key in pending.requests.items()}
    transcribing = pending.endpoint == batch_run.TRANSCRIBE
    batch_id = await batch_run.submit(run.client, run.state, pending, body=_body_maker(run, transcribing),
                                      window=window)

    stage = Progress("batch", len(items))

    def told(info: batches.BatchInfo) -> None:
        stage.done, stage.total = info.completed, info.total or len(items)
        stage.detail = f"{info.id} ({info.status})"
        run.progress(stage, batch_id=info.id, status=info.status)

    info = await batch_run.wait(run.client, batch_id, first_wait=first_wait, told=told)
    for error in info.errors:
        run.output.error(f"batch {info.id}: line {error.line}: {error.code}: {error.message}")
    found = await batch_run.results(run.client, info)
    done: set[str] = set()
    for cid, item in items.items():
        result = found.get(cid)
        if item.finished:
            done.add(item.key)
        elif result is None:
            run.fail(item, f"no result for request {cid} (batch {info.id} ended {info.status})")
        elif not result.ok:
            run.fail(item, f"request {cid} failed: {result.error}")
        elif transcribing:
            _heard(run, item, result.body)
        elif run.write(item, answer_text(result.body), batch_id=info.id):
            done.add(item.key)
    run.state.finished(done, batch_over=True)


def _body_maker(run: Run, transcribing: bool) -> batch_run.Body:
    """Each request's body: a transcription of the audio at the URL, or the memo of a transcript."""
    s = run.settings

    def transcription(url: str) -> dict[str, Any]:
        body: dict[str, Any] = {"model": s.transcription_model, "url": url, "response_format": "verbose_json"}
        if s.language:
            body["language"] = s.language
        return body

    return transcription if transcribing else lambda key: request_body(s.chat_model, run.state.transcripts[key])


def _heard(run: Run, item: inputs.Item, body: Mapping[str, Any]) -> None:
    """A batch's transcript, with Whisper's invented segments dropped as `transcribe` drops them."""
    from voicebot.stt.hallucination import filter_segments

    segments = body.get("segments")
    text = filter_segments(answer_text(body), segments if isinstance(segments, list) else []).text
    if not any(ch.isalnum() for ch in text):
        run.fail(item, "no speech recognised")
        return
    run.state.transcripts[item.key] = text


COMMANDS: tuple[Command[Any], ...] = (
    Command("memos", "voice memos in bulk: each audio file (folders searched) transcribed and turned into a title, "
                     "summary and action items, as Markdown and JSON beside it or in --out", MemosArgs, memos),
)
