"""The sources of a compound system's answer, read from its `executed_tools`."""

from __future__ import annotations

from typing import Any

from voicebot.turns.web_search import sources_from


def body(tools: Any) -> dict[str, Any]:
    return {"choices": [{"message": {"role": "assistant", "content": "x", "executed_tools": tools}}]}


def test_sources_in_order_each_once_with_their_query() -> None:
    a = {"title": "A", "url": "https://a.example/1", "score": 0.9}
    b = {"title": "B", "url": "https://b.example/2"}
    tools = [{"index": 0, "type": "search", "arguments": '{"query": "q1"}', "search_results": {"results": [a, b]}},
             {"index": 1, "type": "search", "arguments": "not json", "search_results": {"results": [a]}},
             {"index": 2, "type": "python", "arguments": "{}", "output": "4"}]
    assert sources_from(body(tools)) == [{"title": "A", "url": "https://a.example/1", "query": "q1"},
                                         {"title": "B", "url": "https://b.example/2", "query": "q1"}]


def test_odd_bodies_give_no_sources() -> None:
    for raw in ({}, {"choices": []}, body(None), body("x"), body([{"search_results": {"results": [{"url": 3}]}}])):
        assert sources_from(raw) == []
