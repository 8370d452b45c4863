"""Chat completions for the fake Groq server: validation, deterministic replies, chunks.

Everything here is pure (no I/O, no clock reads except through arguments) so the
server can build exactly the bodies Groq sends and tests can reason about them.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from typing import Any

from .compound import COMPOUND_MODELS, search_tools
from .compound import answer as compound_answer
from .models import CHAT_MODELS, DECOMMISSIONED, MAX_COMPLETION_TOKENS, MODELS, GroqError
from .structured import check_json_schema

ROLES = frozenset({"system", "user", "assistant", "tool", "developer"})
SERVICE_TIERS = frozenset({"auto", "on_demand", "flex", "performance"})
REASONING_EFFORTS = frozenset({"low", "medium", "high"})
REASONING_FORMATS = frozenset({"hidden", "raw", "parsed"})
SYSTEM_FINGERPRINT = "fp_fakegroq01"

# Canned answers for the questions the speech fixtures ask (keys are normalised text).
CANNED: dict[str, str] = {
    "what is the capital of france": "The capital of France is Paris.",
    "how many legs does a spider have": "A spider has eight legs.",
    "hello i would like a coffee please": "Here is your coffee. Enjoy!",
    "bonjour je voudrais un café s'il vous plaît": "Voici votre café. Bonne journée !",
}


def normalise(text: str) -> str:
    """Lower-case, strip punctuation (apostrophes kept) and collapse whitespace."""
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


def count_tokens(text: str) -> int:
    """Token estimate used everywhere: about four characters per token, at least one."""
    return max(1, math.ceil(len(text) / 4)) if text else 0


def message_text(message: dict[str, Any]) -> str:
    """The text of a message whose content is a string or a list of text parts."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return ""


def prompt_tokens(messages: list[dict[str, Any]]) -> int:
    """Prompt size: each message's text plus a small per-message framing overhead."""
    return sum(count_tokens(message_text(m)) + 4 for m in messages) + 2


@dataclass(frozen=True)
class ChatRequest:
    """A validated chat request, reduced to what shapes the reply."""

    model: str
    messages: list[dict[str, Any]]
    stream: bool
    max_tokens: int | None
    stop: tuple[str, ...]
    json_mode: bool
    seed: int | None
    service_tier: str
    reasoning_effort: str
    show_reasoning: bool
    include_usage: bool
    prompt_tokens: int
    raw: dict[str, Any] = field(repr=False, default_factory=dict)
    json_schema: dict[str, Any] | None = None  # response_format json_schema's schema: the reply fills it


def _bad(message: str, code: str | None = None, param: str | None = None) -> GroqError:
    return GroqError(400, message, code=code, param=param)


def _validate_messages(messages: Any) -> list[dict[str, Any]]:
    if not isinstance(messages, list) or not messages:
        raise _bad("'messages' : minimum number of items is 1", param="messages")
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise _bad(f"'messages.{i}' : value must be an object", param="messages")
        role = m.get("role")
        if role not in ROLES:
            raise _bad(f"'messages.{i}' : discriminator property 'role' has invalid value", param="messages")
        if role == "tool" and not m.get("tool_call_id"):
            raise _bad(f"'messages.{i}' : for 'role:tool' the following must be satisfied"
                       "[('messages.{i}.tool_call_id' : property 'tool_call_id' is missing)]", param="messages")
        content = m.get("content")
        if role != "assistant" and not isinstance(content, (str, list)):
            raise _bad(f"'messages.{i}' : for 'role:{role}' the following must be satisfied"
                       f"[('messages.{i}.content' : value must be a string or an array)]", param="messages")
    return messages


def _validate_model(model: Any) -> str:
    if not isinstance(model, str) or not model:
        raise _bad("'model' : property 'model' is missing", param="model")
    if model in DECOMMISSIONED:
        raise _bad(
            f"The model `{model}` has been decommissioned and is no longer supported. Please refer to "
            "https://console.groq.com/docs/deprecations for a recommendation on which model to use instead.",
            code="model_decommissioned",
        )
    if model not in MODELS:
        raise GroqError(404, f"The model `{model}` does not exist or you do not have access to it.",
                        code="model_not_found")
    if model not in CHAT_MODELS:
        raise _bad(f"model `{model}` does not support chat completions", code="model_not_supported")
    return model


def _number_in(body: dict[str, Any], name: str, lo: float, hi: float) -> None:
    value = body.get(name)
    if value is None:
        return
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not lo <= value <= hi:
        raise _bad(f"'{name}' : number must be at most {hi:g} and at least {lo:g}", param=name)


def _stops(stop: Any) -> tuple[str, ...]:
    if stop is None:
        return ()
    if isinstance(stop, str):
        return (stop,)
    if not isinstance(stop, list) or not all(isinstance(s, str) for s in stop):
        raise _bad("'stop' : value must be a string or an array of strings", param="stop")
    if len(stop) > 4:
        raise _bad("'stop' : maximum number of items is 4", param="stop")
    return tuple(stop)


