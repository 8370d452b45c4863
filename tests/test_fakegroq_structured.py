"""The fake Groq server's structured outputs, through the official `groq` SDK: a
`json_schema` response_format is checked as Groq documents it and answered with JSON that
matches the schema (or, when a test sets one, a reply that does not)."""

from __future__ import annotations

import json
from typing import Any

import groq
import pytest

from tests.fakegroq import TEST_API_KEY, FakeGroq

MODEL = "openai/gpt-oss-20b"
QUESTION = [{"role": "user", "content": "What is the capital of France?"}]
CITY = {"type": "object", "properties": {"city": {"type": "string"}, "population": {"type": "integer"},
                                         "kind": {"type": "string", "enum": ["capital", "town"]},
                                         "rivers": {"type": "array", "items": {"type": "string"}}},
        "required": ["city", "population", "kind", "rivers"], "additionalProperties": False}


def client(fake: FakeGroq) -> groq.Groq:
    return groq.Groq(api_key=TEST_API_KEY, base_url=fake.host_url, max_retries=0)


def fmt(schema: dict[str, Any], *, strict: bool | None = True, name: str | None = "city") -> dict[str, Any]:
    spec: dict[str, Any] = {"schema": schema}
    if name is not None:
        spec["name"] = name
    if strict is not None:
        spec["strict"] = strict
    return {"type": "json_schema", "json_schema": spec}


def test_strict_schema_answered_with_matching_json(fake_groq: FakeGroq) -> None:
    with client(fake_groq) as c:
        done = c.chat.completions.create(model=MODEL, messages=QUESTION, response_format=fmt(CITY))  # type: ignore[arg-type]
    value = json.loads(done.choices[0].message.content or "")
    assert set(value) == {"city", "population", "kind", "rivers"}
    assert value["kind"] == "capital" and isinstance(value["population"], int)
    assert isinstance(value["rivers"], list) and all(isinstance(r, str) for r in value["rivers"])
    assert fake_groq.requests_to("/chat/completions")[0].json["response_format"]["json_schema"]["strict"] is True


def test_a_set_reply_is_sent_verbatim_even_if_it_does_not_match(fake_groq: FakeGroq) -> None:
    fake_groq.set_reply('{"city": 7}', times=1)
    with client(fake_groq) as c:
        done = c.chat.completions.create(model=MODEL, messages=QUESTION,  # best effort: a model may miss
                                         response_format=fmt(CITY, strict=False))  # type: ignore[arg-type]
    assert done.choices[0].message.content == '{"city": 7}'


@pytest.mark.parametrize(("response_format", "stream", "words"), [
    (fmt(CITY, name=None), False, "'name'"),
    ({"type": "json_schema"}, False, "json_schema"),
    (fmt({"type": "object", "properties": {"a": {"type": "strng"}}}), False, "unknown type"),
    (fmt({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]}), False,
     "additionalProperties must be false"),
    (fmt({"type": "object", "properties": {"a": {"type": "string"}}, "additionalProperties": False}), False,
     "must be required"),
    (fmt(CITY), True, "streaming"),
])
def test_bad_json_schema_requests_are_400s(fake_groq: FakeGroq, response_format: dict[str, Any], stream: bool,
                                          words: str) -> None:
    with client(fake_groq) as c, pytest.raises(groq.BadRequestError) as err:
        c.chat.completions.create(model=MODEL, messages=QUESTION, stream=stream,  # type: ignore[call-overload]
                                  response_format=response_format)
    assert err.value.status_code == 400 and words in str(err.value)


def test_best_effort_schema_need_not_meet_strict_rules(fake_groq: FakeGroq) -> None:
    loose = {"type": "object", "properties": {"answer": {"type": "string"}}}
    with client(fake_groq) as c:
        done = c.chat.completions.create(model=MODEL, messages=QUESTION,
                                         response_format=fmt(loose, strict=False))  # type: ignore[arg-type]
    assert json.loads(done.choices[0].message.content or "") == {"answer": "The capital of France is Paris."}
