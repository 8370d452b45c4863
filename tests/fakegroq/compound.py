"""Groq's compound systems for the fake server: `groq/compound-mini` answers after one
server-side web search, and says what it ran in `message.executed_tools` (each with its
`arguments`, `output` and `search_results.results`: title, url, content, score), as the
official SDK's `ExecutedTool` type describes.

The search is deterministic: two results about the question, so tests can name them.
"""

from __future__ import annotations

import json
import re
from typing import Any

COMPOUND_MODELS = frozenset({"groq/compound", "groq/compound-mini"})


def slug(text: str) -> str:
    return "-".join(re.findall(r"[a-z0-9]+", text.lower()))[:60] or "query"


def search_results(query: str) -> list[dict[str, Any]]:
    """What the fake web search finds for `query`."""
    key = slug(query)
    return [
        {"title": f"{query.strip()} - Example News", "url": f"https://news.example.com/{key}",
         "content": f"Latest reporting on {query.strip()}.", "score": 0.91},
        {"title": f"{query.strip()} - Example Encyclopedia", "url": f"https://wiki.example.org/{key}",
         "content": f"Background on {query.strip()}.", "score": 0.74},
    ]


def search_tools(question: str) -> list[dict[str, Any]]:
    """The one search compound-mini runs for `question`, as `message.executed_tools`."""
    results = search_results(question)
    output = "\n\n".join(f"Title: {r['title']}\nURL: {r['url']}\nContent: {r['content']}\nScore: {r['score']}"
                         for r in results)
    return [{"index": 0, "type": "search", "arguments": json.dumps({"query": question.strip()}),
             "output": output, "search_results": {"results": results}}]


def answer(question: str) -> str:
    """The answer compound-mini gives, citing what it found."""
    return f"According to the latest sources, here is what I found about: {question.strip()}"
