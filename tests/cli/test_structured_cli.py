"""`voicebot ask|chat --schema FILE` end to end: the installed command against the fake
Groq server. The reply must be JSON matching the schema; one that does not is reported
(exit 3) and never printed as an answer; a bad schema file is exit 2 with nothing sent."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.cli.test_cli import DATA, chat_requests, events, run
from tests.fakegroq import FakeGroq

CITY = {"type": "object", "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
        "required": ["city", "country"], "additionalProperties": False}


def schema_file(tmp_path: Path, schema: Any, name: str = "city.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(schema) if not isinstance(schema, str) else schema, encoding="utf-8")
    return str(path)


def test_chat_schema_sends_strict_json_schema_and_prints_the_matching_reply(fake_groq: FakeGroq,
                                                                             tmp_path: Path) -> None:
    proc = run(["chat", "--schema", schema_file(tmp_path, CITY)], fake_groq, tmp_path,
               stdin="What is the capital of France?\n")
    assert proc.returncode == 0, proc.stderr
    (body,) = chat_requests(fake_groq)
    assert body["stream"] is False  # Groq streams no structured output
    assert body["response_format"] == {"type": "json_schema",
                                       "json_schema": {"name": "city", "schema": CITY, "strict": True}}
    assert proc.stdout.startswith("Assistant: ")
    value = json.loads(proc.stdout.removeprefix("Assistant: "))
    assert set(value) == {"city", "country"}


def test_a_schema_strict_mode_cannot_take_is_sent_best_effort(fake_groq: FakeGroq, tmp_path: Path) -> None:
    loose = {"type": "object", "properties": {"answer": {"type": "string"}}}
    proc = run(["chat", "--schema", schema_file(tmp_path, loose, "loose.json")], fake_groq, tmp_path,
               stdin="What is the capital of France?\n")
    assert proc.returncode == 0, proc.stderr
    (body,) = chat_requests(fake_groq)
    assert body["response_format"]["json_schema"]["strict"] is False  # type: ignore[index]
    assert json.loads(proc.stdout.removeprefix("Assistant: ")) == {"answer": "The capital of France is Paris."}


@pytest.mark.parametrize("json_mode", [False, True])
def test_a_reply_that_does_not_match_is_reported_not_printed(fake_groq: FakeGroq, tmp_path: Path,
                                                             json_mode: bool) -> None:
    fake_groq.set_reply('{"city": "Paris"}')
    proc = run(["chat", *(["--json"] if json_mode else []), "--schema", schema_file(tmp_path, CITY)],
               fake_groq, tmp_path, stdin="What is the capital of France?\n")
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.count("\n") == 1
    assert "does not match the schema city.json: the reply lacks 'country'" in proc.stderr
    if json_mode:
        assert [e["type"] for e in events(proc.stdout)] == ["error"]
    else:
        assert proc.stdout == ""


def test_a_reply_of_the_wrong_shape_is_reported(fake_groq: FakeGroq, tmp_path: Path) -> None:
    fake_groq.set_reply('["Paris"]')
    proc = run(["chat", "--schema", schema_file(tmp_path, CITY)], fake_groq, tmp_path, stdin="Capital?\n")
    assert proc.returncode == 3 and proc.stdout == ""
    assert 'the reply should be object, not ["Paris"]' in proc.stderr


@pytest.mark.parametrize(("content", "words"), [
    ("{not json", "is not JSON"),
    ('["a"]', "must be a JSON object"),
    (json.dumps({"type": "object", "properties": {"a": {"type": "strng"}}}), "unknown type 'strng'"),
    (json.dumps({"type": "object", "properties": {"a": {"oneOf": []}}}), "'oneOf', which is not supported"),
    (json.dumps({"type": "string"}), '"type": "object"'),
])
def test_a_bad_schema_file_is_a_usage_error_with_nothing_sent(fake_groq: FakeGroq, tmp_path: Path, content: str,
                                                             words: str) -> None:
    proc = run(["chat", "--schema", schema_file(tmp_path, content)], fake_groq, tmp_path, stdin="hi\n")
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and words in proc.stderr, proc.stderr
    assert chat_requests(fake_groq) == []


def test_a_missing_schema_file_is_a_usage_error(fake_groq: FakeGroq, tmp_path: Path) -> None:
    proc = run(["ask", "--schema", str(tmp_path / "nope.json"), str(DATA / "spider.flac")], fake_groq, tmp_path)
    assert proc.returncode == 2 and "cannot read the schema" in proc.stderr
    assert fake_groq.requests == []


def test_ask_schema_answers_a_spoken_question_with_matching_json(fake_groq: FakeGroq, tmp_path: Path) -> None:
    legs = {"type": "object", "properties": {"animal": {"type": "string"}, "legs": {"type": "integer"}},
            "required": ["animal", "legs"], "additionalProperties": False}
    proc = run(["ask", "--json", "--schema", schema_file(tmp_path, legs, "legs.json"), str(DATA / "spider.flac")],
               fake_groq, tmp_path)
    assert proc.returncode == 0, proc.stderr
    (reply,) = [e for e in events(proc.stdout) if e["type"] == "reply"]
    value = json.loads(str(reply["text"]))
    assert isinstance(value["legs"], int) and isinstance(value["animal"], str)
