"""Limits of insights and the checks every write and read goes through.

Bad input raises ``InvalidInput`` with an ``insight.invalid_…`` code (``TooLarge``
``insight.too_large`` for a body over ``MAX_BODY``) before anything is appended. Strings must be
UTF-8 without NUL, which PostgreSQL text cannot hold.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Any

from infinity_matrix.core.insights.records import (
    EVIDENCE_TYPES,
    KINDS,
    VERDICTS,
    Evidence,
    NewInsight,
    Occurrence,
    Verdict,
)
from infinity_matrix.core.knowledge.validate import storable
from infinity_matrix.core.records import validate_key
from infinity_matrix.errors import InfinityMatrixError, InvalidInput, TooLarge

MAX_TITLE = 200
MAX_BODY = 20_000
MAX_TAGS = 32
MAX_TAG_LENGTH = 64
MAX_TOPIC = 200
MAX_EVIDENCE = 50
MAX_ENTITY_NAME = 200  # as the knowledge graph's names
MAX_CONTRADICTS = 50
MAX_NAME = 100  # assistant and model names
MAX_NOTE = 2_000
MAX_OCCURRENCES = 1_000

_TAG = re.compile(r"[^\s\x00]+")


def check_new(new: NewInsight) -> NewInsight:
    """``new`` with every field checked and normalised (tags sorted and unique)."""
    return NewInsight(
        kind=check_kind(new.kind),
        title=check_title(new.title),
        body=check_body(new.body),
        tags=check_tags(new.tags),
        evidence=check_evidence(new.evidence),
        topic=check_topic(new.topic),
        contradicts=check_ids(new.contradicts, MAX_CONTRADICTS),
        assistant=check_name(new.assistant, "assistant"),
        model=check_name(new.model, "model"),
        confidence=_confidence(new.confidence),
    )


def check_kind(value: Any) -> str:
    if value not in KINDS:
        raise InvalidInput(f"kind is one of {', '.join(KINDS)}", code="insight.invalid_kind")
    return str(value)


def check_title(value: Any) -> str:
    return _text(value, MAX_TITLE, "title", "insight.invalid_title")


def check_body(value: Any) -> str:
    if isinstance(value, str) and len(value) > MAX_BODY:
        raise TooLarge(
            f"the body is longer than {MAX_BODY} characters",
            code="insight.too_large",
            limit=MAX_BODY,
        )
    return _text(value, MAX_BODY, "body", "insight.invalid_body")


def check_tags(values: Any) -> list[str]:
    if (
        isinstance(values, str)
        or not isinstance(values, Sequence)
        or len(values) > MAX_TAGS
        or not all(
            isinstance(t, str) and len(t) <= MAX_TAG_LENGTH and _TAG.fullmatch(t) and storable(t)
            for t in values
        )
    ):
        raise InvalidInput(
            f"at most {MAX_TAGS} tags of 1 to {MAX_TAG_LENGTH} characters without spaces",
            code="insight.invalid_tag",
        )
    return sorted(set(values))


def check_topic(value: Any) -> str | None:
    if value is None:
        return None
    try:
        if not isinstance(value, str) or len(value) > MAX_TOPIC:
            raise InvalidInput("bad topic")
        return validate_key(value)
    except InvalidInput as exc:
        raise InvalidInput(
            f"a topic is a path-like key (like db/staging-port) of at most {MAX_TOPIC} characters",
            code="insight.invalid_topic",
        ) from exc


def check_evidence(values: Any) -> list[Evidence]:
    if isinstance(values, str) or not isinstance(values, Sequence) or len(values) > MAX_EVIDENCE:
        raise _bad_evidence()
    return list(dict.fromkeys(_one_evidence(v) for v in values))


def check_ids(values: Any, most: int) -> list[int]:
    if (
        isinstance(values, str)
        or not isinstance(values, Sequence)
        or len(values) > most
        or not all(isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in values)
    ):
        raise InvalidInput(
            f"contradicts is a list of at most {most} insight ids", code="insight.invalid_evidence"
        )
    return sorted(set(values))


def check_name(value: Any, what: str) -> str | None:
    """An assistant's or model's name (``None`` or empty = not given)."""
    if value is None or value == "":
        return None
    return _text(value, MAX_NAME, what, "request.invalid")


def check_verdict(value: Any) -> Verdict:
    if value not in VERDICTS:
        raise InvalidInput(
            f"verdict is one of {', '.join(VERDICTS)}", code="insight.invalid_verdict"
        )
    verdict: Verdict = value
    return verdict


def check_note(value: Any) -> str | None:
    if value is None or value == "":
        return None
    return _text(value, MAX_NOTE, "note", "request.invalid")


def check_occurrences(values: Sequence[Occurrence]) -> list[Occurrence]:
    """Occurrences sorted and unique (their order carries no meaning)."""
    if len(values) > MAX_OCCURRENCES:
        raise InvalidInput(f"at most {MAX_OCCURRENCES} occurrences", code="request.invalid")
    for o in values:
        validate_key(o.key)
        if not 1 <= o.start_line <= o.end_line:
            raise InvalidInput("lines are 1-based and start <= end", code="request.invalid")
    return sorted(set(values), key=lambda o: (o.key, o.start_line, o.end_line))


def _one_evidence(value: Any) -> Evidence:
    if not isinstance(value, Evidence) or value.type not in EVIDENCE_TYPES:
        raise _bad_evidence()
    ref: Any = value.ref
    try:
        if value.type == "context":
            ref = validate_key(ref) if isinstance(ref, str) else None
        elif value.type == "entity":
            ref = _text(ref, MAX_ENTITY_NAME, "ref", "insight.invalid_evidence")
        else:
            ref = str(ref) if isinstance(ref, int | str) and str(ref).isdecimal() else None
            ref = ref if ref is not None and int(ref) > 0 else None
    except InfinityMatrixError as exc:
        raise _bad_evidence() from exc
    if ref is None:
        raise _bad_evidence()
    return Evidence(value.type, ref)


def _bad_evidence() -> InvalidInput:
    return InvalidInput(
        f"evidence is at most {MAX_EVIDENCE} items {{type: context|entity|insight, ref}}: a"
        " context key, an entity name or an insight id",
        code="insight.invalid_evidence",
    )


def _confidence(value: Any) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= 1
    ):
        raise InvalidInput("confidence is a number from 0 to 1", code="request.invalid")
    return float(value)


def _text(value: Any, most: int, what: str, code: str) -> str:
    if (
        not isinstance(value, str)
        or not 1 <= len(value) <= most
        or not value.strip()
        or not storable(value)
    ):
        raise InvalidInput(f"{what} is a text of 1 to {most} characters", code=code)
    return value
