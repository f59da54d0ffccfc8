"""What the hub asks of a consulted provider, and how the insights come back out of its answer.

Where the provider supports structured output the answer is asked for as JSON of
``ASK_SCHEMA``: the answer text and the insights worth keeping. Where it does not (a local model
may ignore the schema), the same JSON is looked for in the text — whole, or in a fenced
```json block — and failing that the whole text is the answer and no insight is extracted:
an insight is never guessed out of prose.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from infinity_matrix.core.insights.records import KINDS

MAX_EXTRACTED = 5

ASK_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "answer": {"type": "string", "description": "The answer to the question."},
        "insights": {
            "type": "array",
            "description": "Durable findings other assistants on this project should know.",
            "items": {
                "type": "object",
                "properties": {
                    "kind": {"type": "string", "enum": list(KINDS)},
                    "title": {"type": "string"},
                    "body": {"type": "string"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                },
                "required": ["kind", "title", "body", "tags"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["answer", "insights"],
    "additionalProperties": False,
}

ASK_INSTRUCTIONS = (
    "You are consulted through Infinity Matrix, the shared context hub of a software project"
    " that several AI assistants work on. Answer the question using the project context you are"
    " given; say so when the context does not settle it. Then list, as insights, at most"
    f" {MAX_EXTRACTED} durable findings from your answer that the other assistants should know"
    " (kind: pattern, decision, pitfall, convention, fact or todo; a short title; a body of one"
    " to three sentences; a few lowercase tags). List none rather than restate the context."
)

PLAIN_INSTRUCTIONS = (
    ASK_INSTRUCTIONS + ' Reply with JSON only: {"answer": "...", "insights": [{"kind": "...",'
    ' "title": "...", "body": "...", "tags": ["..."]}]}.'
)

_FENCED = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.DOTALL)


@dataclass(frozen=True, slots=True)
class ExtractedInsight:
    kind: str
    title: str
    body: str
    tags: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class ParsedAnswer:
    answer: str
    insights: tuple[ExtractedInsight, ...]
    structured: bool  # whether the answer came as the JSON asked for


def parse_answer(text: str, structured: Mapping[str, Any] | None) -> ParsedAnswer:
    """The answer and its well-formed insights (malformed ones are dropped, not repaired)."""
    data = structured if structured is not None else _json_in(text)
    if data is None or not isinstance(data.get("answer"), str):
        return ParsedAnswer(text.strip(), (), False)
    raw = data.get("insights")
    found = [i for i in map(_insight, raw if isinstance(raw, list) else []) if i is not None]
    return ParsedAnswer(str(data["answer"]).strip(), tuple(found[:MAX_EXTRACTED]), True)


def _json_in(text: str) -> Mapping[str, Any] | None:
    candidates = [text.strip(), *(m.group(1) for m in _FENCED.finditer(text))]
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


def _insight(value: Any) -> ExtractedInsight | None:
    if not isinstance(value, dict):
        return None
    kind, title, body = value.get("kind"), value.get("title"), value.get("body")
    if kind not in KINDS or not isinstance(title, str) or not isinstance(body, str):
        return None
    if not title.strip() or not body.strip():
        return None
    tags = value.get("tags")
    listed = tags if isinstance(tags, list) else []
    clean = tuple(t.strip().lower() for t in listed if isinstance(t, str) and t.strip())
    return ExtractedInsight(str(kind), title.strip(), body.strip(), clean)
