"""Limits of the knowledge graph and the checks every write and read goes through.

Bad input raises ``InvalidInput`` with a ``graph.invalid_…`` code before anything is appended.
Strings must be UTF-8 without NUL (PostgreSQL text cannot hold either).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from infinity_matrix.core.knowledge.records import (
    NewEntity,
    NewObservations,
    NewRelation,
    ObservationDeletion,
    Relation,
)
from infinity_matrix.errors import InvalidInput, TooLarge

MAX_NAME_LENGTH = 200  # entity names (they are also the names relations use)
MAX_TYPE_LENGTH = 100  # entity and relation types
MAX_OBSERVATION_LENGTH = 10_000
MAX_QUERY_LENGTH = 1_000
MAX_ITEMS = 1_000  # entities, relations, names or observation items in one call
MAX_CONTENTS = 10_000  # observation contents in one call, all items together
MAX_CALL_CHARACTERS = 1_000_000  # of observations in one call, all items together
MAX_PAGE = 1_000
DEFAULT_PAGE = 100


def name(value: Any) -> str:
    return _string(value, MAX_NAME_LENGTH, "an entity name", "graph.invalid_name")


def type_(value: Any) -> str:
    return _string(value, MAX_TYPE_LENGTH, "a type", "graph.invalid_type")


def observation(value: Any) -> str:
    return _string(value, MAX_OBSERVATION_LENGTH, "an observation", "graph.invalid_observation")


def confidence(value: Any) -> float | None:
    if value is None:
        return None
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or not 0 <= value <= 1
    ):
        raise InvalidInput("confidence is a number from 0 to 1", code="graph.invalid_confidence")
    return float(value)


def query(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_QUERY_LENGTH or not storable(value):
        raise InvalidInput(
            f"the query is a string of at most {MAX_QUERY_LENGTH} characters",
            code="graph.invalid_query",
        )
    return value


def limit(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_PAGE:
        raise InvalidInput(f"limit must be 1 to {MAX_PAGE}", code="request.invalid_limit")
    return value


def count(items: Sequence[Any], what: str, most: int = MAX_ITEMS) -> None:
    if len(items) > most:
        raise InvalidInput(f"at most {most} {what} in one call", code="graph.too_many", limit=most)


def contents(values: Sequence[str]) -> None:
    """The observations of one call: at most ``MAX_CONTENTS`` of ``MAX_CALL_CHARACTERS`` in
    all (each already checked)."""
    count(values, "observations", MAX_CONTENTS)
    if sum(map(len, values)) > MAX_CALL_CHARACTERS:
        raise TooLarge(
            f"at most {MAX_CALL_CHARACTERS} characters of observations in one call",
            code="graph.too_large",
            limit=MAX_CALL_CHARACTERS,
        )


def entity(value: NewEntity) -> NewEntity:
    return NewEntity(
        name(value.name),
        type_(value.entity_type),
        tuple(observation(o) for o in _sequence(value.observations, "observations")),
        confidence(value.confidence),
    )


def relation(value: NewRelation) -> NewRelation:
    key = relation_key(value.key)
    return NewRelation(key.from_, key.to, key.relation_type, confidence(value.confidence))


def relation_key(value: Relation) -> Relation:
    return Relation(name(value.from_), name(value.to), type_(value.relation_type))


def new_observations(value: NewObservations) -> NewObservations:
    contents = _sequence(value.contents, "contents")
    return NewObservations(
        name(value.entity_name),
        tuple(observation(c) for c in contents),
        confidence(value.confidence),
    )


def deletion(value: ObservationDeletion) -> ObservationDeletion:
    contents = _sequence(value.observations, "observations")
    return ObservationDeletion(name(value.entity_name), tuple(observation(c) for c in contents))


def _sequence(value: Any, what: str) -> Sequence[Any]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise InvalidInput(f"{what} must be a list of strings", code="graph.invalid_observation")
    return value


def _string(value: Any, most: int, what: str, code: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= most or not storable(value):
        raise InvalidInput(f"{what} is a string of 1 to {most} characters", code=code)
    return value


def storable(value: str) -> bool:
    """Whether a database can hold ``value``: UTF-8 without NUL (PostgreSQL text cannot)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, which JSON allows and UTF-8 does not
        return False
    return True