def _reasoning(body: dict[str, Any], json_mode: bool) -> tuple[str, bool]:
    """(effort, whether reasoning text is shown) as Groq documents for gpt-oss."""
    effort = body.get("reasoning_effort")
    if effort is not None and effort not in REASONING_EFFORTS:
        raise _bad("'reasoning_effort' : value must be one of low, medium, high for this model",
                   param="reasoning_effort")
    fmt, include = body.get("reasoning_format"), body.get("include_reasoning")
    if fmt is not None and include is not None:
        raise _bad("reasoning_format and include_reasoning cannot both be set", param="reasoning_format")
    if fmt is not None and fmt not in REASONING_FORMATS:
        raise _bad("'reasoning_format' : value must be one of hidden, raw, parsed", param="reasoning_format")
    if fmt == "raw" and json_mode:
        raise _bad("reasoning_format=raw is not supported with JSON mode or tool use", param="reasoning_format")
    if include is not None and not isinstance(include, bool):
        raise _bad("'include_reasoning' : value must be a boolean", param="include_reasoning")
    # gpt-oss never mixes reasoning into content: raw and parsed both use the separate field.
    show = (fmt in ("raw", "parsed")) if fmt is not None else (include if include is not None else True)
    return effort or "medium", show


def validate_chat(body: Any) -> ChatRequest:
    """Validate a /chat/completions body the way Groq does; raise GroqError otherwise."""
    if not isinstance(body, dict):
        raise _bad("request body must be a JSON object")
    model = _validate_model(body.get("model"))
    messages = _validate_messages(body.get("messages"))
    n = body.get("n")
    if n is not None and n != 1:
        raise _bad("'n' : number must be at most 1", param="n")
    if body.get("logprobs"):
        raise _bad("logprobs is not supported with this model", param="logprobs")
    if body.get("top_logprobs") is not None:
        raise _bad("top_logprobs is not supported with this model", param="top_logprobs")
    if body.get("logit_bias") is not None:
        raise _bad("logit_bias is not supported with this model", param="logit_bias")
    _number_in(body, "temperature", 0, 2)
    _number_in(body, "top_p", 0, 1)
    _number_in(body, "frequency_penalty", -2, 2)
    _number_in(body, "presence_penalty", -2, 2)
    stop = _stops(body.get("stop"))
    tier = body.get("service_tier") or "on_demand"
    if tier not in SERVICE_TIERS:
        raise _bad("'service_tier' : value must be one of auto, on_demand, flex, performance",
                   param="service_tier")
    rf = body.get("response_format")
    json_mode = isinstance(rf, dict) and rf.get("type") == "json_object"
    if rf is not None and not (isinstance(rf, dict) and rf.get("type") in ("text", "json_object", "json_schema")):
        raise _bad("'response_format.type' : value must be one of text, json_object, json_schema",
                   param="response_format")
    if json_mode and not any("json" in message_text(m).lower() for m in messages):
        raise _bad("'messages' must contain the word 'json' in some form, to use 'response_format' of type "
                   "'json_object'.", param="messages")
    schema = (_json_schema(rf, model, bool(body.get("stream")))
              if isinstance(rf, dict) and rf.get("type") == "json_schema" else None)
    effort, show = _reasoning(body, json_mode or schema is not None)
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    limit = MAX_COMPLETION_TOKENS[model]
    if max_tokens is not None:
        if not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1:
            raise _bad("'max_completion_tokens' : number must be at least 1", param="max_completion_tokens")
        if max_tokens > limit:
            raise _bad(f"`max_completion_tokens` must be less than or equal to `{limit}`, the maximum value "
                       f"for `max_completion_tokens` is less than the `context_window` for this model",
                       param="max_completion_tokens")
    ptoks = prompt_tokens(messages)
    window = int(MODELS[model]["context_window"])
    if ptoks + (max_tokens or 0) > window:
        raise _bad(f"Please reduce the length of the messages or completion. The context window of "
                   f"`{model}` is {window} tokens; this request needs {ptoks + (max_tokens or 0)}.",
                   code="context_length_exceeded", param="messages")
    options = body.get("stream_options")
    if options is not None and not body.get("stream"):
        raise _bad("stream_options is only allowed when stream is true", param="stream_options")
    seed = body.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise _bad("'seed' : value must be an integer", param="seed")
    return ChatRequest(
        model=model, messages=messages, stream=bool(body.get("stream")), max_tokens=max_tokens,
        stop=stop, json_mode=json_mode, seed=seed,
        service_tier="on_demand" if tier == "auto" else tier,
        reasoning_effort=effort, show_reasoning=show,
        include_usage=bool(isinstance(options, dict) and options.get("include_usage")),
        prompt_tokens=ptoks, raw=body, json_schema=schema,
    )


