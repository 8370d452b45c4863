"""One conversation's turns: speech to text, then a streamed answer into the output.

Used alike by the file and text commands and by the daemon. It holds no I/O of its
own beyond the API client and the output it is given; cancelling the task running
`ask` is how a turn stops (barge-in, Ctrl+C), and what was already shown is kept in
the history marked as interrupted.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from voicebot.api import ContentDelta, GroqClient, ReasoningDelta, Usage
from voicebot.console import Output
from voicebot.conversation import Conversation, history_budget
from voicebot.errors import ApiError, NoSpeechError, StreamInterrupted
from voicebot.settings import Settings

log = logging.getLogger("voicebot.assistant")


class Assistant:
    """Turns of one conversation against one long-lived API client."""

    def __init__(self, client: GroqClient, settings: Settings, output: Output) -> None:
        self.client = client
        self.settings = settings
        self.output = output
        self.conversation = Conversation(settings.system_prompt)
        self._budget: asyncio.Task[int] | None = None

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

    async def transcribe(self, upload: tuple[str, bytes, str], *, translate: bool = False) -> str:
        """Text of one recording; empty text means Whisper heard nothing worth asking."""
        filename, data, content_type = upload
        result = await self.client.transcribe(filename=filename, data=data, content_type=content_type,
                                              translate=translate, **self.settings.stt_options(translate=translate))
        text = result.text.strip()
        if not text:
            raise NoSpeechError("no speech recognised in the recording")
        return text

    async def spoken_turn(self, upload: tuple[str, bytes, str], *, translate: bool = False) -> str:
        """Speech in, "You: ..." shown, answer streamed; returns the answer."""
        self.prefetch()
        question = await self.transcribe(upload, translate=translate)
        self.output.transcript(question, label=True)
        return await self.ask(question)

    async def ask(self, question: str) -> str:
        """Stream the answer to `question` and keep the exchange in the history."""
        self.prefetch()
        assert self._budget is not None
        budget = await self._budget
        messages, dropped = self.conversation.request(question, budget)
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
            self._keep_interrupted(question, "".join(parts))
            raise
        except StreamInterrupted as exc:
            self._keep_interrupted(question, exc.partial or "".join(parts))
            raise
        answer = "".join(parts)
        self.output.reply(answer, usage)
        self.conversation.record(question, answer)
        return answer

    def _keep_interrupted(self, question: str, partial: str) -> None:
        """What was shown stays visible and in the history, marked as interrupted."""
        self.output.reply(partial, None, interrupted=True)
        self.conversation.record(question, partial, interrupted=True)
