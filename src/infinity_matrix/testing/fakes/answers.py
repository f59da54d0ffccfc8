"""Deterministic answers the fake providers give: a plain echo of the question, and a JSON
instance of a requested schema, so structured-output flows get something to parse.

An ``answer`` string property gets the plain answer; an ``insights`` array gets one insight
(``kind`` "pattern" when allowed, a ``title`` and ``body`` from the question, one tag); numbers
sit at 0.8 when their range allows (a plausible confidence). ``$ref`` into ``$defs``, ``anyOf``,
``enum`` and ``const`` are followed: the subset OpenAI, Gemini and Anthropic structured outputs use.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any


def answer_text(question: str) -> str:
    """The fake's plain answer to a question."""
    return f"You asked: {question.strip()}"


def answer_for_schema(schema: Mapping[str, Any], question: str) -> Any:
    """A JSON value valid for ``schema`` (the subset structured outputs use), derived from the
    question: ``answer`` gets the plain answer, an ``insights`` array one insight about it."""
    return _instance(schema, schema, question, "")


def _instance(node: Mapping[str, Any], root: Mapping[str, Any], question: str, name: str) -> Any:
    if "$ref" in node:
        target: Any = root
        for part in str(node["$ref"]).removeprefix("#/").split("/"):
            target = target[part]
        return _instance(target, root, question, name)
    if "const" in node:
        return node["const"]
    if node.get("enum"):
        values = list(node["enum"])
        return "pattern" if "pattern" in values else values[0]
    for key in ("anyOf", "oneOf"):
        if key in node:
            options = [o for o in node[key] if o.get("type") != "null"] or node[key]
            return _instance(options[0], root, question, name)
    kind = node.get("type", "object" if "properties" in node else "string")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind == "object":
        props: Mapping[str, Any] = node.get("properties") or {}
        return {key: _instance(sub, root, question, key) for key, sub in props.items()}
    if kind == "array":
        count = max(1 if name in ("insights", "tags") else 0, int(node.get("minItems", 0)))
        return [_instance(node.get("items") or {}, root, question, name) for _ in range(count)]
    if kind in ("number", "integer"):
        low = node.get("minimum", 0)
        high = node.get("maximum", low if low > 0.8 else max(low, 0.8))
        value = 0.8 if low <= 0.8 <= high else low
        return int(value) if kind == "integer" else value
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string_for(name, question)


def _string_for(name: str, question: str) -> Any:
    words = re.findall(r"[a-z0-9]+", question.lower())
    if name == "tags":
        return "-".join(words[:2]) or "question"
    if name == "answer":
        return answer_text(question)
    if name == "kind":
        return "pattern"
    if name == "title":
        return (question.strip() or "An insight")[:80]
    if name == "body":
        return f"Asked about: {question.strip()}"
    return f"{name or 'value'} for: {question.strip()}"[:200]