def _json_schema(rf: dict[str, Any], model: str, stream: bool) -> dict[str, Any]:
    """response_format json_schema checked as Groq does: a named schema object of known types,
    not streamed, strict only on the models that offer it (fakegroq.structured); strict mode
    needs every object closed (additionalProperties false) with all its properties required."""
    check_json_schema(rf, model, stream)
    spec = rf.get("json_schema")
    if not isinstance(spec, dict) or not isinstance(spec.get("name"), str) or not isinstance(spec.get("schema"), dict):
        raise _bad("'response_format.json_schema' must have a 'name' and a 'schema' object",
                   param="response_format")
    schema: dict[str, Any] = spec["schema"]
    if spec.get("strict"):
        for obj in _objects(schema):
            props = obj.get("properties") or {}
            if obj.get("additionalProperties") is not False or sorted(obj.get("required") or []) != sorted(props):
                raise _bad("strict mode: every object needs additionalProperties false and all of its "
                           "properties required", param="response_format")
    return schema


def _objects(schema: Any) -> list[dict[str, Any]]:
    if not isinstance(schema, dict):
        return []
    found = [schema] if schema.get("type") == "object" else []
    for sub in [*(schema.get("properties") or {}).values(), schema.get("items")]:
        found += _objects(sub)
    return found


def schema_instance(schema: Any, reply: str, name: str = "") -> Any:
    """A value of `schema` made from the reply text (what a model fills a schema with, here predictable):
    strings get the reply (a title its first six words), arrays one item, numbers 0."""
    kind = schema.get("type") if isinstance(schema, dict) else None
    if isinstance(schema, dict) and "const" in schema:  # constrained decoding keeps to enum and const too
        return schema["const"]
    if isinstance(schema, dict) and schema.get("enum"):
        return schema["enum"][0]
    if kind == "object":
        return {key: schema_instance(sub, reply, key) for key, sub in (schema.get("properties") or {}).items()}
    if kind == "array":
        return [schema_instance(schema.get("items"), reply, name)]
    if kind == "string":
        return " ".join(reply.split()[:6]) if name == "title" else reply
    return {"integer": 0, "number": 0, "boolean": False}.get(kind or "")


def last_user_text(messages: list[dict[str, Any]]) -> str:
    """The newest user message's text (what the assistant answers)."""
    for m in reversed(messages):
        if m.get("role") == "user":
            return message_text(m)
    return ""


def default_reply(messages: list[dict[str, Any]]) -> str:
    """A canned answer for fixture questions, else an echo the tests can predict."""
    said = last_user_text(messages).strip()
    return CANNED.get(normalise(said), f"You said: {said}")


def reply_for(req: ChatRequest, given: str | None) -> str:
    """The reply text: one a test set, else the default answer (a schema's reply is made from
    it in `complete`; a set reply that is JSON goes as it is, even one that misses the schema)."""
    if given is not None:
        return given
    if req.model in COMPOUND_MODELS:
        return compound_answer(last_user_text(req.messages))
    return default_reply(req.messages)


FILLERS = frozenset({"um", "uh", "er", "erm", "hmm"})
QUESTION_WORDS = frozenset({"what", "who", "where", "when", "why", "how", "which", "is", "are", "do", "does", "can"})


def is_edit_request(messages: list[dict[str, Any]]) -> bool:
    """A dictation clean-up: a system prompt that asks for the transcript to be edited."""
    return any(m.get("role") == "system" and "editor" in message_text(m).lower()
               and "transcript" in message_text(m).lower() for m in messages)


def edited(text: str) -> str:
    """What a well-behaved clean-up model returns: fillers out, a capital, end punctuation."""
    kept = [w for w in text.split() if normalise(w) not in FILLERS]
    if not kept:
        return ""
    out = " ".join(kept).rstrip(".?!,;: ")
    end = "?" if normalise(kept[0]) in QUESTION_WORDS else "."
    return out[:1].upper() + out[1:] + end


def reasoning_text(question: str, effort: str) -> str:
    """Deterministic 'thinking' whose length grows with reasoning_effort."""
    steps = [f'The user asks: "{question.strip()}".', "I should answer briefly and clearly.",
             "Let me double-check the facts before answering."]
    return " ".join(steps[: {"low": 1, "medium": 2, "high": 3}[effort]])


def split_words(text: str) -> list[str]:
    """Stream pieces at word boundaries, each carrying its leading whitespace."""
    return re.findall(r"\s*\S+", text) + ([m] if (m := text[len(text.rstrip()):]) else [])


