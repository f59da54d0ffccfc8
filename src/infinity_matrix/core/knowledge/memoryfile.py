"""The reference memory server's ``memory.jsonl``: one JSON object per line,
``{"type":"entity","name","entityType","observations"}`` or
``{"type":"relation","from","to","relationType"}``.

Reading merges repeats (an entity listed twice keeps its first type and gains the other line's
observations; a relation listed twice counts once) and ignores blank lines and lines of other
types, as the reference does. Writing produces what the reference writes (compact JSON, keys in
its order), so the reference server reads our export.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from infinity_matrix.core.knowledge import validate
from infinity_matrix.core.knowledge.records import (
    EntityRecord,
    NewEntity,
    NewRelation,
    Relation,
    RelationRecord,
)
from infinity_matrix.errors import InvalidInput

MAX_LINES = 200_000


@dataclass(frozen=True, slots=True)
class MemoryFile:
    """A parsed file: its entities (names unique) and relations (unique), in file order."""

    lines: int
    entities: list[NewEntity]
    relations: list[NewRelation]


def parse(data: bytes | str | Iterable[str]) -> MemoryFile:
    """Parse and check a whole file; raises ``InvalidInput`` (``graph.invalid_import``, with the
    ``line`` number) at the first bad line, so a bad file imports nothing."""
    entities: dict[str, NewEntity] = {}
    relations: dict[Relation, NewRelation] = {}
    count = 0
    for number, line in enumerate(_lines(data), start=1):
        if number > MAX_LINES:
            raise InvalidInput(
                f"at most {MAX_LINES} lines in one import",
                code="graph.too_many",
                limit=MAX_LINES,
            )
        count = number
        if not line.strip():
            continue
        try:
            item = _item(json.loads(line))
        except (ValueError, InvalidInput) as exc:
            detail = exc.detail if isinstance(exc, InvalidInput) else "not a JSON object"
            raise InvalidInput(
                f"line {number}: {detail}", code="graph.invalid_import", line=number
            ) from exc
        if isinstance(item, NewEntity):
            entities[item.name] = _merge(entities.get(item.name), item)
        elif item is not None:
            relations.setdefault(item.key, item)
    return MemoryFile(count, list(entities.values()), list(relations.values()))


def entity_line(entity: EntityRecord) -> str:
    """One entity as the reference writes it (no newline)."""
    return _dumps(
        {
            "type": "entity",
            "name": entity.name,
            "entityType": entity.entity_type,
            "observations": [o.content for o in entity.observations],
        }
    )


def relation_line(relation: RelationRecord) -> str:
    r = relation.relation
    return _dumps(
        {"type": "relation", "from": r.from_, "to": r.to, "relationType": r.relation_type}
    )


def _lines(data: bytes | str | Iterable[str]) -> Iterable[str]:
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput("the file is not UTF-8", code="graph.invalid_import") from exc
    if isinstance(data, str):
        # Not splitlines(): a JSON string may hold U+2028 and other breaks unescaped.
        lines = data.split("\n")
        if lines[-1] == "":
            lines.pop()  # the newline that ends the last line starts no line of its own
        return lines
    return data


def _item(obj: Any) -> NewEntity | NewRelation | None:
    if not isinstance(obj, dict):
        raise InvalidInput("not a JSON object", code="graph.invalid_import")
    kind = obj.get("type")
    if kind == "entity":
        observations = obj.get("observations", [])
        if not isinstance(observations, list):
            raise InvalidInput("observations must be a list", code="graph.invalid_observation")
        return NewEntity(
            validate.name(obj.get("name")),
            validate.type_(obj.get("entityType")),
            tuple(validate.observation(o) for o in observations),
        )
    if kind == "relation":
        return NewRelation(
            validate.name(obj.get("from")),
            validate.name(obj.get("to")),
            validate.type_(obj.get("relationType")),
        )
    return None  # the reference ignores lines of other types


def _merge(first: NewEntity | None, again: NewEntity) -> NewEntity:
    if first is None:
        return NewEntity(again.name, again.entity_type, tuple(dict.fromkeys(again.observations)))
    observations = tuple(dict.fromkeys((*first.observations, *again.observations)))
    return NewEntity(first.name, first.entity_type, observations)


def _dumps(obj: dict[str, Any]) -> str:
    # JSON.stringify's form: no spaces, non-ASCII as is.
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))
