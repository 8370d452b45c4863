"""One conversation's turns: speech to text, then a streamed answer into the output.

Used alike by the file and text commands and by the daemon. It holds no I/O of its
own beyond the API client and the output it is given; cancelling the task running
`ask` is how a turn stops (barge-in, Ctrl+C), and what was already shown is kept in
the history marked as interrupted.

Speech: long recordings are split at pauses and sent a few pieces at a time
(voicebot.chunking); Whisper's invented segments are dropped and implausibly sparse
transcripts flagged (voicebot.hallucination). Chat: a 400 `context_length_exceeded`
halves the history budget and tries once more, saying so.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from voicebot import chunking
from voicebot.api import ContentDelta, GroqClient, ReasoningDelta, Usage
from voicebot.audio import PreparedAudio
from voicebot.console import Output
from voicebot.conversation import Conversation, Message, history_budget, message_tokens
from voicebot.errors import ApiError, NoSpeechError, StreamInterrupted
from voicebot.hallucination import MIN_CHECKED_SECONDS, SparseText, filter_segments, sparse_text
from voicebot.settings import Settings

log = logging.getLogger("voicebot.assistant")

CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
MIN_HISTORY_BUDGET = 64  # below this even a short question cannot be sent
BUDGET_WAIT = 0.5  # seconds a turn waits for the model's context window before using the default


@dataclass(frozen=True)
class HeardText:
    """A checked transcript: the text, how it was obtained and what the checks found."""

    text: str
    pieces: int  # uploads sent (1 unless the recording was split)
    dropped_segments: int  # segments dropped as invented (no_speech_prob / avg_logprob)
    sparse: SparseText | None  # set when the text is implausibly short for the speech heard


def smaller_budget(budget: int, sent: list[Message]) -> int:
    """The history budget after the API refused `sent` as too long: half of what was
    tried (our estimate of the refused request, or the budget if that was smaller)."""
    tried = min(budget, sum(message_tokens(m) for m in sent))
    return max(MIN_HISTORY_BUDGET, tried // 2)


class Assistant:
    """Turns of one conversation against one long-lived API client."""

    def __init__(self, client: GroqClient, settings: Settings, output: Output) -> None:
        self.client = client
        self.settings = settings
        self.output = output
        self.conversation = Conversation(settings.system_prompt)
        self._budget: asyncio.Task[int] | None = None
        self._budget_cap: int | None = None  # learnt from a context_length_exceeded answer

    def prefetch(self) -> None:
        """Start learning the history budget now, so it never delays a reply."""
        if self._budget is None:
            self._budget = asyncio.ensure_future(self._lookup_budget())

    async def _lookup_budget(self) -> int:
        s = self.settings
        if s.history_tokens is not None:
            return s.history_tokens
        window = None
        try:
            window = (await self.client.get_model(s.chat_model)).context_window
        except ApiError as exc:  # the chat request itself will report a real problem
            log.debug("context window of %s unknown (%s); using the default", s.chat_model, exc)
        return history_budget(window, s.max_completion_tokens)

    # -- speech

    async def transcribe(self, audio: PreparedAudio, *, translate: bool = False) -> str:
        """Text of one recording; NoSpeechError when Whisper heard nothing worth asking."""
        return (await self.hear(audio, translate=translate)).text

    async def hear(self, audio: PreparedAudio, *, translate: bool = False) -> HeardText:
        """Transcribe (or translate) one recording of any length, with the hallucination checks.

        Split pieces are announced and transcribed concurrently; a sparse result is
        reported as a notice (in JSON with its figures) but still returned.
        """
        upload = audio.as_upload()
        source = audio.source
        split = await asyncio.to_thread(chunking.split_upload, upload, max_seconds=self.settings.max_chunk_seconds,
                                        source=source)
        if not split.uploads:
            raise NoSpeechError(f"no speech detected in {source}")
        if split.split:
            minutes = (split.duration or 0.0) / 60
            self.output.notice(f"long recording ({minutes:.1f} min): sending it in {len(split.uploads)} pieces "
                               f"cut at pauses")
        options = self.settings.stt_options(translate=translate)
        base_prompt = options.pop("prompt")
        checking = options["response_format"] != "text"  # text cannot carry segments: the user's choice
        if checking:
            options["response_format"] = "verbose_json"
        dropped = 0

        async def one(piece: tuple[str, bytes, str], prompt: str | None) -> str:
            nonlocal dropped
            filename, data, content_type = piece
            result = await self.client.transcribe(filename=filename, data=data, content_type=content_type,
                                                  translate=translate, prompt=prompt, **options)
            kept = filter_segments(result.text, result.segments)
            if kept.dropped:
                log.debug("dropped %d segment(s) that Whisper itself judged as no speech", kept.dropped)
                dropped += kept.dropped
            return kept.text

        measuring: asyncio.Future[float | None] | None = None
        if split.speech_seconds is None and (split.duration or 0.0) > MIN_CHECKED_SECONDS:
            # Measured while the upload is under way: the check must not delay the request.
            measuring = asyncio.ensure_future(asyncio.to_thread(chunking.speech_seconds_of, upload[1]))
        try:
            texts = await chunking.transcribe_in_order(split.uploads, one, base_prompt=base_prompt,
                                                       concurrency=chunking.STT_CONCURRENCY)
            speech_seconds = split.speech_seconds if measuring is None else await measuring
        finally:
            if measuring is not None and not measuring.done():
                measuring.cancel()
        text = chunking.join_texts(texts)
        if not text:
            raise NoSpeechError(f"no speech recognised in {source}")
        sparse = sparse_text(text, speech_seconds)
        if sparse is not None:
            self._flag(sparse)
        return HeardText(text, len(split.uploads), dropped, sparse)

    def _flag(self, sparse: SparseText) -> None:
        """Tell the user; JSON readers also get the figures as fields of the notice."""
        self.output.notice(sparse.message(), check="sparse_transcript", words=sparse.words,
                           speech_seconds=round(sparse.seconds, 1), words_per_second=round(sparse.words_per_second, 3))

    async def spoken_turn(self, audio: PreparedAudio, *, translate: bool = False) -> str:
        """Speech in, "You: ..." shown, answer streamed; returns the answer."""
        self.prefetch()
        question = await self.transcribe(audio, translate=translate)
        self.output.transcript(question, label=True)
        return await self.ask(question)

    # -- chat

    async def _current_budget(self, *, wait: float = BUDGET_WAIT) -> int:
        """The history budget; the model lookup never holds up an answer for long.

        The lookup task is shared by every turn, so a turn waits on it through a shield:
        cancelling the turn (barge-in, Ctrl+C) must not cancel the lookup for the turns
        after it. If the lookup is still running (a slow or retrying /models), this turn
        uses the default budget rather than wait.
        """
        self.prefetch()
        assert self._budget is not None
        try:
            budget = await asyncio.wait_for(asyncio.shield(self._budget), wait)
        except TimeoutError:
            budget = history_budget(None, self.settings.max_completion_tokens)
        return budget if self._budget_cap is None else min(budget, self._budget_cap)

    def new_conversation(self) -> None:
        """Start afresh. A new object, not a cleared one: a turn still winding down (a
        cancelled answer recording itself as interrupted) writes into the old one."""
        self.conversation = Conversation(self.settings.system_prompt)

    async def ask(self, question: str) -> str:
        """Stream the answer to `question` and keep the exchange in the history.

        When the API says the request exceeds the model's context window (our token
        estimate is only an estimate, and `history_tokens` may be set too high), the
        budget is halved for the rest of the conversation and the question sent once
        more with fewer old turns. Nothing was shown yet, so the retry is invisible
        but for the notice.
        """
        conversation = self.conversation  # the one this question belongs to, even if /new comes meanwhile
        # With no history there is nothing to trim: the first question never waits for the lookup.
        budget = await self._current_budget(wait=BUDGET_WAIT if conversation.turns else 0)
        messages, dropped = conversation.request(question, budget)
        try:
            return await self._answer(conversation, question, messages, dropped, budget)
        except ApiError as exc:
            if exc.code != CONTEXT_LENGTH_EXCEEDED or isinstance(exc, StreamInterrupted) or not conversation.turns:
                raise
            smaller = smaller_budget(budget, messages)
            retry, retry_dropped = conversation.request(question, smaller)
            if retry_dropped <= dropped:  # nothing older left to drop: trying again cannot help
                raise
            self._budget_cap = smaller
            self.output.notice(f"the conversation was too long for {self.settings.chat_model}; "
                               f"left out the {retry_dropped} oldest turn(s) and asking again")
            return await self._answer(conversation, question, retry, retry_dropped, smaller)

    async def _answer(self, conversation: Conversation, question: str, messages: list[Message], dropped: int,
                      budget: int) -> str:
        """One streamed request for `question`; the exchange is recorded unless it is refused."""
        if dropped:
            log.debug("dropped %d oldest turn(s) to fit %d history tokens", dropped, budget)
        parts: list[str] = []
        usage: dict[str, Any] | None = None
        try:
            async for event in self.client.chat_stream(messages, model=self.settings.chat_model,
                                                       options=self.settings.chat_options()):
                if isinstance(event, ContentDelta):
                    parts.append(event.text)
                    self.output.delta(event.text)
                elif isinstance(event, ReasoningDelta):
                    if self.settings.show_reasoning:
                        self.output.reasoning(event.text)
                elif isinstance(event, Usage):
                    usage = dict(event.raw)
        except asyncio.CancelledError:
            self._keep_interrupted(conversation, question, "".join(parts))
            raise
        except StreamInterrupted as exc:
            self._keep_interrupted(conversation, question, exc.partial or "".join(parts))
            raise
        answer = "".join(parts)
        self.output.reply(answer, usage)
        conversation.record(question, answer)
        return answer

    def _keep_interrupted(self, conversation: Conversation, question: str, partial: str) -> None:
        """What was shown stays visible and in the history, marked as interrupted."""
        self.output.reply(partial, None, interrupted=True)
        conversation.record(question, partial, interrupted=True)
