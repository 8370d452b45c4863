"""The memo's schema and a batch's result lines: pure reading, nothing taken on trust."""

from __future__ import annotations

import json

import pytest

from voicebot.api.batches import read_results
from voicebot.errors import UsageError
from voicebot.memos.batch_run import check_window
from voicebot.memos.schema import MemoMismatch, markdown, parse_memo, request_body


def test_a_memo_is_read_only_when_it_matches_the_schema() -> None:
    memo = parse_memo('{"title": " Groceries ", "summary": "Buy food.", "action_items": ["milk", " ", "eggs"]}')
    assert (memo.title, memo.summary, memo.action_items) == ("Groceries", "Buy food.", ("milk", "eggs"))
    for bad, says in [("not json", "not JSON"), ("[1]", "not a JSON object"),
                      ('{"title": "t", "summary": "s"}', "lacks action_items"),
                      ('{"title": "t", "summary": "s", "action_items": [], "mood": "ok"}', "unexpected mood"),
                      ('{"title": 1, "summary": "s", "action_items": []}', "must be strings"),
                      ('{"title": "t", "summary": "s", "action_items": [1]}', "list of strings")]:
        with pytest.raises(MemoMismatch, match=says):
            parse_memo(bad)


def test_the_request_is_strict_only_where_groq_enforces_it() -> None:
    strict = request_body("openai/gpt-oss-20b", "hello")
    assert strict["response_format"]["json_schema"]["strict"] is True and strict["reasoning_effort"] == "low"
    loose = request_body("llama-3.1-8b-instant", "hello")
    assert loose["response_format"]["json_schema"]["strict"] is False and "reasoning_effort" not in loose
    assert loose["messages"][-1] == {"role": "user", "content": "hello"}


def test_markdown_lists_action_items_as_a_checklist() -> None:
    text = markdown(parse_memo('{"title": "T", "summary": "S", "action_items": ["call Bo"]}'), "words", "a.ogg")
    assert text.startswith("# T\n\nS\n\n## Action items\n\n- [ ] call Bo\n") and "words" in text
    assert "None." in markdown(parse_memo('{"title": "T", "summary": "S", "action_items": []}'), "w", "a.ogg")


def test_result_lines_in_any_order_by_custom_id_and_failures_say_why() -> None:
    ok = {"custom_id": "b", "response": {"status_code": 200, "body": {"choices": []}}, "error": None}
    refused = {"custom_id": "a", "response": {"status_code": 404, "body": {"error": {"message": "no model"}}}}
    expired = {"custom_id": "c", "response": None, "error": {"code": "batch_expired", "message": "too late"}}
    lines = [json.dumps(x) for x in (ok, refused, expired)] + ["{broken", json.dumps({"no": "id"})]
    found = read_results(lines)
    assert sorted(found) == ["a", "b", "c"] and found["b"].ok
    assert found["a"].error == "HTTP 404: no model" and not found["a"].ok
    assert found["c"].status is None and found["c"].error == "too late (batch_expired)"


@pytest.mark.parametrize(("window", "good"), [("24h", True), ("7d", True), ("48h", True), ("1h", False),
                                              ("8d", False), ("24", False), ("", False)])
def test_the_completion_window_is_checked_before_anything_is_paid_for(window: str, good: bool) -> None:
    if good:
        assert check_window(window) == window
    else:
        with pytest.raises(UsageError):
            check_window(window)
