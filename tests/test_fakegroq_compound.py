"""The fake Groq server's compound system, through the official `groq` SDK: `groq/compound-mini`
answers after a web search and lists it in `executed_tools`, whole or streamed."""

from __future__ import annotations

import json

import groq

from tests.fakegroq import TEST_API_KEY, FakeGroq

QUESTION = [{"role": "user", "content": "Who won the match last night?"}]


def client(fake: FakeGroq) -> groq.Groq:
    return groq.Groq(api_key=TEST_API_KEY, base_url=fake.host_url, max_retries=0)


def test_compound_mini_lists_its_search_and_results(fake_groq: FakeGroq) -> None:
    with client(fake_groq) as c:
        done = c.chat.completions.create(model="groq/compound-mini", messages=QUESTION)  # type: ignore[arg-type]
    message = done.choices[0].message
    assert message.content and "Who won the match last night?" in message.content
    (tool,) = message.executed_tools or []
    assert tool.type == "search" and json.loads(tool.arguments) == {"query": "Who won the match last night?"}
    assert tool.search_results is not None and tool.search_results.results
    urls = [r.url for r in tool.search_results.results]
    assert urls == ["https://news.example.com/who-won-the-match-last-night",
                    "https://wiki.example.org/who-won-the-match-last-night"]
    assert all(r.title and r.content and r.score for r in tool.search_results.results)
    assert tool.output and urls[0] in tool.output


def test_compound_mini_streams_its_search_before_the_answer(fake_groq: FakeGroq) -> None:
    with client(fake_groq) as c:
        chunks = list(c.chat.completions.create(model="groq/compound-mini", messages=QUESTION,  # type: ignore[arg-type]
                                                stream=True))
    tools = [t for ch in chunks if ch.choices for t in (ch.choices[0].delta.executed_tools or [])]
    assert [t.type for t in tools] == ["search"]
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert "Who won the match last night?" in text


def test_compound_mini_is_listed_and_takes_no_strict_schema(fake_groq: FakeGroq) -> None:
    with client(fake_groq) as c:
        assert "groq/compound-mini" in [m.id for m in c.models.list().data]
        try:
            c.chat.completions.create(model="groq/compound-mini", messages=QUESTION, response_format={  # type: ignore[arg-type]
                "type": "json_schema", "json_schema": {"name": "n", "strict": True, "schema": {
                    "type": "object", "properties": {}, "additionalProperties": False}}})
        except groq.BadRequestError as err:
            assert "strict" in str(err)
        else:
            raise AssertionError("strict json_schema on compound-mini was accepted")
