"""The --schema checker: the JSON Schema subset Groq's structured outputs take."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from voicebot.errors import UsageError
from voicebot.turns.reply_schema import ReplySchema, SchemaMismatch, load_schema, mismatches

NOTE = {"type": "object", "additionalProperties": False, "required": ["title", "items", "when"],
        "properties": {"title": {"type": "string", "minLength": 1},
                       "items": {"type": "array", "items": {"$ref": "#/$defs/item"}, "maxItems": 2},
                       "when": {"anyOf": [{"type": "string", "pattern": "^\\d{4}-\\d\\d-\\d\\d$"}, {"type": "null"}]}},
        "$defs": {"item": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}}}}}


@pytest.mark.parametrize(("value", "problem"), [
    ({"title": "a", "items": [{"n": 1}], "when": None}, None),
    ({"title": "a", "items": [], "when": "2026-12-07"}, None),
    ({"title": "", "items": [], "when": None}, "the reply.title has 0 characters, fewer than 1"),
    ({"title": "a", "items": [{"n": 0}], "when": None}, "the reply.items[0].n is 0, below the minimum"),
    ({"title": "a", "items": [{"n": 1.5}], "when": None}, "the reply.items[0].n should be integer"),
    ({"title": "a", "items": [{}, {}, {}], "when": None}, "the reply.items has 3 items, more than 2"),
    ({"title": "a", "items": [], "when": "today"}, "the reply.when matches none of the allowed forms"),
    ({"title": "a", "items": []}, "the reply lacks 'when'"),
    ({"title": "a", "items": [], "when": None, "x": 1}, "the reply has 'x', which the schema does not allow"),
    ({"title": True, "items": [], "when": None}, "the reply.title should be string"),
])
def test_mismatches_name_the_first_problem(value: Any, problem: str | None) -> None:
    found = mismatches(value, NOTE, NOTE)
    if problem is None:
        assert found == []
    else:
        assert found and found[0].startswith(problem), found


def test_strict_only_for_gpt_oss_and_schemas_that_meet_its_rules() -> None:
    strict = ReplySchema(name="n", schema={"type": "object", "properties": {"a": {"type": "string"}},
                                           "required": ["a"], "additionalProperties": False})
    assert strict.response_format("openai/gpt-oss-20b")["json_schema"]["strict"] is True
    assert strict.response_format("some/other-model")["json_schema"]["strict"] is False
    assert ReplySchema(name="n", schema=NOTE).strict_ok() is False  # $defs.item is open


def test_check_returns_the_value_or_raises_exit_3() -> None:
    schema = ReplySchema(name="n", schema={"type": "object", "required": ["a"]})
    assert schema.check('{"a": 1}') == {"a": 1}
    with pytest.raises(SchemaMismatch) as err:
        schema.check("[1]")
    assert err.value.exit_code == 3 and err.value.reply == "[1]"
    with pytest.raises(SchemaMismatch, match="the reply is not JSON"):
        schema.check("Paris, of course.")


def test_openai_style_wrapper_gives_the_name(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"name": "note", "schema": NOTE}), encoding="utf-8")
    loaded = load_schema(path)
    assert (loaded.name, loaded.schema) == ("note", NOTE)


@pytest.mark.parametrize("schema", [
    {"type": "object", "properties": {"a": {"$ref": "#/$defs/missing"}}},
    {"type": "object", "properties": {"a": {"type": "string", "pattern": "("}}},
    {"type": "object", "required": "a"},
])
def test_unusable_schemas_are_usage_errors(tmp_path: Path, schema: dict[str, Any]) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(schema), encoding="utf-8")
    with pytest.raises(UsageError):
        load_schema(path)
