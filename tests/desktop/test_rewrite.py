"""The rewrite request against the local server: only a whole, willing result is ever returned.

The selection and the typing are real in tests/live/test_rewrite_desktop.py; here the
model's side, through the real client and the local Groq server: what is asked, and each
way a reply is refused for typing (cut short, refused, empty, failed, an echoed fence).
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from tests.fakegroq import TEST_API_KEY, FakeGroq
from voicebot.api.client import Endpoint, GroqClient
from voicebot.desktop.rewrite import REFUSAL, Rewritten, rewrite

SELECTED = "line one\nline two"


def ask(fake: FakeGroq, **options: Any) -> Rewritten:
    async def go() -> Rewritten:
        async with GroqClient(Endpoint(fake.base_url, TEST_API_KEY), max_retries=0) as client:
            return await rewrite(client, SELECTED, "number the lines", model="openai/gpt-oss-20b",
                                 chat_options=options)

    return asyncio.run(asyncio.wait_for(go(), 30))


def test_a_whole_reply_is_the_result_line_breaks_kept(fake_groq: FakeGroq) -> None:
    fake_groq.set_reply("1. line one\n2. line two")
    assert ask(fake_groq, temperature=0.9) == Rewritten("1. line one\n2. line two")
    [chat] = fake_groq.requests_to("/chat/completions")
    assert chat.json["temperature"] == 0  # deterministic, whatever the chat setting
    assert chat.json["messages"][1]["content"] == f"Instruction: number the lines\n\nText:\n<<<\n{SELECTED}\n>>>"


@pytest.mark.parametrize(("reply", "options", "reason"), [
    (REFUSAL, {}, "the model would not rewrite it"),
    ("", {}, "the model returned nothing"),
    ("one two three four five six seven eight", {"max_completion_tokens": 3},
     "the model's reply was cut short (finish_reason length)"),
])
def test_no_result_unless_whole_and_willing(fake_groq: FakeGroq, reply: str, options: dict[str, Any],
                                            reason: str) -> None:
    fake_groq.set_reply(reply)
    assert ask(fake_groq, **options) == Rewritten(None, reason)


def test_a_failed_request_says_so(fake_groq: FakeGroq) -> None:
    fake_groq.inject("/chat/completions", status=500, times=1)
    result = ask(fake_groq)
    assert result.text is None and result.reason is not None
    assert result.reason.startswith("the rewrite request failed")


def test_an_echoed_fence_is_taken_off(fake_groq: FakeGroq) -> None:
    fake_groq.set_reply("<<<\nLine one.\nLine two.\n>>>")
    assert ask(fake_groq) == Rewritten("Line one.\nLine two.")
