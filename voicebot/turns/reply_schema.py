"""Structured outputs: a JSON Schema the reply must match (`--schema FILE`).

The schema is read and checked before anything is sent (a bad file is a usage error),
sent as Groq's `response_format` `json_schema` (strict, i.e. constrained decoding, on the
models that offer it and for schemas that meet its rules; best-effort otherwise), and
the reply is checked against it before it is shown: a reply that does not match is
reported (`SchemaMismatch`, exit 3), never printed as if it did.

The checker covers the subset of JSON Schema Groq's structured outputs document (types,
properties, required, additionalProperties, items, enum, const, anyOf, $ref to $defs,
and the string, number and array bounds); a schema using any other keyword is refused
with its name, rather than checked half-way. A small checker instead of the
`jsonschema` package: that subset is short, and the package (with its Rust extension)
would load for one option.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voicebot.errors import EXIT_SCHEMA, UsageError, VoicebotError

# Models that decode under the schema's constraints (`strict: true`); others get best effort.
STRICT_MODELS = frozenset({"openai/gpt-oss-20b", "openai/gpt-oss-120b"})

TYPES = frozenset({"object", "array", "string", "number", "integer", "boolean", "null"})
ANNOTATIONS = frozenset({"title", "description", "$schema", "$id", "$comment", "default", "examples"})
CHECKED = frozenset({"type", "properties", "required", "additionalProperties", "items", "enum", "const",
                     "anyOf", "$ref", "$defs", "definitions", "minimum", "maximum", "exclusiveMinimum",
                     "exclusiveMaximum", "multipleOf", "minLength", "maxLength", "pattern", "minItems",
                     "maxItems", "format"})


class SchemaMismatch(VoicebotError):
    """The model's reply is not JSON matching the schema (exit 3); `reply` keeps what it said."""

    exit_code = EXIT_SCHEMA

    def __init__(self, message: str, *, reply: str) -> None:
        super().__init__(message)
        self.reply = reply


@dataclass(frozen=True)
class ReplySchema:
    """A checked schema and the name it is sent under (the file's stem)."""

    name: str
    schema: dict[str, Any]
    source: str = "schema"

    def strict_ok(self) -> bool:
        """Whether the schema meets strict mode's rules: every object lists all its properties as
        required and sets additionalProperties to false."""
        return _strict_ok(self.schema)

    def response_format(self, model: str) -> dict[str, Any]:
        """Groq's `response_format` for `model`: strict where the model and the schema allow it."""
        return {"type": "json_schema", "json_schema": {
            "name": self.name, "schema": self.schema, "strict": model in STRICT_MODELS and self.strict_ok()}}

    def check(self, reply: str) -> Any:
        """The reply's JSON value if it matches; SchemaMismatch (one line) otherwise."""
        try:
            value = json.loads(reply)
        except ValueError:
            raise SchemaMismatch(f"the reply is not JSON, so it does not match {self.source}",
                                 reply=reply) from None
        problems = mismatches(value, self.schema, self.schema)
        if problems:
            raise SchemaMismatch(f"the reply does not match {self.source}: {problems[0]}", reply=reply)
        return value


def load_schema(path: str | Path) -> ReplySchema:
    """The schema in `path` (a JSON Schema, or OpenAI's {"name", "schema"} wrapper), checked;
    UsageError (exit 2, one line) for anything unusable."""
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read the schema {file}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        obj = json.loads(text)
    except ValueError as exc:
        raise UsageError(f"the schema {file} is not JSON: {exc}") from None
    name = re.sub(r"[^A-Za-z0-9_-]", "_", file.stem)[:64] or "reply"
    if isinstance(obj, dict) and isinstance(obj.get("schema"), dict) and "type" not in obj:
        given = obj.get("name")
        name = given if isinstance(given, str) and given else name
        obj = obj["schema"]
    if not isinstance(obj, dict):
        raise UsageError(f"the schema {file} must be a JSON object")
    problem = schema_problem(obj, obj, "")
    if problem is None and obj.get("type") != "object":
        problem = 'the top level must be "type": "object"'
    if problem is not None:
        raise UsageError(f"the schema {file} is not usable: {problem}")
    return ReplySchema(name=str(name), schema=obj, source=f"the schema {file.name}")


def schema_problem(node: Any, root: dict[str, Any], where: str) -> str | None:
    """What makes `node` an unusable (or unsupported) schema, or None."""
    at = where or "the top level"
    if isinstance(node, bool):
        return None
    if not isinstance(node, dict):
        return f"{at} is not a schema object"
    for key in node:
        if key not in CHECKED and key not in ANNOTATIONS:
            return f"{at} uses {key!r}, which is not supported"
    kinds = node.get("type")
    for kind in kinds if isinstance(kinds, list) else [kinds] if kinds is not None else []:
        if kind not in TYPES:
            return f"{at} has an unknown type {kind!r}"
    props = node.get("properties", {})
    if not isinstance(props, dict):
        return f"{at}: properties must be an object"
    required = node.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        return f"{at}: required must be a list of names"
    if "enum" in node and (not isinstance(node["enum"], list) or not node["enum"]):
        return f"{at}: enum must be a non-empty list"
    if "pattern" in node:
        try:
            re.compile(node["pattern"])
        except (re.error, TypeError):
            return f"{at}: pattern is not a regular expression"
    if "$ref" in node and _resolve(node["$ref"], root) is None:
        return f"{at}: $ref {node['$ref']!r} names no definition"
    children: list[tuple[Any, str]] = [(s, f"{where}.{k}".lstrip(".")) for k, s in props.items()]
    children += [(node[key], f"{where}.{key}".lstrip(".")) for key in ("items", "additionalProperties")
                 if isinstance(node.get(key), dict)]
    for key in ("$defs", "definitions"):
        children += [(s, f"{key}.{k}") for k, s in (node.get(key) or {}).items()]
    branches = node.get("anyOf", [])
    if not isinstance(branches, list):
        return f"{at}: anyOf must be a list"
    children += [(s, f"{where}.anyOf[{i}]".lstrip(".")) for i, s in enumerate(branches)]
    for child, name in children:
        problem = schema_problem(child, root, name)
        if problem is not None:
            return problem
    return None


