"""One conversation's turns: speech to text, then a streamed answer into the output.

Used alike by the file and text commands and by the daemon. It holds no I/O of its
own beyond the API client and the output it is given; cancelling the task running
`ask` is how a turn stops (barge-in, Ctrl+C), and what was already shown is kept in
the history marked as interrupted.

Speech: long recordings are split at pauses and sent a few pieces at a time
(voicebot.audio.chunking); Whisper's invented segments are dropped and implausibly sparse
transcripts flagged (voicebot.stt.hallucination). When the speech server cannot serve (down,
or failing after the safe retries) and `stt_fallback_api_base` is set, the pieces go to
the fallback instead, and the output says which server answered. Chat: a 400 `context_length_exceeded`
halves the history budget and tries once more, saying so.
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from voicebot.api.sse import ContentDelta, ReasoningDelta, Usage
from voicebot.audio import chunking
from voicebot.audio.encoding import PreparedAudio
from voicebot.errors import ApiError, NoSpeechError, StreamInterrupted, VoicebotError
from voicebot.protocols import AssistantClient
from voicebot.redaction import Redaction, StreamRedaction
from voicebot.stt.hallucination import MIN_CHECKED_SECONDS
from voicebot.stt.hearing import HeardText, Hearing
from voicebot.stt.piece_texts import transcribe_in_order
from voicebot.stt.vocabulary import SpeechPrompt
from voicebot.turns.console import Output
from voicebot.turns.conversation import Conversation, Message, history_budget, message_tokens
from voicebot.turns.events import (
    AnswerComplete,
    AnswerCut,
    Asked,
    FirstAudio,
    FirstWord,
    Heard,
    KeepsWords,
    Transcribed,
    TurnEnded,
    TurnEvent,
    TurnFailed,
    TurnObserver,
    UploadStarted,
)
from voicebot.turns.options import AssistantOptions
from voicebot.turns.timing import TurnClock, TurnTiming
from voicebot.turns.web_search import sources_from

log = logging.getLogger("voicebot.turns.assistant")

CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
MIN_HISTORY_BUDGET = 64  # below this even a short question cannot be sent
BUDGET_WAIT = 0.5  # seconds a turn waits for the model's context window before using the default


def smaller_budget(budget: int, sent: list[Message]) -> int:
    """The history budget after the API refused `sent` as too long: half of what was
    tried (our estimate of the refused request, or the budget if that was smaller)."""
    tried = min(budget, sum(message_tokens(m) for m in sent))
    return max(MIN_HISTORY_BUDGET, tried // 2)


class Assistant:
    """Turns of one conversation against one long-lived API client."""

    def __init__(self, client: AssistantClient, options: AssistantOptions, output: Output, *,
                 observers: Iterable[TurnObserver] = (), redact: Redaction | None = None) -> None:
        self.client = client
        self.options = options
        self.output = output
        # The keys out of the conversation (voicebot.redaction): what is shown, spoken, logged and
        # sent back is the same text.
        self.redact = redact if redact is not None else Redaction()
        self.timing = TurnTiming(output)  # the spoken turn in progress, timed for the user
        self.observers: list[TurnObserver] = [self.timing, *observers]  # e.g. the log (voicebot.log.observer)
        self.conversation = Conversation(options.system_prompt)
        self._turns = itertools.count(1)
        self._budget: asyncio.Task[int] | None = None
        self._budgets: dict[str, asyncio.Task[int]] = {}  # each chat model's lookup, shared with for_turn's views
        self._budget_cap: int | None = None  # learnt from a context_length_exceeded answer
        self._prompts_noticed: set[SpeechPrompt] = set()  # trimmed stt_prompt + vocabulary already told of

    def for_turn(self, options: AssistantOptions) -> Assistant:
        """This conversation asked with other options for one turn (a hotkey binding's profile:
        its speech fields, chat model, system prompt). The history, the turn numbers, the
        observers and the timing are this assistant's; only the options differ. A view, made
        afresh for each turn: a new conversation started later is not its concern."""
        if options == self.options:
            return self
        view = copy.copy(self)
        view.options = options
        if options.chat.model != self.options.chat.model:
            view._budget, view._budget_cap = None, None  # the other model's window (prefetch)
        return view

    def emit(self, event: TurnEvent) -> None:
        """Tell every observer what just happened in a turn."""
        for observer in self.observers:
            observer.on_turn_event(event)

    def start_clock(self, origin: float | None = None) -> TurnClock:
        """Time the next spoken turn from `origin` (the key release), else from its upload."""
        return self.timing.start(origin)

    def report_timing(self) -> dict[str, int] | None:
        """Show the finished turn's stage times (once), if it was timed and got its transcript;
        returns them (for the conversation log)."""
        return self.timing.report()

    def uploading(self) -> None:
        """The recording's speech request is about to be sent (also for a take sent in pieces)."""
        self.emit(UploadStarted())

    def heard_first_audio(self, at: float) -> None:
        """A spoken answer's first sample went out: its time joins the turn's timing."""
        self.emit(FirstAudio(at))

    def prefetch(self) -> None:
        """Start learning the history budget now, so it never delays a reply."""
        if self._budget is None:
            model = self.options.chat.model  # one lookup per model, whichever view asks first
            if model not in self._budgets:
                self._budgets[model] = asyncio.ensure_future(self._lookup_budget())
            self._budget = self._budgets[model]

    async def _lookup_budget(self) -> int:
        if self.options.history_tokens is not None:
            return self.options.history_tokens
        chat = self.options.chat
        window = None
        try:
            window = (await self.client.get_model(chat.model)).context_window
        except ApiError as exc:  # the chat request itself will report a real problem
            log.debug("context window of %s unknown (%s); using the default", chat.model, exc)
        return history_budget(window, chat.max_completion_tokens)

    # -- speech

    async def transcribe(self, audio: PreparedAudio, *, translate: bool = False, mode: str | None = None,
                         heard: Callable[[], Awaitable[HeardText]] | None = None) -> str:
        """Text of one recording; NoSpeechError when Whisper heard nothing worth asking.

        The text is logged as a turn of `mode` (by default transcribe or translate; asking
        it next makes it an ask turn), so a take's words are kept even if no answer comes.
        `heard` gives the text when the recording went up otherwise (in pieces while it was
        recorded: voicebot.daemon.live_pieces); `audio` is then the whole take, for the log.
        """
        started = time.monotonic()
        text = self.redact((await (heard() if heard is not None else self.hear(audio, translate=translate))).text)
        self.emit(Transcribed(text, mode or ("translate" if translate else "transcribe"), audio.source,
                              self.options.speech.model(translate=translate), audio, started,
                              round(time.monotonic() - started, 3), self.conversation.id))
        return text

    def recorded(self) -> Awaitable[bool]:
        """Settles once the last transcript is kept by every observer that keeps words (the log):
        True when it is, False when it will not be (the log is off or failing, as a notice said).
        A kept take leaves the spool only then."""
        return _all_true([o.kept() for o in self.observers if isinstance(o, KeepsWords)])

    def hearing(self, *, translate: bool = False) -> Hearing:
        """The speech requests of one recording (its options, server route and checks)."""
        if (prompt := self.options.speech.prompt).trimmed and prompt not in self._prompts_noticed:
            self._prompts_noticed.add(prompt)  # once per prompt, not at every take
            self.output.notice(prompt.notice(), check="stt_prompt_trimmed", left_out=list(prompt.left_out))
        return Hearing(self.client, self.options.speech, self.output, translate=translate,
                       on_heard=lambda: self.emit(Heard()))

    async def hear(self, audio: PreparedAudio, *, translate: bool = False) -> HeardText:
        """Transcribe (or translate) one recording of any length, with the hallucination checks.

        Split pieces are announced and transcribed concurrently; a sparse result is
        reported as a notice (in JSON with its figures) but still returned.
        """
        self.uploading()
        upload = audio.as_upload()
        source = audio.source
        speech = self.options.speech
        if audio.duration is not None and audio.sample_rate is not None and not chunking.needs_split(
                len(audio.data), audio.duration, speech.max_chunk_seconds):
            split = chunking.SplitAudio((upload,), audio.duration, None)  # our own encoding, known to fit: no decoding
        else:
            split = await asyncio.to_thread(chunking.split_upload, upload, max_seconds=speech.max_chunk_seconds,
                                            source=source, codec=speech.codec)
        if not split.uploads:
            raise NoSpeechError(f"no speech detected in {source}")
        if split.split:
            minutes = (split.duration or 0.0) / 60
            self.output.notice(f"long recording ({minutes:.1f} min): sending it in {len(split.uploads)} pieces "
                               f"cut at pauses")
        hearing = self.hearing(translate=translate)

        async def one(piece: tuple[str, bytes, str], prompt: str | None) -> str:
            seconds = split.duration if len(split.uploads) == 1 else chunking.duration_of(piece[1])
            return await hearing.piece(piece, prompt, seconds)

        measuring: asyncio.Future[float | None] | None = None
        if split.speech_seconds is None and (split.duration or 0.0) > MIN_CHECKED_SECONDS:
            # Measured while the upload is under way: the check must not delay the request.
            measuring = asyncio.ensure_future(asyncio.to_thread(chunking.speech_seconds_of, upload[1]))
        try:
            texts = await transcribe_in_order(split.uploads, one, base_prompt=hearing.base_prompt,
                                              concurrency=speech.pieces_in_flight)
            speech_seconds = split.speech_seconds if measuring is None else await measuring
        finally:
            if measuring is not None and not measuring.done():
                measuring.cancel()
        heard = hearing.finish(texts, speech_seconds, source=source)
        return dataclasses.replace(heard, text=self.redact(heard.text))  # a key said aloud, blanked as a typed one

    async def spoken_turn(self, audio: PreparedAudio, *, translate: bool = False,
                          on_text: Callable[[str], None] | None = None) -> str:
        """Speech in, "You: ..." shown, answer streamed; returns the answer."""
        self.prefetch()
        question = await self.transcribe(audio, translate=translate)
        self.output.transcript(question, label=True)
        return await self.ask(question, on_text=on_text)

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
            budget = history_budget(None, self.options.chat.max_completion_tokens)
        return budget if self._budget_cap is None else min(budget, self._budget_cap)

    def new_conversation(self) -> None:
        """Start afresh. A new object, not a cleared one: a turn still winding down (a
        cancelled answer recording itself as interrupted) writes into the old one."""
        self.conversation = Conversation(self.options.system_prompt)

    async def ask(self, question: str, *, on_text: Callable[[str], None] | None = None,
                  web: bool | None = None) -> str:
        """Stream the answer to `question` and keep the exchange in the history.

        When the API says the request exceeds the model's context window (our token
        estimate is only an estimate, and `history_tokens` may be set too high), the
        budget is halved for the rest of the conversation and the question sent once
        more with fewer old turns. Nothing was shown yet, so the retry is invisible
        but for the notice. `on_text` also gets each piece of the answer (the voice reads it).
        `web` (default: the `web` option) sends the turn to the web-search model; its sources
        are shown after the answer.
        """
        conversation = self.conversation  # the one this question belongs to, even if /new comes meanwhile
        turn = next(self._turns)
        question = self.redact(question)  # a key typed (or said) in a question goes no further
        self.emit(Asked(turn, question, conversation.id))
        try:
            return await self._ask(conversation, question, turn, on_text,
                                   self.options.chat.web if web is None else web)
        except VoicebotError as exc:
            if not isinstance(exc, StreamInterrupted):  # those keep their partial answer instead
                self.emit(TurnFailed(turn, self.redact(str(exc)), conversation.id))
            raise

    async def _ask(self, conversation: Conversation, question: str, turn: int,
                   on_text: Callable[[str], None] | None, web: bool) -> str:
        # With no history there is nothing to trim: the first question never waits for the lookup.
        budget = await self._current_budget(wait=BUDGET_WAIT if conversation.turns else 0)
        messages, dropped = conversation.request(question, budget, system=self.options.system_prompt)
        try:
            return await self._answer(conversation, question, messages, dropped, budget, turn, on_text, web)
        except ApiError as exc:
            if exc.code != CONTEXT_LENGTH_EXCEEDED or isinstance(exc, StreamInterrupted) or not conversation.turns:
                raise
            smaller = smaller_budget(budget, messages)
            retry, retry_dropped = conversation.request(question, smaller, system=self.options.system_prompt)
            if retry_dropped <= dropped:  # nothing older left to drop: trying again cannot help
                raise
            self._budget_cap = smaller
            self.output.notice(f"the conversation was too long for {self.options.chat.model}; "
                               f"left out the {retry_dropped} oldest turn(s) and asking again")
            return await self._answer(conversation, question, retry, retry_dropped, smaller, turn, on_text, web)

    async def _answer(self, conversation: Conversation, question: str, messages: list[Message], dropped: int,
                      budget: int, turn: int, on_text: Callable[[str], None] | None = None,
                      web: bool = False) -> str:
        """One streamed request for `question`; the exchange is recorded unless it is refused."""
        if dropped:
            log.debug("dropped %d oldest turn(s) to fit %d history tokens", dropped, budget)
        parts: list[str] = []
        # A key can be cut across deltas: what could still be its start waits for the next one.
        text = self.redact.stream()

        def say(piece: str) -> None:
            if not piece:
                return
            if not parts:
                self.emit(FirstWord(turn))
            parts.append(piece)
            self.output.delta(piece)
            if on_text is not None:
                on_text(piece)

        sources: list[dict[str, Any]] = []
        model = self.options.chat.web_model if web else self.options.chat.model
        try:
            if web:
                usage = await self._searched(messages, text, say, sources)
            elif self.options.chat.reply_schema is not None:
                usage = await self._whole(messages, text, say)
            else:
                usage = await self._stream(messages, text, say)
        except asyncio.CancelledError:
            say(text.finish())  # what was held back, a cut-off key blanked: shown and kept alike
            self._keep_interrupted(conversation, question, "".join(parts), turn, cancelled=True)
            raise
        except StreamInterrupted:
            say(text.finish())
            self._keep_interrupted(conversation, question, "".join(parts), turn, cancelled=False)
            raise
        say(text.finish())
        answer = "".join(parts)
        self.output.reply(answer, usage)
        if web:
            self.output.sources(sources)
        conversation.record(question, answer)
        self.emit(AnswerComplete(turn))
        # A spoken answer is reported once its voice has started (first_audio_ms), without the log.
        timings = self.report_timing() if on_text is None else None
        self.emit(TurnEnded(turn, answer, model, conversation.id, usage, timings=timings))
        return answer

    async def _stream(self, messages: list[Message], text: StreamRedaction,
                      say: Callable[[str], None]) -> dict[str, Any] | None:
        """Stream the answer, redacted, to `say`; returns the usage, if the server sent it."""
        chat = self.options.chat
        usage: dict[str, Any] | None = None
        thoughts = self.redact.stream()

        def think(piece: str) -> None:
            if piece and chat.show_reasoning:
                self.output.reasoning(piece)

        async for event in self.client.chat_stream(messages, model=chat.model, options=chat.body()):
            if isinstance(event, ContentDelta):
                think(thoughts.finish())  # the thinking is over: its held-back end goes first
                say(text.feed(event.text))
            elif isinstance(event, ReasoningDelta):
                think(thoughts.feed(event.text))
            elif isinstance(event, Usage):
                usage = dict(event.raw)
        think(thoughts.finish())
        return usage

    async def _whole(self, messages: list[Message], text: StreamRedaction,
                     say: Callable[[str], None]) -> dict[str, Any] | None:
        """The answer in one request (Groq streams no structured output), checked against the
        schema before any of it is shown: a reply that does not match raises SchemaMismatch."""
        chat = self.options.chat
        result = await self.client.chat_complete(messages, model=chat.model, options=chat.body())
        if result.reasoning and chat.show_reasoning:
            thoughts = self.redact.stream()
            self.output.reasoning(thoughts.feed(result.reasoning) + thoughts.finish())
        if chat.reply_schema is not None:
            chat.reply_schema.check(result.text)
        say(text.feed(result.text))
        return dict(result.usage.raw) if result.usage is not None else None

    async def _searched(self, messages: list[Message], text: StreamRedaction, say: Callable[[str], None],
                        sources: list[dict[str, Any]]) -> dict[str, Any] | None:
        """A turn that needs today's facts: the compound system searches the web, then answers
        (whole: its sources come with the answer); `sources` gets the pages it used."""
        chat = self.options.chat
        result = await self.client.chat_complete(messages, model=chat.web_model, options=chat.web_body())
        sources.extend(sources_from(result.raw))
        say(text.feed(result.text))
        return dict(result.usage.raw) if result.usage is not None else None

    def _keep_interrupted(self, conversation: Conversation, question: str, partial: str, turn: int, *,
                          cancelled: bool) -> None:
        """What was shown stays visible and in the history (and the log), marked as interrupted."""
        self.output.reply(partial, None, interrupted=True)
        conversation.record(question, partial, interrupted=True)
        self.emit(AnswerCut(turn, cancelled=cancelled))  # cancelled: its timing is not worth showing
        self.emit(TurnEnded(turn, partial, self.options.chat.model, conversation.id, interrupted=True))


async def _all_true(waits: list[Awaitable[bool]]) -> bool:
    """Whether every wait settled True (none: False, nothing keeps the words)."""
    return bool(waits) and all(await asyncio.gather(*waits))