@dataclass(frozen=True)
class Completion:
    """The whole answer for one request, before it is framed as JSON or SSE."""

    content: str
    reasoning: str | None  # None when hidden (its tokens are still billed)
    finish_reason: str
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int
    executed_tools: list[dict[str, Any]] | None = None  # what a compound system ran (its web search)


def complete(req: ChatRequest, reply: str) -> Completion:
    """Apply JSON mode, stop strings and the token budget to a reply text.

    The gpt-oss reasoning comes first and spends the max_completion_tokens budget
    before the answer does, like the real models.
    """
    question = last_user_text(req.messages)
    thinking = reasoning_text(question, req.reasoning_effort)
    text = json.dumps({"answer": reply}, ensure_ascii=False) if req.json_mode else reply
    if req.json_schema is not None and not _is_json(reply):  # a set reply that is JSON goes as it is
        text = json.dumps(schema_instance(req.json_schema, reply), ensure_ascii=False)
    finish = "stop"
    for s in req.stop:
        if s and s in text:
            text = text[: text.index(s)]
    r_tokens = count_tokens(thinking)
    budget = req.max_tokens
    if budget is not None and r_tokens >= budget:
        thinking = thinking[: budget * 4]
        r_tokens, text, finish = budget, "", "length"
    elif budget is not None and r_tokens + count_tokens(text) > budget:
        text = text[: (budget - r_tokens) * 4]
        finish = "length"
    return Completion(
        content=text,
        reasoning=thinking if req.show_reasoning else None,
        finish_reason=finish,
        prompt_tokens=req.prompt_tokens,
        completion_tokens=r_tokens + count_tokens(text),
        reasoning_tokens=r_tokens,
        executed_tools=search_tools(question) if req.model in COMPOUND_MODELS else None,
    )


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def usage(c: Completion, *, elapsed: float = 0.01) -> dict[str, Any]:
    """Groq's usage object, with plausible timings."""
    completion_time = round(c.completion_tokens / 1000, 6)
    prompt_time = round(c.prompt_tokens / 20000, 6)
    return {
        "queue_time": round(elapsed, 6),
        "prompt_tokens": c.prompt_tokens,
        "prompt_time": prompt_time,
        "completion_tokens": c.completion_tokens,
        "completion_time": completion_time,
        "total_tokens": c.prompt_tokens + c.completion_tokens,
        "total_time": round(prompt_time + completion_time, 6),
        "completion_tokens_details": {"reasoning_tokens": c.reasoning_tokens},
    }


def completion_body(req: ChatRequest, c: Completion, *, cid: str, rid: str, created: int,
                    seed: int) -> dict[str, Any]:
    """Non-streaming response body."""
    message: dict[str, Any] = {"role": "assistant", "content": c.content}
    if c.reasoning is not None:
        message["reasoning"] = c.reasoning
    if c.executed_tools is not None:
        message["executed_tools"] = c.executed_tools
    return {
        "id": cid,
        "object": "chat.completion",
        "created": created,
        "model": req.model,
        "choices": [{"index": 0, "message": message, "logprobs": None, "finish_reason": c.finish_reason}],
        "usage": usage(c),
        "usage_breakdown": None,
        "system_fingerprint": SYSTEM_FINGERPRINT,
        "x_groq": {"id": rid, "seed": seed},
        "service_tier": req.service_tier,
    }


def stream_chunks(req: ChatRequest, c: Completion, *, cid: str, rid: str, created: int,
                  seed: int, piece_chars: int | None = None) -> list[dict[str, Any]]:
    """Every chunk object of a streamed answer, in order (without the [DONE] sentinel).

    `piece_chars`: the content in pieces of that many characters (a word may be cut), as a
    real model's tokens cut text anywhere."""

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
        return {
            "id": cid, "object": "chat.completion.chunk", "created": created, "model": req.model,
            "system_fingerprint": SYSTEM_FINGERPRINT,
            "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            **extra,
        }

    out = [chunk({"role": "assistant", "content": ""}, x_groq={"id": rid}, service_tier=req.service_tier)]
    if c.executed_tools is not None:  # a compound system's search, before its answer
        out.append(chunk({"executed_tools": c.executed_tools}))
    if c.reasoning:
        out += [chunk({"reasoning": piece}) for piece in split_words(c.reasoning)]
    pieces = split_words(c.content) if piece_chars is None else \
        [c.content[i:i + piece_chars] for i in range(0, len(c.content), piece_chars)]
    out += [chunk({"content": piece}) for piece in pieces]
    out.append(chunk({}, c.finish_reason, x_groq={"id": rid, "usage": usage(c), "seed": seed}))
    if req.include_usage:
        out.append({
            "id": cid, "object": "chat.completion.chunk", "created": created, "model": req.model,
            "system_fingerprint": SYSTEM_FINGERPRINT, "choices": [], "usage": usage(c),
            "x_groq": {"id": rid},
        })
    return out
