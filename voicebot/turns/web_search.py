"""Answers that need today's facts: what Groq's compound system searched, from its reply.

`groq/compound-mini` runs (at most) one server-side web search before it answers and lists
what it ran in `message.executed_tools`; each search carries `search_results.results`
(title, url, content, score). The pages are shown after the answer as its sources.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol


class WebAsker(Protocol):
    async def ask(self, question: str, *, on_text: Callable[[str], None] | None = None,
                  web: bool | None = None) -> str: ...

    def heard_first_audio(self, at: float) -> None: ...


class Searching:
    """The assistant with every question sent to the web-search model (a binding's `web = true`);
    it answers `ask` as the assistant does, so it can be spoken too (voicebot.voice.speaking)."""

    def __init__(self, assistant: WebAsker) -> None:
        self.assistant = assistant

    async def ask(self, question: str, *, on_text: Callable[[str], None] | None = None) -> str:
        return await self.assistant.ask(question, on_text=on_text, web=True)

    def heard_first_audio(self, at: float) -> None:
        self.assistant.heard_first_audio(at)


def sources_from(raw: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The pages the answer's searches found, in order, each once: {"title", "url", "query"}."""
    choices = raw.get("choices")
    message = choices[0].get("message") if isinstance(choices, list) and choices and isinstance(
        choices[0], Mapping) else None
    tools = message.get("executed_tools") if isinstance(message, Mapping) else None
    found: dict[str, dict[str, Any]] = {}
    for tool in tools if isinstance(tools, list) else []:
        results = tool.get("search_results") if isinstance(tool, Mapping) else None
        items = results.get("results") if isinstance(results, Mapping) else None
        for item in items if isinstance(items, list) else []:
            url = item.get("url") if isinstance(item, Mapping) else None
            if isinstance(url, str) and url and url not in found:
                title = item.get("title")
                found[url] = {"title": title if isinstance(title, str) else "", "url": url,
                              "query": _query(tool.get("arguments"))}
    return list(found.values())


def _query(arguments: Any) -> str | None:
    """The search's query, from the tool's JSON arguments (None when they say none)."""
    import json

    try:
        value = json.loads(arguments) if isinstance(arguments, str) else None
    except ValueError:
        return None
    query = value.get("query") if isinstance(value, dict) else None
    return query if isinstance(query, str) else None


__all__ = ["Searching", "sources_from"]