def _resolve(ref: Any, root: dict[str, Any]) -> Any:
    if not isinstance(ref, str) or not ref.startswith("#"):
        return None
    node: Any = root
    for part in [p for p in ref[1:].split("/") if p]:
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def _is(value: Any, kind: str) -> bool:
    if isinstance(value, bool):
        return kind == "boolean"
    if kind == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if kind == "number":
        return isinstance(value, (int, float))
    classes: dict[str, type] = {"object": dict, "array": list, "string": str, "null": type(None)}
    return kind in classes and isinstance(value, classes[kind])


def mismatches(value: Any, node: Any, root: dict[str, Any], path: str = "the reply") -> list[str]:
    """Every way `value` fails `node` (empty when it matches), each naming where."""
    if node is True or node == {}:
        return []
    if node is False:
        return [f"{path} is not allowed"]
    if "$ref" in node:
        return mismatches(value, _resolve(node["$ref"], root), root, path)
    if "anyOf" in node and not any(not mismatches(value, b, root, path) for b in node["anyOf"]):
        return [f"{path} matches none of the allowed forms"]
    kinds = node.get("type")
    if kinds is not None:
        options = kinds if isinstance(kinds, list) else [kinds]
        if not any(_is(value, k) for k in options):
            return [f"{path} should be {' or '.join(options)}, not {json.dumps(value)[:40]}"]
    if "const" in node and value != node["const"]:
        return [f"{path} should be {json.dumps(node['const'])}"]
    if "enum" in node and value not in node["enum"]:
        return [f"{path} should be one of {', '.join(json.dumps(e) for e in node['enum'])}"]
    out: list[str] = []
    if isinstance(value, dict):
        props = node.get("properties", {})
        out += [f"{path} lacks {name!r}" for name in node.get("required", []) if name not in value]
        extra = node.get("additionalProperties", True)
        for key, item in value.items():
            if key in props:
                out += mismatches(item, props[key], root, f"{path}.{key}")
            elif extra is False:
                out.append(f"{path} has {key!r}, which the schema does not allow")
            elif isinstance(extra, dict):
                out += mismatches(item, extra, root, f"{path}.{key}")
    elif isinstance(value, list):
        if "items" in node:
            for i, item in enumerate(value):
                out += mismatches(item, node["items"], root, f"{path}[{i}]")
        out += _bounds(len(value), node, "minItems", "maxItems", path, "items")
    elif isinstance(value, str):
        out += _bounds(len(value), node, "minLength", "maxLength", path, "characters")
        if "pattern" in node and re.search(node["pattern"], value) is None:
            out.append(f"{path} does not match the pattern {node['pattern']!r}")
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        out += _numbers(value, node, path)
    return out


def _bounds(n: int, node: dict[str, Any], low: str, high: str, path: str, unit: str) -> list[str]:
    if low in node and n < node[low]:
        return [f"{path} has {n} {unit}, fewer than {node[low]}"]
    if high in node and n > node[high]:
        return [f"{path} has {n} {unit}, more than {node[high]}"]
    return []


def _numbers(x: float, node: dict[str, Any], path: str) -> list[str]:
    if ("minimum" in node and x < node["minimum"]) or ("exclusiveMinimum" in node and x <= node["exclusiveMinimum"]):
        return [f"{path} is {x}, below the minimum"]
    if ("maximum" in node and x > node["maximum"]) or ("exclusiveMaximum" in node and x >= node["exclusiveMaximum"]):
        return [f"{path} is {x}, above the maximum"]
    step = node.get("multipleOf")
    if step and not math.isclose(x / step, round(x / step)):
        return [f"{path} is {x}, not a multiple of {step}"]
    return []


def _strict_ok(node: Any) -> bool:
    if not isinstance(node, dict):
        return True
    if node.get("type") == "object" or "properties" in node:
        props = node.get("properties", {})
        if node.get("additionalProperties") is not False or set(node.get("required", [])) != set(props):
            return False
    subs = [*node.get("properties", {}).values(), *(node.get("$defs") or {}).values(),
            *(node.get("definitions") or {}).values(), *node.get("anyOf", [])]
    if isinstance(node.get("items"), dict):
        subs.append(node["items"])
    return all(_strict_ok(s) for s in subs)


__all__ = ["STRICT_MODELS", "ReplySchema", "SchemaMismatch", "load_schema", "mismatches", "schema_problem"]
