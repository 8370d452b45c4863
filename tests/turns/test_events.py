"""A turn's events: what observers (the clock, the log, any other) are told, in order."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Coroutine
from typing import Any

import pytest

from tests.fakegroq import TEST_API_KEY, FakeGroq
from voicebot.api.client import Endpoint, GroqClient
from voicebot.cli.wiring import assistant_options
from voicebot.config.schema import Settings
from voicebot.errors import ApiError
from voicebot.turns.assistant import Assistant
from voicebot.turns.console import JsonOutput
from voicebot.turns.events import AnswerComplete, AnswerCut, Asked, FirstWord, TurnEnded, TurnEvent, TurnFailed


class Seen:
    """An observer that keeps every event."""

    def __init__(self) -> None:
        self.events: list[TurnEvent] = []
        self.first_word = asyncio.Event()

    def on_turn_event(self, event: TurnEvent) -> None:
        self.events.append(event)
        if isinstance(event, FirstWord):
            self.first_word.set()


def run(go: Coroutine[Any, Any, None]) -> None:
    asyncio.run(asyncio.wait_for(go, 20))


def test_an_answered_question_tells_its_observers_each_step(fake_groq: FakeGroq) -> None:
    seen = Seen()

    async def go() -> None:
        async with GroqClient(Endpoint(fake_groq.base_url, TEST_API_KEY)) as client:
            assistant = Assistant(client, assistant_options(Settings()), JsonOutput(io.StringIO(), io.StringIO()),
                                  observers=[seen])
            await assistant.ask("hello")

    run(go())
    assert [type(e) for e in seen.events] == [Asked, FirstWord, AnswerComplete, TurnEnded]
    asked, ended = seen.events[0], seen.events[-1]
    assert isinstance(asked, Asked) and isinstance(ended, TurnEnded)
    assert (asked.question, ended.reply, ended.interrupted) == ("hello", "You said: hello", False)
    assert asked.turn == ended.turn and asked.conversation == ended.conversation


def test_a_cut_answer_and_a_refused_question_are_told_too(fake_groq: FakeGroq) -> None:
    fake_groq.set_chunk_delay(0.3)
    fake_groq.set_reply("one two three four five six seven", times=1)
    seen = Seen()

    async def go() -> None:
        async with GroqClient(Endpoint(fake_groq.base_url, TEST_API_KEY), max_retries=0) as client:
            assistant = Assistant(client, assistant_options(Settings()), JsonOutput(io.StringIO(), io.StringIO()),
                                  observers=[seen])
            answer = asyncio.create_task(assistant.ask("long"))
            await seen.first_word.wait()  # the answer is streaming
            answer.cancel()
            with pytest.raises(asyncio.CancelledError):
                await answer
            fake_groq.set_chunk_delay(0)
            fake_groq.inject("/chat/completions", status=400, times=1)
            with pytest.raises(ApiError, match="rejected"):
                await assistant.ask("refused")

    run(go())
    kinds = [type(e) for e in seen.events]
    assert kinds == [Asked, FirstWord, AnswerCut, TurnEnded, Asked, TurnFailed]
    cut, ended, failed = seen.events[2], seen.events[3], seen.events[5]
    assert isinstance(cut, AnswerCut) and cut.cancelled
    assert isinstance(ended, TurnEnded) and ended.interrupted and ended.reply.startswith("one")
    assert isinstance(failed, TurnFailed) and failed.turn == ended.turn + 1
