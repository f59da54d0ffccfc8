"""Translation between our records and google-genai's types: a ``ChatRequest`` as contents and
a system instruction, a ``GenerateContentResponse`` as a ``ChatResult`` (or the taxonomy's
``ContentFiltered`` / ``MalformedResponse`` when there is no usable answer)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from google.genai import types

from infinity_matrix.core.providers.errors import ContentFiltered, MalformedResponse
from infinity_matrix.core.providers.records import ChatRequest, ChatResult, Message, Usage

# Finish reasons that mean a filter refused the answer, not that the model finished.
FILTERED = frozenset(
    {
        "SAFETY",
        "PROHIBITED_CONTENT",
        "BLOCKLIST",
        "SPII",
        "RECITATION",
        "IMAGE_SAFETY",
        "IMAGE_PROHIBITED_CONTENT",
        "MODEL_ARMOR",
    }
)
FINISH_REASONS = {"STOP": "stop", "MAX_TOKENS": "length"}


def to_system_instruction(request: ChatRequest) -> str | None:
    """The call's instructions, then the briefing: what goes inline as the system instruction."""
    parts = [request.instructions, request.context.text if request.context else None]
    text = "\n\n".join(p for p in parts if p and p.strip())
    return text or None


def to_contents(messages: tuple[Message, ...], lead: str | None) -> list[types.Content]:
    """The turns (``assistant`` is Gemini's ``model``), ``lead`` first in the first user turn."""
    turns = [
        types.Content(
            role="model" if m.role == "assistant" else "user", parts=[types.Part(text=m.text)]
        )
        for m in messages
    ]
    if lead and lead.strip():
        first = next((c for c in turns if c.role == "user"), None)
        if first is not None and first.parts is not None:
            first.parts.insert(0, types.Part(text=lead))
    return turns


def to_chat_result(
    response: types.GenerateContentResponse, request: ChatRequest, model: str, provider: str
) -> ChatResult:
    """The first candidate as our result; raises ``ContentFiltered`` for a blocked prompt or a
    withheld answer, ``MalformedResponse`` for no candidates or unparsable structured JSON."""
    feedback = response.prompt_feedback
    if feedback is not None and feedback.block_reason is not None:
        reason = _enum_name(feedback.block_reason)
        raise ContentFiltered(f"prompt blocked: {reason}", provider=provider)
    if not response.candidates:
        raise MalformedResponse("the answer has no candidates", provider=provider)
    candidate = response.candidates[0]
    finish = _enum_name(candidate.finish_reason) if candidate.finish_reason else None
    if finish in FILTERED:
        raise ContentFiltered(f"answer withheld: {finish}", provider=provider)
    parts = candidate.content.parts if candidate.content and candidate.content.parts else []
    text = "".join(p.text for p in parts if p.text and not p.thought)
    structured = None
    if request.response_schema is not None:
        structured = _parse_object(text, provider)
    return ChatResult(
        text=text,
        model=response.model_version or model,
        usage=_usage(response.usage_metadata),
        request_id=response.response_id,
        finish_reason=FINISH_REASONS.get(finish, finish.lower()) if finish else None,
        structured=structured,
    )


def _parse_object(text: str, provider: str) -> Mapping[str, Any]:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise MalformedResponse("the structured answer is not JSON", provider=provider) from exc
    if not isinstance(value, dict):
        raise MalformedResponse("the structured answer is not an object", provider=provider)
    return value


def _usage(meta: types.GenerateContentResponseUsageMetadata | None) -> Usage:
    if meta is None:
        return Usage()
    return Usage(
        input_tokens=meta.prompt_token_count or 0,
        # Thinking tokens are billed as output.
        output_tokens=(meta.candidates_token_count or 0) + (meta.thoughts_token_count or 0),
        cached_tokens=meta.cached_content_token_count or 0,
    )


def _enum_name(value: Any) -> str:
    return str(getattr(value, "value", value))
