"""The memo: its JSON schema (Groq's structured outputs), the request that asks for it,
reading a reply against it, and the Markdown and JSON written for it. Pure functions."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

MEMO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "description": "a title of at most eight words"},
        "summary": {"type": "string", "description": "what the memo says, in two or three sentences"},
        "action_items": {"type": "array", "items": {"type": "string"},
                         "description": "each thing the speaker means to do; empty when there is none"},
    },
    "required": ["title", "summary", "action_items"],
    "additionalProperties": False,
}
PROMPT = ("You turn the transcript of a voice memo into JSON: a short title, a summary of two or three "
          "sentences, and the action items the speaker mentions (an empty list when there are none). "
          "Write in the transcript's language. Answer with the JSON object only.")


def strict_supported(model: str) -> bool:
    """Groq enforces a schema strictly only on some models (the gpt-oss ones); others get best effort."""
    return model.startswith("openai/gpt-oss")


def request_body(model: str, transcript: str) -> dict[str, Any]:
    """The chat completion that turns one transcript into a memo (the same at once or in a batch)."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "system", "content": PROMPT}, {"role": "user", "content": transcript}],
        "response_format": {"type": "json_schema", "json_schema": {
            "name": "memo", "schema": MEMO_SCHEMA, "strict": strict_supported(model)}},
    }
    if strict_supported(model):
        body["reasoning_effort"] = "low"
    return body


@dataclass(frozen=True)
class Memo:
    title: str
    summary: str
    action_items: tuple[str, ...]


class MemoMismatch(ValueError):
    """A reply that is not a memo: reported, never written as if it were one."""


def parse_memo(content: str) -> Memo:
    """The memo in a reply's text; MemoMismatch says how it does not match the schema."""
    try:
        obj = json.loads(content)
    except ValueError:
        raise MemoMismatch(f"the reply is not JSON: {content[:60]!r}") from None
    if not isinstance(obj, dict):
        raise MemoMismatch("the reply is not a JSON object")
    missing = [name for name in MEMO_SCHEMA["required"] if name not in obj]
    extra = sorted(set(obj) - set(MEMO_SCHEMA["properties"]))
    if missing or extra:
        raise MemoMismatch("the reply " + "; ".join(
            part for part in (f"lacks {', '.join(missing)}" if missing else "",
                              f"has unexpected {', '.join(extra)}" if extra else "") if part))
    items = obj["action_items"]
    if not isinstance(obj["title"], str) or not isinstance(obj["summary"], str):
        raise MemoMismatch("the reply's title and summary must be strings")
    if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
        raise MemoMismatch("the reply's action_items must be a list of strings")
    return Memo(obj["title"].strip(), obj["summary"].strip(), tuple(i.strip() for i in items if i.strip()))


def memo_text(memo: Memo) -> str:
    """Title, summary and action items as a checklist (the memo's reply in the conversation log)."""
    items = "".join(f"- [ ] {item}\n" for item in memo.action_items) or "None.\n"
    return f"# {memo.title or 'Untitled memo'}\n\n{memo.summary}\n\n## Action items\n\n{items}"


def markdown(memo: Memo, transcript: str, source: str) -> str:
    """The memo for people: title, summary, action items, the transcript."""
    return f"{memo_text(memo)}\n## Transcript\n\n{transcript}\n\n---\nFrom `{source}`.\n"


def memo_record(memo: Memo, transcript: str, source: str, *, model: str, batch_id: str | None) -> dict[str, Any]:
    """The memo for programs (written beside the Markdown)."""
    return {"source": source, "title": memo.title, "summary": memo.summary,
            "action_items": list(memo.action_items), "transcript": transcript, "model": model,
            "batch_id": batch_id}
