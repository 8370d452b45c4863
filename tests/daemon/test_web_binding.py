"""A binding with `web = true`: its spoken questions go to groq/compound-mini (a server-side
web search) and the answer's sources follow it; other bindings keep the chat model."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.daemon.test_daemon_unit import Harness, speak
from tests.fakegroq import FakeGroq
from voicebot.config.schema import Settings
from voicebot.hotkeys.bindings import BadEntry, normalise_bindings


def test_a_web_binding_asks_compound_mini_and_shows_its_sources(fake_groq: FakeGroq, tmp_path: Path) -> None:
    h = Harness(fake_groq, tmp_path, hotkeys={"ask": {"keys": "f9", "web": True}})

    async def go() -> None:
        async with h.daemon() as d:
            assert d.bindings[0].mode.web
            await speak(d)
            await h.wait_for("sources")

    asyncio.run(go())
    (chat,) = fake_groq.requests_to("/chat/completions")
    assert chat.json["model"] == "groq/compound-mini"
    kinds = [e["type"] for e in h.events()]
    assert kinds.index("sources") == kinds.index("reply") + 1
    (sources,) = [e for e in h.events() if e["type"] == "sources"]
    assert sources["sources"][0]["url"].startswith("https://news.example.com/")


def test_a_binding_without_web_keeps_the_chat_model(fake_groq: FakeGroq, tmp_path: Path) -> None:
    h = Harness(fake_groq, tmp_path, hotkeys={"ask": {"keys": "f9"}})

    async def go() -> None:
        async with h.daemon() as d:
            await speak(d)
            await h.wait_for("reply")

    asyncio.run(go())
    assert fake_groq.requests_to("/chat/completions")[0].json["model"] == Settings().chat_model
    assert not [e for e in h.events() if e["type"] == "sources"]


def test_web_must_be_true_or_false() -> None:
    assert normalise_bindings({"ask": {"keys": "f9", "web": True}})["ask"]["web"] is True
    with pytest.raises(BadEntry, match="web must be true or false"):
        normalise_bindings({"ask": {"keys": "f9", "web": "yes"}})
