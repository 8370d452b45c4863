"""Structured outputs for the fake Groq server: `response_format` `json_schema` checked as
Groq documents it (the reply is made to fit the schema in fakegroq.chat).

Groq: `json_schema` needs a `name` and a `schema` object of known types; `strict: true`
(constrained decoding) only on the gpt-oss models and only for schemas whose every object
lists all its properties as required and sets `additionalProperties: false`; streaming is
not supported with structured outputs. A test that wants a reply that does not match sets
a JSON one with `set_reply` (sent verbatim, as a model in best-effort mode might).
"""

from __future__ import annotations

from typing import Any

from .models import GroqError

STRICT_MODELS = frozenset({"openai/gpt-oss-20b", "openai/gpt-oss-120b"})
TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})


def _bad(message: str, param: str = "response_format") -> GroqError:
    return GroqError(400, message, param=param)


def _schema_error(node: Any, where: str) -> str | None:
    if isinstance(node, bool):
        return None
    if not isinstance(node, dict):
        return f"{where}: schema must be an object"
    kinds = node.get("type")
    for kind in kinds if isinstance(kinds, list) else [kinds] if kinds is not None else []:
        if kind not in TYPES:
            return f"{where}: unknown type {kind!r}"
    props = node.get("properties", {})
    if not isinstance(props, dict):
        return f"{where}: properties must be an object"
    subs = [(s, f"{where}.{k}") for k, s in props.items()]
    if isinstance(node.get("items"), dict):
        subs.append((node["items"], f"{where}.items"))
    subs += [(s, f"{where}.$defs.{k}") for k, s in (node.get("$defs") or {}).items()]
    subs += [(s, f"{where}.anyOf[{i}]") for i, s in enumerate(node.get("anyOf") or [])]
    for sub, name in subs:
        error = _schema_error(sub, name)
        if error:
            return error
    return None


def _strict_error(node: Any, where: str) -> str | None:
    if not isinstance(node, dict):
        return None
    props = node.get("properties")
    if node.get("type") == "object" or props is not None:
        props = props or {}
        if node.get("additionalProperties") is not False:
            return f"{where}: additionalProperties must be false in strict mode"
        missing = sorted(set(props) - set(node.get("required") or []))
        if missing:
            return f"{where}: all properties must be required in strict mode (missing {', '.join(missing)})"
    subs = [*(props or {}).values(), *(node.get("$defs") or {}).values(), *(node.get("anyOf") or [])]
    if isinstance(node.get("items"), dict):
        subs.append(node["items"])
    for sub in subs:
        error = _strict_error(sub, where)
        if error:
            return error
    return None


def check_json_schema(rf: dict[str, Any], model: str, stream: bool) -> dict[str, Any]:
    """The request's schema, after Groq's checks of a `json_schema` response_format."""
    spec = rf.get("json_schema")
    if not isinstance(spec, dict):
        raise _bad("'response_format.json_schema' : property 'json_schema' is missing")
    name = spec.get("name")
    if not isinstance(name, str) or not name:
        raise _bad("'response_format.json_schema.name' : property 'name' is missing")
    schema = spec.get("schema")
    if not isinstance(schema, dict):
        raise _bad("'response_format.json_schema.schema' : value must be an object")
    error = _schema_error(schema, "schema")
    if error:
        raise _bad(f"invalid JSON schema for response_format '{name}': {error}")
    if stream:
        raise _bad("response_format json_schema does not support streaming", param="stream")
    if spec.get("strict") is True:
        if model not in STRICT_MODELS:
            raise _bad(f"strict json_schema is not supported with model `{model}`")
        error = _strict_error(schema, "schema")
        if error:
            raise _bad(f"invalid JSON schema for response_format '{name}': {error}")
    return schema
