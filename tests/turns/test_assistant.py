"""The assistant's turns against the local server: cancellation and new conversations."""

from __future__ import annotations

import asyncio
import io

import pytest

from tests.fakegroq import TEST_API_KEY, FakeGroq
from voicebot.api.client import Endpoint, GroqClient
from voicebot.cli.wiring import make_assistant
from voicebot.config.schema import Settings
from voicebot.turns.assistant import Assistant
from voicebot.turns.console import JsonOutput


def make(client: GroqClient) -> tuple[Assistant, io.StringIO]:
    out = io.StringIO()
    return make_assistant(client, Settings(), JsonOutput(out, io.StringIO())), out


def test_a_turn_cancelled_while_the_budget_is_looked_up_does_not_break_the_next(fake_groq: FakeGroq) -> None:
    fake_groq.inject("/models/openai/gpt-oss-20b", delay=3)  # a slow model lookup

    async def go() -> str:
        async with GroqClient(Endpoint(fake_groq.base_url, TEST_API_KEY)) as client:
            assistant, _ = make(client)
            await assistant.ask("zero")  # with no history yet, the first question does not wait at all
            first = asyncio.create_task(assistant.ask("first"))
            await asyncio.sleep(0.2)  # a stimulus: the turn is waiting for the budget
            first.cancel()  # Ctrl+C or barge-in
            with pytest.raises(asyncio.CancelledError):
                await first
            return await assistant.ask("second")

    assert asyncio.run(asyncio.wait_for(go(), 20)) == "You said: second"


def test_a_new_conversation_during_an_answer_starts_empty(fake_groq: FakeGroq) -> None:
    fake_groq.set_chunk_delay(0.3)
    fake_groq.set_reply("one two three four five six seven", times=1)

    async def go() -> None:
        async with GroqClient(Endpoint(fake_groq.base_url, TEST_API_KEY)) as client:
            assistant, out = make(client)
            old = asyncio.create_task(assistant.ask("old question"))
            while '"delta"' not in out.getvalue():  # the answer is streaming
                await asyncio.sleep(0.05)
            old.cancel()  # what the daemon's `new` does: cancel, then start afresh at once
            assistant.new_conversation()
            with pytest.raises(asyncio.CancelledError):
                await old
            fake_groq.set_chunk_delay(0)
            await assistant.ask("fresh")

    asyncio.run(asyncio.wait_for(go(), 20))
    last = fake_groq.requests_to("/chat/completions")[-1].json["messages"]
    assert [m["role"] for m in last] == ["system", "user"] and last[1]["content"] == "fresh"


def test_a_turn_with_a_bindings_options_shares_the_conversation_and_changes_nothing_else(
        fake_groq: FakeGroq) -> None:
    import dataclasses

    async def go() -> None:
        async with GroqClient(Endpoint(fake_groq.base_url, TEST_API_KEY)) as client:
            assistant, _ = make(client)
            own = assistant.options
            german = dataclasses.replace(own, system_prompt="Antworte auf Deutsch.",
                                         chat=dataclasses.replace(own.chat, model="openai/gpt-oss-120b"))
            assert assistant.for_turn(own) is assistant
            await assistant.for_turn(german).ask("eins")
            await assistant.ask("two")
            await assistant.for_turn(german).ask("drei")
            assert [t.user for t in assistant.conversation.turns] == ["eins", "two", "drei"]
            assert assistant.options is own

    asyncio.run(asyncio.wait_for(go(), 20))
    first, second, third = (r.json for r in fake_groq.requests_to("/chat/completions"))
    assert (first["model"], first["messages"][0]["content"]) == ("openai/gpt-oss-120b", "Antworte auf Deutsch.")
    assert second["model"] == "openai/gpt-oss-20b" and second["messages"][0]["content"] == Settings().system_prompt
    assert [m["content"] for m in second["messages"][1:]] == ["eins", "You said: eins", "two"]
    assert third["messages"][0]["content"] == "Antworte auf Deutsch." and len(third["messages"]) == 6
    looked_up = [r.endpoint for r in fake_groq.requests_to("/models/openai/gpt-oss-120b")]
    assert len(looked_up) == 1  # each model's window is looked up once, whichever turn asks first
